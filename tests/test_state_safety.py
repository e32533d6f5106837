"""A state file you can trust: what the daemon does to FILE, its temporary
files and FILE.lock when someone else can write FILE's folder; one daemon
at a time on a FILE (a second one waits for the first one's last save, or
gives up); saves that fail are heard of (stderr, syslog, exit status);
-o autosave.

Each hole closed here has a test that reproduces it: planting a symbolic
link or a file of another user where the save writes, a FIFO for FILE, a
second daemon started while the first one still saves, a crash with
autosave on.
"""
import errno
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from fsmount import _mounted, daemon_path, fails
from nsharness import available as namespace_available, run_in_namespace

NOBODY = 65534
REFUSE_TIMEOUT = 10

needs_root = pytest.mark.skipif(os.getuid() != 0, reason='planting files of another user '
                                'needs root')


def load(path):
    with open(path) as f:
        return json.load(f)


def state_mount(mount_factory, path, extra=(), **kw):
    return mount_factory(options=['state=%s' % path] + list(extra), **kw)


def refused(tmp_path, options, timeout=REFUSE_TIMEOUT):
    """Runs the daemon with options it must refuse at once: exit status 1,
    nothing mounted.  Returns the completed process (stderr to check)."""
    mp = tmp_path / 'refused-mnt'
    mp.mkdir(exist_ok=True)
    argv = [daemon_path(), '-f', '-o', ','.join(options), str(mp)]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        r = None
    finally:
        mounted = _mounted(str(mp))
        if mounted:
            subprocess.run(['fusermount3', '-u', str(mp)])
    assert r is not None, 'machvmfs hung (or served) for %d s with %s' % (timeout, options)
    assert not mounted, 'machvmfs mounted with %s' % options
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert 'AddressSanitizer' not in r.stderr and 'runtime error' not in r.stderr, r.stderr
    return r


def open_folder(tmp_path):
    """A folder everyone may write, as a shared /srv/machvm might be."""
    folder = tmp_path / 'shared'
    folder.mkdir()
    os.chmod(folder, 0o777)
    return folder


def victim(tmp_path):
    """A file of ours that no save may touch."""
    v = tmp_path / 'victim'
    v.write_bytes(b'precious\n')
    os.chmod(v, 0o644)
    return v


# ---- 1. the save never writes through what someone planted -------------------

@needs_root
@pytest.mark.parametrize('plant', ['symlink', 'file of another user'])
def test_planted_temporary_file_is_never_written(mount_factory, tmp_path, plant):
    folder = open_folder(tmp_path)
    path = folder / 'host.json'
    v = victim(tmp_path)
    planted = folder / 'host.json.tmp'
    if plant == 'symlink':
        planted.symlink_to(v)
    else:
        planted.write_bytes(b'theirs\n')
        os.chmod(planted, 0o666)
        os.chown(planted, NOBODY, NOBODY)
    m = state_mount(mount_factory, path)
    t = m.create_task()
    m.allocate(t, 0x10000, m.P)
    m.mem_write(t, 0x10000, b'secret')
    assert m.command('host/save', 'save') == 'ok'
    m.close()

    assert v.read_bytes() == b'precious\n'
    if plant == 'symlink':
        assert planted.is_symlink() and os.readlink(planted) == str(v)
    else:
        st = os.lstat(planted)
        assert (st.st_uid, planted.read_bytes()) == (NOBODY, b'theirs\n')
    st = os.lstat(path)
    assert (st.st_uid, st.st_mode & 0o777) == (os.geteuid(), 0o600)
    assert [x['id'] for x in load(path)['tasks']] == [t]
    # Nothing else left behind: the file, its lock and what was planted.
    assert sorted(os.listdir(folder)) == ['host.json', 'host.json.lock', 'host.json.tmp']


