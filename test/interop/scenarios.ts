// The interop scenarios (issue 3, "Interoperability, in CI"), shared by the tests that run
// them one way or the other. Names match the C++ client's (test/interop/cpp/client.c++).

/** Scenario name -> the protocol rule it checks (rpc.capnp names). */
export const RULES: Readonly<Record<string, string>> = {
  bootstrap: 'Bootstrap answers the main capability; an inherited (Base) method dispatches by its interface id',
  calls: 'Call/Return carry params and results',
  'returned-capability': 'a capability in results becomes an import the caller can call (CapDescriptor.senderHosted)',
  pipelining: 'calls on a promised answer are delivered (MessageTarget.promisedAnswer)',
  'pipelining-pending': 'calls pipelined on an answer still pending are delivered, in order (E-order)',
  callback: 'a capability in params is called back by the receiver, then released (releaseParamCaps)',
  'hold-release': 'a capability kept by the receiver lives until dropped, then Release reaches its host',
  release: 'Release of returned capabilities reaches the server (object counts back to baseline)',
  exceptions: 'exceptions keep their type: failed, overloaded, disconnected, unimplemented (Exception.type)',
  embargo: 'calls reflected through the peer and later direct calls keep E-order (Disembargo, loopback)',
  'tail-call': 'a tail call answers the original caller (sendResultsTo.yourself, takeFromOtherQuestion)',
  'payload-16mib': '16 MiB Data payloads travel both ways intact',
  evolution: 'a struct of an older schema reads as field defaults; newer fields are ignored by older peers',
  cancellation: 'a Finish before the answer cancels the server call',
  unimplemented: 'a call for an interface the object lacks, or an unknown method, is answered unimplemented',
};

/** The scenarios the C++ client runs by default, in its order. */
export const SCENARIOS: readonly string[] = Object.keys(RULES);

/**
 * What `evolution` reports ("get{<getEvolving as read>} describe{<describeEvolving of the
 * full value>}") for each pairing of schema versions. The newer schema's value sets every
 * field away from its default: a=1 b=one c=42 d=set e=[x,y] f={a=2 b=two}; the older
 * schema only knows a and b; unset newer fields read as c=7 d=default e=[] f=-.
 */
export const EVOLUTION = {
  newNew:
    'get{a=1 b=one c=42 d=set e=[x,y] f=2:two} describe{a=1 b=one c=42 d=set e=[x,y] f=2:two}',
  oldClientNewServer: 'get{a=1 b=one} describe{a=1 b=one c=7 d=default e=[] f=-}',
  newClientOldServer: 'get{a=1 b=one c=7 d=default e=[] f=-} describe{a=1 b=one}',
} as const;

/** Test's interface id as src/rpc's tracer prints it. */
export const TEST_IFACE = '0xe9eef97a62c53e11';

/**
 * The most calls that the side that called Test's method number `method` sent on one of
 * that method's answers before the answer's Return: proof that they were pipelined rather
 * than sent after the results came back. `wire` is src/rpc's trace of one side, one
 * connection at a time; `side` is '>' when that side made the calls, '<' when it
 * received them.
 */
export function pipelinedBeforeReturn(wire: readonly string[], side: '>' | '<', method: number): number {
  const other = side === '>' ? '<' : '>';
  const call = new RegExp(` \\${side} call q=(\\d+) \\S+ @${TEST_IFACE}\\.${method}(\\s|$)`);
  let most = 0;
  wire.forEach((line, start) => {
    const m = call.exec(line);
    if (m === null) return;
    const q = m[1]!;
    const ret = wire.findIndex((l, i) => i > start && l.includes(` ${other} return a=${q} `));
    const onAnswer = new RegExp(` \\${side} call q=\\d+ answer#${q}\\.`);
    const n = wire.slice(start + 1, ret < 0 ? wire.length : ret).filter((l) => onAnswer.test(l)).length;
    most = Math.max(most, n);
  });
  return most;
}
