# services.capnp — the user's own capabilities in capns (docs/services.md).
#
# * `Introspect`: what Cap'n Proto itself cannot say — which interface a capability
#   implements, and the schema nodes needed to call it by name. capns answers it for every
#   `connect` and `service` capability whose schema the manifest names, and the service
#   library answers it for the capabilities a TypeScript service offers; the CLI, the HTTP
#   gateway and the web page ask it when an interface is not one capns was built with.
# * `Srv` and `Post`: Plan 9's /srv — post a capability under a name while running; the
#   entry lasts as long as its `Post` does (ORCLOSE), and profiles whose manifest mounts
#   the name see whatever is posted there.
# * `ServiceHost`: what a program started by capns (`type: service`) gets on the
#   connection it inherits as file descriptor 3: its own namespace, and a board to offer
#   its capabilities on.

@0xea311358840526b9;

using Common = import "common.capnp";
using Ns = import "namespace.capnp";

interface Introspect {
  # Optional for any capability: one that does not implement it answers `unimplemented`
  # (callers then take the schema from elsewhere, or say that none can be had).

  interfaceId @0 () -> (id :UInt64);
  # The interface this capability implements (the most derived one).

  schema @1 (interfaceId :UInt64) -> (result :SchemaResult);
  # The schema of `interfaceId` (0: this capability's own): a CodeGeneratorRequest, the
  # message `capnp compile -o-` writes, holding the interface's node and every node it
  # refers to (its superclasses, its methods' params and results, the types of their
  # fields, transitively), unpacked, in the standard stream framing. `notFound` when the
  # capability does not know that interface.

  struct SchemaResult {
    union {
      ok @0 :Data;
      err @1 :Common.Failure;
    }
  }
}

interface Srv {
  # A board of posted capabilities (Plan 9's srv(3)). Holding it lets you post; what is
  # posted is reached only through the names the manifest mounts.

  post @0 (name :Text, cap :Capability, interfaceId :UInt64) -> (result :PostResult);
  # Posts `cap` (of interface `interfaceId`) under `name`. The entry lasts while a
  # reference to the returned `Post` does: drop it (or let your connection end) and calls
  # to the name fail `disconnected` until someone posts it again. Refused with `exists`
  # when the name is posted already, `interfaceMismatch` when the manifest declares
  # another interface for it, `invalidArgument` for a bad name, `busy` when the board is
  # full.

  list @1 () -> (entries :List(Entry));
  # The names the board knows: declared by the manifest, or posted now.

  struct PostResult {
    union {
      ok @0 :Post;
      err @1 :Common.Failure;
    }
  }

  struct Entry {
    name @0 :Text;
    interfaceId @1 :UInt64;  # declared or posted; 0 when neither says
    posted @2 :Bool;         # something is posted under the name now
  }
}

interface Post {
  # The lease of one posted entry.

  remove @0 () -> ();
  # Takes the entry down now (releasing the last reference does the same).
}

interface ServiceHost extends(Srv) {
  # The bootstrap capability capns offers a program it started, on file descriptor 3.
  # `post` (from Srv) offers the program's capabilities under the names the manifest
  # declares in `offers`; the service is ready once every one of them is offered.

  namespace @0 () -> (ns :Ns.Namespace);
  # The program's own namespace: built from the profile the manifest names for it (empty
  # when it names none). Its only authority besides what it was given in its arguments.
}