def test_state_file_that_is_a_symlink(mount_factory, tmp_path):
    folder = open_folder(tmp_path)
    path = folder / 'host.json'
    v = victim(tmp_path)
    # At mount: refused, whatever it points to.
    path.symlink_to(v)
    r = refused(tmp_path, ['state=%s' % path])
    assert str(path) in r.stderr and 'symbolic link' in r.stderr, r.stderr
    path.unlink()
    # Made a link while mounted: the save refuses it, and says so.
    m = state_mount(mount_factory, path)
    m.create_task()
    path.symlink_to(v)
    fails(errno.EIO, m.write, 'host/save', 'save\n')
    assert 'symbolic link' in m.last_error() and str(path) in m.last_error()
    m.close(check=False)
    assert m.proc.returncode == 1
    assert 'not saved' in m.log_text() and 'symbolic link' in m.log_text()
    assert v.read_bytes() == b'precious\n' and path.is_symlink()


# ---- 2. a FIFO, page_size garbage, host/save for others ----------------------

def test_fifo_state_file_is_refused_at_once(tmp_path):
    path = tmp_path / 'host.json'
    os.mkfifo(path)
    start = time.monotonic()
    r = refused(tmp_path, ['state=%s' % path])
    assert str(path) in r.stderr and 'not a regular file' in r.stderr and 'FIFO' in r.stderr
    assert time.monotonic() - start < REFUSE_TIMEOUT


@pytest.mark.parametrize('plant', ['symlink', 'fifo', 'folder', 'file of another user',
                                   'hard link'])
def test_planted_lock_file_is_refused(tmp_path, plant):
    if plant in ('file of another user', 'hard link') and os.getuid() != 0:
        pytest.skip('needs root')
    folder = open_folder(tmp_path)
    path = folder / 'host.json'
    lock = folder / 'host.json.lock'
    v = victim(tmp_path)
    if plant == 'symlink':
        lock.symlink_to(v)
    elif plant == 'fifo':
        os.mkfifo(lock)
    elif plant == 'folder':
        lock.mkdir()
    elif plant == 'file of another user':
        lock.write_bytes(b'')
        os.chown(lock, NOBODY, NOBODY)
    else:
        os.link(v, lock)
    r = refused(tmp_path, ['state=%s' % path])
    assert str(lock) in r.stderr and 'refused' in r.stderr, r.stderr
    assert v.read_bytes() == b'precious\n'
    assert not path.exists()


@pytest.mark.parametrize('value', ['0', '0K', '0x0', '', 'abc', '-4096', '4097', '1G',
                                   '99999999999999999999'])
def test_page_size_garbage_is_refused(tmp_path, value):
    r = refused(tmp_path, ['page_size=%s' % value])
    assert '-o page_size=%s:' % value in r.stderr, r.stderr


@pytest.mark.parametrize('option', ['autosave=abc', 'autosave=-1', 'autosave=86401',
                                    'lock_timeout=x', 'lock_timeout=1e3',
                                    'lock_timeout=100000'])
def test_bad_seconds_are_refused(tmp_path, option):
    r = refused(tmp_path, ['state=%s' % (tmp_path / 'h.json'), option])
    assert '-o %s:' % option in r.stderr, r.stderr
    assert not (tmp_path / 'h.json.lock').exists()


@pytest.mark.parametrize('option', ['autosave=5', 'lock_timeout=5'])
def test_seconds_need_a_state_file(tmp_path, option):
    r = refused(tmp_path, [option])
    assert 'only with -o state=FILE' in r.stderr, r.stderr


def test_state_path_must_name_a_file(tmp_path):
    r = refused(tmp_path, ['state=%s/' % tmp_path])
    assert 'a file name is needed' in r.stderr, r.stderr


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which('setpriv'),
                    reason='acting as a second user needs root and setpriv')
