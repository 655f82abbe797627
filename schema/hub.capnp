# hub.capnp — hubs (ANTS hubfs, section V): named channels that any number of writers
# append to and any number of readers follow, persistent across every client's departure.
#
# A channel is a stream of bytes. Every byte written has an offset: the first byte ever
# written to a channel is at 0, and a write's bytes follow the bytes of every write before
# it (writes are never interleaved). A hub retains the last `backlog` bytes of each
# channel; a reader names the offset it wants, so each reader goes at its own pace:
# joining now means starting at `end`, reading the backlog means starting at `oldest`.
# Writers never wait for readers; a reader that falls behind the backlog is told how many
# bytes it missed (`missed`), and goes on from the oldest byte retained.

@0xeb3ede2edf1c9dca;

using Common = import "common.capnp";
using FS = import "fileserver.capnp";

interface Hub {
  channels @0 () -> (channels :List(ChannelInfo));
  # Every channel, by name.

  create @1 (name :Text) -> (result :Common.Outcome);
  # A new, empty channel. `alreadyExists` if there is one by that name; `busy` over the
  # hub's limit of channels. Names are file names (no '/', NUL, '.' or '..'; <= 255 bytes).

  remove @2 (name :Text) -> (result :Common.Outcome);
  # Removes a channel: readers waiting on it get an empty read (the end of it).

  write @3 (channel :Text, data :Data) -> (result :WriteResult);
  # Appends `data` (at most the hub's maxWriteBytes) as one piece; `end` is the offset just
  # after it. Never waits for readers.

  read @4 (channel :Text, from :UInt64, max :UInt32) -> (result :ReadResult);
  # Up to `max` bytes from offset `from`. Waits while there are none yet (cancel the call
  # to stop waiting); an empty `data` means the channel was removed. When `from` is older
  # than the oldest byte retained, `missed` says how many bytes were lost to this reader
  # and `data` starts at the oldest one. `next` is the offset to ask for next.

  position @5 (channel :Text) -> (result :PositionResult);
  # Where a reader joining now starts (`end`) and where the backlog starts (`oldest`).

  files @6 () -> (fs :FS.FileServer);
  # The file face of this hub: each channel a file (a read follows it from where the
  # open joined, a write appends), `backlog/NAME` reads from the oldest retained byte,
  # `ctl` takes `create NAME` and `remove NAME` and reads the channels' status.

  struct ChannelInfo {
    name @0 :Text;
    end @1 :UInt64;        # bytes ever written
    oldest @2 :UInt64;     # offset of the oldest byte retained
    readers @3 :UInt32;    # reads waiting now, and open files reading it
    writes @4 :UInt64;     # writes so far
    missed @5 :UInt64;     # bytes readers have missed, summed over readers
  }

  struct WriteResult {
    union {
      end @0 :UInt64;
      err @1 :Common.Failure;
    }
  }

  struct ReadResult {
    union {
      ok :group {
        data @0 :Data;
        next @1 :UInt64;
        missed @2 :UInt64;
      }
      err @3 :Common.Failure;
    }
  }

  struct PositionResult {
    union {
      ok :group {
        end @0 :UInt64;
        oldest @1 :UInt64;
      }
      err @2 :Common.Failure;
    }
  }
}
