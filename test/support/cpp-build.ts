/**
 * Builds the C++ reference peers of test/interop/cpp (Cap'n Proto 0.9.2 from Debian's
 * `capnproto` + `libcapnp-dev`) on demand, and starts them.
 *
 * The build goes to test/interop/cpp/build/<hash>/, where the hash covers every input
 * (sources, both schema versions, compiler flags and versions): an unchanged tree is
 * built once and reused. Several test files (node --test runs each in its own process)
 * may ask at once: one takes a lock file and builds in a private directory that it renames
 * into place when complete; the others wait for it.
 *
 * Used by test/interop/*.test.ts and by bench/rpc.bench.ts (compiled to dist-bench), so
 * the project root is found from the file's location rather than assumed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths of the built programs. */
export interface CppPeers {
  /** Test server from test.capnp: prints its port, serves until stdin closes. */
  readonly server: string;
  /** The same server built from old/test.capnp. */
  readonly serverOld: string;
  /** Scenario client from test.capnp: `client HOST:PORT [SCENARIO...]`, JSON lines. */
  readonly client: string;
  /** The scenario client built from old/test.capnp. */
  readonly clientOld: string;
  /** Benchmark client: `bench HOST:PORT SECONDS`, one JSON line. */
  readonly bench: string;
  /**
   * A client built from capns's own schema/ that attacks a view (authority.c++):
   * `authority HOST:PORT TOKEN SCENARIO`, one JSON line.
   */
  readonly authority: string;
  /**
   * The benchmark client of a `capns serve`, from capns's own schemas (serve-bench.c++):
   * `serve-bench HOST:PORT TOKEN SECONDS MODE [WARMUP]`, one JSON line.
   */
  readonly serveBench: string;
}

/**
 * capns's own schemas the authority and serve-bench clients are built from
 * (namespace.capnp imports the next two; demo.capnp has the Clock).
 */
const CAPNS_SCHEMAS = ['common.capnp', 'fileserver.capnp', 'namespace.capnp', 'demo.capnp'];
/** The programs built from capns's own schemas. */
const CAPNS_PROGRAMS = ['authority', 'serve-bench'];

const CXXFLAGS = ['-std=c++17', '-O2', '-DNDEBUG'];

