/**
 * The `capns` command: the composition root. Only this module (and the command modules
 * it registers, which receive everything by argument) reads process.argv and
 * process.env, installs signal handlers and starts listeners (STYLE.md section 2).
 *
 * Each subcommand lives in its own file under src/cli/commands/ and exports
 * `register(program)`. Those modules import only what defining the command needs
 * (commander, small helpers); what running it needs (the client library, the server,
 * the manifest parser) each loads in its action, so that `capns ls` does not load
 * fastify, and `capns --help` loads nothing at all (docs/cli.md, "Start-up").
 *
 * One exit-status rule for every command (docs/cli.md): usage errors, commander's
 * included (an unknown command or option, a missing argument or required option), exit
 * 2 and print one line naming the problem and where help is; with --json, that line is
 * JSON.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { register as register9p } from './commands/9p.js';
import { register as registerBind } from './commands/bind.js';
import { register as registerCall } from './commands/call.js';
import { register as registerCaptable } from './commands/captable.js';
import { register as registerCat } from './commands/cat.js';
import { register as registerCpns } from './commands/cpns.js';
import { register as registerExport } from './commands/export.js';
import { register as registerExports } from './commands/exports.js';
import { register as registerImport } from './commands/import.js';
import { register as registerLs } from './commands/ls.js';
import { register as registerManifest } from './commands/manifest.js';
import { register as registerMkdir } from './commands/mkdir.js';
import { register as registerMount } from './commands/mount.js';
import { register as registerNs } from './commands/ns.js';
import { register as registerPut } from './commands/put.js';
import { EXIT_OK, EXIT_USAGE, printError, processIo, USAGE_CODE } from './commands/remote.js';
import { register as registerRm } from './commands/rm.js';
import { register as registerSchema } from './commands/schema.js';
import { register as registerServe } from './commands/serve.js';
import { register as registerStat } from './commands/stat.js';
import { register as registerUnmount } from './commands/unmount.js';

/** The package's version, from its package.json (two folders up from src/cli and dist/cli). */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** `capns ls`, `capns exports revoke`: what error lines start with. */
function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Makes commander's usage errors follow the CLI's rule, on `cmd` and every subcommand:
 * one line (`capns ls: unknown option '--bogus'; see 'capns ls --help'`, or JSON with
 * --json), exit status 2; --help and --version exit 0.
 */
function usageErrors(cmd: Command, json: boolean): void {
  const name = fullName(cmd);
  const io = processIo();
  cmd.configureOutput({
    outputError: (text) => {
      // commander: "error: unknown command 'lss'\n(Did you mean ls?)\n"
      const message = text.replace(/^error: /, '').trim().split('\n').map((l) => l.trim()).join(' ');
      if (json) printError(io, name.replace(/^capns ?/, '') || 'capns', true, { message, code: USAGE_CODE, status: EXIT_USAGE });
      else io.err(`${name}: ${message}; see '${name} --help'\n`);
    },
  });
  cmd.exitOverride((e) => {
    // helpDisplayed and version: asked for. `capns` or `capns manifest` alone print their
    // help to stderr (commander.help) — a usage error like the rest.
    process.exit(e.exitCode === 0 && e.code !== 'commander.help' ? EXIT_OK : EXIT_USAGE);
  });
  for (const sub of cmd.commands) usageErrors(sub, json);
}

const program = new Command();
program
  .name('capns')
  .description("capability namespace service: Plan 9 namespaces over Cap'n Proto capabilities")
  .version(version())
  .addHelpText(
    'after',
    `
Start a server with \`capns serve\` (the embedded default: loopback only, RPC on
tcp!127.0.0.1!5640, 9P on 5641, the HTTP API and web page on http://127.0.0.1:5642/),
then use the client commands against it. Every command has --help; docs/cli.md is the
reference. Exit status: 0 done, 1 an expected failure, 2 usage, 3 server unreachable.`,
  );

// Subcommands (one line each; keep sorted).
register9p(program);
registerBind(program);
registerCall(program);
registerCaptable(program);
registerCat(program);
registerCpns(program);
registerExport(program);
registerExports(program);
registerImport(program);
registerLs(program);
registerManifest(program);
registerMkdir(program);
registerMount(program);
registerNs(program);
registerPut(program);
registerRm(program);
registerSchema(program);
registerServe(program);
registerStat(program);
registerUnmount(program);

usageErrors(program, process.argv.includes('--json'));
await program.parseAsync(process.argv);
