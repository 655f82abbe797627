import * as $ from "capnp-es";
export declare const _capnpFileId = 12664431104341603816n;
export declare const Failure_Code: {
    /**
  * A server too new for this schema sent a code we do not know; capnp decodes unknown
  * enumerants as their number, so readers must treat anything unrecognized as this.
  *
  */
    readonly UNKNOWN: 0;
    /**
  * 9P "file not found"
  *
  */
    readonly NOT_FOUND: 1;
    /**
  * 9P "file already exists"
  *
  */
    readonly EXISTS: 2;
    /**
  * 9P "permission denied": read-only view, no create member, mode bits
  *
  */
    readonly PERMISSION_DENIED: 3;
    /**
  * 9P "not a directory": walk or list through a leaf
  *
  */
    readonly NOT_ADIRECTORY: 4;
    /**
  * 9P "Is a directory": read/write of a directory as bytes
  *
  */
    readonly IS_ADIRECTORY: 5;
    /**
  * remove of a non-empty directory
  *
  */
    readonly NOT_EMPTY: 6;
    /**
  * the capability or mount this call went through was revoked
  *
  */
    readonly REVOKED: 7;
    /**
  * malformed path, name, mode, offset or namespace text
  *
  */
    readonly INVALID_ARGUMENT: 8;
    /**
  * resolve/bind with an expected interface that the member lacks
  *
  */
    readonly INTERFACE_MISMATCH: 9;
    /**
  * exclusive-use file already open, or a resource limit reached
  *
  */
    readonly BUSY: 10;
    /**
  * read/write/readDir on a file that is not open for it
  *
  */
    readonly NOT_OPEN: 11;
    /**
  * the backing store failed (disk error, dead remote file server)
  *
  */
    readonly IO: 12;
    /**
  * an argument is over a documented limit (name length, count)
  *
  */
    readonly TOO_LARGE: 13;
};
export type Failure_Code = (typeof Failure_Code)[keyof typeof Failure_Code];
/**
* An expected condition, returned in a result union. `message` is for people: it names
* the path or argument at fault and never contains host paths or stack traces.
*
*/
export declare class Failure extends $.Struct {
    static readonly Code: {
        /**
      * A server too new for this schema sent a code we do not know; capnp decodes unknown
      * enumerants as their number, so readers must treat anything unrecognized as this.
      *
      */
        readonly UNKNOWN: 0;
        /**
      * 9P "file not found"
      *
      */
        readonly NOT_FOUND: 1;
        /**
      * 9P "file already exists"
      *
      */
        readonly EXISTS: 2;
        /**
      * 9P "permission denied": read-only view, no create member, mode bits
      *
      */
        readonly PERMISSION_DENIED: 3;
        /**
      * 9P "not a directory": walk or list through a leaf
      *
      */
        readonly NOT_ADIRECTORY: 4;
        /**
      * 9P "Is a directory": read/write of a directory as bytes
      *
      */
        readonly IS_ADIRECTORY: 5;
        /**
      * remove of a non-empty directory
      *
      */
        readonly NOT_EMPTY: 6;
        /**
      * the capability or mount this call went through was revoked
      *
      */
        readonly REVOKED: 7;
        /**
      * malformed path, name, mode, offset or namespace text
      *
      */
        readonly INVALID_ARGUMENT: 8;
        /**
      * resolve/bind with an expected interface that the member lacks
      *
      */
        readonly INTERFACE_MISMATCH: 9;
        /**
      * exclusive-use file already open, or a resource limit reached
      *
      */
        readonly BUSY: 10;
        /**
      * read/write/readDir on a file that is not open for it
      *
      */
        readonly NOT_OPEN: 11;
        /**
      * the backing store failed (disk error, dead remote file server)
      *
      */
        readonly IO: 12;
        /**
      * an argument is over a documented limit (name length, count)
      *
      */
        readonly TOO_LARGE: 13;
    };
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get code(): Failure_Code;
    set code(value: Failure_Code);
    get message(): string;
    set message(value: string);
    toString(): string;
}
/**
* Result of a method that can fail in an expected way but has nothing to return.
*
*/
export declare const Outcome_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type Outcome_Which = (typeof Outcome_Which)[keyof typeof Outcome_Which];
/**
* Result of a method that can fail in an expected way but has nothing to return.
*
*/
export declare class Outcome extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get _isOk(): boolean;
    set ok(_: true);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): Outcome_Which;
}
/**
* Where a new member goes in a mount point's union stack (Plan 9 bind(2) flags).
*
*/
export declare const Position: {
    /**
  * MREPL: the stack becomes [new]; the old members are dropped
  *
  */
    readonly REPLACE: 0;
    /**
  * MBEFORE: searched first
  *
  */
    readonly BEFORE: 1;
    /**
  * MAFTER: searched last
  *
  */
    readonly AFTER: 2;
};
export type Position = (typeof Position)[keyof typeof Position];
/**
* The server's identity for a file (intro(5)). `path` is unique within one server and
* stable for the life of the file; `version` changes whenever the file changes.
*
*/
export declare class Qid extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get type(): number;
    set type(value: number);
    get version(): number;
    set version(value: number);
    get path(): bigint;
    set path(value: bigint);
    toString(): string;
}
/**
* A directory entry, as 9P's stat(5) without the kernel-private type/dev fields.
*
*/
export declare class Stat extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptQid(value: $.Orphan<Qid>): void;
    _disownQid(): $.Orphan<Qid>;
    get qid(): Qid;
    _hasQid(): boolean;
    _initQid(): Qid;
    set qid(value: Qid);
    /**
  * permission bits in the low 9 bits, DM* flags in the high byte
  *
  */
    get mode(): number;
    set mode(value: number);
    /**
  * seconds since the epoch
  *
  */
    get atime(): number;
    set atime(value: number);
    get mtime(): number;
    set mtime(value: number);
    /**
  * bytes; 0 for directories
  *
  */
    get length(): bigint;
    set length(value: bigint);
    /**
  * the last element of the path; "/" for a root
  *
  */
    get name(): string;
    set name(value: string);
    get uid(): string;
    set uid(value: string);
    get gid(): string;
    set gid(value: string);
    /**
  * who last modified the file
  *
  */
    get muid(): string;
    set muid(value: string);
    toString(): string;
}
/**
* The argument of wstat. Every field's default is 9P's "don't touch" value, so a change
* that sets only `length` truncates and leaves everything else alone. A wstat is applied
* whole or not at all.
*
*/
export declare class StatChange extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
        defaultLength: DataView<ArrayBufferLike>;
        defaultMode: DataView<ArrayBufferLike>;
        defaultMtime: DataView<ArrayBufferLike>;
        defaultAtime: DataView<ArrayBufferLike>;
    };
    /**
  * "" = keep; otherwise rename within the directory
  *
  */
    get name(): string;
    set name(value: string);
    /**
  * ~0 = keep
  *
  */
    get length(): bigint;
    set length(value: bigint);
    /**
  * ~0 = keep; DMDIR may not change
  *
  */
    get mode(): number;
    set mode(value: number);
    /**
  * ~0 = keep
  *
  */
    get mtime(): number;
    set mtime(value: number);
    /**
  * ~0 = keep
  *
  */
    get atime(): number;
    set atime(value: number);
    /**
  * "" = keep
  *
  */
    get gid(): string;
    set gid(value: string);
    toString(): string;
}
export declare const OpenMode_Access: {
    /**
  * OREAD
  *
  */
    readonly READ: 0;
    /**
  * OWRITE
  *
  */
    readonly WRITE: 1;
    /**
  * ORDWR
  *
  */
    readonly READ_WRITE: 2;
    /**
  * OEXEC: read, with execute permission checked
  *
  */
    readonly EXEC: 3;
};
export type OpenMode_Access = (typeof OpenMode_Access)[keyof typeof OpenMode_Access];
/**
* open(5) mode, spelled out instead of packed into a byte.
*
*/
export declare class OpenMode extends $.Struct {
    static readonly Access: {
        /**
      * OREAD
      *
      */
        readonly READ: 0;
        /**
      * OWRITE
      *
      */
        readonly WRITE: 1;
        /**
      * ORDWR
      *
      */
        readonly READ_WRITE: 2;
        /**
      * OEXEC: read, with execute permission checked
      *
      */
        readonly EXEC: 3;
    };
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get access(): OpenMode_Access;
    set access(value: OpenMode_Access);
    /**
  * OTRUNC
  *
  */
    get truncate(): boolean;
    set truncate(value: boolean);
    /**
  * ORCLOSE
  *
  */
    get removeOnClose(): boolean;
    set removeOnClose(value: boolean);
    toString(): string;
}
