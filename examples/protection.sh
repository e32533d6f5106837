#!/usr/bin/env bash
# protection.sh - current and maximum protection (vm_protect).
#
# Shows: writing `protection` changes what the task may do with its memory
# (a write to a read-only page through `mem` fails with Permission denied);
# writing `max_protection` lowers the ceiling, which also lowers the current
# protection, and can never be raised again; every refused call leaves its
# reason in the task's last_error.  Protecting part of a region splits it;
# protecting it back joins the pieces again.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/protection.sh /tmp/mvm
#     fusermount3 -u /tmp/mvm
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT (a mounted machvmfs)}
cd "$M"

x()   { printf '$ %s\n' "$*"; eval "$*"; }
# try WHY COMMAND: runs a command that must be refused, and says why that is expected
try() { local why=$1; shift; printf '$ %s\n' "$*"
	if eval "$*" 2>&1; then echo "  -> succeeded, but should have been refused: $why"; return 1; fi
	echo "  -> refused (expected: $why)"; }
newtask() { local id; exec 3<>tasks/ctl; echo "$1" >&3; read -r id <&3; exec 3>&-; echo "$id"; }

T=$(newtask create)
R=tasks/$T/regions/0x0000000000010000
echo "task $T"
x "echo allocate 0x10000 0x3000 > tasks/$T/ctl"
x "echo 'some bytes' | dd of=tasks/$T/mem oflag=seek_bytes seek=$((0x10000)) conv=notrunc status=none"
x "cat $R/protection $R/max_protection"

echo "# read-only: reads work, writes are refused"
x "echo r-- > $R/protection"
x "dd if=tasks/$T/mem iflag=skip_bytes,count_bytes skip=$((0x10000)) count=10 status=none; echo"
try "the page is read-only" "echo overwrite | dd of=tasks/$T/mem oflag=seek_bytes seek=$((0x10000)) conv=notrunc status=none"

echo "# no access at all: even reads are refused"
x "echo none > $R/protection"
try "the page has no access at all" "dd if=tasks/$T/mem iflag=skip_bytes,count_bytes skip=$((0x10000)) count=10 status=none"

echo "# the maximum: lowering it to r-x lowers the current protection too"
x "echo rwx > $R/protection"
x "echo r-x > $R/max_protection"
x "cat $R/protection $R/max_protection"
try "the maximum is r-x now" "echo rw- > $R/protection"
x "cat tasks/$T/last_error"
try "a maximum is never raised" "echo rwx > $R/max_protection"
x "cat tasks/$T/last_error"

echo "# protecting one page splits the region; protecting it back joins it"
x "echo protect 0x11000 0x1000 r-- > tasks/$T/ctl"
x "cat tasks/$T/maps"
x "echo protect 0x11000 0x1000 r-x > tasks/$T/ctl"
x "cat tasks/$T/maps"

echo "shown: protection limits mem, max_protection lowers the ceiling for good, refusals leave their cause in last_error, a protect splits and joins regions"
