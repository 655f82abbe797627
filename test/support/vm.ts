/**
 * A throwaway Linux VM for testing 9P servers with the kernel's v9fs client.
 *
 * Boots the host's Debian kernel (`linux-image-amd64`, which ships 9p.ko) under
 * `qemu-system-x86_64` with a tiny initramfs: a static busybox, the 9p and virtio-net
 * modules from /lib/modules/<version>, and test/vm/guest-init.sh as /init. The guest
 * reaches the host's 127.0.0.1 as 10.0.2.2 through qemu's user-mode network, mounts the
 * 9P server at the port given on the kernel command line, runs POSIX work and prints
 * `RESULT <version> <name> ok|fail <detail>` lines on the serial console, which
 * {@link runV9fsVm} parses. See docs/testing-vm.md.
 *
 * The initramfs is written in cpio "newc" format by this module (no cpio tool needed)
 * and cached under build/vm/, keyed by a hash of everything that goes into it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, delimiter, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';

const repoRoot = resolve(import.meta.dirname, '..', '..');

/** Where built initramfs images are cached (gitignored through build/). */
export const vmCacheDir = join(repoRoot, 'build', 'vm');

/** The guest's /init. */
export const guestInitPath = join(repoRoot, 'test', 'vm', 'guest-init.sh');

/**
 * Scenario scripts: test/vm/scenario-NAME.sh goes into the initramfs as
 * /scenarios/NAME.sh, and `capns_scenario=NAME` on the kernel command line makes
 * guest-init.sh run it instead of its POSIX checks (see {@link VmRunOptions.scenario}).
 */
export const guestScenarioDir = join(repoRoot, 'test', 'vm');

function scenarioScripts(): { name: string; data: Buffer }[] {
  return readdirSync(guestScenarioDir)
    .filter((n) => /^scenario-[a-z0-9-]+\.sh$/.test(n))
    .sort()
    .map((n) => ({
      name: n.slice('scenario-'.length, -'.sh'.length),
      data: readFileSync(join(guestScenarioDir, n)),
    }));
}

/** Modules the guest needs, by name; their dependencies come from modules.dep. */
const rootModules = ['virtio_pci', 'virtio_net', '9pnet_fd', '9p'];

/** What a VM boot needs from the host. */
export interface VmPrereqs {
  qemu: string;
  kernel: string;
  kernelVersion: string;
  modulesDir: string;
  busybox: string;
}

/** Finds the tools and files a VM boot needs, or says which one is missing. */
export function findVmPrereqs(): { ok: true; prereqs: VmPrereqs } | { ok: false; reason: string } {
  const qemu = which('qemu-system-x86_64');
  if (qemu === undefined) {
    return { ok: false, reason: 'qemu-system-x86_64 not found (Debian package qemu-system-x86)' };
  }
  const kernel = findKernel();
  if (!kernel.ok) return kernel;
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (busybox === undefined)
    return { ok: false, reason: 'busybox not found (Debian package busybox-static)' };
  if (!isStaticElf(busybox)) {
    return { ok: false, reason: `${busybox} is dynamically linked; install busybox-static` };
  }
  return { ok: true, prereqs: { qemu, busybox, ...kernel.kernel } };
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * The kernel to boot: CAPNS_VM_KERNEL if set, else the newest /boot/vmlinuz-<v> whose
 * /lib/modules/<v> has the 9p filesystem module.
 */
function findKernel():
  | { ok: true; kernel: Pick<VmPrereqs, 'kernel' | 'kernelVersion' | 'modulesDir'> }
  | { ok: false; reason: string } {
  const forced = process.env['CAPNS_VM_KERNEL'];
  let candidates: string[];
  if (forced !== undefined && forced !== '') {
    candidates = [forced];
  } else {
    candidates = existsSync('/boot')
      ? readdirSync('/boot')
          .filter((n) => n.startsWith('vmlinuz-'))
          .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))
          .map((n) => join('/boot', n))
      : [];
  }
  for (const kernel of candidates) {
    const kernelVersion = basename(kernel).replace(/^vmlinuz-/, '');
    const modulesDir = join('/lib/modules', kernelVersion);
    if (!existsSync(join(modulesDir, 'modules.dep'))) continue;
    const dep = parseModulesDep(modulesDir);
    if (!dep.has('9p') || !dep.has('9pnet_fd')) continue;
    return { ok: true, kernel: { kernel, kernelVersion, modulesDir } };
  }
  return {
    ok: false,
    reason:
      'no /boot/vmlinuz-* with 9p.ko in /lib/modules (Debian package linux-image-amd64; ' +
      'linux-image-cloud-amd64 lacks 9p)',
  };
}

