/**
 * A Hub's two faces: the typed `Hub` capability (schema/hub.capnp) and a file tree
 * (hubfs), for `cat` and shell redirection over 9P:
 *
 *   NAME          a channel: a read follows it from where the open joined (waiting for
 *                 more, never at an end until the channel is removed); a write appends
 *   backlog/NAME  the same channel, read from the oldest byte the hub retains
 *   ctl           write `create NAME` or `remove NAME`; read: one line per channel
 *
 * `echo x > NAME` in the root creates a channel, `rm NAME` removes it. Offsets are
 * ignored: a channel is a stream, as a pipe is. A reader that fell behind the backlog
 * gets one failed read (NS_ERR_IO, "missed N bytes"; EIO over 9P) and then goes on from
 * the oldest byte retained: what it lost is reported, never dropped in silence.
 */
import { NsError } from '../errors.js';
import { setFailure } from '../failure.js';
import { serveFileServer } from '../fileserver/file-server-rpc.js';
import {
  Hub as HubIface,
  type Hub$Client,
  type Hub$Server$Target,
  type Hub_Channels$Params,
  type Hub_Channels$Results,
  type Hub_Create$Params,
  type Hub_Create$Results,
  type Hub_Files$Params,
  type Hub_Files$Results,
  type Hub_Position$Params,
  type Hub_Position$Results,
  type Hub_Read$Params,
  type Hub_Read$Results,
  type Hub_Remove$Params,
  type Hub_Remove$Results,
  type Hub_Write$Params,
  type Hub_Write$Results,
} from '../gen/hub.js';
import { FileServer as FileServerIface } from '../gen/fileserver.js';
import { dupClient, serve, type CallContext } from '../rpc/index.js';
import { Hub, type Channel } from './hub.js';
import { dir, SyntheticFileServer, textFile, type SynthFile, type SynthNode } from './synthetic-fs.js';

/** The file face of `hub`. Does not own the hub. */
export function newHubFileServer(hub: Hub): SyntheticFileServer {
  // qid paths: 1 root, 2 ctl, 3 backlog/; channels get two each, by creation.
  const qpaths = new WeakMap<Channel, bigint>();
  let next = 16n;
  const qpathOf = (c: Channel): bigint => {
    let q = qpaths.get(c);
    if (q === undefined) qpaths.set(c, (q = next += 2n));
    return q;
  };
  const channelFile = (c: Channel, fromBacklog: boolean): SynthFile => ({
    kind: 'file',
    name: c.name,
    qpath: qpathOf(c) + (fromBacklog ? 1n : 0n),
    readable: true,
    writable: true,
    append: true,
    perm: 0o666,
    async open(mode) {
      const reads = mode.access === 'read' || mode.access === 'readWrite';
      let pos = fromBacklog ? c.oldest : c.end;
      if (reads) c.followers++;
      let closed = false;
      return {
        async read(_offset, count, signal) {
          const r = await c.follow(pos, count, signal, reads);
          if (r.missed > 0n) {
            // Report the loss on its own; the next read goes on from the oldest byte.
            pos = r.next - BigInt(r.data.length);
            throw new NsError('NS_ERR_IO', `hub channel '${c.name}': this reader missed ${r.missed} bytes (the hub retains ${hub.backlogBytes})`);
          }
          pos = r.next;
          return r.data;
        },
        async write(_offset, data) {
          c.write(data);
          return data.length;
        },
        close() {
          if (reads && !closed) c.followers--;
          closed = true;
        },
      };
    },
    async remove() {
      if (hub.has(c.name) && hub.get(c.name) === c) hub.remove(c.name);
    },
  });
  const status = (): string =>
    hub
      .list()
      .map((c) => {
        const i = c.info();
        return `${i.name} end=${i.end} oldest=${i.oldest} readers=${i.readers} writes=${i.writes} missed=${i.missed}\n`;
      })
      .join('');
  const ctl = textFile('ctl', 2n, status, (text) => {
    for (const line of text.split('\n')) {
      const w = line.trim().split(/[ \t]+/).filter((x) => x !== '');
      if (w.length === 0) continue;
      if (w[0] === 'create' && w.length === 2) hub.create(w[1] as string);
      else if (w[0] === 'remove' && w.length === 2) hub.remove(w[1] as string);
      else throw new NsError('NS_ERR_INVALID_ARGUMENT', `unknown hub ctl message '${line.trim().slice(0, 60)}'; ctl takes: create NAME | remove NAME`);
    }
  });
  const backlog = dir('backlog', 3n, () => hub.list().map((c) => channelFile(c, true)));
  const root = {
    ...dir('/', 1n, (): SynthNode[] => [ctl, backlog, ...hub.list().filter((c) => c.name !== 'ctl' && c.name !== 'backlog').map((c) => channelFile(c, false))]),
    async create(name: string): Promise<SynthFile> {
      if (name === 'ctl' || name === 'backlog') throw new NsError('NS_ERR_EXISTS', `'${name}' exists`);
      return channelFile(hub.create(name), false);
    },
  };
  return new SyntheticFileServer(root);
}

