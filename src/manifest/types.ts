/**
 * The manifest after `parseManifest`: validated, defaults filled in, `${VAR}`s expanded,
 * `ns:` text turned into steps, paths cleaned, addresses parsed, host paths resolved
 * against the manifest's folder. Plain data (bigints aside); every element carries
 * `loc`, where it was written, for messages.
 */
import type { Address } from './address.js';
import type { CapabilityType, InterfaceRef } from './interfaces.js';
import type { Position } from './ns-lines.js';

export type { Position } from './ns-lines.js';

/** Where something was written: file, 1-based line and column, and its field path. */
export interface Loc {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The field path, e.g. `profiles.alice.namespace[1].position`. */
  readonly path: string;
}

interface CapabilityBase {
  readonly name: string;
  readonly type: CapabilityType;
  readonly loc: Loc;
}

/** `type: ram`: an in-memory FileServer; unset limits take MemFileServer's defaults. */
export interface RamCapability extends CapabilityBase {
  readonly type: 'ram';
  readonly maxBytes?: number;
  readonly maxFiles?: number;
  readonly maxFileSize?: number;
}

/** `type: dir`: a host directory as a FileServer. */
export interface DirCapability extends CapabilityBase {
  readonly type: 'dir';
  /** Host path, resolved against the manifest's folder (still relative when that is). */
  readonly path: string;
  readonly readOnly: boolean;
  /** Create the directory (and its parents) at startup when it does not exist. */
  readonly create: boolean;
  /** fdatasync every write (DirFileServerOptions.syncWrites). */
  readonly syncWrites: boolean;
  /** Where reads and writes run (DirFileServerOptions.io). */
  readonly io: 'adaptive' | 'pool';
}

/** Client-side TLS for an import: host paths, resolved like `dir.path`. */
export interface ClientTls {
  /** CA bundle to verify the server with (default: the system's). */
  readonly ca?: string;
  /** Client certificate and key, for exports that authenticate by certificate. */
  readonly cert?: string;
  readonly key?: string;
  /** Expected server name (default: the address's host). */
  readonly serverName?: string;
}

/** `type: import`: a remote export (another capns's `exports`), dialed at startup. */
export interface ImportCapability extends CapabilityBase {
  readonly type: 'import';
  readonly address: Address;
  /** The path inside the remote export that this capability is ('/' = its root). */
  readonly path: string;
  readonly token?: string;
  readonly tls?: ClientTls;
  /** What the remote path holds (default Namespace). */
  readonly interface: InterfaceRef;
  /** Deadlines of each attempt, and of each call (ImportOptions, docs/proxy.md); absent: the importer's defaults. */
  readonly connectTimeoutMs?: number;
  readonly authTimeoutMs?: number;
  readonly resolveTimeoutMs?: number;
  readonly callTimeoutMs?: number;
  /** After a refusal of the credentials, try again this often (absent: never). */
  readonly retryRefusedMs?: number;
  readonly heartbeatMs?: number;
  readonly heartbeatTimeoutMs?: number;
}

/** `type: captable`: the capability table (list and revoke grants). */
export interface CapTableCapability extends CapabilityBase {
  readonly type: 'captable';
}

/** `type: hub`: named channels (ANTS hubfs); unset limits take the hub's defaults. */
export interface HubCapability extends CapabilityBase {
  readonly type: 'hub';
  readonly backlogBytes?: number;
  readonly maxChannels?: number;
  readonly maxWriteBytes?: number;
  readonly maxWaiting?: number;
  /** Channels made at startup. */
  readonly channels: readonly string[];
}

/** `type: hubfs`: the file face of the `hub` capability named `hub`. */
export interface HubFsCapability extends CapabilityBase {
  readonly type: 'hubfs';
  readonly hub: string;
}

/** `type: sessions`: the live sessions as a file tree (src/ants, docs/ants.md). */
export interface SessionsCapability extends CapabilityBase {
  readonly type: 'sessions';
  /** Only the sessions of these profiles; absent: every profile's. */
  readonly profiles?: readonly string[];
  /** Refuse writes to `ns` and `ctl`. */
  readonly readOnly: boolean;
}

/** `type: demo.clock`: the demo clock service. */
export interface DemoClockCapability extends CapabilityBase {
  readonly type: 'demo.clock';
}

/**
 * `type: connect`: any Cap'n Proto server's bootstrap capability (docs/services.md),
 * dialed at startup and redialed with backoff; calls fail `disconnected` while it is down.
 */
export interface ConnectCapability extends CapabilityBase {
  readonly type: 'connect';
  readonly address: Address;
  /** The interface the server's bootstrap capability implements (declared; checked when the server can say). */
  readonly interface: InterfaceRef;
  readonly tls?: ClientTls;
  /** The dial and the interface check together; also how long the first calls wait. */
  readonly timeoutMs?: number;
  /** Heartbeat period (0: none). */
  readonly heartbeatMs?: number;
  /** The longest delay between redials. */
  readonly backoffMaxMs?: number;
}