interface ModuleInfo {
  path: string; // relative to the modules dir
  deps: string[]; // names
}

/** name (basename without .ko*, with - as _) -> path and direct+indirect deps. */
function parseModulesDep(modulesDir: string): Map<string, ModuleInfo> {
  const byName = new Map<string, ModuleInfo>();
  for (const line of readFileSync(join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon);
    const deps = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .filter((d) => d !== '')
      .map(moduleName);
    byName.set(moduleName(path), { path, deps });
  }
  return byName;
}

function moduleName(path: string): string {
  return basename(path)
    .replace(/\.ko(\.(xz|zst|gz))?$/, '')
    .replaceAll('-', '_');
}

/** The modules to insmod, dependencies first. */
function moduleLoadOrder(dep: Map<string, ModuleInfo>): ModuleInfo[] {
  const order: ModuleInfo[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const info = dep.get(name);
    if (info === undefined) throw new Error(`module ${name} not in modules.dep`);
    // modprobe loads the listed dependencies last-first; each one's own dependencies
    // are resolved recursively before it.
    for (const d of [...info.deps].reverse()) visit(d);
    order.push(info);
  };
  for (const m of rootModules) visit(m);
  return order;
}

function readModule(modulesDir: string, path: string): Buffer {
  const full = join(modulesDir, path);
  if (path.endsWith('.ko')) return readFileSync(full);
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(full));
  const tool = path.endsWith('.xz') ? 'xz' : 'zstd';
  const r = spawnSync(tool, ['-dc', full], { maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    throw new Error(`${tool} -dc ${full} failed: ${r.error?.message ?? r.stderr.toString()}`);
  }
  return r.stdout;
}

/** True if the file is an ELF executable without a PT_INTERP program header. */
function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(64);
    readSync(fd, h, 0, 64, 0);
    if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return false; // ELF64 only
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (ph.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

interface CpioEntry {
  name: string;
  mode: number; // including the file type bits
  data?: Buffer;
  rdev?: [number, number];
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** Writes entries as a cpio "newc" archive, the format the kernel unpacks. */
function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    offset += b.length;
  };
  const pad4 = (): void => {
    const r = offset % 4;
    if (r !== 0) push(Buffer.alloc(4 - r));
  };
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }] as CpioEntry[]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(e.name + '\0');
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    const fields = [
      e.name === 'TRAILER!!!' ? 0 : ino++,
      e.mode,
      0, // uid
      0, // gid
      isDir ? 2 : 1,
      0, // mtime: fixed, so the archive depends on its inputs only
      data.length,
      0, // devmajor
      0, // devminor
      e.rdev?.[0] ?? 0,
      e.rdev?.[1] ?? 0,
      name.length,
      0, // check
    ];
    push(Buffer.from('070701' + fields.map(hex).join(''), 'ascii'));
    push(name);
    pad4();
    push(data);
    pad4();
  }
  return Buffer.concat(parts);
}

/**
 * Builds (or finds in the cache) the initramfs for a kernel and returns its path. Safe
 * to call from concurrent processes: the image is written to a temporary name and
 * renamed into place.
 */
