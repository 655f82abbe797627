/**
 * The manifest's shape, in zod: what a document may contain, with defaults. Strict
 * objects everywhere (a misspelt field is an error, with a suggestion); paths cleaned,
 * addresses and interface names parsed on the way through. Cross-references (a mount of
 * an unknown capability, a listener of an unknown profile) are checked after this, in
 * parse.ts, which also turns the issues into positioned diagnostics.
 */
import { z } from 'zod';
import { parseAddress } from './address.js';
import { CAPABILITY_TYPE_NAMES, parseInterfaceRef } from './interfaces.js';
import { checkNamespacePath, checkSpec } from './paths.js';
import { suggest } from './suggest.js';

/** zod `params` of our custom issues: which diagnostic code they become. */
export interface IssueParams {
  readonly diag: 'bad-address' | 'bad-path' | 'invalid-value' | 'unknown-field' | 'missing-field';
}

type Ctx = z.core.$RefinementCtx;

function fail(
  ctx: Ctx,
  message: string,
  diag: IssueParams['diag'],
  path: PropertyKey[] = [],
): void {
  ctx.addIssue({
    code: 'custom',
    message,
    params: { diag } satisfies IssueParams,
    path,
    input: undefined,
  });
}

/**
 * A strict object whose unknown-key issue carries one message line per unknown key, in
 * the issue's key order, with a "did you mean" when a field is close (parse.ts splits the
 * lines and places each at its key).
 */
function strict<S extends z.core.$ZodLooseShape>(shape: S) {
  const fields = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== 'unrecognized_keys') return undefined;
      return iss.keys
        .map((k) => {
          const near = suggest(k, fields);
          return `unknown field "${k}"${near === undefined ? '' : ` (did you mean "${near}"?)`}; expected ${fields.join(', ')}`;
        })
        .join('\n');
    },
  });
}

/**
 * A value checked by the first variant whose selector matches: by the value of a field
 * (`type`, `protocol`), or by which field is present (a step's `mount`/`bind`/...).
 * Avoids z.union, whose "Invalid input" names no field.
 */
function dispatch<V extends Record<string, z.ZodType>>(
  what: string,
  select: (v: Record<string, unknown>, ctx: Ctx) => keyof V | undefined,
  variants: V,
) {
  return z.unknown().transform((v, ctx): z.output<V[keyof V]> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      fail(ctx, `expected ${what} (a map), got ${describeValue(v)}`, 'invalid-value');
      return z.NEVER;
    }
    const key = select(v as Record<string, unknown>, ctx);
    if (key === undefined) return z.NEVER;
    const r = (variants[key] as z.ZodType).safeParse(v);
    if (r.success) return r.data as z.output<V[keyof V]>;
    for (const i of r.error.issues)
      ctx.addIssue({ ...i, input: undefined } as Parameters<Ctx['addIssue']>[0]);
    return z.NEVER;
  });
}

