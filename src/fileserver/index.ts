/**
 * The FileServer capability and the built-in file servers: the public face of
 * src/fileserver (the 9P bridge lives in ./9p and has its own entry points).
 */
export * from './file-server.js';
export { MemFileServer, newMemFileServer } from './mem-file-server.js';
export type { MemFileServerOptions } from './mem-file-server.js';
export { DirFileServer, errnoToNsError, newDirFileServer } from './dir-file-server.js';
export type { DirFileServerOptions } from './dir-file-server.js';
