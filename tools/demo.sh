#!/usr/bin/env bash
# demo.sh - mounts machvmfs on a temporary directory, runs the tour
# (examples/tour.sh) against it, and unmounts, whatever happens.
#   tools/demo.sh [BUILD_DIR]     (default: build/debug, what `scons` builds)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build/debug}
daemon=$build/machvmfs
if [ ! -x "$daemon" ]; then
	echo "demo: $daemon is not built yet: run scons first" >&2
	exit 1
fi
mnt=$(mktemp -d /tmp/machvmfs.XXXXXX)
log=$(mktemp /tmp/machvmfs-log.XXXXXX)
cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
	rmdir "$mnt" 2>/dev/null || true
	rm -f "$log"
}
trap cleanup EXIT
"$daemon" "$mnt" 2>"$log" || { echo "demo: machvmfs failed to mount:" >&2; cat "$log" >&2; exit 1; }
echo "# machvmfs mounted at $mnt ($daemon $mnt)"
echo
bash "$top/examples/tour.sh" "$mnt"
echo
echo "# unmounting: fusermount3 -u $mnt"
