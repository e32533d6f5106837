#!/usr/bin/env bash
# fork_inheritance.sh - what fork does with each inheritance value.
#
# Shows: a parent with three pages whose inheritance is share, copy and none;
# after `fork`, the child
#   - shares the "share" page: writes are seen both ways,
#   - has a copy-on-write copy of the "copy" page: writes stay private,
#   - has a hole where the "none" page was: reading it fails (Bad address).
# The commands that change the tasks are printed (after "$ ") as they run;
# the data is written and read through each task's `mem` file with dd (the
# poke and peek helpers below).
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/fork_inheritance.sh /tmp/mvm
#     fusermount3 -u /tmp/mvm
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT (a mounted machvmfs)}
cd "$M"

x()    { printf '$ %s\n' "$*"; eval "$*"; }
newtask() { local id; exec 3<>tasks/ctl; echo "$1" >&3; read -r id <&3; exec 3>&-; echo "$id"; }
poke() { printf '%s' "$3" | dd of="tasks/$1/mem" oflag=seek_bytes seek=$(($2)) conv=notrunc status=none; }
peek() { dd if="tasks/$1/mem" iflag=skip_bytes,count_bytes skip=$(($2)) count="$3" bs="$3" status=none | tr '\0' '.'; }
show() {   # show TASK: the three pages as this task sees them
	local a name got
	for a in 0x10000 0x11000 0x12000; do
		case $a in 0x10000) name=share;; 0x11000) name=copy;; *) name=none;; esac
		printf '  task %s page %s (%s): ' "$1" "$a" "$name"
		if got=$(peek "$1" "$a" 12 2>&1); then
			printf '%s\n' "$got"
		else    # a page inherited "none" is a hole in the child
			printf '%s (expected: inheritance none leaves a hole)\n' "$got"
		fi
	done
}

P=$(newtask create)
echo "parent task: $P"
x "echo allocate 0x10000 0x3000 > tasks/$P/ctl"
x "echo inherit 0x10000 0x1000 share > tasks/$P/ctl"
x "echo inherit 0x11000 0x1000 copy > tasks/$P/ctl"
x "echo inherit 0x12000 0x1000 none > tasks/$P/ctl"
poke "$P" 0x10000 parent-share
poke "$P" 0x11000 parent-copy.
poke "$P" 0x12000 parent-none.
x "cat tasks/$P/maps"

C=$(newtask "fork $P")
echo "after fork $P: child task $C"
x "cat tasks/$C/maps"
show "$C"

echo "# the child writes both pages it has"
poke "$C" 0x10000 child-share.
poke "$C" 0x11000 child-copy..
show "$P"
show "$C"

echo "# the parent writes both pages"
poke "$P" 0x10000 parent-again
poke "$P" 0x11000 parent-again
show "$C"
x "grep -H . tasks/$P/regions/*/shared tasks/$C/regions/*/shared"

echo "shown: after a fork the share page is shared, the copy page copied on write, and the none page a hole in the child"
