"""scons install and uninstall, and using what they install.

The variant under test ($MACHVM_BUILD, already built) is installed as a
packager would: `scons install PREFIX=/usr/local DESTDIR=<stage>`.  Then, in
a private mount namespace (unshare -m) where the stage's usr/local is bound
over /usr/local, the installed tree is used alone, as if it were the
machine's: `mount -t fuse.machvmfs` finds /usr/local/bin/machvmfs and mounts
a host that the script reads and writes; a C and a C++ program are built with
`pkg-config --cflags --libs machvm` (PKG_CONFIG_PATH in the installed tree)
and run against libmachvm.so.0.  Then, with PATH and PYTHONPATH pointing only
into the installed tree, the installed machvmctl and Python package drive
such a mount, and the package mounts a host with the installed daemon.
Finally `scons uninstall` with the same DESTDIR and PREFIX must leave the
stage empty (the byte-code caches Python wrote there included).  Nothing
outside the stage and the namespace is touched.
"""
import os
import shutil
import subprocess
import sys

import pytest

from machvm_paths import ROOT, build_dir, variant

PREFIX = '/usr/local'

INSTALLED = {
    'bin/machvmfs',
    'lib/libmachvm.so.0.1.0', 'lib/libmachvm.so.0', 'lib/libmachvm.so', 'lib/libmachvm.a',
    'lib/pkgconfig/machvm.pc',
    'share/machvm/install-manifest.txt',
} | {'include/machvm/' + h for h in os.listdir(os.path.join(ROOT, 'include', 'machvm'))
     if h.endswith('.h')}
INSTALLED |= {'share/man/man8/machvmfs.8', 'share/man/man3/libmachvm.3'}
# The Python package, where Debian's python3 finds /usr/local's, and machvmctl.
PYTHONDIR = 'lib/python%d.%d/dist-packages' % sys.version_info[:2]
INSTALLED |= {'bin/machvmctl'} | {
    PYTHONDIR + '/machvmfs/' + f for f in os.listdir(os.path.join(ROOT, 'python', 'machvmfs'))
    if f.endswith('.py')}

# Creates a task, allocates, protects the middle page, and prints what
# vm_region_extended says of each region; both languages.
PROGRAM = r'''
#include <machvm/machvm.h>
#include <stdio.h>

int main(void)
{
	task_t t = TASK_NULL;
	vm_address_t a = 0, at;
	vm_size_t p = 0;
	vm_region_extended_info_t info;
	kern_return_t kr;

	if (machvm_host_start(0) != KERN_SUCCESS || host_page_size(mach_host_self(), &p) != KERN_SUCCESS ||
	    task_create(TASK_NULL, FALSE, &t) != KERN_SUCCESS ||
	    vm_allocate(t, &a, 3 * p, TRUE) != KERN_SUCCESS) {
		fprintf(stderr, "setting up failed\n");
		return 2;
	}
	kr = vm_protect(t, a + p, p, FALSE, VM_PROT_READ);
	printf("%s task %u page %llu\n", LANGUAGE, (unsigned)t, (unsigned long long)p);
	printf("vm_protect %s\n", kern_return_name(kr));
	for (at = 0; vm_region_extended(t, &at, &info) == KERN_SUCCESS; at = info.start + info.size)
		printf("region 0x%llx size 0x%llx prot %d max %d %s\n",
		       (unsigned long long)info.start, (unsigned long long)info.size,
		       info.protection, info.max_protection, machvm_share_mode_name(info.share_mode));
	machvm_host_stop();
	return 0;
}
'''

