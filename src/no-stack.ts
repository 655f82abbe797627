/**
 * Errors made without a stack trace, for conditions a peer can provoke in bulk (a refusal
 * over quota, a connection that ends or is evicted): capturing the stack was most of
 * their cost, and their message says all there is to say. NsError.refusal and
 * RpcError.withoutStack are made this way.
 */
export function withoutStackTrace<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
