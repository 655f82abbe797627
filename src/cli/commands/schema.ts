/**
 * `capns schema compile FILE.capnp [-o OUT] [-I DIR]...`: compiles a schema of your own to
 * the form the manifest's `schemas` can name without a compiler at run time (a
 * CodeGeneratorRequest, what `capnp compile -o-` writes), after checking that capns can
 * use it. `capns schema show FILE`: the interfaces a schema file (source or compiled)
 * defines, with their methods.
 *
 * Exit status: 0 done; 1 the schema does not compile or cannot be used; 2 usage (a file
 * that cannot be read or written, a bad option).
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { NsError } from '../../errors.js';

function fail(message: string, status: number): number {
  process.stderr.write(`capns schema: ${message}\n`);
  return status;
}

async function compile(file: string, opts: { output?: string; importPath: string[] }): Promise<number> {
  const [{ SchemaSet }, { compileSchema }] = await Promise.all([import('../../reflect/index.js'), import('../../services/index.js')]);
  if (!file.endsWith('.capnp')) return fail(`${file}: expected a .capnp schema source`, 2);
  let bytes: Uint8Array;
  try {
    bytes = await compileSchema(file, { importPath: opts.importPath });
  } catch (e) {
    if (e instanceof NsError) return fail(e.message, e.code === 'NS_ERR_PARSE' ? 1 : 2);
    throw e;
  }
  const set = new SchemaSet();
  try {
    set.add(bytes, file);
  } catch (e) {
    if (e instanceof NsError) return fail(e.message, 1);
    throw e;
  }
  const out = opts.output ?? `${file}.bin`;
  try {
    await writeFile(out, bytes);
  } catch (e) {
    return fail(`cannot write ${out}: ${(e as Error).message}`, 2);
  }
  const names = set.sources[0]!.interfaces.map((id) => set.index.interfaceName(id));
  process.stdout.write(`${out}: ${bytes.length} bytes; interfaces: ${names.length === 0 ? '(none)' : names.join(', ')}\n`);
  return 0;
}

async function show(file: string, opts: { json?: boolean }): Promise<number> {
  const [{ describeInterface, idKey, SchemaSet }, { readSchemaFile }] = await Promise.all([import('../../reflect/index.js'), import('../../services/index.js')]);
  const set = new SchemaSet();
  try {
    set.add(await readSchemaFile(file), file);
  } catch (e) {
    if (e instanceof NsError) return fail(e.message, e.code === 'NS_ERR_NOT_FOUND' ? 2 : 1);
    throw e;
  }
  const ids = set.sources[0]!.interfaces;
  if (opts.json === true) {
    const interfaces = ids.map((id) => {
      const i = set.index.interface(id)!;
      return { name: i.name, id: idKey(id), file: i.file, methods: set.index.methods(id).map((m) => m.method.name) };
    });
    process.stdout.write(JSON.stringify({ file, interfaces }) + '\n');
    return 0;
  }
  for (const id of ids) process.stdout.write(describeInterface(set.index, id));
  return 0;
}

/** Registers `capns schema` on `program`. */
export function register(program: Command): void {
  const schema = program.command('schema').description("your own Cap'n Proto schemas: compile them for the manifest's `schemas`, show what they define");
  schema
    .command('compile')
    .description('compile a .capnp schema into the form the manifest can name without a compiler (a CodeGeneratorRequest)')
    .argument('<file>', 'the .capnp schema')
    .option('-o, --output <file>', 'where to write it (default FILE.bin)')
    .option('-I, --import-path <dir>', 'a folder to find imported schemas in (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .addHelpText('after', "\nNeeds the Cap'n Proto compiler (`capnp`; Debian: capnproto). Exit status: 0 written, 1 the schema\ndoes not compile or capns cannot use it, 2 a file cannot be read or written.")
    .action(async (file: string, opts: { output?: string; importPath: string[] }) => {
      process.exitCode = await compile(file, opts);
    });
  schema
    .command('show')
    .description('the interfaces a schema file defines (a .capnp source, compiled on the spot, or a compiled one), with their methods')
    .argument('<file>', 'the schema file')
    .option('--json', 'print {file, interfaces: [{name, id, file, methods}]}')
    .action(async (file: string, opts: { json?: boolean }) => {
      process.exitCode = await show(file, opts);
    });
}
