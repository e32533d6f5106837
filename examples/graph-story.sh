#!/usr/bin/env bash
# graph-story.sh - the fork / copy-on-write / collapse story, as pictures.
#
# Shows: five pictures drawn by tools/machvm-graph from host/graph.dot.
# story-1.svg: a task that wrote two pages, one entry mapping one object.
# story-2.svg: after a fork, parent and child map that object copy-on-write
# (dashed edges).  story-3.svg: the child's write puts a shadow object in
# front of it (a dotted shadow link).  story-4.svg: the parent's write gives
# it a shadow too; the old object is only shadowed now.  story-5.svg: the
# child's end frees its shadow, and the old object collapses into the
# parent's: one task, one object again.
#
# Run it against a mounted machvmfs (needs dot, package graphviz), with a
# directory for the pictures (default: a new temporary directory):
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/graph-story.sh /tmp/mvm [DIR]
#     fusermount3 -u /tmp/mvm
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT [DIR] (a mounted machvmfs)}
GRAPH=$(cd "$(dirname "$0")/.." && pwd)/tools/machvm-graph
if [ $# -ge 2 ]; then
	mkdir -p "$2"
	OUT=$(cd "$2" && pwd)
else
	OUT=$(mktemp -d /tmp/graph-story.XXXXXX)
fi
cd "$M"

x()   { printf '$ %s\n' "$*"; eval "$*"; }
newtask() { local id; exec 3<>tasks/ctl; echo "$1" >&3; read -r id <&3; exec 3>&-; echo "$id"; }
poke() { printf '%s' "$3" | dd of="tasks/$1/mem" oflag=seek_bytes seek=$(($2)) conv=notrunc status=none; }
n=0
picture() { n=$((n + 1)); "$GRAPH" "$M" -o "$OUT/story-$n.svg"; echo "story-$n.svg: $*"; }

P=$(newtask create)
echo "task $P"
x "echo allocate 0x10000 0x4000 > tasks/$P/ctl"
poke "$P" 0x10000 page0; poke "$P" 0x11000 page1
x "ls objects"
picture "task $P maps one object"

C=$(newtask "fork $P")
echo "child $C"
x "cat tasks/$C/regions/0x0000000000010000/share_mode"
picture "parent and child map it copy-on-write (dashed)"

poke "$C" 0x11000 child
x "cat tasks/$C/regions/0x0000000000010000/chain"
picture "the child's write: a shadow in front (dotted link)"

poke "$P" 0x13000 parent
x "ls objects"
picture "the parent's write: the old object is only shadowed"

x "rmdir tasks/$C"
x "ls objects"
picture "the child's end: the old object collapsed into the parent's shadow"

echo "shown: the story in $n pictures (fork, copy-on-write, shadows, collapse) in $OUT"
