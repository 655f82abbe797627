import * as $ from "capnp-es";
export declare const _capnpFileId = 13236836267559775921n;
export declare class Clock_Now$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Clock_Now$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get unixMillis(): bigint;
    set unixMillis(value: bigint);
    get iso(): string;
    set iso(value: string);
    toString(): string;
}
export declare class Clock_Now$Results$Promise {
    pipeline: $.Pipeline<any, any, Clock_Now$Results>;
    constructor(pipeline: $.Pipeline<any, any, Clock_Now$Results>);
    promise(): Promise<Clock_Now$Results>;
}
export declare class Clock$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Clock_Now$Params, Clock_Now$Results>
    ];
    /**
  * The current time, as milliseconds since the epoch and as ISO 8601 text (UTC).
  *
  */
    now(paramsFunc?: (params: Clock_Now$Params) => void): Clock_Now$Results$Promise;
}
export interface Clock$Server$Target {
    now(params: Clock_Now$Params, results: Clock_Now$Results): Promise<void>;
}
export declare class Clock$Server extends $.Server {
    readonly target: Clock$Server$Target;
    constructor(target: Clock$Server$Target);
    client(): Clock$Client;
}
/**
* The server's clock.
*
*/
export declare class Clock extends $.Interface {
    static readonly Client: typeof Clock$Client;
    static readonly Server: typeof Clock$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Echo_Echo$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get text(): string;
    set text(value: string);
    toString(): string;
}
export declare class Echo_Echo$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    get text(): string;
    set text(value: string);
    toString(): string;
}
export declare class Echo_Echo$Results$Promise {
    pipeline: $.Pipeline<any, any, Echo_Echo$Results>;
    constructor(pipeline: $.Pipeline<any, any, Echo_Echo$Results>);
    promise(): Promise<Echo_Echo$Results>;
}
export declare class Echo$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Echo_Echo$Params, Echo_Echo$Results>
    ];
    echo(paramsFunc?: (params: Echo_Echo$Params) => void): Echo_Echo$Results$Promise;
}
export interface Echo$Server$Target {
    echo(params: Echo_Echo$Params, results: Echo_Echo$Results): Promise<void>;
}
export declare class Echo$Server extends $.Server {
    readonly target: Echo$Server$Target;
    constructor(target: Echo$Server$Target);
    client(): Echo$Client;
}
/**
* Returns what it is given; the smallest interface to try `capns call` on.
*
*/
export declare class Echo extends $.Interface {
    static readonly Client: typeof Echo$Client;
    static readonly Server: typeof Echo$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
