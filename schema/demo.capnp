# demo.capnp — the small services the embedded default manifest binds, so that a fresh
# `capns serve` has something typed to resolve and call besides files.

@0xb7b2b0741de86eb1;

interface Clock {
  # The server's clock.
  now @0 () -> (unixMillis :Int64, iso :Text);
  # The current time, as milliseconds since the epoch and as ISO 8601 text (UTC).
}

interface Echo {
  # Returns what it is given; the smallest interface to try `capns call` on.
  echo @0 (text :Text) -> (text :Text);
}
