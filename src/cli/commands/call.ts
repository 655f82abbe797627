/**
 * `capns call PATH METHOD [JSON]`: call any method of the capability at PATH with JSON
 * params and print the JSON results, by schema reflection (src/reflect): nothing here
 * knows any interface. Without METHOD, lists the interface's methods.
 *
 * The interface is the one PATH resolves to (a path inside a file tree names a File).
 * Results whose union holds a Failure (`{"result": {"err": {...}}}`) are printed and
 * exit with 1, like the other commands' expected failures.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CapnsClient } from '../../client/index.js';
import { NsError } from '../../errors.js';
import { EXIT_FAILURE, hexId, printJson, processIo, remoteCommand, UsageError, withClient, type RemoteOptions } from './remote.js';

/** The Failure a result union holds at the top level, if any. */
function failureIn(v: unknown): { code: string; message: string } | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  for (const x of Object.values(v)) {
    const err = typeof x === 'object' && x !== null ? (x as Record<string, unknown>)['err'] : undefined;
    if (typeof err === 'object' && err !== null && 'code' in err && 'message' in err) return err as { code: string; message: string };
  }
  return undefined;
}

function parseParams(text: string): unknown {
  const src = text === '-' ? readFileSync(0, 'utf8') : text;
  try {
    return JSON.parse(src);
  } catch (e) {
    throw new UsageError(`params are not JSON: ${(e as Error).message}`);
  }
}

async function listMethods(c: CapnsClient, path: string, opts: RemoteOptions, out: (s: string) => void): Promise<void> {
  const [t, { methodSignature }] = await Promise.all([c.methodsAt(path), import('../../reflect/index.js')]);
  const refs = c.schema.methods(t.interfaceId);
  if (opts.json === true) {
    out(JSON.stringify({ interface: t.interfaceName, interfaceId: hexId(t.interfaceId), methods: refs.map((r) => methodSignature(c.schema, r.method)) }) + '\n');
    return;
  }
  out(`${path}: ${t.interfaceName} ${hexId(t.interfaceId)}\n`);
  for (const r of refs) out(`  ${methodSignature(c.schema, r.method)}\n`);
}

/** Registers `capns call` on `program`. */
export function register(program: Command): void {
  remoteCommand(
    program
      .command('call')
      .description('call any method of the capability at PATH with JSON params and print the JSON results (schema reflection)')
      .argument('<path>', 'a capability of your namespace (a path inside a file tree names a File)')
      .argument('[method]', 'the method; without it, list the methods')
      .argument('[json]', "the params as a JSON object ('-' reads stdin)", '{}'),
    'print the results on one line',
  )
    .addHelpText(
      'after',
      `
JSON form: Text as strings, Data as base64, 64-bit integers as strings (numbers and
"0x..." accepted), enums by name, structs as objects, unions with one member, lists as
arrays. Capabilities in results print as {"capability": {"interfaceId", "interface"}};
a capability param is {"capability": "/a/path/of/yours"}. Results holding a Failure
({"result": {"err": ...}}) are printed and exit with 1.

Examples:
  capns call /svc/clock now
  capns call /tmp attach '{"aname": ""}'
  capns call /tmp/notes.txt stat
  capns call /tmp/notes.txt read '{"offset": 0, "count": 100}'`,
    )
    .action(async (path: string, method: string | undefined, json: string, opts: RemoteOptions) => {
      const io = processIo();
      process.exitCode = await withClient('call', opts, io, async (c) => {
        if (method === undefined) return listMethods(c, path, opts, io.out);
        const params = parseParams(json);
        const t = await c.callTarget(path);
        let results;
        try {
          try {
            c.schema.method(t.interfaceId, method);
          } catch (e) {
            throw e instanceof NsError ? new UsageError(`${path}: ${e.message}`) : e;
          }
          try {
            results = await t.call(method, params);
          } catch (e) {
            // The params did not fit the method's params struct: nothing was sent.
            if (e instanceof NsError && e.code === 'NS_ERR_INVALID_ARGUMENT' && e.message.startsWith('params')) throw new UsageError(e.message);
            throw e;
          }
        } finally {
          t.close();
        }
        printJson(io, results, opts.json === true);
        const failure = failureIn(results);
        if (failure !== undefined) {
          io.err(`capns call: ${method}: ${failure.code}: ${failure.message}\n`);
          return EXIT_FAILURE;
        }
      });
    });
}
