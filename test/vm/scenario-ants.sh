# The ANTS scenario of the v9fs VM (test/vm/ants.test.ts; docs/testing-vm.md, docs/ants.md):
# the kernel's 9P client against a `capns serve` 9P listener whose profile holds
#
#   /proc     a sessions tree, listing (among others) the host test's RPC session of
#             profile `user`, whose namespace holds `files` at /files, `other` at /other
#             and a Clock declared at /svc/clock
#   /n/hub    a hub's files, with channels `fromvm` and `tovm`
#
# guest-init.sh sources this file (capns_scenario=ants) and calls scenario_run once per
# version mounted at $M, with $V the version. Each check prints one RESULT line; the host
# decides what passes. The one exchange with the host: after `hub_joined` the host waits
# until the hub counts the guest's two followers as readers of tovm, then appends lines to
# tovm, `END`, and filler up to 256 KiB.

P=$M/proc
H=$M/n/hub

# The directory of the one RPC session of profile `user` under $P.
user_session() {
  found=
  n=0
  for d in "$P"/[0-9]*; do
    [ "$(cat "$d/profile" 2>/dev/null)" = user ] || continue
    case "$(cat "$d/peer")" in
      rpc\ *) found=$d n=$((n + 1)) ;;
    esac
  done
  [ "$n" -eq 1 ] || return 1
  echo "$found"
}

# A namespace text on one line, for the RESULT line.
oneline() { tr '\n' '|'; }

t_ns_read() {
  ns=$(cat "$S/ns") || fail "read $S/ns"
  [ -n "$ns" ] || fail "empty ns"
  echo "$ns" | oneline
}

# Two writes, one with >> (O_APPEND) and one with > (O_TRUNC, ANTS's `echo ... >/proc/N/ns`):
# each one is applied to the live session; the next read of ns shows both.
t_ns_write() {
  echo "bind /other /n/$V" >> "$S/ns" || fail "bind line with >>"
  echo "mount -a files /n/$V" > "$S/ns" || fail "mount line with >"
  ns=$(cat "$S/ns") || fail "read back"
  echo "$ns" | grep -q " /n/$V\$" || fail "no /n/$V in ns after the writes: $(echo "$ns" | oneline)"
  echo "$ns" | oneline
}

# A write the session may not do: the write fails (non-zero status, the errno's message on
# stderr), the session's status names the reason, and ns reads as before.
refused() {
  line=$1
  before=$(cat "$S/ns") || fail "read before"
  err=$(echo "$line" 2>&1 >> "$S/ns")
  rc=$?
  [ $rc -ne 0 ] || fail "'$line' was accepted"
  last=$(grep '^lasterror ' "$S/status") || fail "no lasterror in status after '$line'"
  [ "$(cat "$S/ns")" = "$before" ] || fail "ns changed after the refused '$line'"
  echo "rc=$rc err=$(echo "$err" | oneline) $last"
}
t_ns_refused_declared() { refused 'mount files /svc/clock'; }
t_ns_refused_unheld() { refused 'mount proc /n/proc'; }
t_ns_refused_syntax() { refused 'mount -q files /n/q'; }

t_hub_append() {
  echo "appended by $V" >> "$H/fromvm" || fail "echo >>"
  printf 'second write by %s\n' "$V" >> "$H/fromvm" || fail "printf >>"
  echo "2 writes"
}

# Waits (bounded) until the hub counts nobody reading tovm, and prints its ctl line.
t_tovm_unread() {
  i=0
  while :; do
    line=$(grep '^tovm ' "$H/ctl") || fail "no tovm in ctl"
    case "$line" in *" readers=0 "*)
      echo "$line"
      exit 0
      ;;
    esac
    [ $i -lt 200 ] || fail "tovm still has a reader: $line"
    sleep 0.1
    i=$((i + 1))
  done
}

# The line reader's output once the host's END came (bounded). It reads with the shell's
# `read`, one byte per read(2): each of the kernel's Treads then asks for one byte and
# returns as soon as the hub has one (see t_hub_cat for what a bigger read does).
t_hub_follow() {
  i=0
  while ! grep -qx END "/tmp/follow-$V"; do
    [ $i -lt 1200 ] || fail "no END after 120 s; the reader printed: $(oneline < "/tmp/follow-$V")"
    sleep 0.1
    i=$((i + 1))
  done
  oneline < "/tmp/follow-$V"
}

# What the background `cat` of tovm printed, once it has the host's 256 KiB (bounded).
# v9fs (Linux 6.1 net/9p/client.c, p9_client_read) repeats a Tread until the caller's
# whole buffer is filled, unless the file was opened O_NONBLOCK, so cat prints only whole
# buffers of what came after it joined: the host sends a multiple of any buffer size.
t_hub_cat() {
  f="/tmp/cat-$V"
  i=0
  while [ "$(stat -c %s "$f")" -lt 262144 ]; do
    [ $i -lt 600 ] || fail "cat printed $(stat -c %s "$f") bytes in 60 s"
    sleep 0.1
    i=$((i + 1))
  done
  echo "bytes=$(stat -c %s "$f") sha256=$(sha256sum "$f" | cut -d' ' -f1)"
}

# backlog/tovm starts at the oldest byte the hub keeps: the host's line from before boot.
t_hub_backlog() {
  IFS= read -r first < "$H/backlog/tovm" || fail "read of backlog/tovm"
  echo "$first"
}

scenario_run() {
  t0=$(now)
  if S=$(user_session); then
    result sessions_find ok "t=$(elapsed "$t0") $S"
  else
    result sessions_find fail "no single rpc session of profile user: $(ls "$P" | oneline)"
    return
  fi
  check ns_read t_ns_read
  check ns_write t_ns_write
  check ns_refused_declared t_ns_refused_declared
  check ns_refused_unheld t_ns_refused_unheld
  check ns_refused_syntax t_ns_refused_syntax

  check hub_append t_hub_append
  check hub_backlog t_hub_backlog
  # Two followers of tovm in the background: a line reader that ends at END, and cat. The
  # host appends once the hub counts both as readers.
  : > "/tmp/follow-$V"
  (
    while IFS= read -r line; do
      echo "$line"
      [ "$line" = END ] && break
    done
  ) < "$H/tovm" > "/tmp/follow-$V" 2>&1 &
  rpid=$!
  cat "$H/tovm" > "/tmp/cat-$V" 2>&1 &
  cpid=$!
  result hub_joined ok "reader=$rpid cat=$cpid"
  check hub_follow t_hub_follow
  check hub_cat t_hub_cat
  # cat is blocked in a read that never ends: killing it makes the kernel flush that read
  # (Tflush), then clunk the file.
  kill "$cpid" "$rpid" 2>/dev/null
  wait "$cpid" "$rpid" 2>/dev/null
  rm -f "/tmp/cat-$V"
  check hub_released t_tovm_unread
}
