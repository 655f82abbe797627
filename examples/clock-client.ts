/**
 * A small service using the capns client library: it connects to a running `capns
 * serve`, gets a typed capability from its namespace, calls it, and keeps a note of the
 * time in a file of that namespace.
 *
 *   npx capns serve &                              # the embedded default manifest
 *   node --import tsx examples/clock-client.ts     # or: ... examples/clock-client.ts tcp!HOST!PORT
 *
 * The token, if your profile needs one, comes from CAPNS_TOKEN. In your own project,
 * import from 'capns' instead of '../src/index.js'.
 */
import { Clock, connect, NsError, RpcError } from '../src/index.js';

const address = process.argv[2] ?? process.env['CAPNS_SERVER'] ?? 'tcp!127.0.0.1!5640';

try {
  // The connection and the namespace the server handed out, closed at the end of the block.
  await using ns = await connect(address, { token: process.env['CAPNS_TOKEN'] ?? '' });
  // A typed client, checked by the server to implement Clock; released at the end of the block.
  using clock = await ns.resolve('/svc/clock', Clock);
  const { iso, unixMillis } = await clock.now().promise();
  console.log(`profile ${ns.profile}: /svc/clock says ${iso} (${unixMillis} ms)`);

  const note = new TextEncoder().encode(`last seen at ${iso}\n`);
  await ns.writeFile('/tmp/clock-client.txt', note);
  const back = new TextDecoder().decode(await ns.readFile('/tmp/clock-client.txt'));
  console.log(`/tmp/clock-client.txt: ${back.trim()}`);
} catch (e) {
  // NsError: an expected failure (no /svc/clock in this namespace, a refused token);
  // RpcError: the server is unreachable or went away.
  if (!(e instanceof NsError) && !(e instanceof RpcError)) throw e;
  console.error(`clock-client: ${e.message}`);
  process.exitCode = e instanceof NsError ? 1 : 3;
}
