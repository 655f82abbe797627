import * as $ from "capnp-es";
import { Failure, OpenMode, Outcome, Qid, Stat, StatChange } from "./common.js";
export declare const _capnpFileId = 10666581450283062015n;
export declare class FileServer_AttachResult_Ok extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get root(): File$Client;
    set root(value: File$Client);
    _adoptQid(value: $.Orphan<Qid>): void;
    _disownQid(): $.Orphan<Qid>;
    get qid(): Qid;
    _hasQid(): boolean;
    _initQid(): Qid;
    set qid(value: Qid);
    /**
  * Where the attach ended, as a path from the server's root ("/" for the root),
  * as the server resolved `aname`: every symbolic link it followed replaced by its
  * target. "" when the server does not say. Policies that judge paths (an export's
  * filter) judge this one, as they judge File.WalkResult.path.
  *
  */
    get path(): string;
    set path(value: string);
    toString(): string;
}
export declare const FileServer_AttachResult_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type FileServer_AttachResult_Which = (typeof FileServer_AttachResult_Which)[keyof typeof FileServer_AttachResult_Which];
export declare class FileServer_AttachResult extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ok(): FileServer_AttachResult_Ok;
    _initOk(): FileServer_AttachResult_Ok;
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
    which(): FileServer_AttachResult_Which;
}
export declare class FileServer_Attach$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get aname(): string;
    set aname(value: string);
    toString(): string;
}
export declare class FileServer_Attach$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<FileServer_AttachResult>): void;
    _disownResult(): $.Orphan<FileServer_AttachResult>;
    get result(): FileServer_AttachResult;
    _hasResult(): boolean;
    _initResult(): FileServer_AttachResult;
    set result(value: FileServer_AttachResult);
    toString(): string;
}
export declare class FileServer_Attach$Results$Promise {
    pipeline: $.Pipeline<any, any, FileServer_Attach$Results>;
    constructor(pipeline: $.Pipeline<any, any, FileServer_Attach$Results>);
    promise(): Promise<FileServer_Attach$Results>;
}
export declare class FileServer$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<FileServer_Attach$Params, FileServer_Attach$Results>
    ];
    /**
  * A File for the root of the tree named by `aname`: a path below the server's root
  * ("" for the root itself), as mount's spec and many 9P servers' Tattach aname. The
  * File's walks never leave that tree: `..` at its root stays there, and a symbolic link
  * may not lead out of it. (capns confines a view to a directory inside a file server by
  * attaching there; every FileServer of capns keeps this promise, and one that does not
  * cannot be confined.) `..` in `aname` is `invalidArgument`.
  *
  */
    attach(paramsFunc?: (params: FileServer_Attach$Params) => void): FileServer_Attach$Results$Promise;
}
export interface FileServer$Server$Target {
    attach(params: FileServer_Attach$Params, results: FileServer_Attach$Results): Promise<void>;
}
export declare class FileServer$Server extends $.Server {
    readonly target: FileServer$Server$Target;
    constructor(target: FileServer$Server$Target);
    client(): FileServer$Client;
}
/**
* The root of one file tree. A server may serve several trees; `aname` selects one as
* Tattach's aname does ("" is the default tree).
*
*/
export declare class FileServer extends $.Interface {
    static readonly AttachResult: typeof FileServer_AttachResult;
    static readonly Client: typeof FileServer$Client;
    static readonly Server: typeof FileServer$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare const File_WalkResult_Which: {
    /**
  * every name was walked: the File at the end
  *
  */
    readonly FILE: 0;
    /**
  * stopped early (or at the first name, with no qids)
  *
  */
    readonly ERR: 1;
};
export type File_WalkResult_Which = (typeof File_WalkResult_Which)[keyof typeof File_WalkResult_Which];
export declare class File_WalkResult extends $.Struct {
    static readonly FILE: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    static _Qids: $.ListCtor<Qid>;
    _adoptQids(value: $.Orphan<$.List<Qid>>): void;
    _disownQids(): $.Orphan<$.List<Qid>>;
    /**
  * One Qid for each name walked, in order. Fewer than the names given means the walk
  * stopped early; `err` then says why the next name failed.
  *
  */
    get qids(): $.List<Qid>;
    _hasQids(): boolean;
    _initQids(length: number): $.List<Qid>;
    set qids(value: $.List<Qid>);
    /**
  * every name was walked: the File at the end
  *
  */
    get file(): File$Client;
    get _isFile(): boolean;
    set file(value: File$Client);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    /**
  * stopped early (or at the first name, with no qids)
  *
  */
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    /**
  * With `file`: where the walk ended, as a path from the attach root ("/" for the root,
  * "/a/b" below it), as the server resolved it — every symbolic link it followed
  * replaced by its target, `..` applied by the server. "" when the server does not say.
  * Policies that judge paths (an export's filter) judge this one: a name that is a link
  * to a filtered file is refused as that file is.
  *
  */
    get path(): string;
    set path(value: string);
    toString(): string;
    which(): File_WalkResult_Which;
}
export declare class File_OpenResult_Ok extends $.Struct {
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
  * the largest read or write that is done in one piece
  *
  */
    get iounit(): number;
    set iounit(value: number);
    toString(): string;
}
export declare const File_OpenResult_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type File_OpenResult_Which = (typeof File_OpenResult_Which)[keyof typeof File_OpenResult_Which];
export declare class File_OpenResult extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ok(): File_OpenResult_Ok;
    _initOk(): File_OpenResult_Ok;
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
    which(): File_OpenResult_Which;
}
export declare class File_CreateResult_Ok extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    /**
  * the new file, open with the requested mode
  *
  */
    get file(): File$Client;
    set file(value: File$Client);
    _adoptQid(value: $.Orphan<Qid>): void;
    _disownQid(): $.Orphan<Qid>;
    get qid(): Qid;
    _hasQid(): boolean;
    _initQid(): Qid;
    set qid(value: Qid);
    get iounit(): number;
    set iounit(value: number);
    toString(): string;
}
export declare const File_CreateResult_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type File_CreateResult_Which = (typeof File_CreateResult_Which)[keyof typeof File_CreateResult_Which];
export declare class File_CreateResult extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ok(): File_CreateResult_Ok;
    _initOk(): File_CreateResult_Ok;
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
    which(): File_CreateResult_Which;
}
export declare const File_ReadResult_Which: {
    readonly DATA: 0;
    readonly ERR: 1;
};
export type File_ReadResult_Which = (typeof File_ReadResult_Which)[keyof typeof File_ReadResult_Which];
export declare class File_ReadResult extends $.Struct {
    static readonly DATA: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptData(value: $.Orphan<$.Data>): void;
    _disownData(): $.Orphan<$.Data>;
    get data(): $.Data;
    _hasData(): boolean;
    _initData(length: number): $.Data;
    get _isData(): boolean;
    set data(value: $.Data);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): File_ReadResult_Which;
}
export declare const File_WriteResult_Which: {
    readonly COUNT: 0;
    readonly ERR: 1;
};
export type File_WriteResult_Which = (typeof File_WriteResult_Which)[keyof typeof File_WriteResult_Which];
export declare class File_WriteResult extends $.Struct {
    static readonly COUNT: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get count(): number;
    get _isCount(): boolean;
    set count(value: number);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): File_WriteResult_Which;
}
export declare const File_ReadDirResult_Which: {
    readonly ENTRIES: 0;
    readonly ERR: 1;
};
export type File_ReadDirResult_Which = (typeof File_ReadDirResult_Which)[keyof typeof File_ReadDirResult_Which];
export declare class File_ReadDirResult extends $.Struct {
    static readonly ENTRIES: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    static _Entries: $.ListCtor<Stat>;
    _adoptEntries(value: $.Orphan<$.List<Stat>>): void;
    _disownEntries(): $.Orphan<$.List<Stat>>;
    get entries(): $.List<Stat>;
    _hasEntries(): boolean;
    _initEntries(length: number): $.List<Stat>;
    get _isEntries(): boolean;
    set entries(value: $.List<Stat>);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): File_ReadDirResult_Which;
}
export declare const File_StatResult_Which: {
    readonly STAT: 0;
    readonly ERR: 1;
};
export type File_StatResult_Which = (typeof File_StatResult_Which)[keyof typeof File_StatResult_Which];
export declare class File_StatResult extends $.Struct {
    static readonly STAT: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptStat(value: $.Orphan<Stat>): void;
    _disownStat(): $.Orphan<Stat>;
    get stat(): Stat;
    _hasStat(): boolean;
    _initStat(): Stat;
    get _isStat(): boolean;
    set stat(value: Stat);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): File_StatResult_Which;
}
export declare class File_Walk$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptNames(value: $.Orphan<$.List<string>>): void;
    _disownNames(): $.Orphan<$.List<string>>;
    get names(): $.List<string>;
    _hasNames(): boolean;
    _initNames(length: number): $.List<string>;
    set names(value: $.List<string>);
    toString(): string;
}
export declare class File_Walk$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<File_WalkResult>): void;
    _disownResult(): $.Orphan<File_WalkResult>;
    get result(): File_WalkResult;
    _hasResult(): boolean;
    _initResult(): File_WalkResult;
    set result(value: File_WalkResult);
    toString(): string;
}
export declare class File_Walk$Results$Promise {
    pipeline: $.Pipeline<any, any, File_Walk$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_Walk$Results>);
    promise(): Promise<File_Walk$Results>;
}
export declare class File_Open$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptMode(value: $.Orphan<OpenMode>): void;
    _disownMode(): $.Orphan<OpenMode>;
    get mode(): OpenMode;
    _hasMode(): boolean;
    _initMode(): OpenMode;
    set mode(value: OpenMode);
    toString(): string;
}
export declare class File_Open$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<File_OpenResult>): void;
    _disownResult(): $.Orphan<File_OpenResult>;
    get result(): File_OpenResult;
    _hasResult(): boolean;
    _initResult(): File_OpenResult;
    set result(value: File_OpenResult);
    toString(): string;
}
export declare class File_Open$Results$Promise {
    pipeline: $.Pipeline<any, any, File_Open$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_Open$Results>);
    promise(): Promise<File_Open$Results>;
}
export declare class File_Create$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get name(): string;
    set name(value: string);
    get perm(): number;
    set perm(value: number);
    _adoptMode(value: $.Orphan<OpenMode>): void;
    _disownMode(): $.Orphan<OpenMode>;
    get mode(): OpenMode;
    _hasMode(): boolean;
    _initMode(): OpenMode;
    set mode(value: OpenMode);
    toString(): string;
}
export declare class File_Create$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<File_CreateResult>): void;
    _disownResult(): $.Orphan<File_CreateResult>;
    get result(): File_CreateResult;
    _hasResult(): boolean;
    _initResult(): File_CreateResult;
    set result(value: File_CreateResult);
    toString(): string;
}
export declare class File_Create$Results$Promise {
    pipeline: $.Pipeline<any, any, File_Create$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_Create$Results>);
    promise(): Promise<File_Create$Results>;
}
export declare class File_Read$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get offset(): bigint;
    set offset(value: bigint);
    get count(): number;
    set count(value: number);
    toString(): string;
}
export declare class File_Read$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<File_ReadResult>): void;
    _disownResult(): $.Orphan<File_ReadResult>;
    get result(): File_ReadResult;
    _hasResult(): boolean;
    _initResult(): File_ReadResult;
    set result(value: File_ReadResult);
    toString(): string;
}
export declare class File_Read$Results$Promise {
    pipeline: $.Pipeline<any, any, File_Read$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_Read$Results>);
    promise(): Promise<File_Read$Results>;
}
export declare class File_Write$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get offset(): bigint;
    set offset(value: bigint);
    _adoptData(value: $.Orphan<$.Data>): void;
    _disownData(): $.Orphan<$.Data>;
    get data(): $.Data;
    _hasData(): boolean;
    _initData(length: number): $.Data;
    set data(value: $.Data);
    toString(): string;
}
export declare class File_Write$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<File_WriteResult>): void;
    _disownResult(): $.Orphan<File_WriteResult>;
    get result(): File_WriteResult;
    _hasResult(): boolean;
    _initResult(): File_WriteResult;
    set result(value: File_WriteResult);
    toString(): string;
}
export declare class File_Write$Results$Promise {
    pipeline: $.Pipeline<any, any, File_Write$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_Write$Results>);
    promise(): Promise<File_Write$Results>;
}
export declare class File_ReadDir$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get offset(): bigint;
    set offset(value: bigint);
    get count(): number;
    set count(value: number);
    toString(): string;
}
export declare class File_ReadDir$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<File_ReadDirResult>): void;
    _disownResult(): $.Orphan<File_ReadDirResult>;
    get result(): File_ReadDirResult;
    _hasResult(): boolean;
    _initResult(): File_ReadDirResult;
    set result(value: File_ReadDirResult);
    toString(): string;
}
export declare class File_ReadDir$Results$Promise {
    pipeline: $.Pipeline<any, any, File_ReadDir$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_ReadDir$Results>);
    promise(): Promise<File_ReadDir$Results>;
}
export declare class File_Stat$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class File_Stat$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<File_StatResult>): void;
    _disownResult(): $.Orphan<File_StatResult>;
    get result(): File_StatResult;
    _hasResult(): boolean;
    _initResult(): File_StatResult;
    set result(value: File_StatResult);
    toString(): string;
}
export declare class File_Stat$Results$Promise {
    pipeline: $.Pipeline<any, any, File_Stat$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_Stat$Results>);
    promise(): Promise<File_Stat$Results>;
}
export declare class File_Wstat$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptChange(value: $.Orphan<StatChange>): void;
    _disownChange(): $.Orphan<StatChange>;
    get change(): StatChange;
    _hasChange(): boolean;
    _initChange(): StatChange;
    set change(value: StatChange);
    toString(): string;
}
export declare class File_Wstat$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Outcome>): void;
    _disownResult(): $.Orphan<Outcome>;
    get result(): Outcome;
    _hasResult(): boolean;
    _initResult(): Outcome;
    set result(value: Outcome);
    toString(): string;
}
export declare class File_Wstat$Results$Promise {
    pipeline: $.Pipeline<any, any, File_Wstat$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_Wstat$Results>);
    promise(): Promise<File_Wstat$Results>;
}
export declare class File_Remove$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class File_Remove$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Outcome>): void;
    _disownResult(): $.Orphan<Outcome>;
    get result(): Outcome;
    _hasResult(): boolean;
    _initResult(): Outcome;
    set result(value: Outcome);
    toString(): string;
}
export declare class File_Remove$Results$Promise {
    pipeline: $.Pipeline<any, any, File_Remove$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_Remove$Results>);
    promise(): Promise<File_Remove$Results>;
}
export declare class File_Clunk$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class File_Clunk$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class File_Clunk$Results$Promise {
    pipeline: $.Pipeline<any, any, File_Clunk$Results>;
    constructor(pipeline: $.Pipeline<any, any, File_Clunk$Results>);
    promise(): Promise<File_Clunk$Results>;
}
export declare class File$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<File_Walk$Params, File_Walk$Results>,
        $.Method<File_Open$Params, File_Open$Results>,
        $.Method<File_Create$Params, File_Create$Results>,
        $.Method<File_Read$Params, File_Read$Results>,
        $.Method<File_Write$Params, File_Write$Results>,
        $.Method<File_ReadDir$Params, File_ReadDir$Results>,
        $.Method<File_Stat$Params, File_Stat$Results>,
        $.Method<File_Wstat$Params, File_Wstat$Results>,
        $.Method<File_Remove$Params, File_Remove$Results>,
        $.Method<File_Clunk$Params, File_Clunk$Results>
    ];
    /**
  * Walk `names` (at most 16) from this file, which must be a directory unless `names`
  * is empty (then the result is a clone: a new, unopened File for the same file). This
  * File stays where it is. ".." of a root is the root itself.
  *
  */
    walk(paramsFunc?: (params: File_Walk$Params) => void): File_Walk$Results$Promise;
    /**
  * Open this file for I/O. Opening a directory for anything but read is refused. A file
  * with DMEXCL set may be open by one File at a time (`busy` otherwise).
  *
  */
    open(paramsFunc?: (params: File_Open$Params) => void): File_Open$Results$Promise;
    /**
  * Create `name` in this directory and return it opened with `mode`. `perm` is as in
  * create(5): DMDIR makes a directory; permission bits are masked by the directory's.
  * `exists` if the name is taken. This File stays the directory (unlike Tcreate, which
  * moves the fid; the 9P bridge does that move).
  *
  */
    create(paramsFunc?: (params: File_Create$Params) => void): File_Create$Results$Promise;
    /**
  * Up to `count` bytes at `offset`; fewer (zero at end of file) is not an error.
  *
  */
    read(paramsFunc?: (params: File_Read$Params) => void): File_Read$Results$Promise;
    /**
  * Write `data` at `offset` (ignored for append-only files, which always append).
  *
  */
    write(paramsFunc?: (params: File_Write$Params) => void): File_Write$Results$Promise;
    /**
  * Directory entries, starting `offset` entries in, at most `count` of them. An empty
  * list means the end. The directory must be open for reading.
  *
  */
    readDir(paramsFunc?: (params: File_ReadDir$Params) => void): File_ReadDir$Results$Promise;
    stat(paramsFunc?: (params: File_Stat$Params) => void): File_Stat$Results$Promise;
    /**
  * Change metadata; all of it or none (wstat(5)). Renaming onto an existing name is
  * refused with `exists`.
  *
  */
    wstat(paramsFunc?: (params: File_Wstat$Params) => void): File_Wstat$Results$Promise;
    /**
  * Remove the file (a non-empty directory is refused with `notEmpty`). This File is
  * clunked whether or not the remove succeeded, as with Tremove.
  *
  */
    remove(paramsFunc?: (params: File_Remove$Params) => void): File_Remove$Results$Promise;
    /**
  * Forget this File now (and remove it if opened with removeOnClose). Releasing the
  * capability does the same; clunk makes the moment explicit and waits for it.
  *
  */
    clunk(paramsFunc?: (params: File_Clunk$Params) => void): File_Clunk$Results$Promise;
}
export interface File$Server$Target {
    walk(params: File_Walk$Params, results: File_Walk$Results): Promise<void>;
    open(params: File_Open$Params, results: File_Open$Results): Promise<void>;
    create(params: File_Create$Params, results: File_Create$Results): Promise<void>;
    read(params: File_Read$Params, results: File_Read$Results): Promise<void>;
    write(params: File_Write$Params, results: File_Write$Results): Promise<void>;
    readDir(params: File_ReadDir$Params, results: File_ReadDir$Results): Promise<void>;
    stat(params: File_Stat$Params, results: File_Stat$Results): Promise<void>;
    wstat(params: File_Wstat$Params, results: File_Wstat$Results): Promise<void>;
    remove(params: File_Remove$Params, results: File_Remove$Results): Promise<void>;
    clunk(params: File_Clunk$Params, results: File_Clunk$Results): Promise<void>;
}
export declare class File$Server extends $.Server {
    readonly target: File$Server$Target;
    constructor(target: File$Server$Target);
    client(): File$Client;
}
/**
* One file or directory, as seen through one walk. Not open until `open` or `create`
* succeeds; only then may it be read or written (directories: `readDir`).
*
*/
export declare class File extends $.Interface {
    static readonly WalkResult: typeof File_WalkResult;
    static readonly OpenResult: typeof File_OpenResult;
    static readonly CreateResult: typeof File_CreateResult;
    static readonly ReadResult: typeof File_ReadResult;
    static readonly WriteResult: typeof File_WriteResult;
    static readonly ReadDirResult: typeof File_ReadDirResult;
    static readonly StatResult: typeof File_StatResult;
    static readonly Client: typeof File$Client;
    static readonly Server: typeof File$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
