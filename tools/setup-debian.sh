#!/usr/bin/env bash
# Installs what machvmfs needs to build, run and test on Debian 12 (as root).
# Safe to run again: apt-get skips what is already there.
set -euo pipefail
packages=(gcc g++ scons pkg-config libfuse3-dev fuse3 libjansson-dev python3 python3-pytest
          python3-hypothesis util-linux binutils
          mount      # mount, umount: the mount -t fuse.machvmfs and syslog tests
          graphviz   # dot: renders graph.dot (tools/machvm-graph, its tests)
          man-db groff-base   # man, groff: the manual pages and their tests
          clang libclang-rt-14-dev   # scons fuzz: clang and its libFuzzer runtime
          libtsan2                   # scons variant=tsan: gcc's ThreadSanitizer runtime
          # pip install ./python into a venv, offline: venv with pip, and the
          # wheels the build backend needs, in /usr/share/python-wheels
          python3-venv python3-pip python3-pip-whl python3-setuptools-whl python3-wheel-whl)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}"
fi
if [ ! -e /dev/fuse ]; then
	echo "setup: /dev/fuse is missing: this machine cannot mount FUSE filesystems" >&2
	exit 1
fi
