/**
 * How accepted connections are made: with `onread`, and not at all when the listener
 * would refuse them (`dropAtAccept`).
 *
 * node:net lets a socket read into memory its owner chooses (`onread`: no allocation per
 * read, large messages read in place), but only for sockets it makes itself: net.Server
 * hands out accepted sockets already set up to allocate a fresh buffer for every read
 * (a 64 KiB malloc, then a copy into a zero-filled buffer of the size read). For a server
 * that receives large messages, that allocation, its memset and the garbage collections
 * it brings were about a tenth of its CPU (the 9P bridge under 64 KiB writes; BENCHMARKS.md,
 * 9P). The RPC server, which mostly receives small calls, measured no change.
 *
 * `withOnread` takes an accepted socket from a server created with `pauseOnConnect: true`
 * (nothing read yet) and returns a socket over the same handle, made by node:net's own
 * constructor with `onread`, which takes over the server's count of the connection (so
 * `server.close()` still waits for it). It relies on two long-standing but undocumented
 * properties of net.Socket, `_handle` and `_server`; where either is missing (another
 * runtime, a future Node) it returns the socket it was given, reading as usual.
 */
import net from 'node:net';
import { getSystemErrorName } from 'node:util';

interface SocketInternals {
  _handle?: { useUserBuffer?: unknown } | null;
  _server?: net.Server | null;
  server?: net.Server | null;
}

interface ServerInternals {
  _handle?: { onconnection?: unknown } | null;
  _connections?: number;
  allowHalfOpen?: boolean;
}

/**
 * Makes the sockets of a listening `server` the way `withOnread` re-makes them, but only
 * once: each accepted connection's handle goes straight to `accept`, which makes its
 * socket with `create(onread)` (a net.Socket counted by the server, reading with
 * `onread`, which it is its job to resume or pause) instead of the server first making
 * one without `onread` for `withOnread` to replace. The server then emits no 'connection'
 * for these sockets; its `maxConnections` is not consulted (our callers keep their own
 * budget). Making a socket was about a tenth of the CPU an RPC server spent per accepted
 * connection, half of it on the one thrown away (BENCHMARKS.md, capns serve: connections).
 *
 * It replaces node:net's `onconnection` on the server's handle (an undocumented
 * property, like the two `withOnread` relies on), so call it once the server listens.
 * Returns false, and changes nothing, where that property is missing: the server then
 * emits 'connection' as usual (use `withOnread` there). An accept error is emitted as
 * the server's 'error', as node:net does.
 */
export function acceptWithOnread(
  server: net.Server,
  accept: (create: (onread: net.OnReadOpts) => net.Socket) => void,
): boolean {
  const s = server as net.Server & ServerInternals;
  const handle = s._handle;
  if (handle === null || handle === undefined || typeof handle.onconnection !== 'function' || typeof s._connections !== 'number') {
    return false;
  }
  handle.onconnection = (err: number, clientHandle: unknown): void => {
    if (err !== 0 && err !== undefined) {
      server.emit('error', Object.assign(new Error(`accept ${getSystemErrorName(err)}`), { errno: err, syscall: 'accept' }));
      return;
    }
    accept((onread) => {
      const socket = new net.Socket({
        handle: clientHandle,
        onread,
        readable: true,
        writable: true,
        allowHalfOpen: s.allowHalfOpen === true,
      } as net.SocketConstructorOpts & { handle: unknown; onread: net.OnReadOpts }) as net.Socket & SocketInternals;
      // As node:net's own onconnection: the server counts it (close() waits for it; the
      // socket gives its count back when destroyed).
      s._connections = (s._connections ?? 0) + 1;
      socket.server = server;
      socket._server = server;
      return socket;
    });
  };
  return true;
}

/**
 * Has a listening `server` close each accepted connection for which `drop()` says so,
 * as soon as it is accepted: before node:net (or `acceptWithOnread`) makes a socket, a
 * stream or a 'connection' for it. A listener whose budget already knows it would refuse
 * a newcomer (connection-budget.ts, `refusesAtAccept`) then pays a flood an accept and a
 * close per connect. node:net's own `maxConnections` does the same, but only against its
 * count of sockets.
 *
 * Like `acceptWithOnread` it wraps `onconnection` on the server's handle (undocumented),
 * so call it once the server listens, after `acceptWithOnread` if both are used. Returns
 * false, and changes nothing, where that property is missing: newcomers are then refused
 * by the budget as they are admitted, as before.
 */
export function dropAtAccept(server: net.Server, drop: () => boolean): boolean {
  const handle = (server as net.Server & ServerInternals)._handle;
  const inner = handle?.onconnection;
  if (handle === null || handle === undefined || typeof inner !== 'function') return false;
  handle.onconnection = function (this: unknown, err: number, clientHandle: { close?: () => void } | undefined): unknown {
    if ((err === 0 || err === undefined) && typeof clientHandle?.close === 'function' && drop()) {
      clientHandle.close();
      return undefined;
    }
    return (inner as (this: unknown, err: number, h: unknown) => unknown).call(this, err, clientHandle);
  };
  return true;
}

/**
 * A socket reading with `onread` over the handle of `accepted` (paused since accepted), or
 * `accepted` itself, resumed, when that cannot be done. `usedOnread` tells which.
 */
export function withOnread(
  accepted: net.Socket,
  onread: net.OnReadOpts,
): { socket: net.Socket; usedOnread: boolean } {
  const old = accepted as net.Socket & SocketInternals;
  const handle = old._handle;
  const server = old._server;
  if (
    handle === null ||
    handle === undefined ||
    typeof handle.useUserBuffer !== 'function' ||
    server === null ||
    server === undefined ||
    old.destroyed ||
    old.bytesRead !== 0
  ) {
    accepted.resume();
    return { socket: accepted, usedOnread: false };
  }
  const socket = new net.Socket({
    handle,
    onread,
    readable: true,
    writable: true,
    allowHalfOpen: accepted.allowHalfOpen,
  } as net.SocketConstructorOpts & { handle: unknown; onread: net.OnReadOpts }) as net.Socket &
    SocketInternals;
  // The old wrapper lets go of the handle and of the server's count; the new one takes both.
  old._handle = null;
  old._server = null;
  old.server = null;
  socket._server = server;
  socket.server = server;
  return { socket, usedOnread: true };
}
