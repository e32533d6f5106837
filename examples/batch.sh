#!/usr/bin/env bash
# batch.sh - several lines in one write: all or nothing.
#
# Shows: one write(2) of several lines to a ctl file is a batch.  When every
# line succeeds, the file reads the last line's result; when line k fails,
# the lines before it are undone -- here a copy into memory another task
# shares, which that task sees go back to the old bytes -- and last_error
# says which line failed and that the ones before it were undone.  A batch
# is written with one write(2) (dd bs=1M), not with one echo per line.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/batch.sh /tmp/mvm
#     fusermount3 -u /tmp/mvm
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT (a mounted machvmfs)}
cd "$M"

x()   { printf '$ %s\n' "$*"; eval "$*"; }
try() { local why=$1; shift; printf '$ %s\n' "$*"
	if eval "$*" 2>&1; then echo "  -> succeeded, but should have been refused: $why"; return 1; fi
	echo "  -> refused (expected: $why)"; }
newtask() { local id; exec 3<>tasks/ctl; echo "$1" >&3; read -r id <&3; exec 3>&-; echo "$id"; }

T=$(newtask create)
echo "task $T"
echo "# a batch that succeeds: the file reads the last line's result"
x "exec 3<>tasks/$T/ctl; printf 'allocate 0x10000 8K\ninherit 0x10000 8K share\nallocate anywhere 4K\n' | dd bs=1M status=none >&3; cat <&3; exec 3>&-"
x "printf 'shared bytes' | dd of=tasks/$T/mem oflag=seek_bytes seek=$((0x10000)) conv=notrunc status=none"
C=$(newtask "fork $T")
echo "child $C shares 0x10000 with $T"
x "cat tasks/$T/maps"

echo "# a batch whose third line fails: the copy into the shared page is undone too"
try "0x10000 is already allocated, so the whole batch is undone" "printf 'copy 0x11000 12 0x10000\nprotect 0x10000 4K r--\nallocate 0x10000 4K\n' | dd of=tasks/$T/ctl bs=1M status=none"
x "cat tasks/$T/last_error"
x "dd if=tasks/$C/mem iflag=skip_bytes,count_bytes skip=$((0x10000)) count=12 status=none; echo"
x "cat tasks/$T/maps"

echo "shown: a batch that runs whole, and one whose failing third line undoes the two before it, the copy into a shared page included"
