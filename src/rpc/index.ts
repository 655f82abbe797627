/**
 * Cap'n Proto RPC (rpc.capnp, Level 1) over byte streams: the public facade.
 * See docs/rpc.md.
 */
export { RpcConnection, releaseResults, type ConnectionOptions, type RpcStats } from './connection.js';
export { connect, listen, parseAddress, formatAddress, RpcListener, type ConnectOptions, type ListenOptions, type Peer, type RpcAddress, subjectMatches } from './transport.js';
export { serve, release, retain, dupClient, borrowClient, disposable, withSignal, withSignalClient, withResultsPool, liveLocalObjects, type CallContext, type InterfaceClass, type CapLike } from './server.js';
export { RpcError, type RpcErrorType } from './failure.js';
export { MessagePool } from './cap.js';
export { guardCalls, type CallGuardOptions } from './call-guard.js';
export { DEFAULT_LIMITS, type RpcLimits } from './limits.js';
export { FrameReader, encodeFrame, type Frame } from './frame.js';
