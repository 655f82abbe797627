/**
 * What `capns manifest check` can know about services before starting, beyond the pure
 * doctor (src/manifest/check.ts): it looks at the machine. The schema files must read
 * (compile, for sources) and be usable; every interface the manifest names by a name of
 * its own must be defined by one of them. The manifest comes back with those names
 * completed with their ids, so that the doctor compares `require`s against what the
 * capabilities provide by id.
 */
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

/** Looks at the schema files and the interface names of `m`. Never throws for the manifest's faults. */
export async function preflightManifest(m: Manifest): Promise<Preflight> {
  const out: Diagnostic[] = [];
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
    if (c.type === 'import' || c.type === 'connect') return { ...c, interface: complete(c.interface, c.loc, `${c.loc.path}.interface`) };
    return c;
  });
  const profiles = m.profiles.map((p) => ({
    ...p,
    namespace: p.namespace.map((s): Step => (s.op !== 'unmount' && s.require !== undefined ? { ...s, require: complete(s.require, s.loc, `${s.loc.path}.require`) } : s)),
  }));
  return { diagnostics: out, manifest: { ...m, capabilities, profiles }, schemas };
}
