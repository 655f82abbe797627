# namespace.capnp — Plan 9 name spaces (bind(1), bind(2), namespace(6)) over typed
# capabilities.
#
# A Namespace maps cleaned absolute paths to mount points. Each mount point holds an
# ordered union stack of members; a member is a capability together with its interface
# id and a label (what `describe` prints as the bind source). Lookup walks the members
# in order and the first match wins; a listing is the members' entries in order,
# de-duplicated by name, first wins — so a listing never shows a name that lookup would
# not find first. Parents of mount points exist as synthetic directories.
#
# A member whose interface is FileServer makes its path a directory that can be walked
# into; a member that is itself a Namespace (for instance one imported from another
# machine) continues resolution there; any other interface is a leaf.
#
# Paths: absolute, '/'-separated, cleaned lexically ('//', '.', '..'); '..' never climbs
# above the root of this Namespace (or of a `sub` view). Names are UTF-8, contain no '/'
# or NUL and are at most 255 bytes. A malformed path is `Failure.invalidArgument`.

@0x90662a62774af977;

using Common = import "common.capnp";
using FS = import "fileserver.capnp";

interface Namespace {
  resolve @0 (path :Text, expectedInterface :UInt64) -> (result :ResolveResult);
  # The capability that `path` names: the first member of the deepest mount point at or
  # above `path`. `rest` is what is left of the path below that mount point ("" when the
  # path is the mount point itself); for a FileServer member it is the path to walk.
  # With `expectedInterface` non-zero the member must implement it, else
  # `interfaceMismatch` (checked against the declared interface id, before any call).

  bind @1 (path :Text, cap :Capability, interfaceId :UInt64, label :Text,
           position :Common.Position, create :Bool) -> (result :Common.Outcome);
  # mount(2): add `cap` to the union at `path`. `create` is MCREATE: creates under the
  # union go to the first member bound with it. Refused with `interfaceMismatch` when
  # the path was declared to require another interface.

  bindPath @2 (from :Text, to :Text, position :Common.Position, create :Bool)
      -> (result :Common.Outcome);
  # bind(2): make what `from` names visible at `to` as well. `from` is evaluated now;
  # later changes at `from` do not move the alias.

  unmount @3 (path :Text, label :Text) -> (result :Common.Outcome);
  # unmount(2): remove the member labelled `label` from the union at `path`, or every
  # member when `label` is "". `notFound` if nothing matched.

  list @4 (path :Text) -> (result :ListResult);
  # The union listing of the directory at `path` (mount point, synthetic directory, or a
  # directory inside FileServer members).

  members @5 (path :Text) -> (result :MembersResult);
  # The union stack at `path`, in search order (for tools and the admin UI).

  walk @6 (path :Text) -> (result :FS.File.WalkResult);
  # A File for a file-backed path: walks the FileServer members of the union in order.

  sub @7 (prefix :Text, readOnly :Bool) -> (result :SubResult);
  # An attenuated view whose root is `prefix`: it cannot name anything outside it, and
  # with `readOnly` every bind, unmount, apply, create, write and remove is refused.

  fork @8 () -> (ns :Namespace);
  # An independent copy (rfork RFNAMEG): changes to either do not show in the other.

  describe @9 () -> (text :Text);
  # The namespace as namespace(6) text, one bind/mount line per member, as
  # /proc/N/ns prints it; `apply` of the text on a clean namespace rebuilds it.

  apply @10 (text :Text) -> (result :Common.Outcome);
  # Run namespace(6) lines: bind [-abcC] from to, mount [-abcC] label to, unmount
  # [label] to, clear. All lines or none: an error names its line and column.

  struct ResolveResult {
    union {
      ok :group {
        cap @0 :Capability;
        interfaceId @1 :UInt64;
        label @2 :Text;
        rest @3 :Text;
      }
      err @4 :Common.Failure;
    }
  }

  struct Entry {
    name @0 :Text;
    kind @1 :Kind;
    interfaceId @2 :UInt64;  # of the capability bound there; 0 for directories and files
    label @3 :Text;
    qid @4 :Common.Qid;      # for files and directories served by a FileServer

    enum Kind {
      directory @0;   # a mount point of FileServers, a synthetic directory, or a directory in a file tree
      file @1;        # a plain file inside a FileServer member
      capability @2;  # a leaf: any interface other than FileServer and Namespace
    }
  }

  struct ListResult {
    union {
      entries @0 :List(Entry);
      err @1 :Common.Failure;
    }
  }

  struct Member {
    interfaceId @0 :UInt64;
    label @1 :Text;
    create @2 :Bool;
  }

  struct MembersResult {
    union {
      members @0 :List(Member);
      err @1 :Common.Failure;
    }
  }

  struct SubResult {
    union {
      ns @0 :Namespace;
      err @1 :Common.Failure;
    }
  }
}

interface Gate {
  # What a network listener bootstraps: present credentials, receive your namespace.
  # Wrong or missing credentials get `permissionDenied` and nothing else; the server may
  # close the connection after repeated failures.

  authenticate @0 (token :Text) -> (result :AuthResult);
  # `token` is a bearer token from the manifest. Connections authenticated by a TLS
  # client certificate pass "". Each call returns a fresh fork of the profile's
  # namespace: binds made through it are seen by no other connection.

  struct AuthResult {
    union {
      ok :group {
        ns @0 :Namespace;
        profile @1 :Text;
      }
      err @2 :Common.Failure;
    }
  }
}