export function buildInitramfs(p: VmPrereqs, cacheDir: string = vmCacheDir): string {
  const init = readFileSync(guestInitPath);
  const scenarios = scenarioScripts();
  const dep = parseModulesDep(p.modulesDir);
  const modules = moduleLoadOrder(dep);
  const bb = statSync(p.busybox);
  const hash = createHash('sha256').update('capns-vm-initramfs 2\n').update(init);
  for (const x of scenarios) hash.update(`${x.name} ${x.data.length}\n`).update(x.data);
  const key = hash
    .update(`${p.kernelVersion}\n${modules.map((m) => m.path).join('\n')}\n`)
    .update(`${p.busybox} ${bb.size} ${bb.mtimeMs}\n`)
    .digest('hex')
    .slice(0, 16);
  const out = join(cacheDir, `initramfs-${p.kernelVersion}-${key}.cpio`);
  if (existsSync(out)) return out;

  const loadList = modules.map((m) => basename(m.path).replace(/\.(xz|zst|gz)$/, ''));
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'etc', 'lib', 'lib/modules', 'mnt', 'proc', 'scenarios', 'sys', 'tmp'].map(
      (name) => ({
        name,
        mode: S_IFDIR | 0o755,
      }),
    ),
    // The kernel opens /dev/console for init's stdio before init runs (and before init
    // mounts devtmpfs), so the node must be in the archive.
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] },
    { name: 'init', mode: S_IFREG | 0o755, data: init },
    ...scenarios.map((x) => ({
      name: `scenarios/${x.name}.sh`,
      mode: S_IFREG | 0o755,
      data: x.data,
    })),
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: readFileSync(p.busybox) },
    { name: 'bin/sh', mode: S_IFLNK | 0o777, data: Buffer.from('busybox') },
    {
      name: 'etc/modules.load',
      mode: S_IFREG | 0o644,
      data: Buffer.from(loadList.join('\n') + '\n'),
    },
    ...modules.map((m, i) => ({
      name: `lib/modules/${loadList[i]}`,
      mode: S_IFREG | 0o644,
      data: readModule(p.modulesDir, m.path),
    })),
  ];
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, cpioNewc(entries));
  renameSync(tmp, out);
  return out;
}

/** One `RESULT` line from the guest. */
export interface VmResult {
  version: string;
  name: string;
  ok: boolean;
  detail: string;
}

/** What the guest is asked to do; see test/vm/guest-init.sh for the meaning of each. */
export interface VmRunOptions {
  /** TCP port of the 9P server on the host's 127.0.0.1. */
  port: number;
  /** Protocol versions to mount, in order, e.g. ['9p2000.L', '9p2000']. */
  versions: string[];
  /** msize the guest asks for; default 512 KiB (the kernel's maximum for TCP). */
  msize?: number;
  /** Attach name, if the server needs one (diod: its export path). */
  aname?: string;
  /** Files in the listing test; default 1000. */
  files?: number;
  /** Size of the dd checksum test in MiB; default 16. */
  bigMiB?: number;
  /** Concurrent writers; default 8. */
  writers?: number;
  /** sha256 of `pattern` at the root of the served tree, when the host put one there. */
  hostSha256?: string;
  /**
   * Run test/vm/scenario-NAME.sh on each mounted version instead of guest-init.sh's POSIX
   * checks (which then do not run). `files`, `bigMiB`, `writers` and `hostSha256` are the
   * POSIX checks' and mean nothing to a scenario.
   */
  scenario?: string;
  /** qemu is killed after this long (all boots together); default 240 s. */
  timeoutMs?: number;
  /**
   * 'tcg' (default: software emulation, works everywhere) or 'kvm'. CAPNS_VM_ACCEL
   * overrides. Not 'kvm when /dev/kvm opens': on this project's machines /dev/kvm opens
   * but is nested virtualization that cannot boot a guest (docs/testing-vm.md).
   */
  accel?: 'kvm' | 'tcg';
  /** Guest memory; default 512 MiB. */
  memoryMiB?: number;
  /** Called with every console line as it arrives (for live logs). */
  onLine?: (line: string) => void;
}

/** The outcome of one boot. */
export interface VmRun {
  results: VmResult[];
  /** The guest printed CAPNS-VM-DONE. */
  done: boolean;
  timedOut: boolean;
  exitCode: number | null;
  /** The accelerator qemu ran with. */
  accel: 'kvm' | 'tcg';
  /** 2 when the first boot died before /init and was retried. */
  boots: number;
  /** The whole serial console of every boot (capped at 4 MiB each). */
  console: string;
  elapsedMs: number;
}

/**
 * Boots the VM and resolves when qemu exits (or is killed at the timeout). Never
 * rejects for what happens in the guest: read `done`, `timedOut` and `results`.
 */
