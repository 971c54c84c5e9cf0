// The CLI's error: one line for stderr, "<what went wrong>; <what to do>". Handlers throw it for user
// mistakes; anything else that escapes is printed the same way (message and causes on one line).
export class CliError extends Error {
  override readonly name = 'CliError'
  /** the exit code (1 unless a command says otherwise) */
  readonly exitCode: number
  constructor(what: string, fix?: string, exitCode = 1) {
    super(fix === undefined ? what : `${what}; ${fix}`)
    this.exitCode = exitCode
  }
}
