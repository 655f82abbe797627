/**
 * Finding the CapTable capability of your namespace, for `capns exports` and `capns
 * captable`: only an administrator's profile mounts one (there is no other admin switch;
 * docs/security.md). Loaded by those commands when they run, not at start-up.
 */
import type { CapnsClient } from '../../client/index.js';
import { NsError } from '../../errors.js';
import { CapTable, type CapTable$Client } from '../../gen/captable.js';
import { parseNamespaceText } from '../../namespace/ns-text.js';

/**
 * The CapTable at `path`, or at the first mount point of the namespace that holds one.
 * You own the result.
 * @throws NsError NS_ERR_NOT_FOUND when the namespace has none.
 */
export async function capTableOf(c: CapnsClient, path: string | undefined): Promise<CapTable$Client & Disposable> {
  if (path !== undefined) return c.resolve(path, CapTable);
  const seen = new Set<string>();
  for (const line of parseNamespaceText(await c.describe())) {
    if (line.op !== 'mount' && line.op !== 'bind') continue;
    const at = line.to.text;
    if (seen.has(at)) continue;
    seen.add(at);
    try {
      return await c.resolve(at, CapTable);
    } catch (e) {
      if (!(e instanceof NsError)) throw e;
    }
  }
  throw new NsError(
    'NS_ERR_NOT_FOUND',
    `your namespace (profile '${c.profile}') holds no CapTable: an administrator's profile mounts one (docs/manifest.md, type: captable); name one with --captable PATH`,
  );
}
