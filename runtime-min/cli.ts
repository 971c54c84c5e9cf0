// The berth command line: declares commands (with --help examples) and calls their handlers in
// runtime-min/commands/<group>.ts, loaded lazily so each command pays only for its own code.
// This is the only module that imports yargs.
import yargs, { type Argv } from 'yargs'
import { berthVersion } from '../pkg/build-info/build-info.js'
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
    .version('version', 'print berth\'s version', berthVersion())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      // Validation errors from yargs (unknown command/option, missing argument): one line, no usage dump.
      if (err !== undefined && err !== null && msg === null) throw err
      // recommendCommands reports only its guess: say that the command is unknown as well
      // one line: yargs words some messages over several ("Invalid values:\n  Argument: ...")
      const raw = msg === null ? describeError(err) : /^Did you mean/.test(msg) ? `unknown command; ${msg.replace(/^D/, 'd')}` : msg
      const text = raw.replace(/:?\s*\n\s*/g, ': ')
      write(`berth: ${text}; see 'berth --help'\n`)
      process.exit(1)
    }) as Argv<GlobalArgs>

  declareNetCommands(cli)

  // Containers: run, ps, exec, inspect, logs, stop, rm.
  {
    const strs = (v: unknown): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String))
    // everything after `--` is the command, verbatim (no number parsing)
    const verbatim = { 'populate--': true, 'parse-numbers': false, 'parse-positional-numbers': false } as const
    const print = (line: string) => void process.stdout.write(`${line}\n`)
    const containers = async (a: GlobalArgs) => {
      const [{ ContainerStore }, paths] = await Promise.all([import('./container/state.js'), import('./paths.js')])
      return {
        ctx: { store: new ContainerStore(paths.containersDir()), cni: { cniPath: paths.cniPath(), cacheDir: paths.cniCacheDir() } },
        confDir: a['cni-conf-dir'] ?? paths.cniConfDir(),
      }
    }
    type CmdArgs = GlobalArgs & { command?: unknown; '--'?: unknown }
    const commandOf = (a: CmdArgs) => [...strs(a.command), ...strs(a['--'])]

    cli.command(
      'run [command..]',
      'Run a command in a new container (network, UTS, IPC, PID and mount namespaces)',
      (y) =>
        y
          .parserConfiguration(verbatim)
          .positional('command', { type: 'string', array: true, describe: 'the command and its arguments (after --)' })
          .option('detach', { alias: 'd', type: 'boolean', default: false, describe: 'run in the background and print the name' })
          .option('name', { type: 'string', describe: 'container name (default: generated)' })
          .option('net', { type: 'string', describe: 'network from the CNI conf dir, "host" or "none"; repeat for more (eth0, eth1, ...); default: berth' })
          .option('publish', { alias: 'p', type: 'string', describe: 'publish a port: [HOSTIP:]HOSTPORT[-END]:CPORT[-END][/tcp|udp|sctp]; repeatable' })
          .option('hostname', { type: 'string', describe: 'host name inside (default: the container name)' })
          .option('rootfs', { type: 'string', describe: 'chroot into this directory (it gets its own /proc)' })
          .option('env', { alias: 'e', type: 'string', describe: 'set K=V (or copy K from this environment); repeatable' })
          .option('ip', { type: 'string', describe: 'fixed address on the first network (ips capability); one per family' })
          .option('mac', { type: 'string', describe: 'fixed MAC of eth0 (mac capability)' })
          .example('berth run -d --name web -p 8080:80 -- busybox httpd -f -p 80', 'a web server published on host port 8080')
          .example('berth run --net none -- ip addr', 'only a loopback interface')
          .example('berth run --net mynet --net other -- sh', 'two networks: eth0 and eth1')
          .example('berth run --rootfs /srv/rootfs -e FOO=bar -- /bin/sh', 'chroot into a root file system')
          .example('berth run --net mynet --ip 10.89.0.50 --mac 02:00:00:00:00:50 -- sh', 'fixed address and MAC on mynet'),
      act(async (a: CmdArgs & { detach: boolean; name?: string; net?: unknown; publish?: unknown; hostname?: string; rootfs?: string; env?: unknown; ip?: unknown; mac?: string }) => {
        const [{ run }, { ctx, confDir }, { ensureDefaultNetwork }] = await Promise.all([import('./commands/run.js'), containers(a), import('./netconf/networks.js')])
        return run(
          {
            detach: a.detach,
            name: a.name,
            net: strs(a.net),
            publish: strs(a.publish),
            hostname: a.hostname,
            rootfs: a.rootfs,
            env: strs(a.env),
            ip: strs(a.ip),
            mac: a.mac,
            command: commandOf(a),
            confDir,
            defaultNetwork: async () => (await ensureDefaultNetwork(confDir)).name,
            print,
          },
          ctx,
        )
      }),
    )
    cli.command('_supervise <name>', false, (y) => y.positional('name', { type: 'string', demandOption: true }), act(async (a: GlobalArgs & { name: string }) => {
      const [{ supervise }, { ctx }] = await Promise.all([import('./container/supervisor.js'), containers(a)])
      return supervise(ctx, a.name)
    }))
    cli.command(
      'ps',
      'List containers (running ones; all with -a)',
      (y) =>
        y
          .option('all', { alias: 'a', type: 'boolean', default: false, describe: 'include stopped containers' })
          .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
          .example('berth ps -a --json', 'every container as JSON'),
      act(async (a: GlobalArgs & { all: boolean; json: boolean }) => {
        const [{ ps }, { ctx }] = await Promise.all([import('./commands/ps.js'), containers(a)])
        return ps({ all: a.all, json: a.json, print }, ctx)
      }),
    )
    cli.command(
      'exec <name> [command..]',
      'Run a command inside a running container (all its namespaces and root)',
      (y) =>
        y
          .parserConfiguration(verbatim)
          .positional('name', { type: 'string', demandOption: true })
          .positional('command', { type: 'string', array: true })
          .option('env', { alias: 'e', type: 'string', describe: 'set K=V for the command; repeatable' })
          .example('berth exec web -- ip -br addr', 'the container\'s interfaces'),
      act(async (a: CmdArgs & { name: string; env?: unknown }) => {
        const [{ exec }, { ctx }] = await Promise.all([import('./commands/exec.js'), containers(a)])
        return exec({ name: a.name, command: commandOf(a), env: strs(a.env) }, ctx)
      }),
    )
    cli.command(
      'inspect <name>',
      'Show a container as JSON: status, PIDs, namespaces, each network\'s CNI result',
      (y) => y.positional('name', { type: 'string', demandOption: true }).example('berth inspect web', 'the JSON document'),
      act(async (a: GlobalArgs & { name: string }) => {
        const [{ inspect }, { ctx }] = await Promise.all([import('./commands/inspect.js'), containers(a)])
        return inspect({ name: a.name, print }, ctx)
      }),
    )
    cli.command(
      'logs <name>',
      'Print the output of a detached container',
      (y) =>
        y
          .positional('name', { type: 'string', demandOption: true })
          .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing until the container stops' })
          .example('berth logs -f web', 'follow the log'),
      act(async (a: GlobalArgs & { name: string; follow: boolean }) => {
        const [{ logs }, { ctx }] = await Promise.all([import('./commands/logs.js'), containers(a)])
        const write = (chunk: Uint8Array) => new Promise<void>((resolve) => (process.stdout.write(chunk) ? resolve() : process.stdout.once('drain', () => resolve())))
        return logs({ name: a.name, follow: a.follow, write }, ctx)
      }),
    )
    cli.command(
      'stop <names..>',
      'Stop containers: TERM, then KILL after the grace period',
      (y) =>
        y
          .positional('names', { type: 'string', array: true, demandOption: true })
          .option('time', { alias: 't', type: 'number', default: 10, describe: 'seconds to wait before KILL' })
          .example('berth stop -t 2 web', 'stop web, killing it after 2 s'),
      act(async (a: GlobalArgs & { names: unknown; time: number }) => {
        const [{ stop }, { ctx }] = await Promise.all([import('./commands/stop.js'), containers(a)])
        return stop({ names: strs(a.names), time: a.time, print }, ctx)
      }),
    )
    cli.command(
      'rm <names..>',
      'Remove containers and everything they hold (namespaces, CNI attachments, state, log)',
      (y) =>
        y
          .positional('names', { type: 'string', array: true, demandOption: true })
          .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'kill a running container first' })
          .example('berth rm -f web', 'kill and remove web'),
      act(async (a: GlobalArgs & { names: unknown; force: boolean }) => {
        const [{ rm }, { ctx }] = await Promise.all([import('./commands/rm.js'), containers(a)])
        return rm({ names: strs(a.names), force: a.force, print }, ctx)
      }),
    )
  }

  // Rigs: throw-away hosts on one machine.
  cli.command('rig', 'Multi-host rigs: namespaces as hosts on a shared underlay, each with its own berth state', (y) =>
    group(y, 'berth rig <command>\n\nA rig is a switch namespace holding an underlay bridge and N host namespaces on it.')
      .command(
        'up',
        'Make a rig of N hosts (prints its name)',
        (y) =>
          y
            .option('name', { type: 'string', describe: 'rig name (default: the first free rigN)' })
            .option('hosts', { type: 'number', demandOption: true, describe: 'number of hosts (host1..hostN)' })
            .option('underlay', { type: 'string', describe: 'IPv4 underlay prefix (default: a free /24 of 10.200.0.0/16)' })
            .option('underlay6', { type: 'string', describe: 'also an IPv6 underlay (dual stack), e.g. fd00:200::/64; none by default' })
            .option('driver', { type: 'string', default: 'bridge', describe: 'bridge or vxlan: what the hosts will network containers with' })
            .option('json', { type: 'boolean', describe: 'print the rig as `rig inspect --json` does' })
            .example('berth rig up --name lab --hosts 3', 'hosts lab.host1..lab.host3 on a free 10.200.X.0/24')
            .example('berth rig up --hosts 2 --underlay 192.168.77.0/24 --driver vxlan', 'a rig for the VXLAN overlay')
            .example('berth rig up --hosts 3 --underlay6 fd00:200::/64', 'dual-stack hosts'),
        act(async (a: { name?: string; hosts: number; underlay?: string; underlay6?: string; driver?: string; json?: boolean }) => {
          const { rigUpCommand } = await import('./commands/rig.js')
          await rigUpCommand(a)
        }),
      )
      .command(
        'down <rig>',
        'Remove a rig: its containers and processes, namespaces and state (a missing rig is fine)',
        (y) => y.positional('rig', { type: 'string', demandOption: true }).example('berth rig down lab', ''),
        act(async (a: { rig: string }) => {
          const { rigDownCommand } = await import('./commands/rig.js')
          await rigDownCommand(a)
        }),
      )
      .command(
        'add-host <rig>',
        'Add hosts to a running rig (prints their names); each takes the lowest free hostK',
        (y) =>
          y
            .positional('rig', { type: 'string', demandOption: true })
            .option('count', { type: 'number', default: 1, describe: 'how many hosts to add' })
            .option('json', { type: 'boolean', describe: 'print the rig as `rig inspect --json` does' })
            .example('berth rig add-host lab', 'a new host, e.g. host4'),
        act(async (a: { rig: string; count: number; json?: boolean }) => {
          const { rigAddHostCommand } = await import('./commands/rig.js')
          await rigAddHostCommand(a)
        }),
      )
      .command(
        'rm-host <rig> <host>',
        'Remove one host from a rig: its processes, containers, namespace and state',
        (y) => y.positional('rig', { type: 'string', demandOption: true }).positional('host', { type: 'string', demandOption: true }).example('berth rig rm-host lab host2', ''),
        act(async (a: { rig: string; host: string }) => {
          const { rigRmHostCommand } = await import('./commands/rig.js')
          await rigRmHostCommand(a)
        }),
      )
      .command(
        'ls',
        'List rigs',
        (y) => y.option('json', { type: 'boolean', describe: 'JSON output' }).example('berth rig ls --json', ''),
        act(async (a: { json?: boolean }) => {
          const { rigLsCommand } = await import('./commands/rig.js')
          rigLsCommand(a)
        }),
      )
      .command(
        'inspect <rig>',
        'Show a rig: per member its namespace, underlay address and BERTH_ROOT',
        (y) =>
          y
            .positional('rig', { type: 'string', demandOption: true })
            .option('json', { type: 'boolean', describe: 'JSON output' })
            .example('berth rig inspect lab --json', ''),
        act(async (a: { rig: string; json?: boolean }) => {
          const { rigInspectCommand } = await import('./commands/rig.js')
          rigInspectCommand(a)
        }),
      )
      .command(
        'exec <rig> <member>',
        "Run a command on a rig host (or the switch) with that host's BERTH_ROOT; exits with its code",
        (y) =>
          y
            .positional('rig', { type: 'string', demandOption: true })
            .positional('member', { type: 'string', demandOption: true, describe: 'host1..hostN or switch' })
            .example('berth rig exec lab host2 -- berth run -d -p 18080:80 -- socat TCP-LISTEN:80,fork SYSTEM:date', 'publish a server on host2')
            .example('berth rig exec lab host1 -- ip route', "host1's routing table"),
        act(async (a: { rig: string; member: string }) => {
          // The command is taken verbatim from after the first '--' (yargs would turn "0x10" into 16).
          const dash = argv.indexOf('--')
          const command = dash < 0 ? [] : argv.slice(dash + 1)
          const { rigExecCommand } = await import('./commands/rig.js')
          return rigExecCommand({ rig: a.rig, member: a.member, command })
        }),
      ),
  )

  // The overlay's agent and checks.
  cli.command('overlay', 'The VXLAN overlay: per-host agent and self-test of an overlay-vxlan network', (y) =>
    group(y, 'berth overlay <command>\n\nRun on each host (in a rig: berth rig exec RIG hostN -- berth overlay ...).')
      .command(
        'agent',
        'Hold this host\'s lease and keep routes/neighbours/FDB in step with the other hosts (runs until stopped)',
        (y) =>
          y
            .option('net', { type: 'string', demandOption: true, describe: 'the overlay network (its conflist name)' })
            .option('resync', { type: 'number', describe: 'compare the kernel with the leases this often (ms, default 10000)' })
            .example('berth overlay agent --net ovl', 'run the agent of network ovl in the foreground')
            .example('berth rig exec r1 host2 -- berth overlay agent --net ovl', 'the agent of a rig host'),
        act(async (a: GlobalArgs & { net: string; resync?: number }) => {
          const { overlayAgent } = await import('./commands/overlay.js')
          await overlayAgent({ confDir: a['cni-conf-dir'], net: a.net, resyncMs: a.resync })
        }),
      )
      .command(
        'check',
        'Ping every peer host of the network (DF set at the overlay MTU) and report reachability and MTU mismatches',
        (y) =>
          y
            .option('net', { type: 'string', demandOption: true, describe: 'the overlay network (its conflist name)' })
            .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
            .example('berth overlay check --net ovl', 'one line per peer; exit code 1 if any has a problem'),
        act(async (a: GlobalArgs & { net: string; json: boolean }) => {
          const { overlayCheck } = await import('./commands/overlay.js')
          return overlayCheck({ confDir: a['cni-conf-dir'], net: a.net, json: a.json })
        }),
      ),
  )

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

