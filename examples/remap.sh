#!/usr/bin/env bash
# remap.sh - mapping one task's memory into another (vm_remap).
#
# Shows: writing "src=TASK:ADDR size=N ..." to a task's `remap` file maps
# that memory into it.  "share" (the default) maps the same pages: a write
# in either task is seen in the other, and both regions report shared=yes.
# "copy" makes a copy-on-write copy: writes stay private.  The answer, read
# back on the same open file, is the chosen address and the protections;
# "at=" picks a fixed address and "mask=" an alignment.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/remap.sh /tmp/mvm
#     fusermount3 -u /tmp/mvm
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT (a mounted machvmfs)}
cd "$M"

x()   { printf '$ %s\n' "$*"; eval "$*"; }
newtask() { local id; exec 3<>tasks/ctl; echo "$1" >&3; read -r id <&3; exec 3>&-; echo "$id"; }
poke() { printf '%s' "$3" | dd of="tasks/$1/mem" oflag=seek_bytes seek=$(($2)) conv=notrunc status=none; }
peek() { dd if="tasks/$1/mem" iflag=skip_bytes,count_bytes skip=$(($2)) count="$3" bs="$3" status=none | tr '\0' '.'; }
# remap TASK LINE: write LINE to the task's remap file; sets ADDR to the address.
remap() {
	local r
	exec 4<>"tasks/$1/remap"; echo "$2" >&4; read -r r <&4; exec 4>&-
	echo "remap into $1: $2"
	echo "  -> $r"
	ADDR=$(echo "$r" | cut -d' ' -f2)
}

A=$(newtask create)
B=$(newtask create)
echo "source task $A, target task $B"
x "echo allocate 0x10000 0x2000 > tasks/$A/ctl"
poke "$A" 0x10000 original

echo "# share: one set of pages, two mappings"
remap "$B" "src=$A:0x10000 size=0x2000 share"
S=$ADDR
echo "task $B reads at $S: $(peek "$B" "$S" 8)"
poke "$B" "$S" "B-wrote!"
echo "task $B wrote B-wrote!; task $A reads at 0x10000: $(peek "$A" 0x10000 8)"
x "cat tasks/$A/maps tasks/$B/maps"

echo "# copy: a private copy-on-write copy, at a fixed address"
remap "$B" "src=$A:0x10000 size=0x1000 copy at=0x400000"
poke "$B" 0x400000 "copy-own"
echo "task $B wrote copy-own at 0x400000; task $A still reads: $(peek "$A" 0x10000 8)"
echo "task $B reads at 0x400000: $(peek "$B" 0x400000 8)"

echo "# mask: the lowest free address with none of the mask's bits set"
remap "$B" "src=$A:0x10000 size=0x1000 mask=0xfffff"
x "cat tasks/$B/maps"

echo "shown: remap shares (writes seen both ways) or copies (writes private) memory between tasks, at an address of its choice, a fixed one or an aligned one"