def test_host_save_is_refused_at_open_for_others(mount_factory, tmp_path):
    path = tmp_path / 'host.json'
    m = state_mount(mount_factory, path, ['allow_other'])
    m.create_task()
    fails(errno.EINVAL, m.write, 'tasks/ctl', 'bogus\n')
    before = m.last_error()
    assert before.startswith('KERN_INVALID_ARGUMENT: tasks/ctl:')
    code = r'''
import errno, json, os, sys
p = os.path.join(sys.argv[1], 'host/save')
out = {}
for name, flags in (('wronly', os.O_WRONLY), ('rdwr', os.O_RDWR),
                    ('trunc', os.O_RDONLY | os.O_TRUNC)):
    try:
        fd = os.open(p, flags)
        try:
            os.write(fd, b'save\n')
            out[name] = 'written'
        except OSError as e:
            out[name] = 'open, then write ' + errno.errorcode[e.errno]
        os.close(fd)
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
with open(p) as f:
    out['read'] = f.read()
print(json.dumps(out))
'''
    got = json.loads(m.run_as(NOBODY, code).strip().splitlines()[-1])
    assert got == {'wronly': 'EACCES', 'rdwr': 'EACCES', 'trunc': 'EACCES', 'read': 'save\n'}
    assert m.last_error() == before
    assert not path.exists()
    # The user who mounted still may.
    assert m.command('host/save', 'save') == 'ok' and path.exists()


# ---- 3. one daemon at a time on a FILE ---------------------------------------

def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out waiting for ' + what
        time.sleep(0.02)


def test_second_daemon_waits_for_the_first_and_loads_its_save(mount_factory, tmp_path):
    path = tmp_path / 'host.json'
    first = state_mount(mount_factory, path)
    t = first.create_task()
    first.allocate(t, 0x10000, first.P)
    first.mem_write(t, 0x10000, b'from the first')
    second = state_mount(mount_factory, path, ['lock_timeout=30'], start=False)
    started = []
    th = threading.Thread(target=lambda: started.append(second.start()))
    th.start()
    try:
        wait_for(lambda: 'waiting' in second.log_text(), 10, 'the second daemon to wait')
        line = second.log_text()
        assert 'pid %d' % first.proc.pid in line and '%s.lock' % path in line, line
        assert not _mounted(second.path)
        assert not path.exists()            # the first has not saved yet
    finally:
        first.close()                       # saves, then lets go
        th.join()
    assert started, 'the second daemon did not mount'
    assert second.task_ids() == [t]
    assert second.mem_read(t, 0x10000, 14) == b'from the first'


def test_lock_timeout_gives_up_naming_the_holder(mount_factory, tmp_path):
    path = tmp_path / 'host.json'
    first = state_mount(mount_factory, path)
    first.create_task()
    start = time.monotonic()
    r = refused(tmp_path, ['state=%s' % path, 'lock_timeout=1'])
    took = time.monotonic() - start
    assert 0.9 < took < REFUSE_TIMEOUT, took
    assert 'pid %d' % first.proc.pid in r.stderr and str(path) in r.stderr, r.stderr
    assert 'gave up after 1 s' in r.stderr and 'waiting up to 1 s' in r.stderr, r.stderr
    # lock_timeout=0 does not wait at all.
    r = refused(tmp_path, ['state=%s' % path, 'lock_timeout=0'])
    assert 'gave up after 0 s' in r.stderr and 'waiting' not in r.stderr, r.stderr
    # The first is unharmed and still the one that saves.
    assert first.task_ids() == [1]
    first.close()
    assert [x['id'] for x in load(path)['tasks']] == [1]


def test_remount_at_once_keeps_the_host(mount_factory, tmp_path):
    """fusermount3 -u returns while the daemon still saves; a daemon started
    right then must load that save, not an empty or half-written file."""
    path = tmp_path / 'host.json'
    size = 256 << 10                        # a save that takes a while
    marker = b''
    for round_ in range(2):
        m = state_mount(mount_factory, path)
        if round_ == 0:
            t = m.create_task()
            m.allocate(t, 0x100000, size)
            m.mem_write(t, 0x100000, os.urandom(size))
        else:
            assert m.task_ids() == [1], 'round %d lost the host' % round_
            assert m.mem_read(1, 0x100000, len(marker)) == marker
        marker = b'round %d' % round_
        m.mem_write(1, 0x100000, marker)
        m.unmount_nowait()
        # m's daemon is still saving now; the next round mounts at once.
    m = state_mount(mount_factory, path)
    assert m.mem_read(1, 0x100000, len(marker)) == marker


# ---- 4. a failed final save is heard of ----------------------------------------

namespace = pytest.mark.skipif(not namespace_available(),
                               reason='reading syslog needs root and unshare')


