#!/bin/sh
# /init of the v9fs test VM (test/support/vm.ts packs it into the initramfs with a static
# busybox and the kernel's 9p modules). It mounts the host's 9P server over TCP with each
# protocol version named on the kernel command line, runs POSIX work on the mount, and
# prints one machine-readable line per check on the serial console:
#
#   RESULT <version> <name> ok|fail <detail...>
#
# then CAPNS-VM-DONE, and reboots (qemu runs with -no-reboot, so that ends qemu). The
# host parses the lines; nothing here decides pass or fail for the suite.
#
# Kernel command line parameters read here (from /proc/cmdline):
#   capns_host=ADDR       address of the 9P server as the guest sees it (default 10.0.2.2)
#   capns_port=N          its TCP port
#   capns_versions=A,B    protocol versions to mount, e.g. 9p2000.L,9p2000
#   capns_msize=N         msize asked for (the server may negotiate it down)
#   capns_aname=PATH      attach name (diod needs its export path here), optional
#   capns_files=N         how many files the directory listing test creates (default 1000)
#   capns_bigmib=N        size of the dd checksum test in MiB (default 16)
#   capns_writers=N       concurrent writers (default 8)
#   capns_hostsha=HEX     sha256 of `pattern`, a file the host placed at the root of
#                         the served tree before boot (optional; skipped when absent)
#   capns_scenario=NAME   instead of the POSIX checks below, run the scenario in
#                         /scenarios/NAME.sh (test/vm/scenario-NAME.sh) on each mount: it
#                         defines scenario_run, called with the version mounted at $M

/bin/busybox mkdir -p /proc /sys /dev /tmp /mnt
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
# /tmp is the rootfs the initramfs was unpacked into (RAM); the dd test keeps 16 MiB here.

echo "CAPNS-VM-BEGIN $(uname -r)"

finish() {
  echo "CAPNS-VM-DONE"
  sync
  # -no-reboot turns the reboot into qemu's exit.
  reboot -f
  sleep 5
  echo b > /proc/sysrq-trigger
}

HOST=10.0.2.2 PORT=564 VERSIONS=9p2000.L MSIZE=524288 ANAME= NFILES=1000 BIGMIB=16 WRITERS=8 HOSTSHA=
SCENARIO=
for w in $(cat /proc/cmdline); do
  case "$w" in
    capns_host=*) HOST=${w#*=} ;;
    capns_port=*) PORT=${w#*=} ;;
    capns_versions=*) VERSIONS=${w#*=} ;;
    capns_msize=*) MSIZE=${w#*=} ;;
    capns_aname=*) ANAME=${w#*=} ;;
    capns_files=*) NFILES=${w#*=} ;;
    capns_bigmib=*) BIGMIB=${w#*=} ;;
    capns_writers=*) WRITERS=${w#*=} ;;
    capns_hostsha=*) HOSTSHA=${w#*=} ;;
    capns_scenario=*) SCENARIO=${w#*=} ;;
  esac
done

V=boot
# result NAME ok|fail DETAIL...
result() {
  n=$1 s=$2
  shift 2
  echo "RESULT $V $n $s $*"
}
# Seconds since boot with hundredths, for the informational t= fields.
now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2fs", b - a }'; }

# Modules in dependency order, one path per line, written by the host-side builder.
while read -r m; do
  insmod "/lib/modules/$m" || { result insmod fail "$m"; finish; }
done < /etc/modules.load

ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if ! ip addr add 10.0.2.15/24 dev eth0 || ! ip link set eth0 up; then
  result network fail "no eth0"
  finish
fi
result network ok "10.0.2.15 -> $HOST:$PORT"

M=/mnt/9p
mkdir -p $M
do_mount() {
  o="trans=tcp,port=$PORT,version=$V,msize=$MSIZE"
  [ -n "$ANAME" ] && o="$o,aname=$ANAME"
  mount -t 9p -o "$o" "$HOST" $M
}
remount() { umount $M && do_mount; }

# Each check runs in a subshell so that a failing command cannot end this script; it
# prints its own detail on success, and its last output line is the detail on failure.
check() {
  name=$1
  shift
  t0=$(now)
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc -eq 0 ]; then
    result "$name" ok "t=$(elapsed "$t0") $(echo "$out" | tail -n 1)"
  else
    # The reason, after the last few lines of what failed (e.g. an error from mv).
    result "$name" fail "t=$(elapsed "$t0") rc=$rc $(echo "$out" | tail -n 4 | tr '\n' '|')"
  fi
}

