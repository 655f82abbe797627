/** The normalized manifest as JSON, for `capns manifest show` and for people. */
import { formatAddress, type Address } from './address.js';
import { formatInterfaceId } from './interfaces.js';
import type { Manifest } from './types.js';

/** Options of `manifestToJSON`. */
export interface ShowOptions {
  /** Keep each element's `loc` (file, line, column, path). Default false. */
  readonly locations?: boolean;
  /** Print tokens as written instead of "(redacted)". Default false. */
  readonly secrets?: boolean;
}

function isAddress(v: unknown): v is Address {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  return (
    (o['kind'] === 'tcp' && keys === 'host,kind,port') ||
    (o['kind'] === 'unix' && keys === 'kind,path')
  );
}

/**
 * The manifest as indented JSON: addresses as dial strings, interface ids as 0x hex,
 * tokens redacted unless `secrets`, `loc`s left out unless `locations`.
 */
export function manifestToJSON(m: Manifest, options: ShowOptions = {}): string {
  const seen = (key: string, v: unknown): unknown => {
    if (key === 'loc' && options.locations !== true) return undefined;
    if (typeof v === 'bigint') return formatInterfaceId(v);
    if (isAddress(v)) return formatAddress(v);
    if ((key === 'tokens' || key === 'token') && options.secrets !== true) {
      return Array.isArray(v) ? v.map(() => '(redacted)') : '(redacted)';
    }
    return v;
  };
  return JSON.stringify(m, seen, 2) + '\n';
}