@namespace
def test_failed_final_save_goes_to_stderr_syslog_and_exit_status(tmp_path):
    out = run_in_namespace(r'''
path = args[0] + '/host.json'
d = Daemon(args[0] + '/mnt', ['state=' + path])
out['pid'] = d.proc.pid
with open(d.p('tasks/ctl'), 'w') as f:
    f.write('create\n')
os.mkdir(path)                       # FILE is a folder now: the save must refuse
out['rc'] = d.unmount()
out['log'] = d.text()
out['heard'] = syslog.wait_for('not saved')
out['syslog'] = syslog.lines
''', tmp_path)
    assert out['rc'] == 1, out
    path = str(tmp_path / 'host.json')
    assert 'the host was not saved' in out['log'] and path in out['log'], out
    assert out['heard'], out
    line = next(m for m in out['syslog'] if 'not saved' in m)
    # <27> is LOG_DAEMON | LOG_ERR; the tag carries the pid.
    assert line.startswith('<27>') and 'machvmfs[%d]:' % out['pid'] in line, line
    assert path in line and 'not a regular file' in line, line


# ---- 5. autosave ---------------------------------------------------------------

def test_autosave_survives_a_crash(mount_factory, tmp_path):
    path = tmp_path / 'host.json'
    m = state_mount(mount_factory, path, ['autosave=1'])
    t = m.create_task()
    m.allocate(t, 0x10000, m.P)
    m.mem_write(t, 0x10000, b'before the crash')

    def saved():
        try:
            return [x['id'] for x in load(path)['tasks']] == [t]
        except (OSError, ValueError):
            return False
    wait_for(saved, 10, 'an autosave')
    m.crash()                                # kill -9: no final save
    m2 = state_mount(mount_factory, path)
    assert m2.task_ids() == [t]
    assert m2.mem_read(t, 0x10000, 16) == b'before the crash'


def test_autosave_only_when_something_changed(mount_factory, tmp_path):
    path = tmp_path / 'host.json'
    m = state_mount(mount_factory, path, ['autosave=1'])
    time.sleep(1.5)
    assert not path.exists()                 # nothing to save yet
    m.create_task()
    wait_for(path.exists, 10, 'an autosave')
    inode = os.stat(path).st_ino             # every save renames a new file in
    time.sleep(2.5)
    assert os.stat(path).st_ino == inode
    m.create_task()
    wait_for(lambda: os.stat(path).st_ino != inode, 10, 'the next autosave')
    assert [x['id'] for x in load(path)['tasks']] == [1, 2]


@namespace
def test_failed_autosave_is_logged_and_goes_on(tmp_path):
    out = run_in_namespace(r'''
path = args[0] + '/host.json'
d = Daemon(args[0] + '/mnt', ['state=' + path, 'autosave=1'])
def create():
    with open(d.p('tasks/ctl'), 'w') as f:
        f.write('create\n')
os.mkdir(path)                       # every save fails while FILE is a folder
create()
out['heard'] = syslog.wait_for('autosave failed')
time.sleep(1.5)                      # failing again: not logged again
out['alive'] = d.proc.poll() is None
create()                             # still serving
os.rmdir(path)
deadline = time.monotonic() + 10
while not os.path.isfile(path) and time.monotonic() < deadline:
    time.sleep(0.05)
with open(path) as f:
    out['tasks'] = [t['id'] for t in json.load(f)['tasks']]
out['rc'] = d.unmount()
out['log'] = d.text()
out['syslog'] = syslog.lines
''', tmp_path)
    assert out['heard'] and out['alive'], out
    assert out['tasks'] == [1, 2], out
    assert out['rc'] == 0, out
    failures = [m for m in out['syslog'] if 'autosave failed' in m]
    assert len(failures) == 1 and failures[0].startswith('<27>'), out['syslog']
    assert 'not a regular file' in failures[0]
    assert out['log'].count('autosave failed') == 1, out['log']


def test_help_lists_the_options():
    r = subprocess.run([daemon_path(), '--help'], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    for option in ('-o state=FILE', '-o autosave=SECONDS', '-o lock_timeout=SECONDS'):
        assert option in r.stdout, (option, r.stdout)
    assert 'FILE.lock' in r.stdout
