/**
 * The one translation between in-process `NsError` and the schema's `Failure`
 * (common.capnp), STYLE.md section 4: servers catch NsError at the method boundary and
 * fill their result's `err` arm with `setFailure`; clients turn a received `Failure`
 * back into an NsError with `fromFailure`. Nothing else maps these codes.
 */
import { CapTable } from './gen/captable.js';
import { Failure, Failure_Code } from './gen/common.js';
import { Clock, Echo } from './gen/demo.js';
import { File, FileServer } from './gen/fileserver.js';
import { Hub } from './gen/hub.js';
import { Gate, Namespace as NamespaceIface } from './gen/namespace.js';
import { NsError, type NsErrorCode } from './errors.js';

type FailureCode = (typeof Failure_Code)[keyof typeof Failure_Code];

const TO_FAILURE: Record<NsErrorCode, FailureCode> = {
  NS_ERR_NOT_FOUND: Failure_Code.NOT_FOUND,
  NS_ERR_EXISTS: Failure_Code.EXISTS,
  NS_ERR_PERMISSION: Failure_Code.PERMISSION_DENIED,
  NS_ERR_NOT_DIR: Failure_Code.NOT_ADIRECTORY,
  NS_ERR_IS_DIR: Failure_Code.IS_ADIRECTORY,
  NS_ERR_NOT_EMPTY: Failure_Code.NOT_EMPTY,
  NS_ERR_REVOKED: Failure_Code.REVOKED,
  NS_ERR_INVALID_PATH: Failure_Code.INVALID_ARGUMENT,
  NS_ERR_INVALID_ARGUMENT: Failure_Code.INVALID_ARGUMENT,
  NS_ERR_INTERFACE_MISMATCH: Failure_Code.INTERFACE_MISMATCH,
  NS_ERR_BUSY: Failure_Code.BUSY,
  NS_ERR_NOT_OPEN: Failure_Code.NOT_OPEN,
  NS_ERR_IO: Failure_Code.IO,
  NS_ERR_TOO_LARGE: Failure_Code.TOO_LARGE,
  NS_ERR_PARSE: Failure_Code.INVALID_ARGUMENT,
};

const FROM_FAILURE = new Map<number, NsErrorCode>([
  [Failure_Code.NOT_FOUND, 'NS_ERR_NOT_FOUND'],
  [Failure_Code.EXISTS, 'NS_ERR_EXISTS'],
  [Failure_Code.PERMISSION_DENIED, 'NS_ERR_PERMISSION'],
  [Failure_Code.NOT_ADIRECTORY, 'NS_ERR_NOT_DIR'],
  [Failure_Code.IS_ADIRECTORY, 'NS_ERR_IS_DIR'],
  [Failure_Code.NOT_EMPTY, 'NS_ERR_NOT_EMPTY'],
  [Failure_Code.REVOKED, 'NS_ERR_REVOKED'],
  [Failure_Code.INVALID_ARGUMENT, 'NS_ERR_INVALID_ARGUMENT'],
  [Failure_Code.INTERFACE_MISMATCH, 'NS_ERR_INTERFACE_MISMATCH'],
  [Failure_Code.BUSY, 'NS_ERR_BUSY'],
  [Failure_Code.NOT_OPEN, 'NS_ERR_NOT_OPEN'],
  [Failure_Code.IO, 'NS_ERR_IO'],
  [Failure_Code.TOO_LARGE, 'NS_ERR_TOO_LARGE'],
]);

/** The Failure.Code for an NsError code. Pure. */
export function failureCodeOf(code: NsErrorCode): FailureCode {
  return TO_FAILURE[code];
}

/**
 * Fills `failure` from `error`. An NsError keeps its code and message; anything else is
 * not an expected condition and must not be dressed as one: it is rethrown, so the RPC
 * layer answers with an exception (STYLE section 4: business logic never catches bugs).
 */
export function setFailure(failure: Failure, error: unknown): void {
  if (!(error instanceof NsError)) throw error;
  failure.code = TO_FAILURE[error.code];
  failure.message = error.message;
}

/**
 * The NsError for a received Failure. A code this schema does not know (a newer peer)
 * becomes NS_ERR_IO with the peer's message, so callers still get a clear, typed error.
 */
