import * as $ from "capnp-es";
import { Outcome } from "./common.js";
export declare const _capnpFileId = 16134965128558873035n;
export declare class CapTable_Export extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    /**
  * as bound, e.g. "tcp!127.0.0.1!5821"
  *
  */
    get address(): string;
    set address(value: string);
    get profile(): string;
    set profile(value: string);
    get root(): string;
    set root(value: string);
    get readOnly(): boolean;
    set readOnly(value: boolean);
    /**
  * it has a filter (path patterns or method rules)
  *
  */
    get filtered(): boolean;
    set filtered(value: boolean);
    /**
  * connections open now
  *
  */
    get peers(): number;
    set peers(value: number);
    get revoked(): boolean;
    set revoked(value: boolean);
    toString(): string;
}
export declare class CapTable_Entry extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get id(): bigint;
    set id(value: bigint);
    get interfaceId(): bigint;
    set interfaceId(value: bigint);
    get label(): string;
    set label(value: string);
    /**
  * profile and connection, e.g. "alice@127.0.0.1:50312"
  *
  */
    get holder(): string;
    set holder(value: string);
    get calls(): bigint;
    set calls(value: bigint);
    get revoked(): boolean;
    set revoked(value: boolean);
    toString(): string;
}
export declare class CapTable_List$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get holder(): string;
    set holder(value: string);
    toString(): string;
}
export declare class CapTable_List$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    static _Entries: $.ListCtor<CapTable_Entry>;
    _adoptEntries(value: $.Orphan<$.List<CapTable_Entry>>): void;
    _disownEntries(): $.Orphan<$.List<CapTable_Entry>>;
    get entries(): $.List<CapTable_Entry>;
    _hasEntries(): boolean;
    _initEntries(length: number): $.List<CapTable_Entry>;
    set entries(value: $.List<CapTable_Entry>);
    toString(): string;
}
export declare class CapTable_List$Results$Promise {
    pipeline: $.Pipeline<any, any, CapTable_List$Results>;
    constructor(pipeline: $.Pipeline<any, any, CapTable_List$Results>);
    promise(): Promise<CapTable_List$Results>;
}
export declare class CapTable_Revoke$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get id(): bigint;
    set id(value: bigint);
    toString(): string;
}
export declare class CapTable_Revoke$Results extends $.Struct {
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
export declare class CapTable_Revoke$Results$Promise {
    pipeline: $.Pipeline<any, any, CapTable_Revoke$Results>;
    constructor(pipeline: $.Pipeline<any, any, CapTable_Revoke$Results>);
    promise(): Promise<CapTable_Revoke$Results>;
}
export declare class CapTable_RevokeHolder$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get holder(): string;
    set holder(value: string);
    toString(): string;
}
export declare class CapTable_RevokeHolder$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get count(): number;
    set count(value: number);
    toString(): string;
}
export declare class CapTable_RevokeHolder$Results$Promise {
    pipeline: $.Pipeline<any, any, CapTable_RevokeHolder$Results>;
    constructor(pipeline: $.Pipeline<any, any, CapTable_RevokeHolder$Results>);
    promise(): Promise<CapTable_RevokeHolder$Results>;
}
export declare class CapTable_Exports$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class CapTable_Exports$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    static _Exports: $.ListCtor<CapTable_Export>;
    _adoptExports(value: $.Orphan<$.List<CapTable_Export>>): void;
    _disownExports(): $.Orphan<$.List<CapTable_Export>>;
    get exports(): $.List<CapTable_Export>;
    _hasExports(): boolean;
    _initExports(length: number): $.List<CapTable_Export>;
    set exports(value: $.List<CapTable_Export>);
    toString(): string;
}
export declare class CapTable_Exports$Results$Promise {
    pipeline: $.Pipeline<any, any, CapTable_Exports$Results>;
    constructor(pipeline: $.Pipeline<any, any, CapTable_Exports$Results>);
    promise(): Promise<CapTable_Exports$Results>;
}
export declare class CapTable_RevokeExport$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get address(): string;
    set address(value: string);
    get reason(): string;
    set reason(value: string);
    toString(): string;
}
export declare class CapTable_RevokeExport$Results extends $.Struct {
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
export declare class CapTable_RevokeExport$Results$Promise {
    pipeline: $.Pipeline<any, any, CapTable_RevokeExport$Results>;
    constructor(pipeline: $.Pipeline<any, any, CapTable_RevokeExport$Results>);
    promise(): Promise<CapTable_RevokeExport$Results>;
}
export declare class CapTable$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<CapTable_List$Params, CapTable_List$Results>,
        $.Method<CapTable_Revoke$Params, CapTable_Revoke$Results>,
        $.Method<CapTable_RevokeHolder$Params, CapTable_RevokeHolder$Results>,
        $.Method<CapTable_Exports$Params, CapTable_Exports$Results>,
        $.Method<CapTable_RevokeExport$Params, CapTable_RevokeExport$Results>
    ];
    /**
  * Granted capabilities, all of them when `holder` is "", else one holder's.
  *
  */
    list(paramsFunc?: (params: CapTable_List$Params) => void): CapTable_List$Results$Promise;
    /**
  * Revoke one grant: the holder's next call through it fails at once with `revoked`
  * (an exception of type failed whose description starts "revoked:"; calls that return
  * results fail with `Failure.revoked` where they can).
  *
  */
    revoke(paramsFunc?: (params: CapTable_Revoke$Params) => void): CapTable_Revoke$Results$Promise;
    /**
  * Revoke every grant of one holder; returns how many were revoked. `holder` may be a
  * profile's prefix ("alice@": every connection of alice) or an export's
  * ("alice@export:tcp!127.0.0.1!5821#": every peer of that export).
  *
  */
    revokeHolder(paramsFunc?: (params: CapTable_RevokeHolder$Params) => void): CapTable_RevokeHolder$Results$Promise;
    /**
  * The exports this process serves (exportfs), in manifest order.
  *
  */
    exports(paramsFunc?: (params: CapTable_Exports$Params) => void): CapTable_Exports$Results$Promise;
    /**
  * Revoke one export, named by the address it listens on: every capability it ever
  * handed out, to every peer, fails `revoked` at once, and no peer gets in again until a
  * reload opens it anew. `notFound` for an address no export listens on.
  *
  */
    revokeExport(paramsFunc?: (params: CapTable_RevokeExport$Params) => void): CapTable_RevokeExport$Results$Promise;
}
export interface CapTable$Server$Target {
    list(params: CapTable_List$Params, results: CapTable_List$Results): Promise<void>;
    revoke(params: CapTable_Revoke$Params, results: CapTable_Revoke$Results): Promise<void>;
    revokeHolder(params: CapTable_RevokeHolder$Params, results: CapTable_RevokeHolder$Results): Promise<void>;
    exports(params: CapTable_Exports$Params, results: CapTable_Exports$Results): Promise<void>;
    revokeExport(params: CapTable_RevokeExport$Params, results: CapTable_RevokeExport$Results): Promise<void>;
}
export declare class CapTable$Server extends $.Server {
    readonly target: CapTable$Server$Target;
    constructor(target: CapTable$Server$Target);
    client(): CapTable$Client;
}
export declare class CapTable extends $.Interface {
    static readonly Export: typeof CapTable_Export;
    static readonly Entry: typeof CapTable_Entry;
    static readonly Client: typeof CapTable$Client;
    static readonly Server: typeof CapTable$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
