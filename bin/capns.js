#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864 node --initial-old-space-size=128 --max-semi-space-size=8 --expose-gc
// The `capns` command. Runs the compiled CLI (built by `npm ci` through the prepare
// script); in a checkout without dist/, falls back to the TypeScript sources via tsx.
//
// --initial-old-space-size=128: servers (`capns serve`, `capns 9p`) hold what they
// receive outside the JS heap (received messages, Twrite data, the ram tree's blocks). V8
// counts that memory toward a limit set at about 2.5x a small heap, and ran a full
// mark-compact every 25-30 ms under 64 KiB 9P writes: over half the server's CPU. Starting
// the old generation at 128 MB makes full collections rare (none in a 6 s run of that
// test), at the price of up to about that much memory before the first one. Measured again
// once accepted sockets stopped allocating per read (src/accepted-reads.ts): 64 MiB
// written at 64 KiB, 4 in flight, to the ram tree ran at 493-637 MB/s with it and 360-483
// without, with a third less CPU.
//
// GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864: V8 frees the buffers of received
// messages in bursts, after a garbage collection that external memory triggers at about
// 64 MiB; glibc then gave the freed top of its heap back to the kernel each time, and the
// next 64 MiB of buffers page-faulted it back in (2 faults and 8-10 µs of CPU per 64 KiB
// RPC read). Keeping up to 64 MiB of free heap ends that, at the price of that much
// resident memory after a burst. Ignored where the C library is not glibc.
//
// --max-semi-space-size=8: V8's young generation (where every new object starts) grows to
// twice its semi-space size under a burst of allocation and stays there; at the default
// 16 MB, a burst of 1,000 connections left about 16 KB per connection of young
// generation resident beside the 10 KB the connections hold, and the server spent more
// CPU per accepted connection (cache and page misses over the larger space). At 8 MB:
// first 1,000 idle connections 25-27 -> 11-12 KB each, CPU per accept 700 -> 660 us; no
// change measured in CPU per call (sequential, 100 in flight, 64 KiB reads).
//
// --expose-gc: once a burst of departures is over (a flood's connections gone, thousands
// of grants released), `capns serve` runs two full collections so that what they held is
// given back instead of waiting for the 128 MB above to fill (src/server/reclaim.ts).
//
// Run `node [flags] bin/capns.js` to choose otherwise (docs/serve.md, "Memory").
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The HTTP side's libraries load ESM-only packages with require() (@fastify/static:
// content-disposition 3; fastify's light-my-request: cookie 2), which Node does by default
// from 20.19 and 22.12 on (package.json "engines"). Elsewhere they fail at start with
// ERR_REQUIRE_ESM; say so first.
if (process.features.require_module !== true) {
  process.stderr.write(
    `capns: needs a Node that can require() ES modules (20.19+ or 22.12+); this is ${process.version}\n`,
  );
  process.exit(1);
}

const dist = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (existsSync(dist)) {
  await import(pathToFileURL(dist).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