export async function runV9fsVm(p: VmPrereqs, initramfs: string, o: VmRunOptions): Promise<VmRun> {
  const accel = process.env['CAPNS_VM_ACCEL'] === 'kvm' || o.accel === 'kvm' ? 'kvm' : 'tcg';
  const append = [
    'console=ttyS0',
    'panic=-1',
    'quiet',
    // The IO-APIC timer check counts ticks in a window that an emulated CPU on a loaded
    // host can miss; the kernel then panics ("IO-APIC + timer doesn't work!", seen here).
    'no_timer_check',
    // The guest opens no connection but this one; IPv6 off keeps it from even sending
    // router solicitations.
    'ipv6.disable=1',
    'capns_host=10.0.2.2',
    `capns_port=${o.port}`,
    `capns_versions=${o.versions.join(',')}`,
    `capns_msize=${o.msize ?? 512 * 1024}`,
    `capns_files=${o.files ?? 1000}`,
    `capns_bigmib=${o.bigMiB ?? 16}`,
    `capns_writers=${o.writers ?? 8}`,
  ];
  if (o.aname !== undefined) append.push(`capns_aname=${o.aname}`);
  if (o.hostSha256 !== undefined) append.push(`capns_hostsha=${o.hostSha256}`);
  if (o.scenario !== undefined) append.push(`capns_scenario=${o.scenario}`);
  const args = [
    '-nodefaults',
    '-no-user-config',
    '-accel',
    accel,
    '-cpu',
    accel === 'kvm' ? 'host' : 'max',
    // One vCPU: the host has two cores and the server under test needs one. Against diod
    // at load average 22-41, -smp 1 took 60 and 62 s, -smp 2 80 and 161 s. Writers still
    // overlap on the wire: each one sleeps on its reply while the next one sends.
    '-smp',
    process.env['CAPNS_VM_SMP'] ?? '1',
    '-m',
    String(o.memoryMiB ?? 512),
    '-kernel',
    p.kernel,
    '-initrd',
    initramfs,
    '-append',
    append.join(' '),
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    // User-mode networking: qemu's slirp turns the guest's connection to 10.0.2.2 into a
    // connection to the host's 127.0.0.1. restrict=on would also close that path; its
    // replacement, guestfwd through a relay command, measured 8x slower (see
    // docs/testing-vm.md).
    '-netdev',
    'user,id=n0',
    '-device',
    'virtio-net-pci,netdev=n0,romfile=',
  ];

  const started = Date.now();
  const deadline = started + (o.timeoutMs ?? 240_000);
  let consoleText = '';
  for (let boots = 1; ; boots++) {
    const b = await bootOnce(p.qemu, args, deadline, o.onLine);
    consoleText += b.console;
    // A kernel that dies before /init (seen once: the IO-APIC timer check under heavy
    // host load) says nothing about the server: boot once more. Anything after /init
    // started counts as it is.
    if (!b.begun && !b.timedOut && boots < 2) {
      consoleText += '\n[capns-vm: the kernel did not reach /init; booting again]\n';
      continue;
    }
    return {
      results: b.results,
      done: b.done,
      timedOut: b.timedOut,
      exitCode: b.exitCode,
      accel,
      boots,
      console: consoleText,
      elapsedMs: Date.now() - started,
    };
  }
}

interface Boot {
  results: VmResult[];
  /** /init started (it printed CAPNS-VM-BEGIN). */
  begun: boolean;
  done: boolean;
  timedOut: boolean;
  exitCode: number | null;
  console: string;
}

async function bootOnce(
  qemu: string,
  args: string[],
  deadline: number,
  onLine: ((line: string) => void) | undefined,
): Promise<Boot> {
  const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const results: VmResult[] = [];
  let consoleText = '';
  let partial = '';
  let begun = false;
  let done = false;
  const onText = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    if (consoleText.length < 4 << 20) consoleText += text;
    partial += text;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl).replace(/\r$/, '');
      partial = partial.slice(nl + 1);
      onLine?.(line);
      if (line.startsWith('CAPNS-VM-BEGIN')) begun = true;
      if (line === 'CAPNS-VM-DONE') done = true;
      const m = /^RESULT (\S+) (\S+) (ok|fail)(?: (.*))?$/.exec(line);
      if (m !== null) {
        results.push({ version: m[1]!, name: m[2]!, ok: m[3] === 'ok', detail: m[4] ?? '' });
      }
    }
  };
  child.stdout.on('data', onText);
  child.stderr.on('data', onText);

  // If this process ends first (a cancelled test run), qemu must not outlive it.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  let timedOut = false;
  const timer = setTimeout(
    () => {
      timedOut = true;
      child.kill('SIGKILL');
    },
    Math.max(0, deadline - Date.now()),
  );
  const exitCode = await new Promise<number | null>((res) => {
    child.on('error', (err) => {
      consoleText += `\nspawn ${qemu}: ${err.message}\n`;
      res(null);
    });
    child.on('close', (code) => res(code));
  });
  clearTimeout(timer);
  process.removeListener('exit', killOnExit);
  return { results, begun, done, timedOut, exitCode, console: consoleText };
}
