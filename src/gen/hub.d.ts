import * as $ from "capnp-es";
import { Failure, Outcome } from "./common.js";
import { FileServer$Client } from "./fileserver.js";
export declare const _capnpFileId = 16951230340362182090n;
export declare class Hub_ChannelInfo extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get name(): string;
    set name(value: string);
    /**
  * bytes ever written
  *
  */
    get end(): bigint;
    set end(value: bigint);
    /**
  * offset of the oldest byte retained
  *
  */
    get oldest(): bigint;
    set oldest(value: bigint);
    /**
  * reads waiting now, and open files reading it
  *
  */
    get readers(): number;
    set readers(value: number);
    /**
  * writes so far
  *
  */
    get writes(): bigint;
    set writes(value: bigint);
    /**
  * bytes readers have missed, summed over readers
  *
  */
    get missed(): bigint;
    set missed(value: bigint);
    toString(): string;
}
export declare const Hub_WriteResult_Which: {
    readonly END: 0;
    readonly ERR: 1;
};
export type Hub_WriteResult_Which = (typeof Hub_WriteResult_Which)[keyof typeof Hub_WriteResult_Which];
export declare class Hub_WriteResult extends $.Struct {
    static readonly END: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get end(): bigint;
    get _isEnd(): boolean;
    set end(value: bigint);
    _adoptErr(value: $.Orphan<Failure>): void;
    _disownErr(): $.Orphan<Failure>;
    get err(): Failure;
    _hasErr(): boolean;
    _initErr(): Failure;
    get _isErr(): boolean;
    set err(value: Failure);
    toString(): string;
    which(): Hub_WriteResult_Which;
}
export declare class Hub_ReadResult_Ok extends $.Struct {
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
    set data(value: $.Data);
    get next(): bigint;
    set next(value: bigint);
    get missed(): bigint;
    set missed(value: bigint);
    toString(): string;
}
export declare const Hub_ReadResult_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type Hub_ReadResult_Which = (typeof Hub_ReadResult_Which)[keyof typeof Hub_ReadResult_Which];
export declare class Hub_ReadResult extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ok(): Hub_ReadResult_Ok;
    _initOk(): Hub_ReadResult_Ok;
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
    which(): Hub_ReadResult_Which;
}
export declare class Hub_PositionResult_Ok extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get end(): bigint;
    set end(value: bigint);
    get oldest(): bigint;
    set oldest(value: bigint);
    toString(): string;
}
export declare const Hub_PositionResult_Which: {
    readonly OK: 0;
    readonly ERR: 1;
};
export type Hub_PositionResult_Which = (typeof Hub_PositionResult_Which)[keyof typeof Hub_PositionResult_Which];
export declare class Hub_PositionResult extends $.Struct {
    static readonly OK: 0;
    static readonly ERR: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get ok(): Hub_PositionResult_Ok;
    _initOk(): Hub_PositionResult_Ok;
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
    which(): Hub_PositionResult_Which;
}
export declare class Hub_Channels$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Hub_Channels$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    static _Channels: $.ListCtor<Hub_ChannelInfo>;
    _adoptChannels(value: $.Orphan<$.List<Hub_ChannelInfo>>): void;
    _disownChannels(): $.Orphan<$.List<Hub_ChannelInfo>>;
    get channels(): $.List<Hub_ChannelInfo>;
    _hasChannels(): boolean;
    _initChannels(length: number): $.List<Hub_ChannelInfo>;
    set channels(value: $.List<Hub_ChannelInfo>);
    toString(): string;
}
export declare class Hub_Channels$Results$Promise {
    pipeline: $.Pipeline<any, any, Hub_Channels$Results>;
    constructor(pipeline: $.Pipeline<any, any, Hub_Channels$Results>);
    promise(): Promise<Hub_Channels$Results>;
}
export declare class Hub_Create$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get name(): string;
    set name(value: string);
    toString(): string;
}
export declare class Hub_Create$Results extends $.Struct {
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
export declare class Hub_Create$Results$Promise {
    pipeline: $.Pipeline<any, any, Hub_Create$Results>;
    constructor(pipeline: $.Pipeline<any, any, Hub_Create$Results>);
    promise(): Promise<Hub_Create$Results>;
}
export declare class Hub_Remove$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get name(): string;
    set name(value: string);
    toString(): string;
}
export declare class Hub_Remove$Results extends $.Struct {
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
export declare class Hub_Remove$Results$Promise {
    pipeline: $.Pipeline<any, any, Hub_Remove$Results>;
    constructor(pipeline: $.Pipeline<any, any, Hub_Remove$Results>);
    promise(): Promise<Hub_Remove$Results>;
}
export declare class Hub_Write$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get channel(): string;
    set channel(value: string);
    _adoptData(value: $.Orphan<$.Data>): void;
    _disownData(): $.Orphan<$.Data>;
    get data(): $.Data;
    _hasData(): boolean;
    _initData(length: number): $.Data;
    set data(value: $.Data);
    toString(): string;
}
export declare class Hub_Write$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Hub_WriteResult>): void;
    _disownResult(): $.Orphan<Hub_WriteResult>;
    get result(): Hub_WriteResult;
    _hasResult(): boolean;
    _initResult(): Hub_WriteResult;
    set result(value: Hub_WriteResult);
    toString(): string;
}
export declare class Hub_Write$Results$Promise {
    pipeline: $.Pipeline<any, any, Hub_Write$Results>;
    constructor(pipeline: $.Pipeline<any, any, Hub_Write$Results>);
    promise(): Promise<Hub_Write$Results>;
}
export declare class Hub_Read$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get channel(): string;
    set channel(value: string);
    get from(): bigint;
    set from(value: bigint);
    get max(): number;
    set max(value: number);
    toString(): string;
}
export declare class Hub_Read$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Hub_ReadResult>): void;
    _disownResult(): $.Orphan<Hub_ReadResult>;
    get result(): Hub_ReadResult;
    _hasResult(): boolean;
    _initResult(): Hub_ReadResult;
    set result(value: Hub_ReadResult);
    toString(): string;
}
export declare class Hub_Read$Results$Promise {
    pipeline: $.Pipeline<any, any, Hub_Read$Results>;
    constructor(pipeline: $.Pipeline<any, any, Hub_Read$Results>);
    promise(): Promise<Hub_Read$Results>;
}
export declare class Hub_Position$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get channel(): string;
    set channel(value: string);
    toString(): string;
}
export declare class Hub_Position$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<Hub_PositionResult>): void;
    _disownResult(): $.Orphan<Hub_PositionResult>;
    get result(): Hub_PositionResult;
    _hasResult(): boolean;
    _initResult(): Hub_PositionResult;
    set result(value: Hub_PositionResult);
    toString(): string;
}
export declare class Hub_Position$Results$Promise {
    pipeline: $.Pipeline<any, any, Hub_Position$Results>;
    constructor(pipeline: $.Pipeline<any, any, Hub_Position$Results>);
    promise(): Promise<Hub_Position$Results>;
}
export declare class Hub_Files$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Hub_Files$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get fs(): FileServer$Client;
    set fs(value: FileServer$Client);
    toString(): string;
}
export declare class Hub_Files$Results$Promise {
    pipeline: $.Pipeline<any, any, Hub_Files$Results>;
    constructor(pipeline: $.Pipeline<any, any, Hub_Files$Results>);
    getFs(): FileServer$Client;
    promise(): Promise<Hub_Files$Results>;
}
export declare class Hub$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Hub_Channels$Params, Hub_Channels$Results>,
        $.Method<Hub_Create$Params, Hub_Create$Results>,
        $.Method<Hub_Remove$Params, Hub_Remove$Results>,
        $.Method<Hub_Write$Params, Hub_Write$Results>,
        $.Method<Hub_Read$Params, Hub_Read$Results>,
        $.Method<Hub_Position$Params, Hub_Position$Results>,
        $.Method<Hub_Files$Params, Hub_Files$Results>
    ];
    /**
  * Every channel, by name.
  *
  */
    channels(paramsFunc?: (params: Hub_Channels$Params) => void): Hub_Channels$Results$Promise;
    /**
  * A new, empty channel. `alreadyExists` if there is one by that name; `busy` over the
  * hub's limit of channels. Names are file names (no '/', NUL, '.' or '..'; <= 255 bytes).
  *
  */
    create(paramsFunc?: (params: Hub_Create$Params) => void): Hub_Create$Results$Promise;
    /**
  * Removes a channel: readers waiting on it get an empty read (the end of it).
  *
  */
    remove(paramsFunc?: (params: Hub_Remove$Params) => void): Hub_Remove$Results$Promise;
    /**
  * Appends `data` (at most the hub's maxWriteBytes) as one piece; `end` is the offset just
  * after it. Never waits for readers.
  *
  */
    write(paramsFunc?: (params: Hub_Write$Params) => void): Hub_Write$Results$Promise;
    /**
  * Up to `max` bytes from offset `from`. Waits while there are none yet (cancel the call
  * to stop waiting); an empty `data` means the channel was removed. When `from` is older
  * than the oldest byte retained, `missed` says how many bytes were lost to this reader
  * and `data` starts at the oldest one. `next` is the offset to ask for next.
  *
  */
    read(paramsFunc?: (params: Hub_Read$Params) => void): Hub_Read$Results$Promise;
    /**
  * Where a reader joining now starts (`end`) and where the backlog starts (`oldest`).
  *
  */
    position(paramsFunc?: (params: Hub_Position$Params) => void): Hub_Position$Results$Promise;
    /**
  * The file face of this hub: each channel a file (a read follows it from where the
  * open joined, a write appends), `backlog/NAME` reads from the oldest retained byte,
  * `ctl` takes `create NAME` and `remove NAME` and reads the channels' status.
  *
  */
    files(paramsFunc?: (params: Hub_Files$Params) => void): Hub_Files$Results$Promise;
}
export interface Hub$Server$Target {
    channels(params: Hub_Channels$Params, results: Hub_Channels$Results): Promise<void>;
    create(params: Hub_Create$Params, results: Hub_Create$Results): Promise<void>;
    remove(params: Hub_Remove$Params, results: Hub_Remove$Results): Promise<void>;
    write(params: Hub_Write$Params, results: Hub_Write$Results): Promise<void>;
    read(params: Hub_Read$Params, results: Hub_Read$Results): Promise<void>;
    position(params: Hub_Position$Params, results: Hub_Position$Results): Promise<void>;
    files(params: Hub_Files$Params, results: Hub_Files$Results): Promise<void>;
}
export declare class Hub$Server extends $.Server {
    readonly target: Hub$Server$Target;
    constructor(target: Hub$Server$Target);
    client(): Hub$Client;
}
export declare class Hub extends $.Interface {
    static readonly ChannelInfo: typeof Hub_ChannelInfo;
    static readonly WriteResult: typeof Hub_WriteResult;
    static readonly ReadResult: typeof Hub_ReadResult;
    static readonly PositionResult: typeof Hub_PositionResult;
    static readonly Client: typeof Hub$Client;
    static readonly Server: typeof Hub$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