/** How a JSON-ish value is named in messages. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string')
    return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint')
    return `${typeof v} ${v}`;
  return typeof v;
}

/** A field selecting the variant by its value. */
function byField<K extends string>(field: string, names: readonly K[]) {
  return (v: Record<string, unknown>, ctx: Ctx): K | undefined => {
    const t = v[field];
    if (t === undefined) {
      fail(ctx, `missing required field "${field}" (one of ${names.join(', ')})`, 'missing-field');
      return undefined;
    }
    if (typeof t !== 'string' || !(names as readonly string[]).includes(t)) {
      const near = typeof t === 'string' ? suggest(t, names) : undefined;
      fail(
        ctx,
        `expected one of ${names.join(', ')}${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
        'invalid-value',
        [field],
      );
      return undefined;
    }
    return t as K;
  };
}

// ---- leaves ------------------------------------------------------------------------

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const NAME_RULE = 'a letter or _, then up to 63 letters, digits, _, . or -';

/** Capability and profile names. */
export const nameSchema = z
  .string()
  .regex(NAME, { error: `expected a name: ${NAME_RULE}` })
  // JavaScript objects give this key a meaning of its own; no manifest needs it.
  .refine((n) => n !== '__proto__', { error: 'the name __proto__ is reserved' });

const nonEmpty = z.string().min(1, { error: 'expected a non-empty string' });

/**
 * What a mount step names: a capability, or a part of one — `SERVICE/OFFER` (one of a
 * service's offers), `BOARD/NAME` (a name of a srv board).
 */
export const capabilityRef = z.string().superRefine((v, ctx) => {
  const parts = v.split('/');
  if (parts.length > 2) {
    ctx.addIssue({ code: 'custom', message: "expected a capability name, or NAME/PART for a service's offer or a srv board's name", input: v });
    return;
  }
  for (const part of parts) {
    const r = nameSchema.safeParse(part);
    if (!r.success) {
      ctx.addIssue({ code: 'custom', message: r.error.issues[0]?.message ?? `expected a name: ${NAME_RULE}`, input: v });
      return;
    }
  }
});

const positiveInt = z
  .number()
  .int({ error: 'expected a whole number' })
  .positive({ error: 'expected a number above 0' });

const nonNegativeInt = z
  .number()
  .int({ error: 'expected a whole number' })
  .nonnegative({ error: 'expected 0 or more' });

const namespacePath = z.string().transform((s, ctx) => {
  const r = checkNamespacePath(s);
  if (r.ok) return r.value;
  fail(ctx, r.message, 'bad-path');
  return z.NEVER;
});

const spec = z.string().transform((s, ctx) => {
  const r = checkSpec(s);
  if (r.ok) return r.value;
  fail(ctx, r.message, 'bad-path');
  return z.NEVER;
});

const hostPath = z.string().transform((s, ctx) => {
  if (s === '') fail(ctx, 'empty host path', 'bad-path');
  else if (s.includes('\0')) fail(ctx, 'host path contains a NUL byte', 'bad-path');
  else return s;
  return z.NEVER;
});

const address = z.string().transform((s, ctx) => {
  try {
    return parseAddress(s);
  } catch (err) {
    fail(ctx, (err as Error).message, 'bad-address');
    return z.NEVER;
  }
});

/**
 * A name an HTTP listener answers to (its Host header): `NAME` or `NAME:PORT`, an IP
 * literal (`[::1]` for IPv6), or `*` (any Host: the check is off).
 */
const hostName = z.string().transform((s, ctx) => {
  const h = s.trim().toLowerCase();
  if (h === '*') return h;
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(:[0-9]{1,5})?$/.test(h)) {
    fail(ctx, `'${s}' is not a host name: expected NAME, NAME:PORT, [IPv6]:PORT or *`, 'invalid-value');
    return z.NEVER;
  }
  return h;
});

// Names of the user's own interfaces pass here; parse.ts refuses them when the manifest
// names no `schemas`, and the server (or `capns manifest check`) looks them up.
const interfaceRef = z.string().transform((s, ctx) => {
  const r = parseInterfaceRef(s, { userNames: true });
  if (typeof r !== 'string') return r;
  fail(ctx, r, 'invalid-value');
  return z.NEVER;
});

/** Where a new member goes in a union stack. */
export const POSITIONS = ['replace', 'before', 'after'] as const;
const position = z.enum(POSITIONS).default('replace');

/** A string, or a non-empty list of them, as a list. */
const oneOrMany = z.unknown().transform((v, ctx): string[] => {
  const list = typeof v === 'string' ? [v] : v;
  if (
    Array.isArray(list) &&
    list.length > 0 &&
    list.every((s) => typeof s === 'string' && s !== '')
  )
    return list as string[];
  fail(
    ctx,
    `expected a non-empty string or a non-empty list of them, got ${describeValue(v)}`,
    'invalid-value',
  );
  return z.NEVER;
});

// ---- capabilities ------------------------------------------------------------------

const clientTls = strict({
  ca: hostPath.optional(),
  cert: hostPath.optional(),
  key: hostPath.optional(),
  serverName: nonEmpty.optional(),
});

/** Environment variable names; CAPNS_SERVICE* are capns's own. */
const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'expected an environment variable name (letters, digits, _)' })
  .refine((n) => !n.startsWith('CAPNS_SERVICE'), { error: 'CAPNS_SERVICE and CAPNS_SERVICE_FD are set by capns' });

const capabilityVariants = {
  ram: strict({
    type: z.literal('ram'),
    maxBytes: positiveInt.optional(),
    maxFiles: positiveInt.optional(),
    maxFileSize: positiveInt.optional(),
  }),
  dir: strict({
    type: z.literal('dir'),
    path: hostPath,
    readOnly: z.boolean().default(false),
    create: z.boolean().default(false),
    syncWrites: z.boolean().default(false),
    io: z.enum(['adaptive', 'pool']).default('adaptive'),
  }),
  import: strict({
    type: z.literal('import'),
    address,
    path: namespacePath.default('/'),
    token: nonEmpty.optional(),
    tls: clientTls.optional(),
    interface: interfaceRef.optional(),
    connectTimeoutMs: positiveInt.optional(),
    authTimeoutMs: positiveInt.optional(),
    resolveTimeoutMs: positiveInt.optional(),
    callTimeoutMs: positiveInt.optional(),
    retryRefusedMs: positiveInt.optional(),
    heartbeatMs: positiveInt.optional(),
    heartbeatTimeoutMs: positiveInt.optional(),
  }),
  captable: strict({ type: z.literal('captable') }),
  hub: strict({
    type: z.literal('hub'),
    backlogBytes: positiveInt.optional(),
    maxChannels: positiveInt.optional(),
    maxWriteBytes: positiveInt.optional(),
    maxWaiting: positiveInt.optional(),
    channels: z.array(nameSchema).default([]),
  }),
  hubfs: strict({ type: z.literal('hubfs'), hub: nameSchema }),
  sessions: strict({
    type: z.literal('sessions'),
    profiles: z.array(nameSchema).optional(),
    readOnly: z.boolean().default(false),
  }),
  'demo.clock': strict({ type: z.literal('demo.clock') }),
  service: strict({
    type: z.literal('service'),
    command: nonEmpty,
    args: z.array(z.string()).default([]),
    env: z.record(envName, z.string()).default({}),
    cwd: hostPath.optional(),
    profile: nameSchema.optional(),
    offers: z
      .record(nameSchema, interfaceRef)
      .refine((o) => Object.keys(o).length > 0, { error: 'a service offers at least one capability: offers: { NAME: INTERFACE }' }),
    restart: z.enum(['no', 'on-failure', 'always']).default('on-failure'),
    readyTimeoutMs: positiveInt.optional(),
    stopTimeoutMs: positiveInt.optional(),
    backoffMaxMs: positiveInt.optional(),
    startLimit: strict({ burst: positiveInt, intervalMs: positiveInt }).optional(),
  }),
  srv: strict({
    type: z.literal('srv'),
    names: z.record(nameSchema, interfaceRef.nullable()).default({}),
  }),
  connect: strict({
    type: z.literal('connect'),
    address,
    interface: interfaceRef,
    tls: clientTls.optional(),
    timeoutMs: positiveInt.optional(),
    heartbeatMs: nonNegativeInt.optional(),
    backoffMaxMs: positiveInt.optional(),
  }),
};

const capability = dispatch(
  'a capability',
  byField('type', CAPABILITY_TYPE_NAMES),
  capabilityVariants,
);

// ---- profiles ----------------------------------------------------------------------

const stepVariants = {
  mount: strict({
    mount: capabilityRef,
    at: namespacePath,
    position,
    create: z.boolean().default(false),
    spec: spec.default(''),
    require: interfaceRef.optional(),
  }),
  bind: strict({
    bind: namespacePath,
    at: namespacePath,
    position,
    create: z.boolean().default(false),
    require: interfaceRef.optional(),
  }),
  unmount: strict({ unmount: namespacePath, member: nonEmpty.optional() }),
  ns: strict({ ns: z.string() }),
};

const STEP_KINDS = Object.keys(stepVariants) as (keyof typeof stepVariants)[];

const step = dispatch(
  'a step',
  (v, ctx) => {
    const present = STEP_KINDS.filter((k) => k in v);
    if (present.length === 1) return present[0];
    if (present.length === 0) {
      const near = Object.keys(v)
        .map((k) => suggest(k, STEP_KINDS))
        .find((s) => s !== undefined);
      fail(
        ctx,
        `a step needs one of ${STEP_KINDS.join(', ')}${near === undefined ? '' : ` (did you mean "${near}"?)`}`,
        'missing-field',
      );
    } else {
      fail(
        ctx,
        `a step has exactly one of ${STEP_KINDS.join(', ')}; this one has ${present.join(' and ')}`,
        'invalid-value',
        [present[1] as string],
      );
    }
    return undefined;
  },
  stepVariants,
);

const auth = strict({
  tokens: z.array(nonEmpty).optional(),
  tls: strict({ subject: oneOrMany }).optional(),
  loopback: z.boolean().optional(),
});

const profile = strict({
  auth: auth.optional(),
  namespace: z.array(step).default([]),
});

// ---- listeners, exports, limits ----------------------------------------------------

const serverTls = strict({ cert: hostPath, key: hostPath, ca: hostPath.optional() });

const listenerVariants = {
  rpc: strict({
    protocol: z.literal('rpc'),
    address,
    tls: serverTls.optional(),
    profile: nameSchema.optional(),
  }),
  '9p': strict({ protocol: z.literal('9p'), address, profile: nameSchema.optional() }),
  http: strict({
    protocol: z.literal('http'),
    address,
    tls: serverTls.optional(),
    profile: nameSchema.optional(),
    hosts: z.array(hostName).optional(),
  }),
};

const listener = dispatch(
  'a listener',
  byField('protocol', Object.keys(listenerVariants) as (keyof typeof listenerVariants)[]),
  listenerVariants,
);

const exportSchema = strict({
  profile: nameSchema,
  root: namespacePath.default('/'),
  readOnly: z.boolean().default(false),
  filter: hostPath.optional(),
  listen: address,
  auth: auth.optional(),
  tls: serverTls.optional(),
  heartbeatMs: nonNegativeInt.optional(),
  heartbeatTimeoutMs: positiveInt.optional(),
});

const limits = strict({
  maxConnections: positiveInt.optional(),
  maxGrants: positiveInt.optional(),
  maxGrantsPerConnection: positiveInt.optional(),
  maxNamespacesPerConnection: positiveInt.optional(),
  maxBinds: positiveInt.optional(),
  maxConnectionsTotal: positiveInt.optional(),
  evictAfterMs: nonNegativeInt.optional(),
  rpc: strict({
    maxMessageBytes: positiveInt.optional(),
    maxInFlightCalls: positiveInt.optional(),
    maxQuestions: positiveInt.optional(),
    maxExports: positiveInt.optional(),
    maxImports: positiveInt.optional(),
    maxAnswers: positiveInt.optional(),
    maxPreAuthAnswers: positiveInt.optional(),
    maxPreAuthMessageBytes: positiveInt.optional(),
    handshakeTimeoutMs: nonNegativeInt.optional(),
    idleTimeoutMs: nonNegativeInt.optional(),
    abortLingerMs: nonNegativeInt.optional(),
    refusalPauseMs: nonNegativeInt.optional(),
  }).default({}),
  '9p': strict({
    maxMsize: positiveInt.optional(),
    maxFids: positiveInt.optional(),
    maxOutstanding: positiveInt.optional(),
    handshakeTimeoutMs: positiveInt.optional(),
    idleTimeoutMs: positiveInt.optional(),
  }).default({}),
  http: strict({
    headersTimeoutMs: positiveInt.optional(),
    requestTimeoutMs: positiveInt.optional(),
    keepAliveTimeoutMs: positiveInt.optional(),
  }).default({}),
});

/** The whole document. */
export const manifestSchema = strict({
  version: z.literal(1, { error: 'expected 1 (the only manifest version there is)' }),
  schemas: z.array(hostPath).default([]),
  capabilities: z.record(nameSchema, capability).default({}),
  profiles: z.record(nameSchema, profile).default({}),
  listeners: z.array(listener).default([]),
  exports: z.array(exportSchema).default([]),
  limits: limits.default({ rpc: {}, '9p': {}, http: {} }),
});

/** The document as zod returns it, before cross-references and normalization. */
export type RawManifest = z.output<typeof manifestSchema>;
/** One step as zod returns it. */
export type RawStep = z.output<typeof step>;
/** A profile's auth as zod returns it. */
export type RawAuth = z.output<typeof auth>;
/** A capability as zod returns it. */
export type RawCapability = z.output<typeof capability>;
