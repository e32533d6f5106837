#!/usr/bin/env bash
# objects.sh - looking inside: memory objects, shadow chains and pages.
#
# Shows: a task writes two pages; objects/ then holds one object, mapped by
# the task.  After a fork both regions map that object copy-on-write, and
# tasks/<id>/pagemap marks every page "cow".  The child's write to one page
# puts a new shadow object in front (objects/<new>/shadow names the old
# one, the region's chain has two levels) and the pagemap says which object
# each page now comes from: the written page from the shadow (depth 0,
# private), the other from the shared object below (depth 1, cow).  The
# child's end frees its shadow: objects/ is back to one object.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/objects.sh /tmp/mvm
#     fusermount3 -u /tmp/mvm
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT (a mounted machvmfs)}
cd "$M"

x()   { printf '$ %s\n' "$*"; eval "$*"; }
newtask() { local id; exec 3<>tasks/ctl; echo "$1" >&3; read -r id <&3; exec 3>&-; echo "$id"; }
poke() { printf '%s' "$3" | dd of="tasks/$1/mem" oflag=seek_bytes seek=$(($2)) conv=notrunc status=none; }
R=regions/0x0000000000010000

P=$(newtask create)
echo "task $P"
x "echo allocate 0x10000 0x4000 > tasks/$P/ctl"
poke "$P" 0x10000 page0; poke "$P" 0x11000 page1
O=$(cat "tasks/$P/$R/object")
x "ls objects"
x "cat objects/$O/mapped_by"
x "cat objects/$O/pages"

C=$(newtask "fork $P")
echo "child $C"
x "cat objects/$O/ref_count"
x "cat tasks/$C/pagemap"

poke "$C" 0x11000 CHILD
S=$(cat "tasks/$C/$R/object")
x "ls objects"
x "cat objects/$S/shadow"
x "cat objects/$O/shadowed_by"
x "cat tasks/$C/$R/chain"
x "cat tasks/$C/pagemap"
x "grep -E '^(private|shared|cow)_pages' tasks/$C/$R/info"

x "rmdir tasks/$C"
x "ls objects"

echo "shown: objects/, shadow chains and pagemap through a fork, a copy-on-write write and the child's end"
