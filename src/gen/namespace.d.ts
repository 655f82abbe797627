import * as $ from "capnp-es";
import { Failure, Outcome, Position, Qid } from "./common.js";
import { File_WalkResult } from "./fileserver.js";
export declare const _capnpFileId = 10405050591482673527n;
export declare class Namespace_ResolveResult_Ok extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptCap(value: $.Orphan<$.Pointer>): void;
    _disownCap(): $.Orphan<$.Pointer>;
    get cap(): $.Pointer;
    _hasCap(): boolean;
    set cap(value: $.Pointer);
    get interfaceId(): bigint;
    set interfaceId(value: bigint);
    get label(): string;
    set label(value: string);
    get rest(): string;
    set rest(value: string);
    toString(): string;
}
export declare const Namespace_ResolveResult_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type Namespace_ResolveResult_Which = (typeof Namespace_ResolveResult_Which)[keyof typeof Namespace_ResolveResult_Which];
export declare class Namespace_ResolveResult extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ok(): Namespace_ResolveResult_Ok;
    _initOk(): Namespace_ResolveResult_Ok;
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
    which(): Namespace_ResolveResult_Which;
}
export declare const Namespace_Entry_Kind: {
    /**
  * a mount point of FileServers, a synthetic directory, or a directory in a file tree
  *
  */
    readonly DIRECTORY: 0;
    /**
  * a plain file inside a FileServer member
  *
  */
    readonly FILE: 1;
    /**
  * a leaf: any interface other than FileServer and Namespace
  *
  */
    readonly CAPABILITY: 2;
};
export type Namespace_Entry_Kind = (typeof Namespace_Entry_Kind)[keyof typeof Namespace_Entry_Kind];
export declare class Namespace_Entry extends $.Struct {
    static readonly Kind: {
        /**
      * a mount point of FileServers, a synthetic directory, or a directory in a file tree
      *
      */
        readonly DIRECTORY: 0;
        /**
      * a plain file inside a FileServer member
      *
      */
        readonly FILE: 1;
        /**
      * a leaf: any interface other than FileServer and Namespace
      *
      */
        readonly CAPABILITY: 2;
    };
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get name(): string;
    set name(value: string);
    get kind(): Namespace_Entry_Kind;
    set kind(value: Namespace_Entry_Kind);
    /**
  * of the capability bound there; 0 for directories and files
  *
  */
    get interfaceId(): bigint;
    set interfaceId(value: bigint);
    get label(): string;
    set label(value: string);
    _adoptQid(value: $.Orphan<Qid>): void;
    _disownQid(): $.Orphan<Qid>;
    /**
  * for files and directories served by a FileServer
  *
  */
    get qid(): Qid;
    _hasQid(): boolean;
    _initQid(): Qid;
    set qid(value: Qid);
    toString(): string;
}
export declare const Namespace_ListResult_Which: {
    readonly ENTRIES: 0;
    readonly ERR: 1;
};
export type Namespace_ListResult_Which = (typeof Namespace_ListResult_Which)[keyof typeof Namespace_ListResult_Which];
export declare class Namespace_ListResult extends $.Struct {
    static readonly ENTRIES: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    static _Entries: $.ListCtor<Namespace_Entry>;
    _adoptEntries(value: $.Orphan<$.List<Namespace_Entry>>): void;
    _disownEntries(): $.Orphan<$.List<Namespace_Entry>>;
    get entries(): $.List<Namespace_Entry>;
    _hasEntries(): boolean;
    _initEntries(length: number): $.List<Namespace_Entry>;
    get _isEntries(): boolean;
    set entries(value: $.List<Namespace_Entry>);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): Namespace_ListResult_Which;
}
export declare class Namespace_Member extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get interfaceId(): bigint;
    set interfaceId(value: bigint);
    get label(): string;
    set label(value: string);
    get create(): boolean;
    set create(value: boolean);
    toString(): string;
}
export declare const Namespace_MembersResult_Which: {
    readonly MEMBERS: 0;
    readonly ERR: 1;
};
export type Namespace_MembersResult_Which = (typeof Namespace_MembersResult_Which)[keyof typeof Namespace_MembersResult_Which];
export declare class Namespace_MembersResult extends $.Struct {
    static readonly MEMBERS: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    static _Members: $.ListCtor<Namespace_Member>;
    _adoptMembers(value: $.Orphan<$.List<Namespace_Member>>): void;
    _disownMembers(): $.Orphan<$.List<Namespace_Member>>;
    get members(): $.List<Namespace_Member>;
    _hasMembers(): boolean;
    _initMembers(length: number): $.List<Namespace_Member>;
    get _isMembers(): boolean;
    set members(value: $.List<Namespace_Member>);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): Namespace_MembersResult_Which;
}
export declare const Namespace_SubResult_Which: {
    readonly NS: 0;
    readonly ERR: 1;
};
export type Namespace_SubResult_Which = (typeof Namespace_SubResult_Which)[keyof typeof Namespace_SubResult_Which];
export declare class Namespace_SubResult extends $.Struct {
    static readonly NS: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ns(): Namespace$Client;
    get _isNs(): boolean;
    set ns(value: Namespace$Client);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): Namespace_SubResult_Which;
}
export declare class Namespace_Resolve$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get path(): string;
    set path(value: string);
    get expectedInterface(): bigint;
    set expectedInterface(value: bigint);
    toString(): string;
}
export declare class Namespace_Resolve$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Namespace_ResolveResult>): void;
    _disownResult(): $.Orphan<Namespace_ResolveResult>;
    get result(): Namespace_ResolveResult;
    _hasResult(): boolean;
    _initResult(): Namespace_ResolveResult;
    set result(value: Namespace_ResolveResult);
    toString(): string;
}
export declare class Namespace_Resolve$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_Resolve$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_Resolve$Results>);
    promise(): Promise<Namespace_Resolve$Results>;
}
export declare class Namespace_Bind$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get path(): string;
    set path(value: string);
    _adoptCap(value: $.Orphan<$.Pointer>): void;
    _disownCap(): $.Orphan<$.Pointer>;
    get cap(): $.Pointer;
    _hasCap(): boolean;
    set cap(value: $.Pointer);
    get interfaceId(): bigint;
    set interfaceId(value: bigint);
    get label(): string;
    set label(value: string);
    get position(): Position;
    set position(value: Position);
    get create(): boolean;
    set create(value: boolean);
    toString(): string;
}
export declare class Namespace_Bind$Results extends $.Struct {
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
export declare class Namespace_Bind$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_Bind$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_Bind$Results>);
    promise(): Promise<Namespace_Bind$Results>;
}
export declare class Namespace_BindPath$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get from(): string;
    set from(value: string);
    get to(): string;
    set to(value: string);
    get position(): Position;
    set position(value: Position);
    get create(): boolean;
    set create(value: boolean);
    toString(): string;
}
export declare class Namespace_BindPath$Results extends $.Struct {
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
export declare class Namespace_BindPath$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_BindPath$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_BindPath$Results>);
    promise(): Promise<Namespace_BindPath$Results>;
}
export declare class Namespace_Unmount$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get path(): string;
    set path(value: string);
    get label(): string;
    set label(value: string);
    toString(): string;
}
export declare class Namespace_Unmount$Results extends $.Struct {
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
export declare class Namespace_Unmount$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_Unmount$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_Unmount$Results>);
    promise(): Promise<Namespace_Unmount$Results>;
}
export declare class Namespace_List$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get path(): string;
    set path(value: string);
    toString(): string;
}
export declare class Namespace_List$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Namespace_ListResult>): void;
    _disownResult(): $.Orphan<Namespace_ListResult>;
    get result(): Namespace_ListResult;
    _hasResult(): boolean;
    _initResult(): Namespace_ListResult;
    set result(value: Namespace_ListResult);
    toString(): string;
}
export declare class Namespace_List$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_List$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_List$Results>);
    promise(): Promise<Namespace_List$Results>;
}
export declare class Namespace_Members$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get path(): string;
    set path(value: string);
    toString(): string;
}
export declare class Namespace_Members$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Namespace_MembersResult>): void;
    _disownResult(): $.Orphan<Namespace_MembersResult>;
    get result(): Namespace_MembersResult;
    _hasResult(): boolean;
    _initResult(): Namespace_MembersResult;
    set result(value: Namespace_MembersResult);
    toString(): string;
}
export declare class Namespace_Members$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_Members$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_Members$Results>);
    promise(): Promise<Namespace_Members$Results>;
}
export declare class Namespace_Walk$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get path(): string;
    set path(value: string);
    toString(): string;
}
export declare class Namespace_Walk$Results extends $.Struct {
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
export declare class Namespace_Walk$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_Walk$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_Walk$Results>);
    promise(): Promise<Namespace_Walk$Results>;
}
export declare class Namespace_Sub$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get prefix(): string;
    set prefix(value: string);
    get readOnly(): boolean;
    set readOnly(value: boolean);
    toString(): string;
}
export declare class Namespace_Sub$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Namespace_SubResult>): void;
    _disownResult(): $.Orphan<Namespace_SubResult>;
    get result(): Namespace_SubResult;
    _hasResult(): boolean;
    _initResult(): Namespace_SubResult;
    set result(value: Namespace_SubResult);
    toString(): string;
}
export declare class Namespace_Sub$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_Sub$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_Sub$Results>);
    promise(): Promise<Namespace_Sub$Results>;
}
export declare class Namespace_Fork$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Namespace_Fork$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ns(): Namespace$Client;
    set ns(value: Namespace$Client);
    toString(): string;
}
export declare class Namespace_Fork$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_Fork$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_Fork$Results>);
    getNs(): Namespace$Client;
    promise(): Promise<Namespace_Fork$Results>;
}
export declare class Namespace_Describe$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Namespace_Describe$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get text(): string;
    set text(value: string);
    toString(): string;
}
export declare class Namespace_Describe$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_Describe$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_Describe$Results>);
    promise(): Promise<Namespace_Describe$Results>;
}
export declare class Namespace_Apply$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get text(): string;
    set text(value: string);
    toString(): string;
}
export declare class Namespace_Apply$Results extends $.Struct {
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
export declare class Namespace_Apply$Results$Promise {
    pipeline: $.Pipeline<any, any, Namespace_Apply$Results>;
    constructor(pipeline: $.Pipeline<any, any, Namespace_Apply$Results>);
    promise(): Promise<Namespace_Apply$Results>;
}
export declare class Namespace$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Namespace_Resolve$Params, Namespace_Resolve$Results>,
        $.Method<Namespace_Bind$Params, Namespace_Bind$Results>,
        $.Method<Namespace_BindPath$Params, Namespace_BindPath$Results>,
        $.Method<Namespace_Unmount$Params, Namespace_Unmount$Results>,
        $.Method<Namespace_List$Params, Namespace_List$Results>,
        $.Method<Namespace_Members$Params, Namespace_Members$Results>,
        $.Method<Namespace_Walk$Params, Namespace_Walk$Results>,
        $.Method<Namespace_Sub$Params, Namespace_Sub$Results>,
        $.Method<Namespace_Fork$Params, Namespace_Fork$Results>,
        $.Method<Namespace_Describe$Params, Namespace_Describe$Results>,
        $.Method<Namespace_Apply$Params, Namespace_Apply$Results>
    ];
    /**
  * The capability that `path` names: the first member of the deepest mount point at or
  * above `path`. `rest` is what is left of the path below that mount point ("" when the
  * path is the mount point itself); for a FileServer member it is the path to walk.
  * With `expectedInterface` non-zero the member must implement it, else
  * `interfaceMismatch` (checked against the declared interface id, before any call).
  *
  */
    resolve(paramsFunc?: (params: Namespace_Resolve$Params) => void): Namespace_Resolve$Results$Promise;
    /**
  * mount(2): add `cap` to the union at `path`. `create` is MCREATE: creates under the
  * union go to the first member bound with it. Refused with `interfaceMismatch` when
  * the path was declared to require another interface.
  *
  */
    bind(paramsFunc?: (params: Namespace_Bind$Params) => void): Namespace_Bind$Results$Promise;
    /**
  * bind(2): make what `from` names visible at `to` as well. `from` is evaluated now;
  * later changes at `from` do not move the alias.
  *
  */
    bindPath(paramsFunc?: (params: Namespace_BindPath$Params) => void): Namespace_BindPath$Results$Promise;
    /**
  * unmount(2): remove the member labelled `label` from the union at `path`, or every
  * member when `label` is "". `notFound` if nothing matched.
  *
  */
    unmount(paramsFunc?: (params: Namespace_Unmount$Params) => void): Namespace_Unmount$Results$Promise;
    /**
  * The union listing of the directory at `path` (mount point, synthetic directory, or a
  * directory inside FileServer members).
  *
  */
    list(paramsFunc?: (params: Namespace_List$Params) => void): Namespace_List$Results$Promise;
    /**
  * The union stack at `path`, in search order (for tools and the admin UI).
  *
  */
    members(paramsFunc?: (params: Namespace_Members$Params) => void): Namespace_Members$Results$Promise;
    /**
  * A File for a file-backed path: walks the FileServer members of the union in order.
  *
  */
    walk(paramsFunc?: (params: Namespace_Walk$Params) => void): Namespace_Walk$Results$Promise;
    /**
  * An attenuated view whose root is `prefix`: it cannot name anything outside it, and
  * with `readOnly` every bind, unmount, apply, create, write and remove is refused.
  *
  */
    sub(paramsFunc?: (params: Namespace_Sub$Params) => void): Namespace_Sub$Results$Promise;
    /**
  * An independent copy (rfork RFNAMEG): changes to either do not show in the other.
  *
  */
    fork(paramsFunc?: (params: Namespace_Fork$Params) => void): Namespace_Fork$Results$Promise;
    /**
  * The namespace as namespace(6) text, one bind/mount line per member, as
  * /proc/N/ns prints it; `apply` of the text on a clean namespace rebuilds it.
  *
  */
    describe(paramsFunc?: (params: Namespace_Describe$Params) => void): Namespace_Describe$Results$Promise;
    /**
  * Run namespace(6) lines: bind [-abcC] from to, mount [-abcC] label to, unmount
  * [label] to, clear. All lines or none: an error names its line and column.
  *
  */
    apply(paramsFunc?: (params: Namespace_Apply$Params) => void): Namespace_Apply$Results$Promise;
}
export interface Namespace$Server$Target {
    resolve(params: Namespace_Resolve$Params, results: Namespace_Resolve$Results): Promise<void>;
    bind(params: Namespace_Bind$Params, results: Namespace_Bind$Results): Promise<void>;
    bindPath(params: Namespace_BindPath$Params, results: Namespace_BindPath$Results): Promise<void>;
    unmount(params: Namespace_Unmount$Params, results: Namespace_Unmount$Results): Promise<void>;
    list(params: Namespace_List$Params, results: Namespace_List$Results): Promise<void>;
    members(params: Namespace_Members$Params, results: Namespace_Members$Results): Promise<void>;
    walk(params: Namespace_Walk$Params, results: Namespace_Walk$Results): Promise<void>;
    sub(params: Namespace_Sub$Params, results: Namespace_Sub$Results): Promise<void>;
    fork(params: Namespace_Fork$Params, results: Namespace_Fork$Results): Promise<void>;
    describe(params: Namespace_Describe$Params, results: Namespace_Describe$Results): Promise<void>;
    apply(params: Namespace_Apply$Params, results: Namespace_Apply$Results): Promise<void>;
}
export declare class Namespace$Server extends $.Server {
    readonly target: Namespace$Server$Target;
    constructor(target: Namespace$Server$Target);
    client(): Namespace$Client;
}
export declare class Namespace extends $.Interface {
    static readonly ResolveResult: typeof Namespace_ResolveResult;
    static readonly Entry: typeof Namespace_Entry;
    static readonly ListResult: typeof Namespace_ListResult;
    static readonly Member: typeof Namespace_Member;
    static readonly MembersResult: typeof Namespace_MembersResult;
    static readonly SubResult: typeof Namespace_SubResult;
    static readonly Client: typeof Namespace$Client;
    static readonly Server: typeof Namespace$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Gate_AuthResult_Ok extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ns(): Namespace$Client;
    set ns(value: Namespace$Client);
    get profile(): string;
    set profile(value: string);
    toString(): string;
}
export declare const Gate_AuthResult_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type Gate_AuthResult_Which = (typeof Gate_AuthResult_Which)[keyof typeof Gate_AuthResult_Which];
export declare class Gate_AuthResult extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ok(): Gate_AuthResult_Ok;
    _initOk(): Gate_AuthResult_Ok;
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
    which(): Gate_AuthResult_Which;
}
export declare class Gate_Authenticate$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get token(): string;
    set token(value: string);
    toString(): string;
}
export declare class Gate_Authenticate$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Gate_AuthResult>): void;
    _disownResult(): $.Orphan<Gate_AuthResult>;
    get result(): Gate_AuthResult;
    _hasResult(): boolean;
    _initResult(): Gate_AuthResult;
    set result(value: Gate_AuthResult);
    toString(): string;
}
export declare class Gate_Authenticate$Results$Promise {
    pipeline: $.Pipeline<any, any, Gate_Authenticate$Results>;
    constructor(pipeline: $.Pipeline<any, any, Gate_Authenticate$Results>);
    promise(): Promise<Gate_Authenticate$Results>;
}
export declare class Gate$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Gate_Authenticate$Params, Gate_Authenticate$Results>
    ];
    /**
  * `token` is a bearer token from the manifest. Connections authenticated by a TLS
  * client certificate pass "". Each call returns a fresh fork of the profile's
  * namespace: binds made through it are seen by no other connection.
  *
  */
    authenticate(paramsFunc?: (params: Gate_Authenticate$Params) => void): Gate_Authenticate$Results$Promise;
}
export interface Gate$Server$Target {
    authenticate(params: Gate_Authenticate$Params, results: Gate_Authenticate$Results): Promise<void>;
}
export declare class Gate$Server extends $.Server {
    readonly target: Gate$Server$Target;
    constructor(target: Gate$Server$Target);
    client(): Gate$Client;
}
/**
* What a network listener bootstraps: present credentials, receive your namespace.
* Wrong or missing credentials get `permissionDenied` and nothing else; the server may
* close the connection after repeated failures.
*
*/
export declare class Gate extends $.Interface {
    static readonly AuthResult: typeof Gate_AuthResult;
    static readonly Client: typeof Gate$Client;
    static readonly Server: typeof Gate$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
