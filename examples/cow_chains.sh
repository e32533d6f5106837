#!/usr/bin/env bash
# cow_chains.sh - copy-on-write and shadow chains.
#
# Shows: after a fork, parent and child map the same pages and both regions
# report share_mode "cow" (needs_copy).  The first write by the child puts a
# new shadow object in front of the old one (the region's object changes) and
# copies only the written page; the other pages are still read through the
# shadow chain (shadow_depth 1).  Forking the child again makes a deeper
# chain; once the child has written every page, nothing is read through the
# chain any more (shadow_depth 0) and its memory is private.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/cow_chains.sh /tmp/mvm
#     fusermount3 -u /tmp/mvm
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT (a mounted machvmfs)}
cd "$M"

x()   { printf '$ %s\n' "$*"; eval "$*"; }
newtask() { local id; exec 3<>tasks/ctl; echo "$1" >&3; read -r id <&3; exec 3>&-; echo "$id"; }
poke() { printf '%s' "$3" | dd of="tasks/$1/mem" oflag=seek_bytes seek=$(($2)) conv=notrunc status=none; }
# region TASK: the facts about the region at 0x10000, on one line.
region() {
	local info=tasks/$1/regions/0x0000000000010000/info
	printf '  task %-2s %s\n' "$1" "$(grep -E '^(share_mode|object|needs_copy|shadow_depth|ref_count|resident_pages) ' "$info" | tr '\n' ' ')"
}

P=$(newtask create)
echo "task $P"
x "echo allocate 0x10000 0x3000 > tasks/$P/ctl"
region "$P"
poke "$P" 0x10000 page0; poke "$P" 0x11000 page1; poke "$P" 0x12000 page2
echo "after writing three pages:"
region "$P"

C=$(newtask "fork $P")
echo "after fork $P -> $C:"
region "$P"; region "$C"

poke "$C" 0x11000 CHILD
echo "after the child writes one page:"
region "$P"; region "$C"

G=$(newtask "fork $C")
poke "$G" 0x12000 GRAND
echo "after fork $C -> $G and a write by $G:"
region "$G"
x "grep -E '^(max_shadow_depth|cow_faults) ' tasks/$G/status"

poke "$C" 0x10000 CHILD; poke "$C" 0x11000 CHILD; poke "$C" 0x12000 CHILD
echo "after the child has written every page:"
region "$C"
x "grep -E '^(shadows_created|collapses|bypasses|pages_copied) ' host/stats"

echo "shown: a fork shares pages copy-on-write; each write puts a shadow in front and copies one page, until the child reads nothing through the chain"
