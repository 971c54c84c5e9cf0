// CNI error codes (SPEC.md "Error" section) plus berth's plugin-specific codes (100+).
// A CniError carries its code from the place where the meaning is known; nothing guesses codes from text.

export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  InvalidNetns: 8,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  // 100-199: berth's own. Documented here and nowhere else.
  AddressesExhausted: 100,
  LinkConflict: 101,
  FirewallFailed: 102,
  KernelFailure: 103,
  PluginExecFailed: 104,
  Internal: 999,
} as const
export type CniCode = (typeof CniCode)[keyof typeof CniCode]

export class CniError extends Error {
  override readonly name = 'CniError'
  readonly code: number
  readonly details: string | undefined
  constructor(code: number, msg: string, details?: string, options?: ErrorOptions) {
    super(msg, options)
    this.code = code
    this.details = details
  }
}

/** Shorthands: the message names what is wrong and, where it helps, what to do. */
export const invalidConfig = (msg: string, details?: string) => new CniError(CniCode.InvalidConfig, msg, details)
export const invalidEnv = (msg: string, details?: string) => new CniError(CniCode.InvalidEnv, msg, details)
