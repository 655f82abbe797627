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
import { readQid, RemoteFile } from '../fileserver/file-server-rpc.js';
import type { File, FileServer, Qid } from '../fileserver/file-server.js';
import type { Namespace$Client } from '../gen/namespace.js';
import { release } from '../rpc/index.js';

/** The FileServer view of a Namespace capability. */
export class RemoteNamespaceFileServer implements FileServer {
  #client: Namespace$Client | null;

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
    const path = `/${aname.replace(/^\/+/, '')}`;
    const res = (
      await c
        .walk((p) => {
          p.path = path;
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

  /** Releases the capability. Idempotent. */
  close(): void {
    release(this.#client);
    this.#client = null;
  }
}
