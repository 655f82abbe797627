/**
 * Output batching as a raw peer sees it: what arrives in one read. A Finish (and a
 * Release) is housekeeping that waits for the event loop's check phase, so a client that
 * reads a result and calls again at once sends both in one write; with nothing after it,
 * it still goes out.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import * as $ from 'capnp-es';
import { Test } from '../fixtures/rpc/gen/test.js';
import { FrameReader, RpcConnection, connect, release } from '../../src/rpc/index.js';
import { until } from './harness.js';
import { RpcMessage, buildFrame, readFrame } from './raw-peer.js';

const NAMES: Record<number, string> = {
  [RpcMessage.BOOTSTRAP]: 'bootstrap',
  [RpcMessage.CALL]: 'call',
  [RpcMessage.FINISH]: 'finish',
  [RpcMessage.RELEASE]: 'release',
};

/**
 * A raw server: bootstraps to export 0, answers every Call with empty results, and
 * records the messages of each chunk it reads, as "call q=1", "finish q=1", "release 0".
 */
async function recordingServer(t: TestContext): Promise<{ address: string; chunks: string[][] }> {
  const chunks: string[][] = [];
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    socks.add(sock);
    const reader = new FrameReader({ maxMessageBytes: 1 << 20, maxSegments: 16 });
    const send = (build: (m: RpcMessage) => void): void => void sock.write(buildFrame(build));
    sock.on('error', () => {});
    sock.on('data', (chunk: Buffer) => {
      const seen: string[] = [];
      for (const f of reader.push(chunk)) {
        const m = readFrame(f);
        const which = m.which();
        const name = NAMES[which] ?? `message ${which}`;
        if (which === RpcMessage.BOOTSTRAP) {
          seen.push(`${name} q=${m.bootstrap.questionId}`);
          send((o) => {
            const r = o._initReturn();
            r.answerId = m.bootstrap.questionId;
            const pl = r._initResults();
            pl._initCapTable(1).get(0).senderHosted = 0;
            $.utils.setInterfacePointer(0, pl.content);
          });
        } else if (which === RpcMessage.CALL) {
          seen.push(`${name} q=${m.call.questionId}`);
          send((o) => {
            const r = o._initReturn();
            r.answerId = m.call.questionId;
            $.utils.initStruct(new $.ObjectSize(8, 1), r._initResults().content);
          });
        } else if (which === RpcMessage.FINISH) seen.push(`${name} q=${m.finish.questionId}`);
        else if (which === RpcMessage.RELEASE) seen.push(`${name} ${m.release.id}`);
        else seen.push(name);
      }
      chunks.push(seen);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const sock of socks) sock.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const { port } = server.address() as net.AddressInfo;
  return { address: `127.0.0.1:${port}`, chunks };
}

/** Kinds of the messages in `bytes` (whole frames), as the recording server names them. */
function kinds(bytes: Uint8Array[]): string[] {
  const reader = new FrameReader({ maxMessageBytes: 1 << 20, maxSegments: 16 });
  const out: string[] = [];
  for (const b of bytes) {
    for (const f of reader.push(b)) {
      const m = readFrame(f);
      const which = m.which();
      const q = which === RpcMessage.CALL ? m.call.questionId : which === RpcMessage.FINISH ? m.finish.questionId : 0;
      out.push(`${NAMES[which] ?? which} q=${q}`);
    }
  }
  return out;
}

test('a Finish rides with the next call: one write for both', async (t) => {
  const s = await recordingServer(t);
  const [host, port] = s.address.split(':');
  const sock = net.connect(Number(port), host);
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  // What each write to the socket carries: Writable hands a corked batch to _writev.
  const writes: string[][] = [];
  type Chunk = { chunk: Uint8Array };
  const w = sock as unknown as {
    _write(c: Uint8Array, e: string, cb: () => void): void;
    _writev(cs: Chunk[], cb: () => void): void;
  };
  const write = w._write.bind(sock);
  const writev = w._writev.bind(sock);
  w._write = (c, e, cb) => (writes.push(kinds([c])), write(c, e, cb));
  w._writev = (cs, cb) => (writes.push(kinds(cs.map((x) => x.chunk))), writev(cs, cb));
  const conn = new RpcConnection(sock);
  t.after(() => conn.destroy());
  const remote = conn.bootstrap(Test);
  await remote.add((p) => { p.a = 1n; p.b = 2n; }).promise();
  await remote.add((p) => { p.a = 3n; p.b = 4n; }).promise();
  await until(() => s.chunks.flat().filter((x) => x.startsWith('call')).length === 2, 'both calls served');
  // The second call reuses question id 1: its Finish goes first, in the same write.
  const i = writes.findIndex((x) => x.includes('finish q=1'));
  assert.ok(i >= 0, `a Finish for the first call was written: ${JSON.stringify(writes)}`);
  assert.deepEqual(writes[i]!.slice(writes[i]!.indexOf('finish q=1')), ['finish q=1', 'call q=1'], JSON.stringify(writes));
  release(remote);
});

test('a Finish or Release with nothing after it still goes out', async (t) => {
  const s = await recordingServer(t);
  const conn = await connect(s.address);
  t.after(() => conn.destroy());
  const remote = conn.bootstrap(Test);
  await remote.add((p) => { p.a = 1n; p.b = 2n; }).promise();
  // Nothing else is sent: the Finish for the call must not wait for another message.
  await until(() => s.chunks.flat().filter((x) => x.startsWith('finish')).length === 2, 'bootstrap and call finished');
  release(remote);
  await until(() => s.chunks.flat().includes('release 0'), 'the bootstrap capability released');
});
