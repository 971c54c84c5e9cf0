// Hardware (MAC) addresses: "aa:bb:cc:dd:ee:ff" text <-> 6 bytes.

export class MacParseError extends Error {
  override readonly name = 'MacParseError'
  readonly input: string
  constructor(input: string) {
    super(`invalid MAC address "${input}" (expected six hex pairs like 02:42:ac:11:00:02)`)
    this.input = input
  }
}

/** Parses "aa:bb:cc:dd:ee:ff" (also with '-' separators, any case) into 6 bytes. */
export function parseMac(text: string): Buffer {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(text)) throw new MacParseError(text)
  return Buffer.from(text.replace(/[:-]/g, ''), 'hex')
}

/** Formats 6 bytes as lower-case "aa:bb:cc:dd:ee:ff". */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':')
}
