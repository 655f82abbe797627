# common.capnp — types shared by every capns interface.
#
# capns keeps two kinds of failure apart (see docs/errors.md):
#
# * Expected conditions — the name is not there, it already exists, you may not do that,
#   the mount you hold was revoked — are *results*. Methods that can meet one return a
#   struct whose union holds either the success value or a `Failure`. A caller handles
#   them like any other value; nothing is thrown across the wire for them.
#
# * Infrastructure failures — a bug, overload, a dead peer, an unimplemented method — are
#   Cap'n Proto RPC exceptions (`Exception.Type` failed / overloaded / disconnected /
#   unimplemented in rpc.capnp). Those are never encoded as a `Failure`.
#
# The names below follow 9P where 9P has a word for the thing (Qid, Stat, iounit), so that
# a reader who knows intro(5) can read this file without a glossary.

@0xafc118fd88b075e8;

struct Failure {
  # An expected condition, returned in a result union. `message` is for people: it names
  # the path or argument at fault and never contains host paths or stack traces.

  code @0 :Code;
  message @1 :Text;

  enum Code {
    unknown @0;
    # A server too new for this schema sent a code we do not know; capnp decodes unknown
    # enumerants as their number, so readers must treat anything unrecognized as this.

    notFound @1;          # 9P "file not found"
    exists @2;            # 9P "file already exists"
    permissionDenied @3;  # 9P "permission denied": read-only view, no create member, mode bits
    notADirectory @4;     # 9P "not a directory": walk or list through a leaf
    isADirectory @5;      # 9P "Is a directory": read/write of a directory as bytes
    notEmpty @6;          # remove of a non-empty directory
    revoked @7;           # the capability or mount this call went through was revoked
    invalidArgument @8;   # malformed path, name, mode, offset or namespace text
    interfaceMismatch @9; # resolve/bind with an expected interface that the member lacks
    busy @10;             # exclusive-use file already open, or a resource limit reached
    notOpen @11;          # read/write/readDir on a file that is not open for it
    io @12;               # the backing store failed (disk error, dead remote file server)
    tooLarge @13;         # an argument is over a documented limit (name length, count)
  }
}

struct Outcome {
  # Result of a method that can fail in an expected way but has nothing to return.
  union {
    ok @0 :Void;
    err @1 :Failure;
  }
}

enum Position {
  # Where a new member goes in a mount point's union stack (Plan 9 bind(2) flags).
  replace @0;  # MREPL: the stack becomes [new]; the old members are dropped
  before @1;   # MBEFORE: searched first
  after @2;    # MAFTER: searched last
}

struct Qid {
  # The server's identity for a file (intro(5)). `path` is unique within one server and
  # stable for the life of the file; `version` changes whenever the file changes.
  type @0 :UInt8;
  version @1 :UInt32;
  path @2 :UInt64;
}

const qtDir :UInt8 = 0x80;     # QTDIR
const qtAppend :UInt8 = 0x40;  # QTAPPEND
const qtExcl :UInt8 = 0x20;    # QTEXCL
const qtAuth :UInt8 = 0x08;    # QTAUTH
const qtTmp :UInt8 = 0x04;     # QTTMP
const qtFile :UInt8 = 0x00;    # QTFILE

const dmDir :UInt32 = 0x80000000;     # DMDIR
const dmAppend :UInt32 = 0x40000000;  # DMAPPEND
const dmExcl :UInt32 = 0x20000000;    # DMEXCL
const dmTmp :UInt32 = 0x04000000;     # DMTMP

struct Stat {
  # A directory entry, as 9P's stat(5) without the kernel-private type/dev fields.
  qid @0 :Qid;
  mode @1 :UInt32;    # permission bits in the low 9 bits, DM* flags in the high byte
  atime @2 :UInt32;   # seconds since the epoch
  mtime @3 :UInt32;
  length @4 :UInt64;  # bytes; 0 for directories
  name @5 :Text;      # the last element of the path; "/" for a root
  uid @6 :Text;
  gid @7 :Text;
  muid @8 :Text;      # who last modified the file
}

struct StatChange {
  # The argument of wstat. Every field's default is 9P's "don't touch" value, so a change
  # that sets only `length` truncates and leaves everything else alone. A wstat is applied
  # whole or not at all.
  name @0 :Text;                          # "" = keep; otherwise rename within the directory
  length @1 :UInt64 = 0xffffffffffffffff; # ~0 = keep
  mode @2 :UInt32 = 0xffffffff;           # ~0 = keep; DMDIR may not change
  mtime @3 :UInt32 = 0xffffffff;          # ~0 = keep
  atime @4 :UInt32 = 0xffffffff;          # ~0 = keep
  gid @5 :Text;                           # "" = keep
}

struct OpenMode {
  # open(5) mode, spelled out instead of packed into a byte.
  access @0 :Access;
  truncate @1 :Bool;       # OTRUNC
  removeOnClose @2 :Bool;  # ORCLOSE

  enum Access {
    read @0;       # OREAD
    write @1;      # OWRITE
    readWrite @2;  # ORDWR
    exec @3;       # OEXEC: read, with execute permission checked
  }
}
