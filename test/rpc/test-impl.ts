/**
 * The RPC tests' Test server is the one shared with the interop tests and benchmarks
 * (test/support/test-server.ts, the TypeScript twin of the C++ test server); these
 * names are kept for the tests that use them.
 */
export { CounterImpl, TestImpl, TestState as ServerState, newCounter, newTest as serveTest } from '../support/test-server.js';
export type { Struct } from 'capnp-es';
export { ErrorType } from '../fixtures/rpc/gen/test.js';