/** The project root: the nearest ancestor holding test/interop/cpp. */
export function projectRoot(from: string = import.meta.dirname): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'test', 'interop', 'cpp'))) {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cpp-build: no project root above ${from}`);
    dir = up;
  }
}

async function toolVersions(): Promise<string> {
  try {
    const [gxx, capnp, flags] = await Promise.all([
      run('g++', ['--version']),
      run('capnp', ['--version']),
      run('pkg-config', ['--cflags', '--libs', 'capnp-rpc']),
    ]);
    return [gxx.stdout, capnp.stdout, flags.stdout].join('\n');
  } catch (err) {
    throw new Error(
      'cpp-build: the C++ reference toolchain is missing (Debian: apt-get install capnproto ' +
        `libcapnp-dev g++ pkg-config, as .ci/run does): ${(err as Error).message}`,
    );
  }
}

function inputHash(root: string, versions: string): string {
  const h = createHash('sha256');
  h.update(CXXFLAGS.join(' ') + '\n' + versions);
  const cppDir = join(root, 'test', 'interop', 'cpp');
  const files = readdirSync(cppDir)
    .filter((f) => f.endsWith('.c++') || f.endsWith('.h'))
    .sort()
    .map((f) => join(cppDir, f));
  files.push(join(root, 'test', 'fixtures', 'rpc', 'test.capnp'));
  files.push(join(root, 'test', 'fixtures', 'rpc', 'old', 'test.capnp'));
  for (const f of CAPNS_SCHEMAS) files.push(join(root, 'schema', f));
  for (const f of files) {
    h.update(f.slice(root.length) + '\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

function peersIn(dir: string): CppPeers {
  return {
    server: join(dir, 'server'),
    serverOld: join(dir, 'server-old'),
    client: join(dir, 'client'),
    clientOld: join(dir, 'client-old'),
    bench: join(dir, 'bench'),
    authority: join(dir, 'authority'),
    serveBench: join(dir, 'serve-bench'),
  };
}

/** Runs `jobs` with at most `limit` at once; rejects with the first failure. */
async function pool(jobs: (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      await job();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
}

async function compile(args: string[]): Promise<void> {
  try {
    await run('g++', args, { maxBuffer: 16 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`g++ ${args.join(' ')}\n${e.stderr ?? e.message}`);
  }
}

async function buildInto(root: string, out: string): Promise<void> {
  const cppDir = join(root, 'test', 'interop', 'cpp');
  const fixtures = join(root, 'test', 'fixtures', 'rpc');
  const pc = (await run('pkg-config', ['--cflags', '--libs', 'capnp-rpc'])).stdout.trim();
  const pcFlags = pc.split(/\s+/).filter((s) => s.length > 0);
  const variants = [
    { dir: join(out, 'new'), schemaDir: fixtures, defines: [] as string[], suffix: '' },
    { dir: join(out, 'old'), schemaDir: join(fixtures, 'old'), defines: ['-DOLD_SCHEMA'], suffix: '-old' },
  ];
  for (const v of variants) {
    mkdirSync(v.dir, { recursive: true });
    await run('capnp', [
      'compile',
      `-oc++:${v.dir}`,
      `--src-prefix=${v.schemaDir}`,
      join(v.schemaDir, 'test.capnp'),
    ]);
  }
  const programs = (v: (typeof variants)[number]): string[] =>
    v.suffix === '' ? ['server', 'client', 'bench'] : ['server', 'client'];
  const compiles: (() => Promise<void>)[] = [];
  for (const v of variants) {
    const flags = [...CXXFLAGS, ...v.defines, `-I${v.dir}`, `-I${cppDir}`, ...pcFlags.filter((f) => !f.startsWith('-l'))];
    compiles.push(() => compile([...flags, '-c', join(v.dir, 'test.capnp.c++'), '-o', join(v.dir, 'test.o')]));
    for (const p of programs(v)) {
      compiles.push(() => compile([...flags, '-c', join(cppDir, `${p}.c++`), '-o', join(v.dir, `${p}.o`)]));
    }
  }
  await pool(compiles, Math.max(1, availableParallelism()));
  const links: (() => Promise<void>)[] = [];
  for (const v of variants) {
    for (const p of programs(v)) {
      links.push(() =>
        compile([
          '-o',
          join(out, p + v.suffix),
          join(v.dir, `${p}.o`),
          join(v.dir, 'test.o'),
          ...pcFlags.filter((f) => f.startsWith('-l') || f.startsWith('-L')),
        ]),
      );
    }
  }
  await pool(links, Math.max(1, availableParallelism()));
  // The clients from capns's own schemas.
  const capnsDir = join(out, 'capns');
  const schemaDir = join(root, 'schema');
  mkdirSync(capnsDir, { recursive: true });
  await run('capnp', ['compile', `-oc++:${capnsDir}`, `--src-prefix=${schemaDir}`, ...CAPNS_SCHEMAS.map((f) => join(schemaDir, f))]);
  const capnsFlags = [...CXXFLAGS, `-I${capnsDir}`, ...pcFlags.filter((f) => !f.startsWith('-l'))];
  const schemaObjects = CAPNS_SCHEMAS.map((f) => join(capnsDir, `${f}.o`));
  await pool(
    [
      ...CAPNS_SCHEMAS.map((f) => () => compile([...capnsFlags, '-c', join(capnsDir, `${f}.c++`), '-o', join(capnsDir, `${f}.o`)])),
      ...CAPNS_PROGRAMS.map((p) => () => compile([...capnsFlags, '-c', join(cppDir, `${p}.c++`), '-o', join(capnsDir, `${p}.o`)])),
    ],
    Math.max(1, availableParallelism()),
  );
  for (const p of CAPNS_PROGRAMS) {
    await compile(['-o', join(out, p), ...schemaObjects, join(capnsDir, `${p}.o`), ...pcFlags.filter((f) => f.startsWith('-l') || f.startsWith('-L'))]);
  }
  writeFileSync(join(out, 'ok'), new Date().toISOString() + '\n');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Builds the C++ peers if their inputs changed since the last build, and returns their
 * paths. Safe to call from several processes at once. Throws with the compiler's output
 * when the build fails.
 */
export async function buildCppPeers(): Promise<CppPeers> {
  const root = projectRoot();
  const buildRoot = join(root, 'test', 'interop', 'cpp', 'build');
  const hash = inputHash(root, await toolVersions());
  const final = join(buildRoot, hash);
  const lock = `${final}.lock`;
  mkdirSync(buildRoot, { recursive: true });

  for (;;) {
    if (existsSync(join(final, 'ok'))) return peersIn(final);
    let fd: number;
    try {
      fd = openSync(lock, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Someone else is building; take over only if that process is gone.
      const holder = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
        rmSync(lock, { force: true });
      } else {
        await sleep(200);
      }
      continue;
    }
    try {
      writeSync(fd, String(process.pid));
      closeSync(fd);
      if (existsSync(join(final, 'ok'))) return peersIn(final);
      const tmp = join(buildRoot, `tmp-${hash}-${process.pid}`);
      rmSync(tmp, { recursive: true, force: true });
      rmSync(final, { recursive: true, force: true });
      try {
        await buildInto(root, tmp);
        renameSync(tmp, final);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      // Builds of older sources are never used again.
      for (const d of readdirSync(buildRoot)) {
        if (/^[0-9a-f]{16}$/.test(d) && d !== hash) rmSync(join(buildRoot, d), { recursive: true, force: true });
      }
      return peersIn(final);
    } finally {
      try {
        unlinkSync(lock);
      } catch {
        // already gone: nothing to release
      }
    }
  }
}

/** A C++ server process and the address it listens on. */
export interface CppServer {
  /** `HOST:PORT`, as the C++ client and our connect() take it. */
  readonly address: string;
  readonly process: ChildProcess;
  /** Everything the server wrote to stderr so far (for failure messages). */
  stderr(): string;
  /** Closes its stdin (it exits on EOF) and waits for it to exit; kills it after 2 s. */
  close(): Promise<void>;
}

/** Starts `program` (a built server), waiting for the port it prints. */
export async function startCppServer(program: string): Promise<CppServer> {
  const child = spawn(program, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => {
      rl.close();
      resolve(Number(line.trim()));
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`${program} exited (${code ?? signal}) before listening: ${err}`)),
    );
  });
  return {
    address: `127.0.0.1:${port}`,
    process: child,
    stderr: () => err,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** One line of the C++ scenario client's output. */
export interface ScenarioResult {
  readonly scenario: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Runs the authority client (authority.c++) once: `scenario` against `address` with `token`. */
export async function runCppAuthority(program: string, address: string, token: string, scenario: string, timeoutMs = 60_000): Promise<ScenarioResult> {
  const { stdout } = await run(program, [address, token, scenario], { timeout: timeoutMs, maxBuffer: 1 << 20 }).catch(
    (err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`${program} failed: ${err.message}\nstdout:\n${err.stdout ?? ''}\nstderr:\n${err.stderr ?? ''}`);
    },
  );
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as ScenarioResult;
}

/**
 * Runs the scenario client `program` against `address` and returns its results by
 * scenario name. Rejects if the client crashes or runs longer than `timeoutMs`, with
 * what it printed so far.
 */
export async function runCppClient(
  program: string,
  address: string,
  scenarios: readonly string[] = [],
  timeoutMs = 60_000,
): Promise<Map<string, ScenarioResult>> {
  const { stdout } = await run(program, [address, ...scenarios], {
    timeout: timeoutMs,
    maxBuffer: 16 << 20,
  }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`${program} failed: ${err.message}\nstdout:\n${err.stdout ?? ''}\nstderr:\n${err.stderr ?? ''}`);
  });
  const results = new Map<string, ScenarioResult>();
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    const r = JSON.parse(line) as ScenarioResult;
    results.set(r.scenario, r);
  }
  return results;
}
