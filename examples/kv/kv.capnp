# kv.capnp — the example key-value service (examples/kv/README.md): a schema capns was
# not built with, compiled for the manifest by `capns schema compile kv.capnp`, and for
# TypeScript by `npm run gen` (examples/kv/gen).

@0xde68ebc936da98fa;

interface KeyValue {
  # A small in-memory store of text values by key.

  get @0 (key :Text) -> (value :Text, found :Bool);
  # The value under `key`; `found` is false (and `value` empty) when there is none.

  put @1 (key :Text, value :Text) -> (result :PutResult);
  # Stores `value` under `key`, replacing what was there.

  delete @2 (key :Text) -> (existed :Bool);
  # Removes `key`.

  list @3 (prefix :Text) -> (entries :List(Entry));
  # The keys starting with `prefix`, in order, with their values.

  struct Entry {
    key @0 :Text;
    value @1 :Text;
  }

  struct PutResult {
    union {
      ok @0 :UInt32;     # how many keys the store holds now
      full @1 :UInt32;   # refused: the store holds its maximum of keys already
    }
  }
}

interface Tally {
  # Counts by name, kept in a KeyValue store: the example of a service calling another
  # through its own namespace.

  bump @0 (name :Text) -> (count :UInt64);
  # Adds one to `name`'s count and returns it.
}
