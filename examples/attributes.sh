#!/usr/bin/env bash
# attributes.sh - machine attributes (vm_machine_attribute).
#
# Shows: every region has three attributes, cache (on by default), migrate
# and replicate (off); writing "<attribute> <value>" to its `attr` file, or
# the `attr` verb on a range, sets them (splitting the region where the range
# ends inside it); `get` reads a value back on the same open ctl file; the
# cache flushes change nothing but are counted per region (see `info`); a
# flush of any other attribute is refused.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/attributes.sh /tmp/mvm
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
# ask TASK LINE: write LINE to the task's ctl and print the answer read back.
ask() { local r; exec 4<>"tasks/$1/ctl"; echo "$2" >&4; read -r r <&4; exec 4>&-; echo "$2 -> $r"; }

T=$(newtask create)
R=tasks/$T/regions/0x0000000000010000
echo "task $T"
x "echo allocate 0x10000 0x3000 > tasks/$T/ctl"
x "cat $R/attr"
x "echo migrate on > $R/attr"
x "cat $R/attr"

echo "# the verb on one page splits the region"
x "echo attr 0x11000 0x1000 cache off > tasks/$T/ctl"
x "ls tasks/$T/regions"
x "cat tasks/$T/regions/0x0000000000011000/attr"
ask "$T" "attr 0x10000 0x1000 cache get"
ask "$T" "attr 0x11000 0x1000 cache get"

echo "# flushes are counted per region"
x "echo attr 0x10000 0x3000 cache flush > tasks/$T/ctl"
x "echo attr 0x10000 0x1000 cache icache_flush > tasks/$T/ctl"
x "grep flushes $R/info"
try "migrate takes on, off and get, no flush" "echo attr 0x10000 0x1000 migrate flush > tasks/$T/ctl"
x "cat tasks/$T/last_error"

echo "# set back, the attributes agree again, but the flush counts still differ"
x "echo attr 0x11000 0x1000 cache on > tasks/$T/ctl"
x "cat tasks/$T/maps"

echo "shown: cache, migrate and replicate per region, set by range (which splits), flushes counted, a flush of migrate refused"
