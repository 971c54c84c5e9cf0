// Renders an error and its `cause` chain as one line: "ctx: cause: cause".
export function describe(e: unknown): string {
  const parts: string[] = []
  let cur: unknown = e
  for (let depth = 0; cur !== undefined && cur !== null && depth < 8; depth++) {
    if (cur instanceof Error) {
      parts.push(cur.message)
      cur = cur.cause
    } else {
      parts.push(String(cur))
      break
    }
  }
  return parts.join(': ')
}
