/**
 * The service of bench/services.bench.ts: test.capnp's Test (the same implementation as
 * the RPC benchmark's peers), run by capns as a `service` or on its own (`--listen
 * ADDRESS`, printing `listening ADDRESS`). `echo("crash")` makes it exit with status 1
 * (for the crash-to-next-call figure).
 */
import { Base, Test, type Test_Echo$Params, type Test_Echo$Results } from '../test/fixtures/rpc/gen/test.js';
import { TestImpl, TestState } from '../test/support/test-server.js';
import { serve } from '../src/rpc/index.js';
import { runService } from '../src/services/index.js';

class Crashable extends TestImpl {
  override async echo(p: Test_Echo$Params, r: Test_Echo$Results): Promise<void> {
    if (p.text === 'crash') setImmediate(() => process.exit(1));
    r.text = p.text;
  }
}

const i = process.argv.indexOf('--listen');
const svc = await runService({
  offers: { test: serve(Test, new Crashable(new TestState()), { extends: [Base] }) },
  ...(i >= 0 && { listen: process.argv[i + 1]! }),
});
if (svc.mode === 'standalone') console.log(`listening ${svc.address}`);
await svc.closed;
