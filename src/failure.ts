/**
 * The one translation between in-process `NsError` and the schema's `Failure`
 * (common.capnp), STYLE.md section 4: servers catch NsError at the method boundary and
 * fill their result's `err` arm with `setFailure`; clients turn a received `Failure`
 * back into an NsError with `fromFailure`. Nothing else maps these codes.
 */
import { Failure, Failure_Code } from './gen/common.js';
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
