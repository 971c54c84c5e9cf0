// The berth command line: declares commands (with --help examples) and calls their handlers in
// runtime-min/commands/<group>.ts, loaded lazily so each command pays only for its own code.
// This is the only module that imports yargs. Each helper edits only its own marked block.
import yargs, { type Argv } from 'yargs'
import { describe as describeError } from '../pkg/errors/describe.js'
import { CliError } from './cli-error.js'

/** Global options every handler gets. */
export interface GlobalArgs {
  'cni-conf-dir'?: string | undefined
}

const write = (s: string) => process.stderr.write(s)

function requireRoot(): void {
  if (process.getuid !== undefined && process.getuid() !== 0) {
    throw new CliError('this command must run as root (it creates network namespaces, links and firewall rules)', 'run it with sudo')
  }
}

/**
 * Wraps a handler: root check, then the handler; a returned number becomes the exit code; a thrown
 * error becomes one line on stderr and exit code 1 (or the CliError's code).
 */
export function act<A>(fn: (argv: A) => Promise<number | void> | number | void, opts: { root?: boolean } = {}) {
  return async (argv: A): Promise<void> => {
    try {
      if (opts.root !== false) requireRoot()
      const code = await fn(argv)
      if (typeof code === 'number') process.exitCode = code
    } catch (e) {
      write(`berth: ${describeError(e)}\n`)
      process.exitCode = e instanceof CliError ? e.exitCode : 1
    }
  }
}

/** Subcommand groups (`berth net ...`) demand a subcommand and reject unknown ones. */
export const group = (y: Argv, usage: string) => y.usage(usage).demandCommand(1, 'missing subcommand').strictCommands()

export function buildCli(argv: string[]): Argv<GlobalArgs> {
  const cli = yargs(argv)
    .scriptName('berth')
    .usage('berth <command> [options]\n\nRun containers on CNI networks, drive CNI plugins like libcni, build multi-host rigs.')
    .option('cni-conf-dir', {
      type: 'string',
      describe: 'CNI configuration directory (default $BERTH_ROOT/etc/cni/net.d)',
      global: true,
    })
    .strict()
    .demandCommand(1, 'no command given')
    .recommendCommands()
    .version(false)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      // Validation errors from yargs (unknown command/option, missing argument): one line, no usage dump.
      if (err !== undefined && err !== null && msg === null) throw err
      write(`berth: ${msg ?? describeError(err)}; see 'berth --help'\n`)
      process.exit(1)
    }) as Argv<GlobalArgs>

  // --- net commands (R1) ---
  cli.command(
    'install',
    'Copy the berth CNI plugins into a CNI bin directory for other runtimes',
    (y) =>
      y
        .option('dir', { type: 'string', default: '/opt/cni/bin', describe: 'target directory' })
        .example('berth install', 'install into /opt/cni/bin')
        .example('berth install --dir /usr/libexec/cni', 'install where podman looks first'),
    act(async (a: { dir: string }) => {
      const { install } = await import('./commands/install.js')
      const plan = install({ dir: a.dir })
      process.stdout.write(`installed ${plan.plugins.length} plugins into ${a.dir}: ${plan.plugins.join(', ')}\n`)
    }),
  )
  // --- end net commands (R1) ---

  // --- container commands (R2) ---
  // --- end container commands (R2) ---

  // --- rig commands (G) ---
  // --- end rig commands (G) ---

  // --- overlay commands (O1/O2) ---
  // --- end overlay commands (O1/O2) ---

  return cli
}

export function main(argv: string[]): void {
  buildCli(argv)
    .parseAsync()
    .catch((e: unknown) => {
      write(`berth: ${describeError(e)}\n`)
      process.exitCode = 1
    })
}