SCRIPT = r'''
set -eu
stage=$1 mnt=$2 work=$3
mount --bind "$stage/usr/local" /usr/local
trap 'umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true' EXIT

mount -t fuse.machvmfs machvmfs "$mnt" -o page_size=16K
echo "daemon $(findmnt -n -o FSTYPE,SOURCE "$mnt")"
echo "page_size $(cat "$mnt/host/page_size")"
exec 3<>"$mnt/tasks/ctl"; echo create >&3; read t <&3; exec 3>&-
exec 3<>"$mnt/tasks/$t/ctl"; echo "allocate anywhere 32K" >&3; read a <&3; exec 3>&-
echo r-- > "$mnt/tasks/$t/regions/0x0000000000004000/protection"
cat "$mnt/tasks/$t/maps"
umount "$mnt"

export PKG_CONFIG_PATH=/usr/local/lib/pkgconfig
echo "pkg-config $(pkg-config --modversion machvm)"
libdir=$(pkg-config --variable=libdir machvm)
gcc -std=c11 -Wall -Wextra -Werror -DLANGUAGE='"c"' -x c "$work/program.src" \
	$(pkg-config --cflags --libs machvm) -Wl,-rpath,"$libdir" -o "$work/program_c"
g++ -std=c++17 -Wall -Wextra -Werror -DLANGUAGE='"c++"' -x c++ "$work/program.src" \
	$(pkg-config --cflags --libs machvm) -Wl,-rpath,"$libdir" -o "$work/program_cxx"
for p in program_c program_cxx; do
	readelf -d "$work/$p" | grep -o 'NEEDED.*libmachvm[^]]*' | sed 's/.*\[/needs /'
	"$work/$p"
done
'''


# The installed tree alone, again in a namespace: PATH and PYTHONPATH hold only
# /usr/local's bin and Python folder (env -i: nothing else of the environment).
# machvmctl drives a mount made by mount(8); the installed package drives it
# too, and mounts a host of its own with the daemon it finds on that PATH.
SCRIPT_PY = r'''
set -eu
stage=$1 mnt=$2 work=$3 pydir=$4
mount --bind "$stage/usr/local" /usr/local
trap 'umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true' EXIT
mount -t fuse.machvmfs machvmfs "$mnt" -o page_size=16K
alone() { env -i PATH=/usr/local/bin PYTHONPATH="$pydir" MACHVMFS_MOUNT="$mnt" "$@"; }
t=$(alone machvmctl create)
echo "task $t"
alone machvmctl allocate "$t" 0x10000 32K
alone machvmctl poke "$t" 0x10000 installed
alone machvmctl peek "$t" 0x10000 9
if alone machvmctl allocate "$t" 0x10000 16K 2>"$work/err"; then echo "again: exit 0"; else echo "again: exit $?"; fi
cat "$work/err"
alone /usr/bin/python3 - "$mnt" "$t" <<'EOF'
import sys
import machvmfs
print('package', machvmfs.__file__)
task = machvmfs.Host(sys.argv[1]).task(sys.argv[2])
print('child reads', task.fork().read(0x10000, 9).decode())
with machvmfs.mount() as host:
    print('daemon', host.daemon.program, 'page_size', host.page_size)
    print('its task', host.create().id)
EOF
umount "$mnt"
'''


def _scons(*args):
    """Runs scons on this tree's build of the variant under test."""
    builddir = os.path.dirname(build_dir())
    if os.path.commonpath([builddir, ROOT]) == ROOT:
        builddir = os.path.relpath(builddir, ROOT)
    cmd = ['scons', '-Q', 'builddir=' + builddir, 'variant=' + variant()] + list(args)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, '%s failed (exit %d):\n%s\n%s' % (
        ' '.join(cmd), r.returncode, r.stdout[-4000:], r.stderr[-4000:])
    return r.stdout


def _files(stage):
    found = set()
    for d, dirs, files in os.walk(stage):
        for name in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            found.add(os.path.relpath(os.path.join(d, name), stage))
    return found


def _check_man_pages(local):
    """The installed pages render with man(1), without a warning."""
    if not shutil.which('man'):
        pytest.fail('man is missing (tools/setup-debian.sh installs man-db)')
    for page, title in (('man8/machvmfs.8', 'MACHVMFS(8)'), ('man3/libmachvm.3', 'LIBMACHVM(3)')):
        r = subprocess.run(['man', '--warnings', '-l', str(local / 'share' / 'man' / page)],
                           capture_output=True, text=True, env=dict(os.environ, LC_ALL='C',
                                                                   MANWIDTH='80'))
        assert r.returncode == 0 and r.stderr == '', r.stderr
        assert r.stdout.lstrip().startswith(title), r.stdout[:200]


