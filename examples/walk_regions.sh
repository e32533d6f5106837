#!/usr/bin/env bash
# walk_regions.sh - walking a task's map, as a vm_region loop does.
#
# Shows: tasks/ID/regions/ has one directory per region (map entry), named by
# its start address with 16 hex digits, so `ls` lists them in address order.
# A region is one entry: protecting, inheriting or wiring part of an
# allocation splits it, and holes (deallocated ranges) are simply absent.
# The loop below reads each region's files like successive vm_region calls
# (address = start + size each time).  A region can also be looked up by
# another spelling of its start, such as 0x10000.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/walk_regions.sh /tmp/mvm
#     fusermount3 -u /tmp/mvm
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT (a mounted machvmfs)}
cd "$M"

x()   { printf '$ %s\n' "$*"; eval "$*"; }
newtask() { local id; exec 3<>tasks/ctl; echo "$1" >&3; read -r id <&3; exec 3>&-; echo "$id"; }

T=$(newtask create)
echo "task $T"
x "echo allocate 0x10000 0x8000 > tasks/$T/ctl"
x "echo protect 0x12000 0x1000 r-- > tasks/$T/ctl"
x "echo inherit 0x14000 0x2000 share > tasks/$T/ctl"
x "echo deallocate 0x16000 0x1000 > tasks/$T/ctl"
x "echo allocate anywhere 0x3000 > tasks/$T/ctl"
x "ls tasks/$T/regions"

echo "# the walk: one region after the other, in address order"
printf '%-18s %-18s %6s  %-7s  %-7s %s\n' start end size prot/max inherit share_mode
n=0
for d in tasks/$T/regions/*/; do
	printf '%-18s %-18s %6s  %s/%s  %-7s %s\n' "$(cat "$d/start")" "$(cat "$d/end")" \
		"$(cat "$d/size")" "$(cat "$d/protection")" "$(cat "$d/max_protection")" \
		"$(cat "$d/inheritance")" "$(cat "$d/share_mode")"
	n=$((n + 1))
done
echo "$n regions; status says: $(grep '^regions ' tasks/$T/status)"

echo "# other spellings find the same region (they are not listed)"
x "cat tasks/$T/regions/0x14000/size"
x "cat tasks/$T/regions/14000/inheritance"
echo "# the same walk, one line per region"
x "cat tasks/$T/maps"

echo "shown: regions/ lists one directory per map entry in address order; splits and holes show; other spellings find a region"
