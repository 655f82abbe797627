/**
 * What `capns manifest check` can know about services before starting, beyond the pure
 * doctor (src/manifest/check.ts): it looks at the machine. The schema files must read
 * (compile, for sources) and be usable; every interface the manifest names by a name of
 * its own must be defined by one of them; every service's command must be found and its
 * folder exist. The manifest comes back with those names
 * completed with their ids, so that the doctor compares `require`s against what the
 * capabilities provide by id.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Diagnostic, DiagnosticCode } from '../manifest/manifest-error.js';
import type { InterfaceRef } from '../manifest/interfaces.js';
import type { Capability, Loc, Manifest, Step } from '../manifest/types.js';
import { NsError } from '../errors.js';
import { SchemaSet } from '../reflect/index.js';
import { readSchemaFile } from './schema-files.js';

/** What preflight found, and the manifest with the user's interface names completed. */
export interface Preflight {
  readonly diagnostics: readonly Diagnostic[];
  readonly manifest: Manifest;
  /** The schemas that loaded (capns's own and the manifest's). */
  readonly schemas: SchemaSet;
}

function diag(code: DiagnosticCode, loc: Loc, message: string, path = loc.path): Diagnostic {
  return { severity: 'error', code, file: loc.file, line: loc.line, column: loc.column, path, message };
}

/** Whether `file` is a file this process may execute. */
async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/**
 * What is wrong with a service's command and folder, as they will be looked up at start:
 * a name on `path` (the PATH capns serve gives its services), or a path.
 */
async function checkCommand(command: string, cwd: string, path: string): Promise<{ code: DiagnosticCode; message: string } | undefined> {
  try {
    if (!(await stat(cwd)).isDirectory()) return { code: 'cwd-missing', message: `cwd ${cwd} is not a folder` };
  } catch {
    return { code: 'cwd-missing', message: `cwd ${cwd} does not exist` };
  }
  if (command.includes('/')) {
    return (await executable(command)) ? undefined : { code: 'command-not-found', message: `command ${command} is not an executable file` };
  }
  for (const dir of path.split(delimiter)) if (dir !== '' && (await executable(join(dir, command)))) return undefined;
  return { code: 'command-not-found', message: `command ${command} is not on PATH (${path})` };
}

/**
 * Looks at the schema files and the interface names of `m`, and at each service's
 * command and folder (`path`: the PATH its services will get, as capns serve passes it).
 * Never throws for the manifest's faults.
 */
export async function preflightManifest(m: Manifest, opts: { path?: string } = {}): Promise<Preflight> {
  const out: Diagnostic[] = [];
  for (const c of m.capabilities) {
    if (c.type !== 'service') continue;
    const bad = await checkCommand(c.command, c.cwd, c.env['PATH'] ?? opts.path ?? '/usr/local/bin:/usr/bin:/bin');
    if (bad !== undefined) out.push(diag(bad.code, c.loc, bad.message, `${c.loc.path}.${bad.code === 'cwd-missing' ? 'cwd' : 'command'}`));
  }
  const schemas = new SchemaSet();
  let schemasOk = true;
  for (const f of m.schemas ?? []) {
    try {
      schemas.add(await readSchemaFile(f.path), f.path);
    } catch (e) {
      if (!(e instanceof NsError)) throw e;
      schemasOk = false;
      out.push(diag('schema', f.loc, e.message));
    }
  }
  // Names capns knows carry an id already; the user's are looked up (unless a schema
  // failed to load: then what it would have defined is unknown, and not reported).
  const complete = (ref: InterfaceRef, loc: Loc, path: string): InterfaceRef => {
    if (ref.id !== undefined || ref.name === undefined) return ref;
    try {
      return { name: ref.name, id: schemas.interfaceId(ref.name) };
    } catch (e) {
      if (!(e instanceof NsError)) throw e;
      if (schemasOk) out.push(diag('unknown-interface', loc, e.message, path));
      return ref;
    }
  };
  const capabilities = m.capabilities.map((c): Capability => {
    switch (c.type) {
      case 'import':
      case 'connect':
        return { ...c, interface: complete(c.interface, c.loc, `${c.loc.path}.interface`) };
      case 'service':
        return { ...c, offers: c.offers.map((o) => ({ ...o, interface: complete(o.interface, c.loc, `${c.loc.path}.offers.${o.name}`) })) };
      case 'srv':
        return { ...c, names: c.names.map((n) => (n.interface === undefined ? n : { ...n, interface: complete(n.interface, c.loc, `${c.loc.path}.names.${n.name}`) })) };
      default:
        return c;
    }
  });
  const profiles = m.profiles.map((p) => ({
    ...p,
    namespace: p.namespace.map((s): Step => (s.op !== 'unmount' && s.require !== undefined ? { ...s, require: complete(s.require, s.loc, `${s.loc.path}.require`) } : s)),
  }));
  return { diagnostics: out, manifest: { ...m, capabilities, profiles }, schemas };
}
