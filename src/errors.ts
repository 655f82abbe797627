/**
 * The project's error type for expected conditions and bad input, in process.
 *
 * Each vocabulary is translated in exactly one place (STYLE.md section 4): this is the
 * in-process one. Servers catch `NsError` at the method boundary and return it as a
 * `Failure` result; the 9P bridge maps its code to an Rerror string; the HTTP app maps it
 * to a status. Codes are listed, with their meanings, in docs/errors.md.
 */
import { withoutStackTrace } from './no-stack.js';

/** Every code an `NsError` may carry. */
export const NS_ERROR_CODES = [
  'NS_ERR_NOT_FOUND',
  'NS_ERR_EXISTS',
  'NS_ERR_PERMISSION',
  'NS_ERR_NOT_DIR',
  'NS_ERR_IS_DIR',
  'NS_ERR_NOT_EMPTY',
  'NS_ERR_REVOKED',
  'NS_ERR_INVALID_PATH',
  'NS_ERR_INVALID_ARGUMENT',
  'NS_ERR_INTERFACE_MISMATCH',
  'NS_ERR_BUSY',
  'NS_ERR_NOT_OPEN',
  'NS_ERR_IO',
  'NS_ERR_TOO_LARGE',
  'NS_ERR_PARSE',
] as const;

export type NsErrorCode = (typeof NS_ERROR_CODES)[number];

const brand = Symbol.for('ns.error');

/**
 * An expected failure: a path that is not there, a name already taken, a refused
 * operation, malformed input. `message` names the thing at fault; it never holds a
 * host path or a stack.
 */
export class NsError extends Error {
  readonly code: NsErrorCode;

  constructor(code: NsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return 'NsError';
  }

  /**
   * An NsError without a stack trace, for refusals a peer can provoke in bulk (an
   * authenticate over quota, a bind over budget): capturing the stack was most of their
   * cost, and a refusal's message says all there is to say.
   */
  static refusal(code: NsErrorCode, message: string): NsError {
    return withoutStackTrace(() => new NsError(code, message));
  }

  /** Recognizes NsErrors from another copy of this module too (undici's brand pattern). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  get [brand](): true {
    return true;
  }
}
