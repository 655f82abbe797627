/**
 * `capns 9p`: serve a file tree to 9P2000 and 9P2000.L clients (Linux v9fs, diod's tools,
 * plan9port, Plan 9). The tree is a fresh in-memory one (--ram), a host directory
 * (--dir), or, with neither, the namespace of the embedded default manifest (what
 * `capns serve` gives a loopback client: /tmp, /data, /svc/clock). Prints the address it
 * listens on; SIGINT/SIGTERM drain and exit. Exit status: 0 after a signal, 1 on a second
 * one (cut short), 2 usage or a tree or address that cannot be served.
 */
import { Option, type Command } from 'commander';
import type { FileServer } from '../../fileserver/index.js';
import { DEFAULT_DATA_DIR } from '../../manifest/default-ports.js';
import { listeningLine } from './listening.js';
import { DEFAULT_MAX_MSIZE, MAX_MAX_MSIZE } from '../../fileserver/9p/constants.js';
import { EXIT_USAGE } from './remote.js';

interface NinepCommandOptions {
  listen: string;
  ram?: boolean;
  dir?: string;
  dataDir?: string;
  ro?: boolean;
  io?: 'adaptive' | 'pool';
  msize: string;
  token?: string;
  maxConnections?: string;
}

/** How long `close()` may drain on a signal before connections are cut. */
const DRAIN_MS = 5000;

/** Registers `capns 9p` on `program`. */
export function register(program: Command): void {
  program
    .command('9p')
    .description(
      'serve a file tree over 9P2000 / 9P2000.L: --ram, --dir PATH, or the default namespace',
    )
    .requiredOption('--listen <addr>', 'address: tcp!HOST!PORT, HOST:PORT or unix!PATH')
    .option('--ram', 'serve a fresh, writable in-memory tree')
    .option('--dir <path>', 'serve a host directory')
    .option(
      '--data-dir <dir>',
      `with neither --ram nor --dir: the host folder the default namespace shows at /data (default ${DEFAULT_DATA_DIR})`,
    )
    .option('--ro', 'refuse every change to the tree')
    .addOption(
      new Option(
        '--io <mode>',
        'with --dir: reads and writes on the event loop while the disk is fast (adaptive) or always in the thread pool (pool; for network or FUSE filesystems)',
      ).choices(['adaptive', 'pool']),
    )
    .option(
      '--msize <bytes>',
      `largest msize to negotiate (256..${MAX_MAX_MSIZE})`,
      String(DEFAULT_MAX_MSIZE),
    )
    .option('--token <token>', 'require this token, written to an afid after Tauth, before Tattach')
    .option('--max-connections <n>', 'most clients at once')
    .addHelpText(
      'after',
      '\nExit status: 0 after SIGINT or SIGTERM (requests in flight answered first), 1 on a second\nsignal, 2 usage, an unreadable --dir or an address that cannot be listened on.',
    )
    .action(async (opts: NinepCommandOptions) => {
      await serve(opts);
    });
}

async function serve(opts: NinepCommandOptions): Promise<void> {
  if (opts.ram === true && opts.dir !== undefined) fatal('--ram and --dir exclude each other');
  if (opts.dataDir !== undefined && (opts.ram === true || opts.dir !== undefined)) {
    fatal('--data-dir goes with the default namespace (neither --ram nor --dir)');
  }
  if (opts.io !== undefined && opts.dir === undefined) {
    fatal('--io goes with --dir (for the default namespace, set io on its dir capabilities)');
  }
  const [{ newDirFileServer, newMemFileServer }, { formatNinepAddress, NinepServer, parseNinepAddress }] = await Promise.all([
    import('../../fileserver/index.js'),
    import('../../fileserver/9p/server.js'),
  ]);
  let address;
  try {
    address = parseNinepAddress(opts.listen);
  } catch (err) {
    fatal((err as Error).message);
  }
  const maxMsize = Number(opts.msize);
  if (!Number.isInteger(maxMsize) || maxMsize < 256 || maxMsize > MAX_MAX_MSIZE)
    fatal(`--msize ${opts.msize}: expected an integer in 256..${MAX_MAX_MSIZE}`);
  const maxConnections =
    opts.maxConnections === undefined ? undefined : Number(opts.maxConnections);
  if (maxConnections !== undefined && (!Number.isInteger(maxConnections) || maxConnections < 1))
    fatal(`--max-connections ${opts.maxConnections}: expected a positive integer`);

  let fs: FileServer;
  let closeFs: () => Promise<void> = async () => undefined;
  if (opts.dir !== undefined) {
    try {
      const dfs = await newDirFileServer(opts.dir, {
        readOnly: opts.ro === true,
        ...(opts.io !== undefined && { io: opts.io }),
      });
      fs = dfs;
      closeFs = () => dfs.close();
    } catch (err) {
      fatal(`--dir ${opts.dir}: ${(err as Error).message}`);
    }
  } else if (opts.ram === true) {
    fs = newMemFileServer();
  } else {
    // The default manifest's namespace, its capabilities instantiated in this process
    // (no listeners of its own), served as a file tree like capns serve's 9P listener.
    const [{ defaultManifest }, { startCapnsServer }, { pino }] = await Promise.all([
      import('../../manifest/index.js'),
      import('../../server/capns-server.js'),
      import('pino'),
    ]);
    const m = defaultManifest(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {});
    const logger = pino({ level: 'warn' }, pino.destination(2));
    let capns;
    try {
      capns = await startCapnsServer({ manifest: { ...m, listeners: [] }, logger });
    } catch (err) {
      fatal(`default namespace: ${(err as Error).message}`);
    }
    const profile = m.profiles[0]!.name;
    const files = capns.namespaceFiles(profile, `${profile}@9p:${opts.listen}`);
    fs = files.fs;
    closeFs = async () => {
      files.release();
      await capns.close();
    };
  }

  const tracing = (process.env['NS_TRACE'] ?? '').split(',').map((s) => s.trim());
  const server = new NinepServer(fs, {
    maxMsize,
    readOnly: opts.ro === true,
    log: (line) => process.stderr.write(`${line}\n`),
    ...(tracing.includes('9p')
      ? { trace: (line: string) => process.stderr.write(`${line}\n`) }
      : {}),
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    ...(maxConnections !== undefined ? { maxConnections } : {}),
  });
  let bound;
  try {
    bound = await server.listen(address);
  } catch (err) {
    fatal(`listen ${opts.listen}: ${(err as Error).message}`);
  }
  process.stdout.write(listeningLine({ protocol: '9p', address: formatNinepAddress(bound) }));

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      // A second signal: stop now.
      void server.destroy().finally(() => process.exit(1));
      return;
    }
    stopping = true;
    process.stderr.write(`9p: ${signal}: closing\n`);
    const timer = setTimeout(() => void server.destroy(), DRAIN_MS);
    timer.unref();
    void server
      .close()
      .then(() => closeFs())
      .then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function fatal(message: string): never {
  process.stderr.write(`capns 9p: ${message}\n`);
  process.exit(EXIT_USAGE);
}
