import * as $ from "capnp-es";
import { Outcome } from "./common.js";
export declare const _capnpFileId = 16134965128558873035n;
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
export declare class CapTable$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<CapTable_List$Params, CapTable_List$Results>,
        $.Method<CapTable_Revoke$Params, CapTable_Revoke$Results>,
        $.Method<CapTable_RevokeHolder$Params, CapTable_RevokeHolder$Results>
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
  * Revoke every grant of one holder; returns how many were revoked.
  *
  */
    revokeHolder(paramsFunc?: (params: CapTable_RevokeHolder$Params) => void): CapTable_RevokeHolder$Results$Promise;
}
export interface CapTable$Server$Target {
    list(params: CapTable_List$Params, results: CapTable_List$Results): Promise<void>;
    revoke(params: CapTable_Revoke$Params, results: CapTable_Revoke$Results): Promise<void>;
    revokeHolder(params: CapTable_RevokeHolder$Params, results: CapTable_RevokeHolder$Results): Promise<void>;
}
export declare class CapTable$Server extends $.Server {
    readonly target: CapTable$Server$Target;
    constructor(target: CapTable$Server$Target);
    client(): CapTable$Client;
}
export declare class CapTable extends $.Interface {
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
