/**
 * A Namespace capability seen as a FileServer: its own file tree (the one its `walk`
 * hands out — mount points, synthetic directories, file servers, capability files),
 * reached through `Namespace.walk`. What makes a Namespace member (an imported remote
 * namespace) a directory of the namespace it is mounted in, for the local file view
 * (NamespaceFileServer): listing it, walking into it, creating in it (with MCREATE, as
 * for a FileServer member), `stat`, and 9P clients, all go to the remote namespace.
 */
import { NsError } from '../errors.js';
import { fromFailure } from '../failure.js';
import { attachNames, readQid, RemoteFile } from '../fileserver/file-server-rpc.js';
import type { File, FileServer, Qid } from '../fileserver/file-server.js';
import type { Namespace$Client } from '../gen/namespace.js';
import { release } from '../rpc/index.js';

/**
 * The FileServer view of a Namespace capability. An attach name below the root is a view
 * of the namespace rooted there (`sub`), so `..` stops at it and the remote's members are
 * attached below it — what confines a view of ours rooted inside an imported namespace
 * (docs/security.md). The views are kept, one per attach name, until `close()`: a File
 * walked from one goes on using its namespace.
 */
export class RemoteNamespaceFileServer implements FileServer {
  #client: Namespace$Client | null;
  readonly #views = new Map<string, Namespace$Client>();

  /** Takes ownership of `client`; `close()` releases it (Files already attached stay valid until clunked). */
  constructor(client: Namespace$Client) {
    this.#client = client;
  }

  /**
   * The directory `aname` of the namespace (its root for ""), walked by the namespace
   * itself. The caller owns the root File.
   * @throws NsError as the namespace's walk answers (not found, not a directory...);
   *   RpcError when the namespace cannot be reached (an import that is down).
   */
  async attach(aname: string): Promise<{ root: File; qid: Qid }> {
    const c = this.#client;
    if (c === null) throw new NsError('NS_ERR_IO', 'remote namespace closed');
    const names = attachNames(aname).join('/');
    const ns = names === '' ? c : await this.#view(c, names);
    const res = (
      await ns
        .walk((p) => {
          p.path = '/';
        })
        .promise()
    ).result;
    if (res._isErr) throw fromFailure(res.err);
    const root = new RemoteFile(res.file);
    const qids = res.qids;
    if (qids.length > 0) return { root, qid: readQid(qids.get(qids.length - 1)) };
    // Namespace.walk may answer no qids: ask the File itself.
    try {
      return { root, qid: (await root.stat()).qid };
    } catch (e) {
      await root.clunk();
      throw e;
    }
  }

  /** The view of `c` rooted at `names` (made once). @throws NsError as `sub` answers. */
  async #view(c: Namespace$Client, names: string): Promise<Namespace$Client> {
    const had = this.#views.get(names);
    if (had !== undefined) return had;
    const r = (
      await c
        .sub((p) => {
          p.prefix = `/${names}`;
          p.readOnly = false;
        })
        .promise()
    ).result;
    if (r._isErr) throw fromFailure(r.err);
    const raced = this.#views.get(names);
    if (raced !== undefined) {
      release(r.ns);
      return raced;
    }
    if (this.#client === null) {
      release(r.ns);
      throw new NsError('NS_ERR_IO', 'remote namespace closed');
    }
    this.#views.set(names, r.ns);
    return r.ns;
  }

  /** Releases the capability and the views made of it. Idempotent. */
  close(): void {
    release(this.#client);
    this.#client = null;
    for (const v of this.#views.values()) release(v);
    this.#views.clear();
  }
}