def test_install_use_uninstall(tmp_path):
    for tool in ('scons', 'unshare', 'findmnt', 'pkg-config', 'gcc', 'g++', 'readelf'):
        if not shutil.which(tool):
            pytest.fail('%s is missing (tools/setup-debian.sh installs it)' % tool)
    if not os.access(os.path.join(build_dir(), 'machvmfs'), os.X_OK):
        pytest.fail('no daemon in %s: build it first' % build_dir())
    stage = tmp_path / 'stage'
    mp = tmp_path / 'mnt'
    mp.mkdir()
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'program.src').write_text(PROGRAM)

    out = _scons('install', 'PREFIX=' + PREFIX, 'DESTDIR=%s' % stage)
    assert 'install: %s/usr/local/bin/machvmfs' % stage in out
    local = stage / 'usr' / 'local'
    assert _files(local) == INSTALLED
    assert os.readlink(local / 'lib' / 'libmachvm.so.0') == 'libmachvm.so.0.1.0'
    assert os.stat(local / 'bin' / 'machvmfs').st_mode & 0o777 == 0o755
    pc = (local / 'lib' / 'pkgconfig' / 'machvm.pc').read_text()
    assert 'prefix=/usr/local\n' in pc and 'Libs: ' in pc
    _check_man_pages(local)

    try:
        r = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'bash', '-c',
                            SCRIPT, 'install-check', str(stage), str(mp), str(work)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, 'exit %d\n%s\n%s' % (r.returncode, r.stdout, r.stderr)
        lines = r.stdout.splitlines()
        assert lines[:2] == ['daemon fuse.machvmfs machvmfs', 'page_size 16384']
        # 32K anywhere: at the lowest user address, the page size; then made read-only
        assert lines[2].split()[:2] == ['0000000000004000-000000000000c000', 'r--/rwx']
        assert lines[3] == 'pkg-config 0.1.0'
        for i, lang in ((4, 'c'), (10, 'c++')):
            assert lines[i] == 'needs libmachvm.so.0'
            assert lines[i + 1] == '%s task 1 page 4096' % lang
            assert lines[i + 2] == 'vm_protect KERN_SUCCESS'
            # the protected middle page splits the allocation in three
            assert lines[i + 3:i + 6] == [
                'region 0x1000 size 0x1000 prot 3 max 7 empty',
                'region 0x2000 size 0x1000 prot 1 max 7 empty',
                'region 0x3000 size 0x1000 prot 3 max 7 empty']
        assert len(lines) == 16, lines

        r = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'bash', '-c',
                            SCRIPT_PY, 'install-check-python', str(stage), str(mp), str(work),
                            os.path.join(PREFIX, PYTHONDIR)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, 'exit %d\n%s\n%s' % (r.returncode, r.stdout, r.stderr)
        assert r.stdout.splitlines() == [
            'task 1',
            '0x0000000000010000',
            '00010000: 696e 7374 616c 6c65 64' + ' ' * 19 + 'installed',    # as xxd shows it
            'again: exit 1',
            "KERN_NO_SPACE: tasks/1/ctl: vm_allocate(task 1, 0x10000, 16384, fixed) failed: "
            "[0x10000, 0x14000) overlaps the region [0x10000, 0x18000) of task 1, "
            "got 'allocate 0x10000 16K'",
            'package %s/%s/machvmfs/__init__.py' % (PREFIX, PYTHONDIR),
            'child reads installed',
            'daemon %s/bin/machvmfs page_size 4096' % PREFIX,
            'its task 1'], r.stdout + r.stderr
        # importing it as root left byte-code caches, which uninstall must take too
        assert os.listdir(local / PYTHONDIR / 'machvmfs' / '__pycache__')
    finally:
        out = _scons('uninstall', 'PREFIX=' + PREFIX, 'DESTDIR=%s' % stage)
    assert 'uninstall: removed %s/usr/local/bin/machvmfs' % stage in out
    assert os.listdir(stage) == [], 'left after uninstall: %s' % sorted(_files(stage))
