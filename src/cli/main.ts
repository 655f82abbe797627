/**
 * The `capns` command: the composition root. Only this module reads process.argv and
 * process.env, installs signal handlers and starts listeners (STYLE.md section 2).
 */
import { Command } from 'commander';

const program = new Command();
program
  .name('capns')
  .description("capability namespace service: Plan 9 namespaces over Cap'n Proto capabilities")
  .version('0.1.0');

await program.parseAsync(process.argv);
