import * as $ from "capnp-es";
export declare const _capnpFileId = 14236055389149126430n;
export declare class Import_Status$Params extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare class Import_Status$Results extends $.Struct {
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    _adoptStatus(value: $.Orphan<ImportStatus>): void;
    _disownStatus(): $.Orphan<ImportStatus>;
    get status(): ImportStatus;
    _hasStatus(): boolean;
    _initStatus(): ImportStatus;
    set status(value: ImportStatus);
    toString(): string;
}
export declare class Import_Status$Results$Promise {
    pipeline: $.Pipeline<any, any, Import_Status$Results>;
    constructor(pipeline: $.Pipeline<any, any, Import_Status$Results>);
    promise(): Promise<Import_Status$Results>;
}
export declare class Import$Client {
    client: $.Client;
    static readonly interfaceId: bigint;
    constructor(client: $.Client);
    static readonly methods: [
        $.Method<Import_Status$Params, Import_Status$Results>
    ];
    /**
  * The import's state now. Never forwarded, never fails while the importer runs.
  *
  */
    status(paramsFunc?: (params: Import_Status$Params) => void): Import_Status$Results$Promise;
}
export interface Import$Server$Target {
    status(params: Import_Status$Params, results: Import_Status$Results): Promise<void>;
}
export declare class Import$Server extends $.Server {
    readonly target: Import$Server$Target;
    constructor(target: Import$Server$Target);
    client(): Import$Client;
}
export declare class Import extends $.Interface {
    static readonly Client: typeof Import$Client;
    static readonly Server: typeof Import$Server;
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    toString(): string;
}
export declare const ImportStatus_State: {
    /**
  * the first attempt is under way; no connection yet
  *
  */
    readonly CONNECTING: 0;
    /**
  * up: calls go through
  *
  */
    readonly CONNECTED: 1;
    /**
  * down: the last attempt or the connection failed; it tries again
  *
  */
    readonly RETRYING: 2;
    /**
  * the export refused the credentials; retried only if configured
  *
  */
    readonly REFUSED: 3;
    /**
  * the import was closed (removed from the manifest, shut down)
  *
  */
    readonly CLOSED: 4;
};
export type ImportStatus_State = (typeof ImportStatus_State)[keyof typeof ImportStatus_State];
export declare class ImportStatus extends $.Struct {
    static readonly State: {
        /**
      * the first attempt is under way; no connection yet
      *
      */
        readonly CONNECTING: 0;
        /**
      * up: calls go through
      *
      */
        readonly CONNECTED: 1;
        /**
      * down: the last attempt or the connection failed; it tries again
      *
      */
        readonly RETRYING: 2;
        /**
      * the export refused the credentials; retried only if configured
      *
      */
        readonly REFUSED: 3;
        /**
      * the import was closed (removed from the manifest, shut down)
      *
      */
        readonly CLOSED: 4;
    };
    static readonly _capnp: {
        displayName: string;
        id: string;
        size: $.ObjectSize;
    };
    /**
  * The import's name: the manifest capability's, or the local path `capns import`
  * mounted it at ("" when the library's caller gave none).
  *
  */
    get name(): string;
    set name(value: string);
    /**
  * The export it dials: tcp!HOST!PORT or unix!PATH.
  *
  */
    get address(): string;
    set address(value: string);
    /**
  * The path in the exported namespace that the import is.
  *
  */
    get path(): string;
    set path(value: string);
    get state(): ImportStatus_State;
    set state(value: ImportStatus_State);
    /**
  * When the import entered `state`, in milliseconds since the Unix epoch. For
  * `retrying` that is when it went down, however many attempts failed since.
  *
  */
    get since(): bigint;
    set since(value: bigint);
    /**
  * Why the last attempt failed, or the last connection ended ("" when nothing failed).
  *
  */
    get lastError(): string;
    set lastError(value: string);
    /**
  * When that was, in milliseconds since the Unix epoch (0 when nothing failed).
  *
  */
    get lastErrorAt(): bigint;
    set lastErrorAt(value: bigint);
    /**
  * Connections established so far: 1 after the first, +1 for each reconnection.
  *
  */
    get connections(): number;
    set connections(value: number);
    /**
  * `retrying` or `refused`: when the next attempt starts, in milliseconds since the
  * Unix epoch; 0 when none is planned.
  *
  */
    get nextAttemptAt(): bigint;
    set nextAttemptAt(value: bigint);
    toString(): string;
}
