# proxy.capnp — what an import says about itself (docs/proxy.md).
#
# An import (`capns import`, a manifest capability of `type: import`) is one stable local
# capability in front of a connection to another capns's export that comes and goes.
# Every call of the imported interface is forwarded over that connection; calls of
# `Import` are answered by the importer itself, so a client holding the capability (or
# resolving a path where it is mounted) can ask whether the import is up, and if not,
# since when and why. A capability that is not an import answers `unimplemented`.

@0xc590a0f35904df1e;

interface Import {
  status @0 () -> (status :ImportStatus);
  # The import's state now. Never forwarded, never fails while the importer runs.
}

struct ImportStatus {
  name @0 :Text;
  # The import's name: the manifest capability's, or the local path `capns import`
  # mounted it at ("" when the library's caller gave none).

  address @1 :Text;
  # The export it dials: tcp!HOST!PORT or unix!PATH.

  path @2 :Text;
  # The path in the exported namespace that the import is.

  state @3 :State;

  since @4 :Int64;
  # When the import entered `state`, in milliseconds since the Unix epoch. For
  # `retrying` that is when it went down, however many attempts failed since.

  lastError @5 :Text;
  # Why the last attempt failed, or the last connection ended ("" when nothing failed).

  lastErrorAt @6 :Int64;
  # When that was, in milliseconds since the Unix epoch (0 when nothing failed).

  connections @7 :UInt32;
  # Connections established so far: 1 after the first, +1 for each reconnection.

  nextAttemptAt @8 :Int64;
  # `retrying` or `refused`: when the next attempt starts, in milliseconds since the
  # Unix epoch; 0 when none is planned.

  enum State {
    connecting @0;  # the first attempt is under way; no connection yet
    connected @1;   # up: calls go through
    retrying @2;    # down: the last attempt or the connection failed; it tries again
    refused @3;     # the export refused the credentials; retried only if configured
    closed @4;      # the import was closed (removed from the manifest, shut down)
  }
}