// net, cni and install.
const str = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)])

function declareNetCommands(cli: Argv<GlobalArgs>): void {
  cli.command('net', 'Manage CNI networks (conflists in the CNI config directory)', (y) =>
    group(y, 'berth net <command>\n\nNetworks are conflists in $BERTH_ROOT/etc/cni/net.d (or --cni-conf-dir).')
      .command(
        'create <name>',
        'Write a conflist for a new network (bridge, the vxlan overlay, or macvlan) and print its name',
        (y) =>
          y
            .positional('name', { type: 'string', demandOption: true })
            .option('driver', { type: 'string', default: 'bridge', describe: "bridge (one host), vxlan (overlay-vxlan plugin) or macvlan (containers on a host interface's segment)" })
            .option('parent', { type: 'string', describe: "--driver macvlan: the host interface whose segment the containers join (default: the default route's)" })
            .option('subnet', { type: 'string', describe: 'subnet CIDR, repeatable (IPv4 and IPv6); default: a free 10.89-10.99/24' })
            .option('gateway', { type: 'string', describe: 'gateway IP of the first subnet (default: its first address)' })
            .option('internal', { type: 'boolean', default: false, describe: 'no gateway, no masquerade: containers reach only each other' })
            .option('mtu', { type: 'number', describe: 'MTU of the bridge and the container interfaces' })
            .option('vni', { type: 'number', describe: 'VXLAN network identifier, --driver vxlan only (default: the lowest one no other vxlan network here uses)' })
            .example('berth net create web', 'a bridge network with a free subnet, NAT and port publishing')
            .example('berth net create db --subnet 10.90.7.0/24 --subnet fd00:7::/64 --internal', 'dual-stack, isolated')
            .example('berth net create ovl --driver vxlan --subnet 10.244.0.0/16', 'a multi-host overlay network')
            .example('berth net create lan --driver macvlan --parent eth1 --subnet 192.168.1.0/24 --gateway 192.168.1.254', "containers on eth1's LAN"),
        act(async (a: GlobalArgs & { name: string; driver: string; subnet?: unknown; gateway?: string; internal: boolean; mtu?: number; vni?: number; parent?: string }) => {
          const { netCreate } = await import('./commands/net.js')
          const created = await netCreate({
            confDir: a['cni-conf-dir'],
            name: a.name,
            driver: a.driver,
            subnets: str(a.subnet),
            gateway: a.gateway,
            internal: a.internal,
            mtu: a.mtu,
            vni: a.vni,
            parent: a.parent,
          })
          process.stdout.write(`${created.name}\n`)
        }),
      )
      .command(
        ['ls', 'list'],
        'List networks',
        (y) => y.option('json', { type: 'boolean', default: false, describe: 'JSON output' }).example('berth net ls --json', ''),
        act(async (a: GlobalArgs & { json: boolean }) => {
          const { netLs } = await import('./commands/net.js')
          process.stdout.write(netLs({ confDir: a['cni-conf-dir'], json: a.json }))
        }),
      )
      .command(
        'inspect <name>',
        'Print a network: its file, conflist and the attachments cached for it (JSON)',
        (y) => y.positional('name', { type: 'string', demandOption: true }).example('berth net inspect berth', ''),
        act(async (a: GlobalArgs & { name: string }) => {
          const { netInspect } = await import('./commands/net.js')
          process.stdout.write(netInspect({ confDir: a['cni-conf-dir'], name: a.name }))
        }),
      )
      .command(
        ['rm <name>', 'remove <name>'],
        'Remove a network (refused while a container uses it)',
        (y) => y.positional('name', { type: 'string', demandOption: true }).example('berth net rm web', ''),
        act(async (a: GlobalArgs & { name: string }) => {
          const { netRm } = await import('./commands/net.js')
          await netRm({ confDir: a['cni-conf-dir'], name: a.name })
          process.stdout.write(`${a.name}\n`)
        }),
      ),
  )

  const attach = (y: Argv<GlobalArgs>) =>
    y
      .positional('net', { type: 'string', demandOption: true, describe: 'network name (the "name" in a conflist)' })
      .positional('netns', { type: 'string', demandOption: true, describe: 'path of a network namespace, e.g. /run/netns/x' })
      .option('ifname', { type: 'string', describe: 'interface name inside the namespace (default $CNI_IFNAME, else eth0)' })
      .option('args', { type: 'string', describe: "CNI_ARGS, 'K=V;K2=V2' (default $CNI_ARGS)" })
      .option('cap', { type: 'string', describe: 'capability arg NAME=JSON (repeatable; on top of $CAP_ARGS), passed to plugins that declare it' })
  type AttachArgs = GlobalArgs & { net: string; netns: string; ifname?: string; args?: string; cap?: unknown }
  const attachArgs = (a: AttachArgs) => ({ net: a.net, netns: a.netns, ifname: a.ifname, args: a.args, cap: str(a.cap), 'cni-conf-dir': a['cni-conf-dir'] })
  cli.command('cni', 'Run a network\'s CNI plugins against a namespace, like cnitool (container ID derived from the path)', (y) =>
    group(y, 'berth cni <command>\n\ncnitool-compatible: results are cached in libcni\'s format under $BERTH_ROOT/var/lib/cni.')
      .command(
        'add <net> <netns>',
        'ADD the namespace to a network; prints the result',
        (y) =>
          attach(y)
            .example('berth cni add web /run/netns/demo', 'attach eth0 of namespace demo (ip netns add demo) to network web')
            .example('berth cni add web /run/netns/demo --ifname eth1 --args IgnoreUnknown=1', 'a second interface, with CNI_ARGS')
            .example(`berth cni add web /run/netns/demo --cap 'portMappings=[{"hostPort":8080,"containerPort":80}]'`, 'publish a port'),
        act(async (a: AttachArgs) => {
          const { cniAdd } = await import('./commands/cni.js')
          process.stdout.write(await cniAdd(attachArgs(a)))
        }),
      )
      .command(
        'check <net> <netns>',
        'CHECK an attachment made by add',
        (y) => attach(y).example('berth cni check berth /run/netns/demo', ''),
        act(async (a: AttachArgs) => {
          const { cniCheck } = await import('./commands/cni.js')
          await cniCheck(attachArgs(a))
        }),
      )
      .command(
        'del <net> <netns>',
        'DEL an attachment (works after the namespace is gone)',
        (y) => attach(y).example('berth cni del berth /run/netns/demo', ''),
        act(async (a: AttachArgs) => {
          const { cniDel } = await import('./commands/cni.js')
          await cniDel(attachArgs(a))
        }),
      )
      .command(
        'gc <net>',
        'DEL cached attachments whose container berth no longer knows, then GC the plugins',
        (y) => y.positional('net', { type: 'string', demandOption: true }).example('berth cni gc berth', ''),
        act(async (a: GlobalArgs & { net: string }) => {
          const { cniGc } = await import('./commands/cni.js')
          const removed = await cniGc({ net: a.net, 'cni-conf-dir': a['cni-conf-dir'] })
          for (const r of removed) process.stdout.write(`removed ${r.containerID} ${r.ifname}\n`)
        }),
      )
      .command(
        'status <net>',
        "Ask the network's plugins whether they are ready (exit 0 when they are)",
        (y) => y.positional('net', { type: 'string', demandOption: true }).example('berth cni status berth', ''),
        act(async (a: GlobalArgs & { net: string }) => {
          const { cniStatus } = await import('./commands/cni.js')
          await cniStatus({ net: a.net, 'cni-conf-dir': a['cni-conf-dir'] })
        }),
      ),
  )

  cli.command('daemon', 'Serve every berth CNI type from one resident process (the shims forward to it)', (y) =>
    y
      .option('socket', { type: 'string', describe: 'unix socket (default $BERTH_SOCKET, else /run/berth/berthd.sock)' })
      .command(
        '$0',
        'Run the daemon in the foreground until SIGTERM',
        (yy) =>
          yy
            .option('max-in-flight', { type: 'number', default: 64, describe: 'calls served at once; the rest wait' })
            .option('workers', { type: 'number', default: 4, describe: 'worker threads the calls run on (kernel waits overlap across them)' })
            .option('metrics-listen', { type: 'string', describe: 'also serve Prometheus metrics over HTTP on HOST:PORT' })
            .option('request-deadline-ms', { type: 'number', default: 10_000, describe: 'close a client that has not sent its whole request by then' })
            .option('queue-deadline-ms', { type: 'number', default: 30_000, describe: 'how long a call may wait for a free slot' }),
        act(async (a: { socket?: string; 'max-in-flight': number; workers: number; 'metrics-listen'?: string; 'request-deadline-ms': number; 'queue-deadline-ms': number }) => {
          for (const k of ['max-in-flight', 'workers', 'request-deadline-ms', 'queue-deadline-ms'] as const) {
            if (!(Number.isInteger(a[k]) && a[k] >= 1)) throw new CliError(`--${k} ${a[k]}: expected a whole number >= 1`)
          }
          const { runDaemon } = await import('./commands/daemon.js')
          await runDaemon({
            socket: a.socket,
            maxInFlight: a['max-in-flight'],
            workers: a.workers,
            requestDeadlineMs: a['request-deadline-ms'],
            queueDeadlineMs: a['queue-deadline-ms'],
            metricsListen: a['metrics-listen'],
            version: berthVersion(),
          })
        }),
      )
      .command(
        'status',
        'Uptime, build, calls by type and verb, in flight, queue, latency percentiles',
        (yy) =>
          yy
            .option('json', { type: 'boolean', default: false, describe: 'print the status as JSON' })
            .option('gc', { type: 'boolean', default: false, describe: 'a full garbage collection first (a daemon started with NODE_OPTIONS=--expose-gc; for memory measurements)' }),
        act(async (a: { socket?: string; json: boolean; gc: boolean }) => {
          const { daemonControl } = await import('./commands/daemon.js')
          process.stdout.write(await daemonControl(a.gc ? 'gc' : 'status', a.socket, a.json))
        }),
      )
      .command(
        'metrics',
        'The same figures in Prometheus text format',
        (yy) => yy,
        act(async (a: { socket?: string }) => {
          const { daemonControl } = await import('./commands/daemon.js')
          process.stdout.write(await daemonControl('metrics', a.socket, false))
        }),
      ),
  )

  cli.command(
    'install',
    'Copy the berth CNI plugins into a CNI bin directory for other runtimes, with systemd units for the daemon',
    (y) =>
      y
        .option('dir', { type: 'string', default: '/opt/cni/bin', describe: 'target directory' })
        .option('systemd-dir', { type: 'string', describe: 'write berth.socket and berth.service here (default /etc/systemd/system when systemd runs)' })
        .option('systemd', { type: 'boolean', default: true, describe: 'write the systemd units (--no-systemd: plugins only)' })
        .example('berth install', 'install into /opt/cni/bin')
        .example('berth install --dir /usr/libexec/cni', 'install where podman looks first'),
    act(async (a: { dir: string; 'systemd-dir'?: string; systemd: boolean }) => {
      const { defaultSystemdDir, install } = await import('./commands/install.js')
      const systemdDir = a.systemd ? (a['systemd-dir'] ?? defaultSystemdDir()) : undefined
      const plan = install({ dir: a.dir, systemdDir })
      process.stdout.write(`installed ${plan.plugins.length} plugins into ${a.dir}: ${plan.plugins.join(', ')}\n`)
      if (plan.units.length > 0) {
        process.stdout.write(`wrote ${plan.units.join(', ')}; start the daemon on demand with: systemctl daemon-reload && systemctl enable --now berth.socket\n`)
      }
    }),
  )
}