/** The typed Hub capability. */
class HubTarget implements Hub$Server$Target {
  readonly #files: ReturnType<typeof serveFileServer>;

  constructor(readonly hub: Hub) {
    this.#files = serveFileServer(newHubFileServer(hub));
  }

  async channels(_p: Hub_Channels$Params, results: Hub_Channels$Results): Promise<void> {
    const list = this.hub.list();
    const out = results._initChannels(list.length);
    list.forEach((c, i) => {
      const info = c.info();
      const e = out.get(i);
      e.name = info.name;
      e.end = info.end;
      e.oldest = info.oldest;
      e.readers = info.readers;
      e.writes = info.writes;
      e.missed = info.missed;
    });
  }

  async create(params: Hub_Create$Params, results: Hub_Create$Results): Promise<void> {
    const res = results._initResult();
    try {
      this.hub.create(params.name);
      res.ok = true;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async remove(params: Hub_Remove$Params, results: Hub_Remove$Results): Promise<void> {
    const res = results._initResult();
    try {
      this.hub.remove(params.name);
      res.ok = true;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async write(params: Hub_Write$Params, results: Hub_Write$Results): Promise<void> {
    const res = results._initResult();
    try {
      res.end = this.hub.get(params.channel).write(params.data.toUint8Array());
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async read(params: Hub_Read$Params, results: Hub_Read$Results, ctx?: CallContext): Promise<void> {
    const res = results._initResult();
    try {
      const max = Math.min(params.max, this.hub.maxWriteBytes * 4);
      if (max <= 0) throw new NsError('NS_ERR_INVALID_ARGUMENT', 'read of 0 bytes');
      const r = await this.hub.get(params.channel).follow(params.from, max, ctx?.signal);
      const ok = res._initOk();
      ok._initData(r.data.length).copyBuffer(r.data);
      ok.next = r.next;
      ok.missed = r.missed;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async position(params: Hub_Position$Params, results: Hub_Position$Results): Promise<void> {
    const res = results._initResult();
    try {
      const c = this.hub.get(params.channel);
      const ok = res._initOk();
      ok.end = c.end;
      ok.oldest = c.oldest;
    } catch (e) {
      setFailure(res._initErr(), e);
    }
  }

  async files(_p: Hub_Files$Params, results: Hub_Files$Results): Promise<void> {
    // The message owns the reference it is given: a duplicate of ours.
    results.fs = new FileServerIface.Client(dupClient(this.#files.client));
  }

  [Symbol.dispose](): void {
    this.#files.client.close();
  }
}

/** Serves `hub` as a Hub capability. Does not own the hub; the caller owns the client. */
export function serveHub(hub: Hub): Hub$Client & Disposable {
  return serve(HubIface, new HubTarget(hub));
}
