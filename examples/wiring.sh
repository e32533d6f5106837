#!/usr/bin/env bash
# wiring.sh - wiring memory (vm_wire).
#
# Shows: writing an access ("rw-", "r--") to a region's `wired` file wires it:
# every page becomes resident at once, so later accesses take no page faults;
# wiring is counted (two wirings need two unwirings, "none" unwires once);
# unwiring memory that is not wired, or wiring across a hole, is refused, and
# the reason is in last_error.  Wiring needs the privileged host port: root or
# the user who mounted the filesystem.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/wiring.sh /tmp/mvm
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
counters() { grep -E '^(resident_pages|wired_pages|faults) ' "tasks/$1/status" | tr '\n' ' '; echo; }

T=$(newtask create)
R=tasks/$T/regions/0x0000000000010000
echo "task $T"
x "echo allocate 0x10000 0x4000 > tasks/$T/ctl"
echo "before wiring:   $(counters "$T")"

x "echo rw- > $R/wired"
x "cat $R/wired"
echo "after wiring:    $(counters "$T")"
x "echo 'no fault here' | dd of=tasks/$T/mem oflag=seek_bytes seek=$((0x12000)) conv=notrunc status=none"
echo "after a write:   $(counters "$T")"

echo "# wiring is counted"
x "echo r-- > $R/wired"
x "cat $R/wired"
x "echo none > $R/wired"
x "cat $R/wired"
x "echo none > $R/wired"
x "cat $R/wired"
echo "after unwiring:  $(counters "$T")"
try "the region is not wired" "echo none > $R/wired"
x "cat tasks/$T/last_error"

echo "# the wire verb takes a range; a hole in it is refused"
x "echo allocate 0x20000 0x1000 > tasks/$T/ctl"
try "the range has a hole" "echo wire 0x10000 0x11000 r-- > tasks/$T/ctl"
x "cat tasks/$T/last_error"
x "echo wire 0x11000 0x1000 r-- > tasks/$T/ctl"
x "cat tasks/$T/maps"

echo "shown: wiring makes pages resident and is counted; unwiring unwired memory and wiring across a hole are refused with their cause"
