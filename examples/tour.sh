#!/usr/bin/env bash
# tour.sh - a five-minute tour of machvmfs.
#
# Shows: making a task, giving it memory, writing and reading that memory
# through `mem`, forking, copy-on-write (the child's writes stay its own),
# sharing (inheritance "share": writes are seen both ways), the region
# listing, and the same calls made one command each by machvmctl (the
# command line of the Python package, tools/machvmctl).  Commands are
# printed (after "$ ") as they run; after the first dd, memory is written
# and read with the same dd commands through the helpers poke and peek
# defined below.
#
# Run it against a fresh mount:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/tour.sh /tmp/mvm
#     fusermount3 -u /tmp/mvm
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT (a mounted machvmfs)}
here=$(cd "$(dirname "$0")" && pwd)
cd "$M"
export MACHVMFS_MOUNT=$PWD      # where machvmctl finds the mount
# machvmctl: this tree's, else an installed one
MACHVMCTL=$here/../tools/machvmctl
[ -x "$MACHVMCTL" ] || MACHVMCTL=$(command -v machvmctl) || MACHVMCTL=
machvmctl() { "$MACHVMCTL" "$@"; }

x()    { printf '$ %s\n' "$*"; eval "$*"; }
# newtask CMD: write CMD ("create" or "fork N") to tasks/ctl, print the new id.
newtask() { local id; exec 3<>tasks/ctl; echo "$1" >&3; read -r id <&3; exec 3>&-; echo "$id"; }
# poke TASK ADDR TEXT / peek TASK ADDR COUNT: the task's memory through mem.
poke() { printf '%s' "$3" | dd of="tasks/$1/mem" oflag=seek_bytes seek=$(($2)) conv=notrunc status=none; }
peek() { dd if="tasks/$1/mem" iflag=skip_bytes,count_bytes skip=$(($2)) count="$3" bs="$3" status=none | tr '\0' '.'; echo; }

echo '# 1. a task, with two pages of memory'
T=$(newtask create); echo "(exec 3<>tasks/ctl; echo create >&3; read id <&3) -> task $T"
x "echo allocate 0x10000 0x2000 > tasks/$T/ctl"
x "cat tasks/$T/maps"
echo '# 2. write "hello" at 0x10000 and read it back'
x "printf hello | dd of=tasks/$T/mem bs=1 seek=$((0x10000)) conv=notrunc status=none"
x "dd if=tasks/$T/mem bs=1 skip=$((0x10000)) count=5 status=none; echo"
x "cat tasks/$T/regions/0x0000000000010000/share_mode"
echo '# 3. fork: the child gets a copy-on-write copy'
C=$(newtask "fork $T"); echo "fork $T -> task $C (parent $(cat tasks/$C/parent))"
x "cat tasks/$C/regions/0x0000000000010000/share_mode"
poke "$C" 0x10000 HELLO
echo "after the child writes HELLO: parent reads $(peek "$T" 0x10000 5), child reads $(peek "$C" 0x10000 5)"
echo '# 4. sharing: inheritance share on the second page, then fork again'
x "echo inherit 0x11000 0x1000 share > tasks/$T/ctl"
S=$(newtask "fork $T"); echo "fork $T -> task $S"
poke "$S" 0x11000 shared!
echo "the child wrote shared!: parent reads $(peek "$T" 0x11000 7)"
x "cat tasks/$T/maps"
echo '# 5. one directory per region, named by its start address'
x "ls tasks/$T/regions"
x "grep -E '^(regions|resident_pages|cow_faults) ' tasks/$T/status"
echo '# 6. one command each: machvmctl prints the result, or exits 1 with last_error'
if [ -n "$MACHVMCTL" ]; then
	x "machvmctl peek $C 0x10000 5"
	x "machvmctl allocate $T 0x10000 4K 2>&1 || echo \"exit \$? -> refused (expected: 0x10000 is taken)\""
else
	echo '(machvmctl not found: tools/machvmctl, or an installed one on PATH)'
fi

echo "shown: a task, its memory through mem, a fork with copy-on-write, sharing by inheritance, the region listing, and machvmctl"