/** One capability a service offers (`offers: { NAME: INTERFACE }`). */
export interface ServiceOffer {
  readonly name: string;
  readonly interface: InterfaceRef;
}

/**
 * `type: service`: a program capns starts and supervises (docs/services.md). It gets its
 * own namespace (`profile`'s) over the connection it inherits as fd 3, and offers
 * `offers`, which profiles mount as `SERVICE/OFFER` (or `SERVICE` when it offers one).
 */
export interface ServiceCapability extends CapabilityBase {
  readonly type: 'service';
  /** A name looked up on PATH, or a host path (resolved like `dir.path`) when it has a `/`. */
  readonly command: string;
  readonly args: readonly string[];
  /** Its environment besides PATH and CAPNS_SERVICE(_FD). */
  readonly env: Readonly<Record<string, string>>;
  /** Its working directory (host path; default: the manifest's folder). */
  readonly cwd: string;
  /** The profile whose namespace it gets (none: an empty namespace). */
  readonly profile?: string;
  readonly offers: readonly ServiceOffer[];
  readonly restart: 'no' | 'on-failure' | 'always';
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
  readonly backoffMaxMs?: number;
  readonly startLimit?: { readonly burst: number; readonly intervalMs: number };
}

/** A name declared on a srv board, and the interface posts under it must have (any when absent). */
export interface SrvName {
  readonly name: string;
  readonly interface?: InterfaceRef;
}

/**
 * `type: srv`: a board of posted capabilities (Plan 9's /srv). Mounting the board gives
 * the right to post (a `Srv`); mounting `BOARD/NAME` gives what is posted under NAME.
 */
export interface SrvCapability extends CapabilityBase {
  readonly type: 'srv';
  readonly names: readonly SrvName[];
}

/** A capability instance, by name. */
export type Capability =
  | RamCapability
  | DirCapability
  | ImportCapability
  | CapTableCapability
  | SessionsCapability
  | HubCapability
  | HubFsCapability
  | DemoClockCapability
  | ConnectCapability
  | ServiceCapability
  | SrvCapability;

/** mount(1): add capability `capability` (at `spec` inside it) to the union at `at`. */
export interface MountStep {
  readonly op: 'mount';
  /** A capability's name, or `NAME/PART`: a service's offer, a srv board's name. */
  readonly capability: string;
  readonly at: string;
  readonly position: Position;
  readonly create: boolean;
  /** A path inside the capability, relative, '' for its root. */
  readonly spec: string;
  /** The interface `at` must hold: declared before the bind, checked at every later bind there. */
  readonly require?: InterfaceRef;
  readonly loc: Loc;
}

/** bind(1): make what `from` names (now) visible at `at` as well. */
export interface BindStep {
  readonly op: 'bind';
  readonly from: string;
  readonly at: string;
  readonly position: Position;
  readonly create: boolean;
  readonly require?: InterfaceRef;
  readonly loc: Loc;
}

/** unmount(1): remove `member` (a capability name or a bind source) from `at`, or every member. */
export interface UnmountStep {
  readonly op: 'unmount';
  readonly at: string;
  readonly member?: string;
  readonly loc: Loc;
}

/** One step of a profile's namespace, in order. */
export type Step = MountStep | BindStep | UnmountStep;

/** How a connection proves it is a profile. Empty lists and false: no way in by itself. */
export interface Auth {
  /** Bearer tokens (Gate.authenticate, 9P Tauth, HTTP Authorization: Bearer). */
  readonly tokens: readonly string[];
  /** TLS client certificate subjects (e.g. "CN=alice"), on listeners that have `tls.ca`. */
  readonly tlsSubjects: readonly string[];
  /** No credentials needed on a loopback listener (127.0.0.0/8, ::1, localhost, unix!). */
  readonly loopback: boolean;
  readonly loc: Loc | undefined;
}

/** An identity and the steps that build its namespace. */
export interface Profile {
  readonly name: string;
  readonly auth: Auth;
  readonly namespace: readonly Step[];
  readonly loc: Loc;
}

/** Server-side TLS: host paths, resolved like `dir.path`. */
export interface ServerTls {
  readonly cert: string;
  readonly key: string;
  /** CA bundle for client certificates; with it, clients must present one. */
  readonly ca?: string;
}

/** The protocols a listener speaks. */
export type Protocol = 'rpc' | '9p' | 'http';

/** A listening socket. */
export interface Listener {
  readonly protocol: Protocol;
  readonly address: Address;
  readonly tls?: ServerTls;
  /** Only this profile is served here; with no auth of its own, to anyone who connects. */
  readonly profile?: string;
  /**
   * `http` only: Host names it answers to besides its own address (and, on loopback,
   * localhost, 127.0.0.1 and [::1]); lower case, `NAME` or `NAME:PORT`; `*` turns the
   * Host and Origin check off (docs/http.md).
   */
  readonly hosts?: readonly string[];
  readonly loc: Loc;
}

