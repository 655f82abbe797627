import * as $ from "capnp-es";
export declare const _capnpFileId = 16026318523439159546n;
export declare class KeyValue_Entry extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get key(): string;
    set key(value: string);
    get value(): string;
    set value(value: string);
    toString(): string;
}
export declare const KeyValue_PutResult_Which: {
    /**
  * how many keys the store holds now
  *
  */
    readonly OK: 0;
    /**
  * refused: the store holds its maximum of keys already
  *
  */
    readonly FULL: 1;
};
export type KeyValue_PutResult_Which = (typeof KeyValue_PutResult_Which)[keyof typeof KeyValue_PutResult_Which];
export declare class KeyValue_PutResult extends $.Struct {
    static readonly OK: 0;
    static readonly FULL: 1;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    /**
  * how many keys the store holds now
  *
  */
    get ok(): number;
    get _isOk(): boolean;
    set ok(value: number);
    /**
  * refused: the store holds its maximum of keys already
  *
  */
    get full(): number;
    get _isFull(): boolean;
    set full(value: number);
    toString(): string;
    which(): KeyValue_PutResult_Which;
}
export declare class KeyValue_Get$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get key(): string;
    set key(value: string);
    toString(): string;
}
export declare class KeyValue_Get$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get value(): string;
    set value(value: string);
    get found(): boolean;
    set found(value: boolean);
    toString(): string;
}
export declare class KeyValue_Get$Results$Promise {
    pipeline: $.Pipeline<any, any, KeyValue_Get$Results>;
    constructor(pipeline: $.Pipeline<any, any, KeyValue_Get$Results>);
    promise(): Promise<KeyValue_Get$Results>;
}
export declare class KeyValue_Put$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get key(): string;
    set key(value: string);
    get value(): string;
    set value(value: string);
    toString(): string;
}
export declare class KeyValue_Put$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptResult(value: $.Orphan<KeyValue_PutResult>): void;
    _disownResult(): $.Orphan<KeyValue_PutResult>;
    get result(): KeyValue_PutResult;
    _hasResult(): boolean;
    _initResult(): KeyValue_PutResult;
    set result(value: KeyValue_PutResult);
    toString(): string;
}
export declare class KeyValue_Put$Results$Promise {
    pipeline: $.Pipeline<any, any, KeyValue_Put$Results>;
    constructor(pipeline: $.Pipeline<any, any, KeyValue_Put$Results>);
    promise(): Promise<KeyValue_Put$Results>;
}
export declare class KeyValue_Delete$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get key(): string;
    set key(value: string);
    toString(): string;
}
export declare class KeyValue_Delete$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get existed(): boolean;
    set existed(value: boolean);
    toString(): string;
}
export declare class KeyValue_Delete$Results$Promise {
    pipeline: $.Pipeline<any, any, KeyValue_Delete$Results>;
    constructor(pipeline: $.Pipeline<any, any, KeyValue_Delete$Results>);
    promise(): Promise<KeyValue_Delete$Results>;
}
export declare class KeyValue_List$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get prefix(): string;
    set prefix(value: string);
    toString(): string;
}
export declare class KeyValue_List$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    static _Entries: $.ListCtor<KeyValue_Entry>;
    _adoptEntries(value: $.Orphan<$.List<KeyValue_Entry>>): void;
    _disownEntries(): $.Orphan<$.List<KeyValue_Entry>>;
    get entries(): $.List<KeyValue_Entry>;
    _hasEntries(): boolean;
    _initEntries(length: number): $.List<KeyValue_Entry>;
    set entries(value: $.List<KeyValue_Entry>);
    toString(): string;
}
export declare class KeyValue_List$Results$Promise {
    pipeline: $.Pipeline<any, any, KeyValue_List$Results>;
    constructor(pipeline: $.Pipeline<any, any, KeyValue_List$Results>);
    promise(): Promise<KeyValue_List$Results>;
}
export declare class KeyValue$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<KeyValue_Get$Params, KeyValue_Get$Results>,
        $.Method<KeyValue_Put$Params, KeyValue_Put$Results>,
        $.Method<KeyValue_Delete$Params, KeyValue_Delete$Results>,
        $.Method<KeyValue_List$Params, KeyValue_List$Results>
    ];
    /**
  * The value under `key`; `found` is false (and `value` empty) when there is none.
  *
  */
    get(paramsFunc?: (params: KeyValue_Get$Params) => void): KeyValue_Get$Results$Promise;
    /**
  * Stores `value` under `key`, replacing what was there.
  *
  */
    put(paramsFunc?: (params: KeyValue_Put$Params) => void): KeyValue_Put$Results$Promise;
    /**
  * Removes `key`.
  *
  */
    delete(paramsFunc?: (params: KeyValue_Delete$Params) => void): KeyValue_Delete$Results$Promise;
    /**
  * The keys starting with `prefix`, in order, with their values.
  *
  */
    list(paramsFunc?: (params: KeyValue_List$Params) => void): KeyValue_List$Results$Promise;
}
export interface KeyValue$Server$Target {
    get(params: KeyValue_Get$Params, results: KeyValue_Get$Results): Promise<void>;
    put(params: KeyValue_Put$Params, results: KeyValue_Put$Results): Promise<void>;
    delete(params: KeyValue_Delete$Params, results: KeyValue_Delete$Results): Promise<void>;
    list(params: KeyValue_List$Params, results: KeyValue_List$Results): Promise<void>;
}
export declare class KeyValue$Server extends $.Server {
    readonly target: KeyValue$Server$Target;
    constructor(target: KeyValue$Server$Target);
    client(): KeyValue$Client;
}
/**
* A small in-memory store of text values by key.
*
*/
export declare class KeyValue extends $.Interface {
    static readonly Entry: typeof KeyValue_Entry;
    static readonly PutResult: typeof KeyValue_PutResult;
    static readonly Client: typeof KeyValue$Client;
    static readonly Server: typeof KeyValue$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Tally_Bump$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get name(): string;
    set name(value: string);
    toString(): string;
}
export declare class Tally_Bump$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get count(): bigint;
    set count(value: bigint);
    toString(): string;
}
export declare class Tally_Bump$Results$Promise {
    pipeline: $.Pipeline<any, any, Tally_Bump$Results>;
    constructor(pipeline: $.Pipeline<any, any, Tally_Bump$Results>);
    promise(): Promise<Tally_Bump$Results>;
}
export declare class Tally$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Tally_Bump$Params, Tally_Bump$Results>
    ];
    /**
  * Adds one to `name`'s count and returns it.
  *
  */
    bump(paramsFunc?: (params: Tally_Bump$Params) => void): Tally_Bump$Results$Promise;
}
export interface Tally$Server$Target {
    bump(params: Tally_Bump$Params, results: Tally_Bump$Results): Promise<void>;
}
export declare class Tally$Server extends $.Server {
    readonly target: Tally$Server$Target;
    constructor(target: Tally$Server$Target);
    client(): Tally$Client;
}
/**
* Counts by name, kept in a KeyValue store: the example of a service calling another
* through its own namespace.
*
*/
export declare class Tally extends $.Interface {
    static readonly Client: typeof Tally$Client;
    static readonly Server: typeof Tally$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