# Inside a check (a subshell), print the reason and end the check.
fail() {
  echo "$*"
  exit 1
}

t_mkdir() {
  mkdir -p "$W/a/b/c" || fail "mkdir -p"
  [ -d "$W/a/b/c" ] || fail "a/b/c is not a directory after mkdir -p"
  mkdir "$W/a" 2>/dev/null && fail "mkdir of an existing name succeeded"
  echo "a/b/c"
}

t_write_read() {
  f="$W/a/b/c/f"
  echo "hello $V" > "$f" || fail "write"
  [ "$(cat "$f")" = "hello $V" ] || fail "read back: $(cat "$f")"
  echo "second line" >> "$f" || fail "append"
  [ "$(wc -l < "$f")" -eq 2 ] || fail "append: $(wc -l < "$f") lines"
  echo "short" > "$f" || fail "overwrite"
  [ "$(cat "$f")" = "short" ] || fail "truncate on overwrite: $(cat "$f")"
  printf 'xyz' | dd of="$f" bs=1 seek=2 conv=notrunc 2>/dev/null || fail "write at offset"
  [ "$(cat "$f")" = "shxyz" ] || fail "write at offset 2: $(cat "$f")"
  [ "$(stat -c %s "$f")" -eq 6 ] || fail "size $(stat -c %s "$f") != 6"
  echo "size 6"
}

t_attrs() {
  f="$W/attrs"
  printf 0123456789 > "$f" || fail "write"
  truncate -s 4 "$f" || fail "truncate -s 4"
  [ "$(cat "$f")" = "0123" ] || fail "after truncate to 4: $(cat "$f")"
  truncate -s 8 "$f" || fail "truncate -s 8"
  [ "$(stat -c %s "$f")" -eq 8 ] || fail "size after extending: $(stat -c %s "$f")"
  [ "$(od -An -tx1 "$f" | tr -d ' \n')" = "3031323300000000" ] || fail "extended bytes: $(od -An -tx1 "$f")"
  chmod 640 "$f" || fail "chmod 640"
  [ "$(stat -c %a "$f")" = "640" ] || fail "mode after chmod 640: $(stat -c %a "$f")"
  touch -d '2020-01-02 03:04:05' "$f" || fail "touch -d"
  [ "$(stat -c %Y "$f")" = "1577934245" ] || fail "mtime after touch -d: $(stat -c %Y "$f")"
  rm "$f" || fail "rm"
  echo "truncate, chmod, mtime"
}

t_mv() {
  mv "$W/a/b/c/f" "$W/a/g" || fail "mv file to another directory"
  [ ! -e "$W/a/b/c/f" ] || fail "source still there after mv"
  [ "$(cat "$W/a/g")" = "shxyz" ] || fail "content after mv: $(cat "$W/a/g")"
  mv "$W/a/g" "$W/a/h" || fail "mv within a directory"
  [ -f "$W/a/h" ] && [ ! -e "$W/a/g" ] || fail "rename within a directory"
  mv "$W/a/b" "$W/a/bb" || fail "mv of a directory"
  [ -d "$W/a/bb/c" ] || fail "a/bb/c missing after directory rename"
  echo "file and directory renamed"
}

t_rm() {
  d="$W/rmt"
  mkdir -p "$d/sub" || fail "mkdir -p"
  echo x > "$d/sub/f" || fail "write"
  echo y > "$d/g" || fail "write"
  rmdir "$d/sub" 2>/dev/null && fail "rmdir of a non-empty directory succeeded"
  rm "$d/g" || fail "rm file"
  [ ! -e "$d/g" ] || fail "file still there after rm"
  rm -r "$d" || fail "rm -r"
  [ ! -e "$d" ] || fail "directory still there after rm -r"
  echo "removed"
}

