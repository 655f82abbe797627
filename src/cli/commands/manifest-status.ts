/** The exit statuses of the manifest commands: fine, the manifest has errors, the file cannot be read or is not YAML. */
export const MANIFEST_OK = 0;
export const MANIFEST_INVALID = 1;
export const MANIFEST_UNREADABLE = 2;
