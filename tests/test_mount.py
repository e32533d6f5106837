"""The daemon's command line as mount(8) uses it, and mount points it refuses.

`mount -t fuse.machvmfs machvmfs DIR -o OPTIONS` (and the same line in an
fstab) runs mount.fuse3, which runs `machvmfs machvmfs DIR -o OPTIONS` through
/bin/sh: a source word before the mount point, and options such as rw, dev
and suid next to machvmfs's own.  mount(8) drops PATH from the environment,
so the shell finds machvmfs in its default PATH (/usr/local/sbin,
/usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin).  The real mount test
therefore runs in a private mount namespace (unshare -m) where a tmpfs over
/usr/local/sbin holds a link to the daemon under test: the rest of the
machine never sees it, nor the mount.
"""
import json
import os
import shutil
import subprocess

import pytest

from fsmount import daemon_path, _mounted


def _daemon():
    path = daemon_path()
    if not os.access(path, os.X_OK):
        pytest.fail('no daemon at %s: build it first' % path)
    return path


def _mount_count(path):
    with open('/proc/self/mountinfo') as f:
        return sum(1 for line in f if line.split()[4] == path)


def _refused(argv, mountpoint):
    """Runs the daemon; it must exit 1 with a message and mount nothing."""
    before = _mount_count(mountpoint)
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        r = None
    finally:
        while _mount_count(mountpoint) > before:
            subprocess.run(['fusermount3', '-u', mountpoint], capture_output=True)
    assert r is not None, 'machvmfs kept running: %s' % argv
    assert r.returncode == 1, (r.returncode, r.stderr)
    return r.stderr


def test_source_word_and_mount_options_are_accepted(mount_factory):
    # What mount.fuse3 runs: machvmfs SOURCE DIR -o rw,...,dev,suid (and
    # fstab's defaults when mount.fuse3 is run by hand)
    m = mount_factory(args=['machvmfs'],
                      options=['defaults', 'rw', 'page_size=16K', 'dev', 'suid', 'exec'])
    assert m.read('host/page_size') == '16384\n'
    t = m.create_task()
    assert m.allocate(t, 0x10000, 1) == 0x10000


def test_a_third_word_is_refused(tmp_path):
    mp = tmp_path / 'mnt'
    mp.mkdir()
    err = _refused([_daemon(), '-f', 'machvmfs', str(mp), 'extra'], str(mp))
    assert 'too many arguments' in err


def test_a_file_is_refused_as_mount_point(tmp_path):
    f = tmp_path / 'a-file'
    f.write_text('hello\n')
    err = _refused([_daemon(), '-f', str(f)], str(f))
    assert err == 'machvmfs: mount point %s: not a directory\n' % f
    assert f.read_text() == 'hello\n'


def test_a_machvmfs_mount_is_refused_as_mount_point(mnt):
    t = mnt.create_task()
    err = _refused([_daemon(), '-f', mnt.path], mnt.path)
    assert err == ('machvmfs: mount point %s: already holds a machvmfs mount '
                   '(fusermount3 -u it first)\n' % mnt.path)
    err = _refused([_daemon(), '-f', mnt.p('tasks')], mnt.p('tasks'))
    assert err == 'machvmfs: mount point %s: is inside a machvmfs mount\n' % mnt.p('tasks')
    # the first mount is still the only one, and still serves
    assert _mount_count(mnt.path) == 1
    assert mnt.task_ids() == [t]


def test_another_filesystem_may_be_mounted_over(tmp_path):
    # Only machvmfs mounts are refused: a tmpfs mount point is a directory like any other.
    mp = tmp_path / 'tmpfs'
    mp.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', 'tmpfs', str(mp)], check=True)
    try:
        r = subprocess.Popen([_daemon(), str(mp)], stderr=subprocess.PIPE, text=True)
        out, err = r.communicate(timeout=10)
        assert r.returncode == 0, err
        assert sorted(os.listdir(mp)) == ['host', 'objects', 'tasks']
    finally:
        while _mount_count(str(mp)) > 0:
            if subprocess.run(['umount', str(mp)]).returncode != 0:
                subprocess.run(['umount', '-l', str(mp)])


SCRIPT = r'''
set -eu
mnt=$1 daemon=$2 state=$3 fstab=$4
# Only in this mount namespace: the daemon under test where mount.fuse3's
# shell looks first.
mount -t tmpfs -o mode=0755 machvmfs-test /usr/local/sbin
ln -s "$daemon" /usr/local/sbin/machvmfs
trap 'umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true' EXIT
saved() {   # the daemon writes the state file at unmount, after umount returns
	for i in $(seq 200); do [ -s "$state" ] && return 0; sleep 0.05; done
	echo "no state file after unmount" >&2; return 1
}

mount -t fuse.machvmfs machvmfs "$mnt" -o page_size=16K,state="$state"
echo "type $(findmnt -n -o FSTYPE,SOURCE "$mnt")"
echo "page_size $(cat "$mnt/host/page_size")"
exec 3<>"$mnt/tasks/ctl"; echo create >&3; read t <&3; exec 3>&-
echo "allocate 0x10000 16K" > "$mnt/tasks/$t/ctl"
echo "task $t"
umount "$mnt"
saved

mount -T "$fstab" "$mnt"
echo "type $(findmnt -n -o FSTYPE,SOURCE "$mnt")"
echo "page_size $(cat "$mnt/host/page_size")"
echo "tasks $(ls "$mnt/tasks" | grep -v ctl | grep -v last_error | tr '\n' ' ')"
cat "$mnt/tasks/$t/maps"
umount "$mnt"
echo done
'''


def test_mount_t_and_fstab(tmp_path):
    for tool in ('unshare', 'findmnt', 'mount.fuse3'):
        if not shutil.which(tool, path=os.environ.get('PATH', '') + ':/sbin:/usr/sbin'):
            pytest.fail('%s is missing (tools/setup-debian.sh installs it)' % tool)
    mp = tmp_path / 'mnt'
    mp.mkdir()
    state = tmp_path / 'host.json'
    fstab = tmp_path / 'fstab'
    fstab.write_text('# a line as /etc/fstab would hold it\n'
                     'machvmfs %s fuse.machvmfs defaults,noauto,page_size=16K,state=%s 0 0\n'
                     % (mp, state))
    script = tmp_path / 'mount.sh'
    script.write_text(SCRIPT)
    r = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'bash', str(script),
                        str(mp), _daemon(), str(state), str(fstab)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, 'exit %d\n%s\n%s' % (r.returncode, r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    t = int(lines[2].split()[1])
    assert lines[:3] == ['type fuse.machvmfs machvmfs', 'page_size 16384', 'task %d' % t]
    # the fstab line mounted the same host again, from the state file
    assert lines[3:6] == ['type fuse.machvmfs machvmfs', 'page_size 16384', 'tasks %d ' % t]
    assert lines[6].startswith('0000000000010000-0000000000014000 rw-/rwx ')
    assert lines[-1] == 'done'
    assert json.loads(state.read_text())['page_size'] == 16384
    assert not _mounted(str(mp))