export function fromFailure(failure: Failure): NsError {
  const code = FROM_FAILURE.get(failure.code) ?? 'NS_ERR_IO';
  const message = failure.message === '' ? `remote failure (code ${failure.code})` : failure.message;
  return new NsError(code, message);
}

/**
 * Refusals by policy (a read-only view, a filter, a revoked grant or export) are expected
 * conditions: where the refused method's results hold a `result` union with an `err`
 * arm (the schema's convention), they are answered there. A method without one can only
 * be answered with an exception; its text then starts with one of these prefixes, and
 * `refusalOf` reads it back on the other side (client library, HTTP, 9P).
 */
const REFUSAL_PREFIX: Partial<Record<NsErrorCode, string>> = {
  NS_ERR_PERMISSION: 'permission denied: ',
  NS_ERR_REVOKED: 'revoked: ',
};

/** A results struct class as capnp-es generates it (a Message can init it as a root). */
interface ResultsCtor {
  new (...args: never[]): object;
  readonly _capnp: { readonly displayName: string; readonly id: string; readonly size: unknown };
}

/** A generated client class: its interface id and methods (with their results classes). */
interface ClientClass {
  readonly interfaceId: bigint;
  readonly methods: readonly { readonly methodId: number; readonly ResultsClass: ResultsCtor }[];
}

/**
 * The results class of every method of the interfaces compiled into capns, by
 * "interfaceId.methodId": a call that arrived over a connection carries no schema, and a
 * refusal must still be answered in the method's own result union.
 */
const RESULTS_CLASSES: ReadonlyMap<string, ResultsCtor> = new Map(
  ([NamespaceIface.Client, Gate.Client, FileServer.Client, File.Client, CapTable.Client, Clock.Client, Echo.Client, Hub.Client] as unknown as ClientClass[]).flatMap((c) =>
    c.methods.map((m) => [`${c.interfaceId}.${m.methodId}`, m.ResultsClass] as const),
  ),
);

function hasResultUnion(Cls: ResultsCtor): boolean {
  return typeof (Cls.prototype as { _initResult?: unknown })._initResult === 'function';
}

/**
 * A new results message for method `methodId` of `interfaceId` whose `result` union says
 * `error`, or undefined when the method has no such union (the caller then throws).
 * `ResultsClass` is the call's own (typed for local calls; a struct of no particular type
 * for calls off a connection, when the interface's generated class is used instead).
 * `init` makes the root: the caller passes its own message factory.
 */
export function failureResults<S extends object>(
  interfaceId: bigint,
  methodId: number,
  ResultsClass: ResultsCtor,
  init: (Cls: ResultsCtor) => S,
  error: NsError,
): S | undefined {
  const Cls = hasResultUnion(ResultsClass) ? ResultsClass : RESULTS_CLASSES.get(`${interfaceId}.${methodId}`);
  if (Cls === undefined || !hasResultUnion(Cls)) return undefined;
  ResultsClass = Cls;
  const results = init(ResultsClass) as S & { _initResult(): { _initErr?: () => Failure } };
  const result = results._initResult();
  if (typeof result._initErr !== 'function') return undefined;
  setFailure(result._initErr(), error);
  return results;
}

/** The exception text for a refusal answered as an exception ("revoked: ..."). */
export function refusalText(error: NsError): string {
  return `${REFUSAL_PREFIX[error.code] ?? ''}${error.message}`;
}

/**
 * The NsError behind an exception text made by `refusalText` (NS_ERR_REVOKED for
 * "revoked: ...", NS_ERR_PERMISSION for "permission denied: ..."), or undefined when the
 * text is not a refusal.
 */
export function refusalOf(text: string): NsError | undefined {
  for (const [code, prefix] of Object.entries(REFUSAL_PREFIX) as [NsErrorCode, string][]) {
    if (text.startsWith(prefix)) return new NsError(code, text.slice(prefix.length));
  }
  return undefined;
}

/**
 * `error` as the caller should see it: an exception that carries a refusal ("revoked: ...",
 * "permission denied: ...", made by `refusalText`) becomes that NsError; anything else is
 * returned as it is. For the places that turn exceptions into their own vocabulary (the
 * client library, the HTTP error handler, the 9P bridge).
 */
export function refusalFrom(error: unknown): unknown {
  if (!(error instanceof Error) || error.name !== 'RpcError') return error;
  if ((error as { type?: unknown }).type !== 'failed') return error;
  return refusalOf(error.message) ?? error;
}