t_ls() {
  d="$W/many"
  mkdir "$d" || fail "mkdir"
  i=1
  while [ $i -le "$NFILES" ]; do
    : > "$d/f$i" || fail "create f$i"
    i=$((i + 1))
  done
  n=$(ls "$d" | wc -l)
  [ "$n" -eq "$NFILES" ] || fail "ls shows $n of $NFILES"
  remount || fail "remount"
  n=$(ls "$d" | wc -l)
  [ "$n" -eq "$NFILES" ] || fail "after remount ls shows $n of $NFILES"
  [ -e "$d/f1" ] && [ -e "$d/f$NFILES" ] || fail "first or last name missing"
  n=$(ls "$d" | sort -u | wc -l)
  [ "$n" -eq "$NFILES" ] || fail "duplicate names in listing: $n unique"
  rm -r "$d" || fail "rm -r of $NFILES files"
  [ ! -e "$d" ] || fail "directory still there"
  echo "$NFILES files listed"
}

t_dd() {
  big="$W/big"
  dd if=/dev/urandom of=/tmp/big bs=1M count="$BIGMIB" 2>/dev/null || fail "urandom"
  want=$(sha256sum /tmp/big | cut -d' ' -f1)
  dd if=/tmp/big of="$big" bs=1M 2>/dev/null || fail "dd to the mount"
  [ "$(stat -c %s "$big")" -eq $((BIGMIB * 1048576)) ] || fail "size $(stat -c %s "$big")"
  remount || fail "remount"
  got=$(dd if="$big" bs=1M 2>/dev/null | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "sha256 after remount $got != $want"
  # Odd-sized reads that straddle message boundaries.
  got=$(dd if="$big" bs=100000 2>/dev/null | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "sha256 with bs=100000 $got != $want"
  rm /tmp/big
  echo "sha256=$want"
}

t_hostfile() {
  got=$(sha256sum "$M/pattern" | cut -d' ' -f1)
  [ "$got" = "$HOSTSHA" ] || fail "sha256 of the host's pattern $got != $HOSTSHA"
  echo "sha256=$got"
}

t_writers() {
  d="$W/conc"
  mkdir "$d" || fail "mkdir"
  i=1
  while [ $i -le "$WRITERS" ]; do
    dd if=/dev/urandom of="/tmp/w$i" bs=64k count=$((16 + i)) 2>/dev/null || fail "urandom"
    i=$((i + 1))
  done
  i=1
  while [ $i -le "$WRITERS" ]; do
    # 4 KiB writes so the writers' requests interleave on the one connection.
    ( dd if="/tmp/w$i" of="$d/w$i" bs=4k 2>/dev/null ) &
    i=$((i + 1))
  done
  wait
  remount || fail "remount"
  i=1
  while [ $i -le "$WRITERS" ]; do
    a=$(sha256sum "/tmp/w$i" | cut -d' ' -f1)
    b=$(sha256sum "$d/w$i" | cut -d' ' -f1)
    [ "$a" = "$b" ] || fail "w$i differs: $(stat -c %s "$d/w$i") bytes"
    rm "/tmp/w$i"
    i=$((i + 1))
  done
  echo "$WRITERS writers verified"
}

if [ -n "$SCENARIO" ]; then
  if [ ! -f "/scenarios/$SCENARIO.sh" ]; then
    result scenario fail "no /scenarios/$SCENARIO.sh"
    finish
  fi
  . "/scenarios/$SCENARIO.sh"
fi

for V in $(echo "$VERSIONS" | tr ',' ' '); do
  t0=$(now)
  if ! out=$(do_mount 2>&1); then
    result mount fail "$out"
    continue
  fi
  opts=$(awk -v m="$M" '$2 == m { print $4 }' /proc/mounts)
  result mount ok "t=$(elapsed "$t0") $opts"
  W="$M/vm-$V"
  if [ -n "$SCENARIO" ]; then
    scenario_run
  elif ! out=$(mkdir "$W" 2>&1); then
    result workdir fail "$out"
  else
    check mkdir_p t_mkdir
    check write_read t_write_read
    check attrs t_attrs
    check mv t_mv
    check rm t_rm
    check ls_many t_ls
    check dd_checksum t_dd
    check concurrent_writers t_writers
    if [ -n "$HOSTSHA" ]; then check host_file t_hostfile; fi
  fi
  t0=$(now)
  if out=$(umount $M 2>&1); then result umount ok "t=$(elapsed "$t0")"; else result umount fail "$out"; fi
done

finish
