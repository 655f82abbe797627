# fileserver.capnp — the file metaphor, where it fits, as a capability.
#
# A FileServer is 9P2000 (intro(5)) made into capabilities: a `File` plays the part of a
# fid. Walking yields a new File (9P's newfid); dropping the capability, or calling
# `clunk`, is Tclunk. Because a File is a capability it can be passed to a third party,
# which 9P cannot do with a fid.
#
# Expected failures (not found, permission, ...) come back in each result's `err` arm as a
# `Failure` (common.capnp); exceptions mean the server or the connection is in trouble.
#
# Limits a server enforces and reports as `Failure.tooLarge`: at most `maxWalkNames`
# names per walk (9P's MAXWELEM), names of at most 255 bytes, reads and writes of at most
# the `iounit` returned by open/create.

@0x94074f50a7e492ff;

using Common = import "common.capnp";

const maxWalkNames :UInt32 = 16;

interface FileServer {
  # The root of one file tree. A server may serve several trees; `aname` selects one as
  # Tattach's aname does ("" is the default tree).

  attach @0 (aname :Text) -> (result :AttachResult);
  # A File for the root of the tree named by `aname`: a path below the server's root
  # ("" for the root itself), as mount's spec and many 9P servers' Tattach aname. The
  # File's walks never leave that tree: `..` at its root stays there, and a symbolic link
  # may not lead out of it. (capns confines a view to a directory inside a file server by
  # attaching there; every FileServer of capns keeps this promise, and one that does not
  # cannot be confined.) `..` in `aname` is `invalidArgument`.

  struct AttachResult {
    union {
      ok :group {
        root @0 :File;
        qid @1 :Common.Qid;
        path @3 :Text;
        # Where the attach ended, as a path from the server's root ("/" for the root),
        # as the server resolved `aname`: every symbolic link it followed replaced by its
        # target. "" when the server does not say. Policies that judge paths (an export's
        # filter) judge this one, as they judge File.WalkResult.path.
      }
      err @2 :Common.Failure;
    }
  }
}

interface File {
  # One file or directory, as seen through one walk. Not open until `open` or `create`
  # succeeds; only then may it be read or written (directories: `readDir`).

  walk @0 (names :List(Text)) -> (result :WalkResult);
  # Walk `names` (at most 16) from this file, which must be a directory unless `names`
  # is empty (then the result is a clone: a new, unopened File for the same file). This
  # File stays where it is. ".." of a root is the root itself.

  open @1 (mode :Common.OpenMode) -> (result :OpenResult);
  # Open this file for I/O. Opening a directory for anything but read is refused. A file
  # with DMEXCL set may be open by one File at a time (`busy` otherwise).

  create @2 (name :Text, perm :UInt32, mode :Common.OpenMode) -> (result :CreateResult);
  # Create `name` in this directory and return it opened with `mode`. `perm` is as in
  # create(5): DMDIR makes a directory; permission bits are masked by the directory's.
  # `exists` if the name is taken. This File stays the directory (unlike Tcreate, which
  # moves the fid; the 9P bridge does that move).

  read @3 (offset :UInt64, count :UInt32) -> (result :ReadResult);
  # Up to `count` bytes at `offset`; fewer (zero at end of file) is not an error.

  write @4 (offset :UInt64, data :Data) -> (result :WriteResult);
  # Write `data` at `offset` (ignored for append-only files, which always append).

  readDir @5 (offset :UInt64, count :UInt32) -> (result :ReadDirResult);
  # Directory entries, starting `offset` entries in, at most `count` of them. An empty
  # list means the end. The directory must be open for reading.

  stat @6 () -> (result :StatResult);

  wstat @7 (change :Common.StatChange) -> (result :Common.Outcome);
  # Change metadata; all of it or none (wstat(5)). Renaming onto an existing name is
  # refused with `exists`.

  remove @8 () -> (result :Common.Outcome);
  # Remove the file (a non-empty directory is refused with `notEmpty`). This File is
  # clunked whether or not the remove succeeded, as with Tremove.

  clunk @9 () -> ();
  # Forget this File now (and remove it if opened with removeOnClose). Releasing the
  # capability does the same; clunk makes the moment explicit and waits for it.

  struct WalkResult {
    qids @0 :List(Common.Qid);
    # One Qid for each name walked, in order. Fewer than the names given means the walk
    # stopped early; `err` then says why the next name failed.
    union {
      file @1 :File;             # every name was walked: the File at the end
      err @2 :Common.Failure;    # stopped early (or at the first name, with no qids)
    }
    path @3 :Text;
    # With `file`: where the walk ended, as a path from the attach root ("/" for the root,
    # "/a/b" below it), as the server resolved it — every symbolic link it followed
    # replaced by its target, `..` applied by the server. "" when the server does not say.
    # Policies that judge paths (an export's filter) judge this one: a name that is a link
    # to a filtered file is refused as that file is.
  }

  struct OpenResult {
    union {
      ok :group {
        qid @0 :Common.Qid;
        iounit @1 :UInt32;  # the largest read or write that is done in one piece
      }
      err @2 :Common.Failure;
    }
  }

  struct CreateResult {
    union {
      ok :group {
        file @0 :File;      # the new file, open with the requested mode
        qid @1 :Common.Qid;
        iounit @2 :UInt32;
      }
      err @3 :Common.Failure;
    }
  }

  struct ReadResult {
    union {
      data @0 :Data;
      err @1 :Common.Failure;
    }
  }

  struct WriteResult {
    union {
      count @0 :UInt32;
      err @1 :Common.Failure;
    }
  }

  struct ReadDirResult {
    union {
      entries @0 :List(Common.Stat);
      err @1 :Common.Failure;
    }
  }

  struct StatResult {
    union {
      stat @0 :Common.Stat;
      err @1 :Common.Failure;
    }
  }
}
