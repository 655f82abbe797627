import * as $ from "capnp-es";
import { Failure } from "./common.js";
import { Namespace$Client } from "./namespace.js";
export declare const _capnpFileId = 16875290549626939065n;
export declare const Introspect_SchemaResult_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type Introspect_SchemaResult_Which = (typeof Introspect_SchemaResult_Which)[keyof typeof Introspect_SchemaResult_Which];
export declare class Introspect_SchemaResult extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptOk(value: $.Orphan<$.Data>): void;
    _disownOk(): $.Orphan<$.Data>;
    get ok(): $.Data;
    _hasOk(): boolean;
    _initOk(length: number): $.Data;
    get _isOk(): boolean;
    set ok(value: $.Data);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): Introspect_SchemaResult_Which;
}
export declare class Introspect_InterfaceId$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Introspect_InterfaceId$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get id(): bigint;
    set id(value: bigint);
    toString(): string;
}
export declare class Introspect_InterfaceId$Results$Promise {
    pipeline: $.Pipeline<any, any, Introspect_InterfaceId$Results>;
    constructor(pipeline: $.Pipeline<any, any, Introspect_InterfaceId$Results>);
    promise(): Promise<Introspect_InterfaceId$Results>;
}
export declare class Introspect_Schema$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get interfaceId(): bigint;
    set interfaceId(value: bigint);
    toString(): string;
}
export declare class Introspect_Schema$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Introspect_SchemaResult>): void;
    _disownResult(): $.Orphan<Introspect_SchemaResult>;
    get result(): Introspect_SchemaResult;
    _hasResult(): boolean;
    _initResult(): Introspect_SchemaResult;
    set result(value: Introspect_SchemaResult);
    toString(): string;
}
export declare class Introspect_Schema$Results$Promise {
    pipeline: $.Pipeline<any, any, Introspect_Schema$Results>;
    constructor(pipeline: $.Pipeline<any, any, Introspect_Schema$Results>);
    promise(): Promise<Introspect_Schema$Results>;
}
export declare class Introspect$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Introspect_InterfaceId$Params, Introspect_InterfaceId$Results>,
        $.Method<Introspect_Schema$Params, Introspect_Schema$Results>
    ];
    /**
  * The interface this capability implements (the most derived one).
  *
  */
    interfaceId(paramsFunc?: (params: Introspect_InterfaceId$Params) => void): Introspect_InterfaceId$Results$Promise;
    /**
  * The schema of `interfaceId` (0: this capability's own): a CodeGeneratorRequest, the
  * message `capnp compile -o-` writes, holding the interface's node and every node it
  * refers to (its superclasses, its methods' params and results, the types of their
  * fields, transitively), unpacked, in the standard stream framing. `notFound` when the
  * capability does not know that interface.
  *
  */
    schema(paramsFunc?: (params: Introspect_Schema$Params) => void): Introspect_Schema$Results$Promise;
}
export interface Introspect$Server$Target {
    interfaceId(params: Introspect_InterfaceId$Params, results: Introspect_InterfaceId$Results): Promise<void>;
    schema(params: Introspect_Schema$Params, results: Introspect_Schema$Results): Promise<void>;
}
export declare class Introspect$Server extends $.Server {
    readonly target: Introspect$Server$Target;
    constructor(target: Introspect$Server$Target);
    client(): Introspect$Client;
}
/**
* Optional for any capability: one that does not implement it answers `unimplemented`
* (callers then take the schema from elsewhere, or say that none can be had).
*
*/
export declare class Introspect extends $.Interface {
    static readonly SchemaResult: typeof Introspect_SchemaResult;
    static readonly Client: typeof Introspect$Client;
    static readonly Server: typeof Introspect$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare const Srv_PostResult_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type Srv_PostResult_Which = (typeof Srv_PostResult_Which)[keyof typeof Srv_PostResult_Which];
export declare class Srv_PostResult extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ok(): Post$Client;
    get _isOk(): boolean;
    set ok(value: Post$Client);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): Srv_PostResult_Which;
}
export declare class Srv_Entry extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get name(): string;
    set name(value: string);
    /**
  * declared or posted; 0 when neither says
  *
  */
    get interfaceId(): bigint;
    set interfaceId(value: bigint);
    /**
  * something is posted under the name now
  *
  */
    get posted(): boolean;
    set posted(value: boolean);
    toString(): string;
}
export declare class Srv_Post$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get name(): string;
    set name(value: string);
    _adoptCap(value: $.Orphan<$.Pointer>): void;
    _disownCap(): $.Orphan<$.Pointer>;
    get cap(): $.Pointer;
    _hasCap(): boolean;
    set cap(value: $.Pointer);
    get interfaceId(): bigint;
    set interfaceId(value: bigint);
    toString(): string;
}
export declare class Srv_Post$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Srv_PostResult>): void;
    _disownResult(): $.Orphan<Srv_PostResult>;
    get result(): Srv_PostResult;
    _hasResult(): boolean;
    _initResult(): Srv_PostResult;
    set result(value: Srv_PostResult);
    toString(): string;
}
export declare class Srv_Post$Results$Promise {
    pipeline: $.Pipeline<any, any, Srv_Post$Results>;
    constructor(pipeline: $.Pipeline<any, any, Srv_Post$Results>);
    promise(): Promise<Srv_Post$Results>;
}
export declare class Srv_List$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Srv_List$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    static _Entries: $.ListCtor<Srv_Entry>;
    _adoptEntries(value: $.Orphan<$.List<Srv_Entry>>): void;
    _disownEntries(): $.Orphan<$.List<Srv_Entry>>;
    get entries(): $.List<Srv_Entry>;
    _hasEntries(): boolean;
    _initEntries(length: number): $.List<Srv_Entry>;
    set entries(value: $.List<Srv_Entry>);
    toString(): string;
}
export declare class Srv_List$Results$Promise {
    pipeline: $.Pipeline<any, any, Srv_List$Results>;
    constructor(pipeline: $.Pipeline<any, any, Srv_List$Results>);
    promise(): Promise<Srv_List$Results>;
}
export declare class Srv$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Srv_Post$Params, Srv_Post$Results>,
        $.Method<Srv_List$Params, Srv_List$Results>
    ];
    /**
  * Posts `cap` (of interface `interfaceId`) under `name`. The entry lasts while a
  * reference to the returned `Post` does: drop it (or let your connection end) and calls
  * to the name fail `disconnected` until someone posts it again. Refused with `exists`
  * when the name is posted already, `interfaceMismatch` when the manifest declares
  * another interface for it, `invalidArgument` for a bad name, `busy` when the board is
  * full.
  *
  */
    post(paramsFunc?: (params: Srv_Post$Params) => void): Srv_Post$Results$Promise;
    /**
  * The names the board knows: declared by the manifest, or posted now.
  *
  */
    list(paramsFunc?: (params: Srv_List$Params) => void): Srv_List$Results$Promise;
}
export interface Srv$Server$Target {
    post(params: Srv_Post$Params, results: Srv_Post$Results): Promise<void>;
    list(params: Srv_List$Params, results: Srv_List$Results): Promise<void>;
}
export declare class Srv$Server extends $.Server {
    readonly target: Srv$Server$Target;
    constructor(target: Srv$Server$Target);
    client(): Srv$Client;
}
/**
* A board of posted capabilities (Plan 9's srv(3)). Holding it lets you post; what is
* posted is reached only through the names the manifest mounts.
*
*/
export declare class Srv extends $.Interface {
    static readonly PostResult: typeof Srv_PostResult;
    static readonly Entry: typeof Srv_Entry;
    static readonly Client: typeof Srv$Client;
    static readonly Server: typeof Srv$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Post_Remove$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Post_Remove$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Post_Remove$Results$Promise {
    pipeline: $.Pipeline<any, any, Post_Remove$Results>;
    constructor(pipeline: $.Pipeline<any, any, Post_Remove$Results>);
    promise(): Promise<Post_Remove$Results>;
}
export declare class Post$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Post_Remove$Params, Post_Remove$Results>
    ];
    /**
  * Takes the entry down now (releasing the last reference does the same).
  *
  */
    remove(paramsFunc?: (params: Post_Remove$Params) => void): Post_Remove$Results$Promise;
}
export interface Post$Server$Target {
    remove(params: Post_Remove$Params, results: Post_Remove$Results): Promise<void>;
}
export declare class Post$Server extends $.Server {
    readonly target: Post$Server$Target;
    constructor(target: Post$Server$Target);
    client(): Post$Client;
}
/**
* The lease of one posted entry.
*
*/
export declare class Post extends $.Interface {
    static readonly Client: typeof Post$Client;
    static readonly Server: typeof Post$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class ServiceHost_Namespace$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class ServiceHost_Namespace$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ns(): Namespace$Client;
    set ns(value: Namespace$Client);
    toString(): string;
}
export declare class ServiceHost_Namespace$Results$Promise {
    pipeline: $.Pipeline<any, any, ServiceHost_Namespace$Results>;
    constructor(pipeline: $.Pipeline<any, any, ServiceHost_Namespace$Results>);
    getNs(): Namespace$Client;
    promise(): Promise<ServiceHost_Namespace$Results>;
}
export declare class ServiceHost$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<ServiceHost_Namespace$Params, ServiceHost_Namespace$Results>
    ];
    /**
  * The program's own namespace: built from the profile the manifest names for it (empty
  * when it names none). Its only authority besides what it was given in its arguments.
  *
  */
    namespace(paramsFunc?: (params: ServiceHost_Namespace$Params) => void): ServiceHost_Namespace$Results$Promise;
}
export interface ServiceHost$Server$Target {
    namespace(params: ServiceHost_Namespace$Params, results: ServiceHost_Namespace$Results): Promise<void>;
}
export declare class ServiceHost$Server extends $.Server {
    readonly target: ServiceHost$Server$Target;
    constructor(target: ServiceHost$Server$Target);
    client(): ServiceHost$Client;
}
/**
* The bootstrap capability capns offers a program it started, on file descriptor 3.
* `post` (from Srv) offers the program's capabilities under the names the manifest
* declares in `offers`; the service is ready once every one of them is offered.
*
*/
export declare class ServiceHost extends $.Interface {
    static readonly Client: typeof ServiceHost$Client;
    static readonly Server: typeof ServiceHost$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