/** exportfs: a subtree of a profile's namespace served on its own RPC listener. */
export interface Export {
  readonly profile: string;
  /** The subtree exported (a `sub` view of the profile's namespace). */
  readonly root: string;
  readonly readOnly: boolean;
  /**
   * A filter file (exportfs -P path patterns, interface/method rules; docs/proxy.md),
   * host path resolved like `dir.path`; read when the export starts.
   */
  readonly filter?: string;
  readonly listen: Address;
  /** Who may import it; when the manifest gives none, the profile's own auth. */
  readonly auth: Auth;
  readonly tls?: ServerTls;
  /** How often each importer is asked whether it is alive (ms; 0: never). Default 1000. */
  readonly heartbeatMs?: number;
  /** An importer that answers nothing for this long is cut (ms). Default 5000. */
  readonly heartbeatTimeoutMs?: number;
  readonly loc: Loc;
}

/**
 * Resource limits, only those the manifest sets: the servers merge them onto their own
 * defaults (src/rpc/limits.ts DEFAULT_LIMITS, NinepServer's options).
 */
export interface Limits {
  /** Connections at once, per listener (each rpc, 9p, http listener and export). */
  readonly maxConnections?: number;
  /** Grants in the capability table at once, process-wide. */
  readonly maxGrants?: number;
  /** Grants one connection may hold at once, however often it authenticates. */
  readonly maxGrantsPerConnection?: number;
  /** Namespaces one RPC connection (an export's peer too) may hold at once: each authenticate makes one. */
  readonly maxNamespacesPerConnection?: number;
  /** Bindings one connection's namespaces may hold, every form of bind counted. */
  readonly maxBinds?: number;
  /** Connections at once, in the whole process (every listener and export together). */
  readonly maxConnectionsTotal?: number;
  /**
   * How long an admitted connection has to establish itself (authenticate, attach, have
   * a request answered) before it may be evicted to admit a newcomer, ms (0: at once).
   */
  readonly evictAfterMs?: number;
  readonly rpc: {
    readonly maxMessageBytes?: number;
    readonly maxInFlightCalls?: number;
    readonly maxQuestions?: number;
    readonly maxExports?: number;
    readonly maxImports?: number;
    /** Answers a peer may hold (calls in flight and returned but not finished). */
    readonly maxAnswers?: number;
    /** The same, before the peer has authenticated. */
    readonly maxPreAuthAnswers?: number;
    /** Largest frame before the peer has authenticated. */
    readonly maxPreAuthMessageBytes?: number;
    /** Milliseconds a connection has to authenticate; 0: no deadline. */
    readonly handshakeTimeoutMs?: number;
    /** Milliseconds a connection may stay idle; 0: never closed for it. */
    readonly idleTimeoutMs?: number;
    /** Milliseconds the socket of a connection aborted before it authenticated stays open, unread. */
    readonly abortLingerMs?: number;
    /** Milliseconds a connection stops reading after refusing a call for a limit the peer is past; 0: no pause. */
    readonly refusalPauseMs?: number;
  };
  readonly '9p': {
    readonly maxMsize?: number;
    readonly maxFids?: number;
    readonly maxOutstanding?: number;
    /** A connection not attached (Tversion, Tattach) this long after it opened is closed. */
    readonly handshakeTimeoutMs?: number;
    /** A connection with no request for this long, and none in flight, is closed. */
    readonly idleTimeoutMs?: number;
  };
  /** Absent in manifests made by hand in code: every default applies. */
  readonly http?: {
    /** Time a connection has to send a request's headers (also: before its first request). */
    readonly headersTimeoutMs?: number;
    /** Time a whole request (headers and body) may take. */
    readonly requestTimeoutMs?: number;
    /** How long a kept-alive connection may wait for its next request. */
    readonly keepAliveTimeoutMs?: number;
  };
}

/**
 * One of the user's schema files (docs/services.md): a compiled CodeGeneratorRequest
 * (`capns schema compile`), or a `.capnp` source that capns compiles when it starts.
 */
export interface SchemaFile {
  /** Host path, resolved like `dir.path`. */
  readonly path: string;
  readonly loc: Loc;
}

/** A whole manifest. */
export interface Manifest {
  readonly version: 1;
  /** The file it came from, as given to `parseManifest` (used in every `loc`). */
  readonly file: string;
  /** The user's schemas: what `require`, `interface` and the gateways know besides capns's own. */
  readonly schemas?: readonly SchemaFile[];
  readonly capabilities: readonly Capability[];
  readonly profiles: readonly Profile[];
  readonly listeners: readonly Listener[];
  readonly exports: readonly Export[];
  readonly limits: Limits;
}
