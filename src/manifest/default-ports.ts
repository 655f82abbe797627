/**
 * The default manifest's constants, apart from its text so that the `capns` commands can
 * name them without loading the manifest parser (zod, yaml) at start-up.
 */

/** The default listeners' ports. */
export const DEFAULT_PORTS = Object.freeze({ rpc: 5640, '9p': 5641, http: 5642 });

/** The default host folder served at /data, relative to the current directory. */
export const DEFAULT_DATA_DIR = './capns-data';

/** The file name the default manifest's messages and `loc`s carry. */
export const DEFAULT_MANIFEST_FILE = '(default manifest)';
