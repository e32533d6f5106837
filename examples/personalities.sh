#!/usr/bin/env bash
# personalities.sh - one tree, three kernels' rules (-o personality=).
#
# Shows: three hosts mounted side by side with -o personality=mach, gnu and
# xnu answer the same commands differently where GNU Mach and XNU disagree
# (docs/semantics.md, section 8): a protect or a wire over a hole, vm_region
# past the last region, counted wiring, a small copy onto a read-only page,
# a read across a hole, vm_remap (which GNU Mach lacks), where "allocate
# anywhere" puts memory, whether neighbours merge back into one region, a
# write of part of a page, and XNU's VM_PROT_COPY.  It prints one table, a row per command and a column
# per personality: "ok", the command's result, or the KERN_ code that begins
# last_error.
#
# Run it against a mounted machvmfs:
#     mkdir -p /tmp/mvm && machvmfs /tmp/mvm
#     examples/personalities.sh /tmp/mvm
#     fusermount3 -u /tmp/mvm
# The mount given is only asked for its personality; the three hosts compared
# are mounted by the script in a temporary folder (with the machvmfs named by
# $MACHVMFS, else the one on PATH) and unmounted at the end.
set -euo pipefail
M=${1:?usage: $0 MOUNTPOINT (a mounted machvmfs)}
MACHVMFS=${MACHVMFS:-machvmfs}
NAMES=(mach gnu xnu)

work=$(mktemp -d)
cleanup() {
	for p in "${NAMES[@]}"; do
		mountpoint -q "$work/$p" && fusermount3 -u "$work/$p"
	done
	rm -rf "$work"
}
trap cleanup EXIT
for p in "${NAMES[@]}"; do
	mkdir "$work/$p"
	printf '$ machvmfs -o personality=%s %s; cat %s/host/personality\n' "$p" "$work/$p" "$work/$p"
	"$MACHVMFS" -o "personality=$p" "$work/$p"
	cat "$work/$p/host/personality"
done

# A line to a writable file of a task: its result (first line), or the
# KERN_ code the failure left in last_error.
ask() {
	local h=$1 t=$2 file=$3 line=$4 out
	exec 3<>"$h/tasks/$t/$file"
	if printf '%s\n' "$line" >&3 2>/dev/null; then
		out=$(head -n 1 <&3)
	else
		out=$(cut -d: -f1 "$h/tasks/$t/last_error")
	fi
	exec 3>&-
	echo "$out"
}
newtask() {
	local id
	exec 3<>"$1/tasks/ctl"; echo create >&3; read -r id <&3; exec 3>&-
	echo "$id"
}
# A task with [0x10000, 0x11000) and [0x12000, 0x13000): a hole between.
holed() {
	local t
	t=$(newtask "$1")
	echo "allocate 0x10000 4K" > "$1/tasks/$t/ctl"
	echo "allocate 0x12000 4K" > "$1/tasks/$t/ctl"
	echo "$t"
}

protect_hole() { local t; t=$(holed "$1"); ask "$1" "$t" ctl "protect 0x10000 0x3000 r--"; }
wire_hole()    { local t; t=$(holed "$1"); ask "$1" "$t" ctl "wire 0x10000 0x3000 r--"; }
region_end()   { local t; t=$(holed "$1"); ask "$1" "$t" ctl "region 0x13000" | cut -d' ' -f1-2; }
wire_twice() {
	local t r; t=$(holed "$1"); r=$1/tasks/$t/regions/0x0000000000010000
	echo r-- > "$r/wired"; echo rw- > "$r/wired"
	echo "wired $(cat "$r/wired")"
}
small_copy() {
	local t; t=$(newtask "$1")
	echo "allocate 0x10000 16K" > "$1/tasks/$t/ctl"
	echo "protect 0x10000 4K r--" > "$1/tasks/$t/ctl"
	ask "$1" "$t" ctl "copy 0x11000 16 0x10000"
}
read_hole() {
	local t n; t=$(holed "$1")
	if n=$(dd if="$1/tasks/$t/mem" bs=12K iflag=skip_bytes skip=$((0x10000)) count=1 \
	       status=none 2>/dev/null | wc -c); then
		echo "$n bytes"
	else
		echo "error"
	fi
}
merge_back() {
	local t; t=$(newtask "$1")
	echo "allocate 0x10000 16K" > "$1/tasks/$t/ctl"
	echo "protect 0x11000 4K r--" > "$1/tasks/$t/ctl"
	echo "protect 0x11000 4K rw-" > "$1/tasks/$t/ctl"
	echo "$(wc -l < "$1/tasks/$t/maps") regions"
}
part_page() {
	local t; t=$(holed "$1")
	if printf 'hello' | dd of="$1/tasks/$t/mem" bs=5 oflag=seek_bytes seek=$((0x10800)) \
	       conv=notrunc status=none 2>/dev/null; then
		echo "ok"
	else
		cut -d: -f1 "$1/tasks/$t/last_error"
	fi
}
prot_copy() {
	local t; t=$(holed "$1")
	echo "protect 0x10000 4K r-- max" > "$1/tasks/$t/ctl"
	ask "$1" "$t" ctl "protect 0x10000 4K VM_PROT_DEFAULT|VM_PROT_COPY" >/dev/null
	cut -d' ' -f2 "$1/tasks/$t/maps" | head -n 1
}
remap() { local t; t=$(holed "$1"); ask "$1" "$t" remap "src=$t:0x10000 size=4K at=0x20000" | cut -d' ' -f1-2; }
anywhere() {
	local t p; t=$(newtask "$1")
	for p in 1 3 7 10; do echo "allocate $((p * 0x1000)) 4K" > "$1/tasks/$t/ctl"; done
	ask "$1" "$t" ctl "allocate anywhere 8K"
}

row() {
	local label=$1 fn=$2 p
	printf '%-40s' "$label"
	for p in "${NAMES[@]}"; do printf ' %-26s' "$($fn "$work/$p")"; done
	echo
}

table() {
printf '%-40s' "command"; for p in "${NAMES[@]}"; do printf ' %-26s' "$p"; done; echo
row "protect 0x10000 0x3000 r-- (a hole)"     protect_hole
row "wire 0x10000 0x3000 r-- (a hole)"        wire_hole
row "region 0x13000 (past the last)"          region_end
row "wired after wiring r-- then rw-"         wire_twice
row "copy 0x11000 16 0x10000 (page 1 r--)"    small_copy
row "read 12K at 0x10000 (a hole inside)"     read_hole
row "remap src=T:0x10000 size=4K at=0x20000"  remap
row "allocate anywhere 8K (holes 1,3,2 pages)" anywhere
row "16K, protect page 2 r-- then rw- again"  merge_back
row "write 5 bytes into mem at 0x10800"       part_page
row "r--/r--, protect rw-|VM_PROT_COPY"       prot_copy
}

echo "the host at $M follows the $(cat "$M/host/personality") rules"
echo
table | sed 's/ *$//'
echo
echo "shown: the same commands on three hosts; where GNU Mach and XNU disagree, gnu and xnu answer as those kernels do and mach keeps the rules of docs/semantics.md"
