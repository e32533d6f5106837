#!/usr/bin/env bash
# events.sh - watching the host change (host/events, tasks/<id>/events).
#
# Shows: every engine call is one line of host/events, with its arguments as
# the engine took them (range= is the page-rounded range), its KERN_ result
# and what it changed: protecting one page of a region splits it twice
# (split@...), protecting it back merges the pieces (merged@ or moved@), a
# fork names both tasks, a refused call is a line with no change.  A task's
# own events file holds the lines that name it; tail -f follows the log.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/events.sh /tmp/mvm
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

# A follower started now sees every line from here on.
start=$(stat -c %s host/events)
tail -c +$((start + 1)) -f -s 0.1 host/events > /tmp/events.$$ &
follower=$!
trap 'kill $follower 2>/dev/null; rm -f /tmp/events.$$' EXIT

T=$(newtask create)
echo "task $T"
x "echo allocate 0x10000 16K > tasks/$T/ctl"
x "echo protect 0x11000 4K r-- > tasks/$T/ctl"
x "ls tasks/$T/regions"
x "echo protect 0x11000 4K rw- > tasks/$T/ctl"
x "ls tasks/$T/regions"
C=$(newtask "fork $T")
echo "child $C"
try "nothing is mapped at 0x90000" "echo protect 0x90000 4K r-- > tasks/$T/ctl"

echo "# the calls on task $T, as its own events file has them"
x "cat tasks/$T/events"

echo "# what tail -f saw meanwhile"
for _ in $(seq 50); do
	[ "$(wc -l < /tmp/events.$$)" -ge 6 ] && break
	sleep 0.1
done
x "cat /tmp/events.$$"
echo "the follower saw $(wc -l < /tmp/events.$$) lines"

echo "shown: one host/events line per engine call, with its range, result and changes; a task's events file; tail -f following the log"
