# captable.capnp — the administrator's view of the capability table: every capability
# capns has granted, to whom, and how much it is used; and revocation.

@0xdfeae94c371109cb;

using Common = import "common.capnp";

interface CapTable {
  list @0 (holder :Text) -> (entries :List(Entry));
  # Granted capabilities, all of them when `holder` is "", else one holder's.

  revoke @1 (id :UInt64) -> (result :Common.Outcome);
  # Revoke one grant: the holder's next call through it fails at once with `revoked`
  # (an exception of type failed whose description starts "revoked:"; calls that return
  # results fail with `Failure.revoked` where they can).

  revokeHolder @2 (holder :Text) -> (count :UInt32);
  # Revoke every grant of one holder; returns how many were revoked. `holder` may be a
  # profile's prefix ("alice@": every connection of alice) or an export's
  # ("alice@export:tcp!127.0.0.1!5821#": every peer of that export).

  exports @3 () -> (exports :List(Export));
  # The exports this process serves (exportfs), in manifest order.

  revokeExport @4 (address :Text, reason :Text) -> (result :Common.Outcome);
  # Revoke one export, named by the address it listens on: every capability it ever
  # handed out, to every peer, fails `revoked` at once, and no peer gets in again until a
  # reload opens it anew. `notFound` for an address no export listens on.

  struct Export {
    address @0 :Text;   # as bound, e.g. "tcp!127.0.0.1!5821"
    profile @1 :Text;
    root @2 :Text;
    readOnly @3 :Bool;
    filtered @4 :Bool;  # it has a filter (path patterns or method rules)
    peers @5 :UInt32;   # connections open now
    revoked @6 :Bool;
  }

  struct Entry {
    id @0 :UInt64;
    interfaceId @1 :UInt64;
    label @2 :Text;
    holder @3 :Text;   # profile and connection, e.g. "alice@127.0.0.1:50312"
    calls @4 :UInt64;
    revoked @5 :Bool;
  }
}
