/**
 * The one translation from errors to HTTP (STYLE.md section 4, item 5): NsError codes to
 * the statuses of docs/errors.md, zod validation failures to 400 naming field paths, RPC
 * exceptions from a called capability to 410 (revoked) or 5xx, and anything else to an
 * opaque 500. Every error body has one shape: {statusCode, code, error, message}.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { NsError, type NsErrorCode } from '../errors.js';
import { refusalFrom } from '../failure.js';

/** The JSON body of every error response. */
export interface ErrorBody {
  readonly statusCode: number;
  /** Stable: an NS_ERR_* code, an RPC_* exception type, or a fastify FST_ERR_* code. */
  readonly code: string;
  /** The status's reason phrase. */
  readonly error: string;
  readonly message: string;
}

/** HTTP status of each NsError code (the HTTP column of docs/errors.md). */
export const STATUS_OF: Readonly<Record<NsErrorCode, number>> = {
  NS_ERR_NOT_FOUND: 404,
  NS_ERR_EXISTS: 409,
  NS_ERR_PERMISSION: 403,
  NS_ERR_NOT_DIR: 409,
  NS_ERR_IS_DIR: 409,
  NS_ERR_NOT_EMPTY: 409,
  NS_ERR_REVOKED: 410,
  NS_ERR_INVALID_PATH: 400,
  NS_ERR_INVALID_ARGUMENT: 400,
  NS_ERR_INTERFACE_MISMATCH: 409,
  NS_ERR_BUSY: 409,
  NS_ERR_NOT_OPEN: 409,
  NS_ERR_IO: 502,
  NS_ERR_TOO_LARGE: 413,
  NS_ERR_PARSE: 400,
};

/** Status of each RPC exception type a called capability may raise (src/rpc/failure.ts). */
const RPC_STATUS: Readonly<Record<string, number>> = { failed: 502, overloaded: 503, disconnected: 503, unimplemented: 501 };

const REASON: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** An error body for `status`. */
export function errorBody(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, code, error: REASON[statusCode] ?? 'Error', message };
}

/** An RpcError recognized by shape: admin may not import src/rpc (STYLE.md section 2). */
function rpcErrorType(e: unknown): string | undefined {
  if (!(e instanceof Error) || e.name !== 'RpcError') return undefined;
  const type = (e as { type?: unknown }).type;
  return typeof type === 'string' ? type : undefined;
}

/**
 * What an error becomes on the wire. Pure; exported for the metrics' error labels.
 * `kind` is the label: the NsError code, the RPC exception type, or "validation".
 */
export function classify(error: unknown): { body: ErrorBody; kind: string } {
  // A refusal by policy that could only travel as an exception (a revoked grant on a
  // method without a result union): 403 or 410, the client's to act on, not a gateway's.
  const e = refusalFrom(error);
  if (e instanceof NsError) return { body: errorBody(STATUS_OF[e.code], e.code, e.message), kind: e.code };
  if (hasZodFastifySchemaValidationErrors(e)) {
    const where = e.validationContext ?? 'request';
    const issues = e.validation.map((v) => {
      const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
      return `${where}${path === '' ? '' : '.' + path}: ${v.message ?? 'invalid'}`;
    });
    return { body: errorBody(400, 'NS_ERR_INVALID_ARGUMENT', issues.join('; ')), kind: 'validation' };
  }
  const rpc = rpcErrorType(e);
  if (rpc !== undefined) {
    const message = (e as Error).message;
    return { body: errorBody(RPC_STATUS[rpc] ?? 502, `RPC_${rpc.toUpperCase()}`, message), kind: rpc };
  }
  const fe = e as Partial<FastifyError>;
  // fastify's own client errors (bad JSON, media type, body too large) keep their status.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { body: errorBody(fe.statusCode, fe.code ?? 'NS_ERR_INVALID_ARGUMENT', fe.message ?? 'bad request'), kind: fe.code ?? 'client' };
  }
  return { body: errorBody(500, 'INTERNAL', 'internal error'), kind: 'internal' };
}

/** The app's error handler: one body shape, no stacks, server errors logged. */
export function errorHandler(this: unknown, e: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { body } = classify(e);
  if (body.statusCode >= 500) request.log.error({ err: e }, 'request failed');
  if (body.statusCode === 401) void reply.header('www-authenticate', 'Bearer');
  void reply.code(body.statusCode).type('application/json').send(body);
}

/** 404 for paths no route serves. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(404).send(errorBody(404, 'NS_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
}
