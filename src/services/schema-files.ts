/**
 * The user's schema files: a `.capnp` source compiled with the `capnp` tool (`capnp
 * compile -o-` writes a CodeGeneratorRequest), or a compiled one read as it is — the form
 * `capns schema compile` writes, so that running capns needs no compiler.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { NsError } from '../errors.js';
import { SchemaSet } from '../reflect/index.js';

/** The Cap'n Proto compiler capns runs (Debian: capnproto). */
export const CAPNP_COMPILER = 'capnp';

/** Whether `path` names a schema source (compiled at load) rather than a compiled schema. */
export function isSchemaSource(path: string): boolean {
  return path.endsWith('.capnp');
}

/**
 * Compiles one `.capnp` file to a CodeGeneratorRequest with `capnp compile -o-`. Its
 * folder is the source prefix and an import path (display names are relative to it);
 * `importPath` adds more import folders.
 * @throws NsError naming the file: the compiler is missing, or the schema does not
 *   compile (the compiler's message, first lines).
 */
export async function compileSchema(path: string, opts: { importPath?: readonly string[] } = {}): Promise<Uint8Array> {
  const dir = dirname(path);
  const args = ['compile', '-o-', `--src-prefix=${dir}`, `-I${dir}`, ...(opts.importPath ?? []).map((d) => `-I${d}`), path];
  return new Promise((resolve, reject) => {
    execFile(CAPNP_COMPILER, args, { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(new Uint8Array(stdout.buffer, stdout.byteOffset, stdout.length));
        return;
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(
          new NsError(
            'NS_ERR_NOT_FOUND',
            `${basename(path)}: a .capnp schema needs the Cap'n Proto compiler (\`${CAPNP_COMPILER}\`), which is not installed (Debian: apt-get install capnproto); or compile it once with \`capns schema compile ${basename(path)}\` and name the compiled file instead`,
          ),
        );
        return;
      }
      // Without kj's warnings (one says PWD is not the working directory, when a parent
      // changed directory without updating it): the compiler's errors are what matter.
      const text = stderr
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== '' && !/^kj\/\S+: warning: /.test(l))
        .slice(0, 5)
        .join('\n');
      reject(new NsError('NS_ERR_PARSE', `${basename(path)} does not compile: ${text === '' ? err.message : text}`));
    });
  });
}

/** Reads one schema file: compiled if it is a `.capnp` source, as it is otherwise. */
export async function readSchemaFile(path: string): Promise<Uint8Array> {
  if (isSchemaSource(path)) return compileSchema(path);
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new NsError('NS_ERR_NOT_FOUND', `schema ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/**
 * Loads the manifest's schema files into one SchemaSet (over capns's own schema), in
 * order. `where(i)` prefixes the messages of file i (its place in the manifest).
 * @throws NsError for the first file that cannot be read, compiled or used.
 */
export async function loadSchemaFiles(files: readonly { readonly path: string }[], where: (i: number) => string = () => ''): Promise<SchemaSet> {
  const set = new SchemaSet();
  for (const [i, f] of files.entries()) {
    try {
      set.add(await readSchemaFile(f.path), f.path);
    } catch (e) {
      if (e instanceof NsError) throw new NsError(e.code, `${where(i)}${e.message}`, { cause: e });
      throw e;
    }
  }
  return set;
}
