/**
 * The fids of one 9P connection, refcounted as lib9p's `allocfid`/`closefid` and p9's
 * `fidRef`: the table holds one reference, and every in-flight request that uses a fid
 * holds another. Tclunk (or Tremove, or the end of the session) takes the fid out of the
 * table and drops the table's reference; whoever drops the last reference closes the
 * backing File. So a Tclunk that races a Tread on the same fid never closes the File
 * under the read.
 */
import type { File } from '../file-server.js';
import type { Qid } from './messages.js';

/** How a fid is open: its access and what reads of it return. */
export interface FidOpen {
  /** May be read (OREAD, ORDWR, OEXEC). */
  readonly read: boolean;
  /** May be written (OWRITE, ORDWR). */
  readonly write: boolean;
  /** The iounit reported to the client (already clamped to msize - IOHDRSZ). */
  readonly iounit: number;
  /** The backing File's own iounit: writes larger than this are split. */
  readonly backendIounit: number;
}

/** Where a 9P2000 directory read left off (read(5): reads continue where the last ended). */
export interface DirReadState {
  /** The byte offset the next Tread must ask for. */
  nextOffset: bigint;
  /** The index of the next directory entry to send. */
  nextIndex: number;
}

/** What a fid refers to: a File of the FileServer, or an authentication file. */
export type FidTarget =
  | { kind: 'file'; file: File }
  | { kind: 'auth'; aname: string; uname: string; written: Buffer[]; writtenBytes: number };

/**
 * One fid. Fields other than `refs` may change while requests hold it (Tcreate moves it,
 * Topen opens it); conn.ts checks its state when a request starts.
 */
export interface FidEntry {
  readonly fid: number;
  target: FidTarget;
  qid: Qid;
  /** Names walked from the attach root ("" components never appear; ".." is resolved). */
  path: string[];
  /** The numeric uid given at attach (9P2000.L n_uname), used for Rgetattr. */
  readonly nUname: number;
  open: FidOpen | null;
  dirRead: DirReadState | null;
  /** Files this fid referred to before Tcreate/Tlcreate moved it, closed with it. */
  retired: File[];
  /** Table reference + one per in-flight request. */
  refs: number;
  /** Out of the table (clunked or removed); closes when `refs` reaches 0. */
  inTable: boolean;
}

/**
 * A connection's fid table. Not shared between connections; not safe for concurrent
 * mutation from several threads (JavaScript has none), but requests of one connection
 * interleave at every `await`, which the refcounts make safe.
 */
export class FidTable {
  private readonly fids = new Map<number, FidEntry>();

  /** @param maxFids the most fids one connection may hold at once (a named limit). */
  constructor(readonly maxFids: number) {}

  /** How many fids are in the table. */
  get size(): number {
    return this.fids.size;
  }

  has(fid: number): boolean {
    return this.fids.has(fid);
  }

  /** Whether another fid would exceed `maxFids`. */
  get full(): boolean {
    return this.fids.size >= this.maxFids;
  }

  /**
   * Puts a new entry in the table, holding the table's reference. The caller has checked
   * that `fid` is free and the table is not full. Takes ownership of `target`'s File.
   */
  add(fid: number, target: FidTarget, qid: Qid, path: string[], nUname: number): FidEntry {
    const entry: FidEntry = {
      fid,
      target,
      qid,
      path,
      nUname,
      open: null,
      dirRead: null,
      retired: [],
      refs: 1,
      inTable: true,
    };
    this.fids.set(fid, entry);
    return entry;
  }

  /** The entry for `fid` with one more reference held for the caller, or undefined. */
  acquire(fid: number): FidEntry | undefined {
    const entry = this.fids.get(fid);
    if (entry !== undefined) entry.refs++;
    return entry;
  }

  /**
   * Drops one reference; the last one closes the backing Files and returns a promise that
   * resolves when they are closed (never rejects). Returns undefined when other
   * references remain (the common case: no promise is made for it).
   */
  release(entry: FidEntry): Promise<void> | undefined {
    entry.refs--;
    if (entry.refs > 0) return undefined;
    return closeEntry(entry);
  }

  /**
   * Takes `fid` out of the table and drops the table's reference (Tclunk, Tremove).
   * Resolves when the backing File is closed, which waits for the last in-flight request
   * using it. Returns undefined if `fid` is not in the table.
   */
  clunk(fid: number): Promise<void> | undefined {
    const entry = this.fids.get(fid);
    if (entry === undefined) return undefined;
    this.fids.delete(fid);
    entry.inTable = false;
    return this.release(entry) ?? RESOLVED;
  }

  /**
   * Empties the table (Tversion, end of connection), then drops the table's reference of
   * every entry: the table is empty before any File is closed, so nothing can find an
   * entry that is being closed. Resolves when the Files without other references are
   * closed. Never rejects.
   */
  clear(): Promise<void> {
    const entries = [...this.fids.values()];
    this.fids.clear();
    const closing: Promise<void>[] = [];
    for (const entry of entries) {
      entry.inTable = false;
      const p = this.release(entry);
      if (p !== undefined) closing.push(p);
    }
    return Promise.all(closing).then(() => undefined);
  }
}

const RESOLVED = Promise.resolve();

async function closeEntry(entry: FidEntry): Promise<void> {
  const files = entry.retired.splice(0);
  if (entry.target.kind === 'file') files.push(entry.target.file);
  // File.clunk never rejects (file-server.ts); a bug that makes it throw must still not
  // stop the other Files from closing.
  await Promise.all(files.map((f) => f.clunk().catch(() => undefined)));
}
