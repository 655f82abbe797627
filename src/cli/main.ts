/**
 * The `capns` command: the composition root. Only this module (and the command modules
 * it registers, which receive everything by argument) reads process.argv and
 * process.env, installs signal handlers and starts listeners (STYLE.md section 2).
 *
 * Each subcommand lives in its own file under src/cli/commands/ and exports
 * `register(program)`.
 */
import { Command } from 'commander';

const program = new Command();
program
  .name('capns')
  .description("capability namespace service: Plan 9 namespaces over Cap'n Proto capabilities")
  .version('0.1.0')
  .showHelpAfterError();

// Subcommands (one line each; keep sorted).
(await import('./commands/9p.js')).register(program);
(await import('./commands/bind.js')).register(program);
(await import('./commands/call.js')).register(program);
(await import('./commands/cat.js')).register(program);
(await import('./commands/cpns.js')).register(program);
(await import('./commands/export.js')).register(program);
(await import('./commands/exports.js')).register(program);
(await import('./commands/import.js')).register(program);
(await import('./commands/ls.js')).register(program);
(await import('./commands/manifest.js')).register(program);
(await import('./commands/mkdir.js')).register(program);
(await import('./commands/mount.js')).register(program);
(await import('./commands/ns.js')).register(program);
(await import('./commands/put.js')).register(program);
(await import('./commands/rm.js')).register(program);
(await import('./commands/schema.js')).register(program);
(await import('./commands/serve.js')).register(program);
(await import('./commands/stat.js')).register(program);
(await import('./commands/unmount.js')).register(program);

await program.parseAsync(process.argv);
