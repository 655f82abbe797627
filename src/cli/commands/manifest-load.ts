/**
 * Reading a manifest file for a command (`capns manifest`, `capns serve`): the file, the
 * parser, the embedded default. Loaded when such a command runs, not at start-up.
 */
import { readFile } from 'node:fs/promises';
import { defaultManifest, ManifestError, parseManifest, type Diagnostic, type Manifest } from '../../manifest/index.js';

import { MANIFEST_INVALID, MANIFEST_UNREADABLE } from './manifest-status.js';

export { MANIFEST_INVALID, MANIFEST_OK, MANIFEST_UNREADABLE } from './manifest-status.js';
const INVALID = MANIFEST_INVALID;
const UNREADABLE = MANIFEST_UNREADABLE;

/**
 * A parsed manifest, or why there is none: the exit status to use, every diagnostic
 * (none when the file could not be read), and the message to print.
 */
export type LoadedManifest =
  | { readonly manifest: Manifest }
  | {
      readonly status: number;
      readonly diagnostics: readonly Diagnostic[];
      readonly message: string;
    };

/**
 * Reads and parses a manifest file for a command (`capns manifest`, `capns serve`);
 * without a file, the embedded default with its data folder `dataDir`. `${VAR}`s come
 * from `env`. Never throws for a bad or missing file: returns its status and message.
 */
export async function loadManifest(
  file: string | undefined,
  options: {
    readonly env: Readonly<Record<string, string | undefined>>;
    readonly dataDir?: string;
  },
): Promise<LoadedManifest> {
  if (file === undefined) {
    const dataDir = options.dataDir;
    try {
      return { manifest: defaultManifest(dataDir === undefined ? {} : { dataDir }) };
    } catch (err) {
      if (!(err instanceof ManifestError)) throw err;
      return { status: INVALID, diagnostics: err.issues, message: `data folder: ${err.message}` };
    }
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? 'no such file'
        : e.code === 'EISDIR'
          ? 'is a directory'
          : e.code === 'EACCES'
            ? 'permission denied'
            : e.message;
    return { status: UNREADABLE, diagnostics: [], message: `cannot read '${file}': ${why}` };
  }
  try {
    return { manifest: parseManifest(text, { file, env: options.env }) };
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    return {
      status: err.syntax ? UNREADABLE : INVALID,
      diagnostics: err.issues,
      message: err.message,
    };
  }
}

