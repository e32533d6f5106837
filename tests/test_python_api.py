"""The machvmfs Python package (python/machvmfs): mount(), Host, Task,
KernError, and its pytest plugin.

Most tests take the plugin's own `machvmfs` fixture (a Host on a fresh mount
of the daemon under test; tests/conftest.py registers the plugin from the
tree).  Every refused call must raise KernError whose name, errno and
message are the task's last_error line, and change nothing.
"""
import errno
import os
import pickle
import subprocess
import tempfile
import textwrap

import pytest

import machvmfs
from fsmount import _mounted, daemon_path, fails
from machvmfs import Daemon, KernError, Remapped
from machvm_paths import PYTHON_DIR


def refused(fn, *args, kern=None, err=None, **kwargs):
    """fn(*args) must raise KernError with the KERN_ name `kern` and errno
    `err`; returns it."""
    try:
        fn(*args, **kwargs)
    except KernError as e:
        assert (e.name, e.errno) == (kern, err), (e.name, e.errno, e.message)
        assert e.message.startswith(kern + ': '), e.message
        assert str(e) == e.message
        return e
    raise AssertionError('%s%r succeeded, expected %s' % (fn.__name__, args, kern))


def recorded(task, e):
    """The error's message is the task's last_error line."""
    assert task.last_error == e.message
    return e


# ---- mount() --------------------------------------------------------------------


def test_mount_gives_a_host_and_cleans_up(monkeypatch):
    monkeypatch.delenv('MACHVMFS_DAEMON', raising=False)
    with machvmfs.mount(daemon=daemon_path(), page_size='16K', events=100) as host:
        d = host.daemon
        assert d.argv == [daemon_path(), '-f', '-o', 'page_size=16K,events=100', host.path]
        assert _mounted(host.path) and d.running()
        assert host.page_size == 16384
        assert sorted(os.listdir(host.path)) == ['host', 'objects', 'tasks']
        t = host.create()
        assert t.allocate_anywhere('16K') == 16384
        path = host.path
    assert not _mounted(path)
    assert d.returncode == 0
    assert not os.path.exists(os.path.dirname(path)), 'the temporary directory stays'


def test_mount_unmounts_when_the_block_raises(tmp_path):
    mp = tmp_path / 'here'
    mp.mkdir()
    with pytest.raises(KeyError):
        with machvmfs.mount(mp, daemon=daemon_path()) as host:
            host.create()
            d = host.daemon
            raise KeyError('boom')
    assert not _mounted(str(mp))
    assert d.returncode == 0
    assert mp.is_dir() and os.listdir(mp) == []     # a given mount point stays


def test_mount_reports_a_daemon_that_cannot_mount(tmp_path, monkeypatch):
    temp = tmp_path / 'temp'
    temp.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(temp))
    with pytest.raises(machvmfs.MountError) as info:
        with machvmfs.mount(daemon=daemon_path(), page_size='4097'):
            raise AssertionError('mounted with page_size=4097')
    assert 'exited with 1 before mounting' in str(info.value)
    assert 'page_size' in info.value.log
    assert os.listdir(temp) == []                     # its mount point and log are gone
    with pytest.raises(ValueError):                      # an option cannot smuggle another
        with machvmfs.mount(daemon=daemon_path(), page_size='16K,allow_other'):
            pass


def test_daemon_lookup_order(tmp_path, monkeypatch):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    (bindir / 'machvmfs').symlink_to(daemon_path())
    monkeypatch.setenv('PATH', str(bindir))
    monkeypatch.delenv('MACHVMFS_DAEMON', raising=False)
    assert machvmfs.find_daemon() == str(bindir / 'machvmfs')
    monkeypatch.setenv('MACHVMFS_DAEMON', '/nowhere/env-machvmfs')
    assert machvmfs.find_daemon() == '/nowhere/env-machvmfs'
    assert machvmfs.find_daemon('/nowhere/arg') == '/nowhere/arg'
    with pytest.raises(machvmfs.MountError, match='no machvmfs daemon at /nowhere/env-machvmfs'):
        with machvmfs.mount():
            pass
    monkeypatch.delenv('MACHVMFS_DAEMON')
    monkeypatch.setenv('PATH', str(tmp_path))       # nothing there
    with pytest.raises(machvmfs.MountError, match='MACHVMFS_DAEMON'):
        machvmfs.find_daemon()
    # found on PATH, and mounted with it (fusermount3 found without PATH)
    monkeypatch.setenv('PATH', str(bindir))
    with machvmfs.mount() as host:
        assert host.daemon.program == str(bindir / 'machvmfs')
        path = host.path
        assert host.create().id == 1
    assert not _mounted(path) and host.daemon.returncode == 0


def _wrapper(tmp_path, name, after):
    """A stand-in daemon: runs the real one, then does `after` (shell)."""
    w = tmp_path / name
    w.write_text('#!/bin/sh\n"%s" "$@"\nrc=$?\n%s\n' % (daemon_path(), after))
    w.chmod(0o755)
    return str(w)


def test_mount_checks_how_the_daemon_ended(tmp_path):
    bad_exit = _wrapper(tmp_path, 'exit3', 'exit 3')
    with pytest.raises(machvmfs.MountError, match='the daemon exited with 3'):
        with machvmfs.mount(daemon=bad_exit) as host:
            host.create()
    report = _wrapper(tmp_path, 'asan', 'echo "==1==ERROR: AddressSanitizer: heap-use-after-free'
                      ' (a stand-in)" >&2; exit $rc')
    with pytest.raises(machvmfs.MountError, match='sanitizer report') as info:
        with machvmfs.mount(daemon=report):
            pass
    assert 'heap-use-after-free' in info.value.log
    with machvmfs.mount(daemon=bad_exit, check=False) as host:     # check=False: not raised
        pass
    assert host.daemon.returncode == 3
    assert host.daemon.problems() == ['the daemon exited with 3']


def test_host_of_a_mount_made_otherwise(mnt, tmp_path):
    t = mnt.create_task()
    host = machvmfs.Host(mnt.path)
    assert host.daemon is None
    assert [x.id for x in host.tasks()] == [t]
    assert host.task(t).maps() == mnt.maps(t)
    e = fails(errno.ENOENT, machvmfs.Host, str(tmp_path))
    assert isinstance(e, KernError) and e.name == 'ENOENT'
    assert e.message == 'ENOENT: %s: not a machvmfs mount' % tmp_path


# ---- tasks ----------------------------------------------------------------------


def test_create_fork_terminate(machvmfs):
    host = machvmfs
    assert host.daemon.program == daemon_path()          # tests/conftest.py's choice
    t = host.create()
    assert (t.id, t.parent, t.alive) == (1, None, True)
    assert t.path == os.path.join(host.path, 'tasks', '1')
    c = t.fork()
    assert (c.id, c.parent) == (2, 1)
    assert host.task(2) == c and host.task('2') == c and int(c) == 2
    assert host.tasks() == [t, c]
    c.terminate()
    assert not c.alive and host.tasks() == [t]
    e = refused(c.terminate, kern='KERN_INVALID_ARGUMENT', err=errno.EINVAL)
    assert e.message == "KERN_INVALID_ARGUMENT: tasks/ctl: task_terminate(task 2) failed, " \
                        "got 'terminate 2'"
    assert host.last_error == e.message
    e = refused(c.fork, kern='KERN_INVALID_TASK', err=errno.ESRCH)
    assert host.last_error == e.message
    e = refused(host.task, 2, kern='ENOENT', err=errno.ENOENT)
    assert e.message == 'ENOENT: tasks/2: no such task'
    e = refused(c.allocate, 0x10000, 4096, kern='ENOENT', err=errno.ENOENT)
    assert e.message == 'ENOENT: tasks/2/ctl: No such file or directory'
    assert host.tasks() == [t]
    with pytest.raises(ValueError):
        host.task(0)


def test_allocate_deallocate(machvmfs):
    t = machvmfs.create()
    assert t.allocate(0x10000, '16K') == 0x10000
    assert t.allocate_anywhere(0x2000) == 0x1000
    before = t.regions()
    e = recorded(t, refused(t.allocate, 0x12000, 4096, kern='KERN_NO_SPACE', err=errno.ENOSPC))
    assert e.message == "KERN_NO_SPACE: tasks/1/ctl: vm_allocate(task 1, 0x12000, 4096, fixed) " \
                        "failed: [0x12000, 0x13000) overlaps the region [0x10000, 0x14000) " \
                        "of task 1, got 'allocate 0x12000 0x1000'"
    assert e.filename == 'tasks/1/ctl'
    recorded(t, refused(t.allocate, 1 << 47, 4096, kern='KERN_INVALID_ADDRESS', err=errno.EFAULT))
    assert t.regions() == before
    t.deallocate(0x10000, '8K')
    assert [r['start'] for r in t.regions()] == ['0x0000000000001000', '0x0000000000012000']
    recorded(t, refused(t.deallocate, 1 << 47, 4096, kern='KERN_INVALID_ADDRESS', err=errno.EFAULT))
    # bad input never reaches the file: no write, last_error unchanged
    last = t.last_error
    for bad in ('16K 0x1000', '', 'x\n', -1, True, 1.5):
        with pytest.raises((ValueError, TypeError)):
            t.allocate(0x40000, bad)
    assert t.last_error == last and len(t.regions()) == 2


def test_protect_inherit_wire_attr_copy(machvmfs):
    t = machvmfs.create()
    a = t.allocate(0x10000, '16K')
    t.protect(a, 4096, 'r--')
    t.protect(a + 4096, 4096, 1)                          # an int: the octal digit
    assert [r['protection'] for r in t.regions()] == ['r--', 'rw-']
    t.protect(a, 8192, 'r-x', max=True)
    assert t.regions()[0]['max_protection'] == 'r-x'
    e = recorded(t, refused(t.protect, a, 4096, 'rwx', kern='KERN_PROTECTION_FAILURE',
                            err=errno.EACCES))
    assert e.message.endswith("got 'protect 0x10000 0x1000 rwx'")
    recorded(t, refused(t.protect, a, 4096, 'rwz', kern='KERN_INVALID_ARGUMENT', err=errno.EINVAL))
    t.inherit(a + 0x2000, 0x2000, 'share')
    t.map_inherit(a + 0x3000, a + 0x4000, 'none')
    assert [r['inheritance'] for r in t.regions()] == ['copy', 'share', 'none']
    recorded(t, refused(t.inherit, 0x900000, 4096, 'copy', kern='KERN_INVALID_ADDRESS',
                        err=errno.EFAULT))
    t.wire(a + 0x2000, 4096, 'rw-')
    assert t.regions()[1]['wired'] == 1
    t.wire(a + 0x2000, 4096, 'none')
    recorded(t, refused(t.wire, a + 0x2000, 4096, '---', kern='KERN_INVALID_ARGUMENT',
                        err=errno.EINVAL))
    assert t.attr(a, 4096, 'cache', 'get') == 'on'
    assert t.attr(a, 4096, 'cache', 'off') is None
    assert t.attr(a, 4096, 'cache', 'get') == 'off'
    recorded(t, refused(t.attr, a, 4096, 'migrate', 'flush', kern='KERN_INVALID_ARGUMENT',
                        err=errno.EINVAL))
    t.write(a + 0x2000, b'copied')
    t.copy(a + 0x2000, 4096, a + 0x3000)
    assert t.read(a + 0x3000, 6) == b'copied'
    recorded(t, refused(t.copy, 0x900000, 4096, a, kern='KERN_INVALID_ADDRESS', err=errno.EFAULT))


def test_remap(machvmfs):
    src = machvmfs.create()
    a = src.allocate(0x10000, '16K')
    src.write(a, b'original')
    dst = machvmfs.create()
    r = dst.remap(src, a, 4096, at=0x100000)
    assert r == Remapped(0x100000, 'rw-', 'rwx')
    dst.write(0x100000, b'SHARED')
    assert src.read(a, 8) == b'SHAREDal'
    r = dst.remap(src.id, a, 4096, copy=True, anywhere=0x400000, inherit='share')
    assert r.address == 0x400000
    dst.write(r.address, b'mine')
    assert src.read(a, 6) == b'SHARED'
    r = dst.remap(src, a, '4K', anywhere=True, mask=0xffff)
    assert r.address % 0x10000 == 0
    e = recorded(dst, refused(dst.remap, src, 0x900000, 4096, kern='KERN_INVALID_ADDRESS',
                              err=errno.EFAULT))
    assert e.message.startswith('KERN_INVALID_ADDRESS: tasks/2/remap: vm_remap(')
    recorded(dst, refused(dst.remap, src, a, 4096, at=0x100000, kern='KERN_NO_SPACE',
                          err=errno.ENOSPC))
    with pytest.raises(ValueError):
        dst.remap(src, a, 4096, at=0x500000, anywhere=True)
    assert len(dst.regions()) == 3


def test_read_write(machvmfs):
    t = machvmfs.create()
    a = t.allocate(0x10000, '8K')
    assert t.write(a, b'hello') == 5
    assert t.write(a + 5, ' world') == 6                 # str: UTF-8
    assert t.read(a, 11) == b'hello world'
    assert t.read('0x10000', '5') == b'hello'
    # short at the hole after the region; refused when the first byte is in it
    assert t.read(a + 0x2000 - 3, 10) == b'\0\0\0'
    e = refused(t.read, a + 0x2000, 4, kern='KERN_INVALID_ADDRESS', err=errno.EFAULT)
    assert e.message == ('KERN_INVALID_ADDRESS: tasks/1/mem: vm_read(task 1, 0x12000, 4) failed '
                         '(Bad address)')
    e = recorded(t, refused(t.write, a + 0x2000 - 2, b'abcd', kern='KERN_INVALID_ADDRESS',
                            err=errno.EFAULT))
    assert e.written == 2 and t.read(a + 0x2000 - 2, 2) == b'ab'
    t.protect(a + 0x1000, 4096, 'r--')
    e = recorded(t, refused(t.write, a + 0x1000, b'x', kern='KERN_PROTECTION_FAILURE',
                            err=errno.EACCES))
    assert e.written == 0 and e.message.startswith('KERN_PROTECTION_FAILURE: tasks/1/mem: ')
    t.protect(a + 0x1000, 4096, '---')
    refused(t.read, a + 0x1000, 1, kern='KERN_PROTECTION_FAILURE', err=errno.EACCES)
    c = t.fork()
    c.write(a, b'HELLO')
    assert (t.read(a, 5), c.read(a, 5)) == (b'hello', b'HELLO')


def test_regions_status_maps(machvmfs):
    t = machvmfs.create()
    t.allocate(0x10000, '16K')
    t.write(0x10000, b'x')
    regions = t.regions()
    assert regions == [dict(r) for r in regions] and len(regions) == 1
    r = regions[0]
    assert (r['start'], r['end'], r['size'], r['share_mode'], r['resident_pages']) == \
        ('0x0000000000010000', '0x0000000000014000', 16384, 'private', 1)
    assert t.maps() == ['0000000000010000-0000000000014000 rw-/rwx copy wired=0 private '
                        'shared=no object=1 offset=0x0']
    s = t.status()
    assert (s['id'], s['parent'], s['regions'], s['resident_pages']) == (1, 'none', 1, 1)
    assert machvmfs.stats()['tasks'] == 1
    assert t.last_error == 'none'


def test_kern_error_is_an_os_error(machvmfs):
    t = machvmfs.create()
    t.allocate(0x10000, 4096)
    e = fails(errno.ENOSPC, t.allocate, 0x10000, 4096)   # the suite's own helper
    assert isinstance(e, KernError) and e.strerror == os.strerror(errno.ENOSPC)
    back = pickle.loads(pickle.dumps(e))
    assert (back.name, back.errno, back.message) == (e.name, e.errno, e.message)


@pytest.mark.machvmfs(page_size='64K')
def test_the_marker_sets_options(machvmfs):
    assert machvmfs.page_size == 65536
    assert 'page_size=64K' in machvmfs.daemon.argv


def test_fsmount_uses_the_package(mnt):
    assert isinstance(mnt.daemon, Daemon)
    assert mnt.host().task(mnt.create_task()).allocate(0x10000, 1) == 0x10000


# ---- the plugin, run by pytest on test files of its own (pytester) ---------------

INNER = textwrap.dedent('''
    import os

    def test_uses_a_host(machvmfs):
        t = machvmfs.create()
        t.allocate(0x10000, '16K')
        t.write(0x10000, b'x')
        assert t.fork().regions()[0]['share_mode'] == 'cow'
        with open(os.environ['MOUNTS_SEEN'], 'a') as f:
            f.write(machvmfs.path + '\\n')
''')


@pytest.fixture
def inner(pytester, monkeypatch, tmp_path):
    """Runs pytest (in a subprocess) on INNER with the plugin taken from the
    tree by a conftest's pytest_plugins; returns a function of the daemon
    to use that gives the result and the mount points the test saw."""
    monkeypatch.setenv('PYTHONPATH', PYTHON_DIR)
    seen = tmp_path / 'seen'
    monkeypatch.setenv('MOUNTS_SEEN', str(seen))
    pytester.makeconftest("pytest_plugins = ['machvmfs.pytest_plugin']\n")
    pytester.makepyfile(test_inner=INNER)

    def run(daemon):
        monkeypatch.setenv('MACHVMFS_DAEMON', daemon)
        if seen.exists():
            seen.unlink()
        result = pytester.runpytest_subprocess('-p', 'no:cacheprovider')
        paths = seen.read_text().split() if seen.exists() else []
        for p in paths:
            assert not _mounted(p), 'the plugin left %s mounted' % p
        return result, paths
    return run


def test_plugin_passes_a_good_test(inner):
    result, paths = inner(daemon_path())
    result.assert_outcomes(passed=1)
    assert len(paths) == 1


def test_plugin_fails_a_test_whose_daemon_exits_non_zero(inner, tmp_path):
    result, paths = inner(_wrapper(tmp_path, 'exit7', 'exit 7'))
    result.assert_outcomes(passed=1, errors=1)          # failed at its teardown
    result.stdout.fnmatch_lines(['*ERROR at teardown of test_uses_a_host*',
                                 '*the daemon exited with 7*'])
    assert len(paths) == 1


def test_plugin_fails_a_test_whose_daemon_logs_a_sanitizer_report(inner, tmp_path):
    result, paths = inner(_wrapper(tmp_path, 'ubsan', 'echo "src/x.c:1:2: runtime error: signed'
                                   ' integer overflow (a stand-in)" >&2; exit $rc'))
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(['*ERROR at teardown of test_uses_a_host*',
                                 '*sanitizer report in the daemon log*',
                                 '*runtime error: signed integer overflow*'])


def test_plugin_reports_a_daemon_that_cannot_mount(inner, tmp_path):
    result, paths = inner(str(tmp_path / 'missing-daemon'))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(['*ERROR at setup of test_uses_a_host*',
                                 '*no machvmfs daemon at*missing-daemon*'])
    assert paths == []


def test_python_readme_examples(tmp_path, monkeypatch):
    """python/README.md's two Python examples run: the first as a script,
    the second as a test of the plugin."""
    with open(os.path.join(PYTHON_DIR, 'README.md')) as f:
        text = f.read()
    blocks = [b.split('\n', 1)[1] for b in text.split('```python')[1:]]
    blocks = [b[:b.index('```')] for b in blocks]
    assert len(blocks) == 2
    script = tmp_path / 'example.py'
    script.write_text(blocks[0])
    env = dict(os.environ, MACHVMFS_DAEMON=daemon_path(), PYTHONPATH=PYTHON_DIR)
    r = subprocess.run(['/usr/bin/python3', str(script)], capture_output=True, text=True,
                       env=env, timeout=60, cwd='/')
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        '2', "KERN_NO_SPACE 28 KERN_NO_SPACE: tasks/1/ctl: vm_allocate(task 1, 0x10000, 16384, "
        "fixed) failed: [0x10000, 0x14000) overlaps the region [0x10000, 0x20000) of task 1, "
        "got 'allocate 0x10000 16K'"]
    tests = tmp_path / 'plugin'
    tests.mkdir()
    (tests / 'conftest.py').write_text("pytest_plugins = ['machvmfs.pytest_plugin']\n")
    (tests / 'test_readme.py').write_text(blocks[1])
    r = subprocess.run(['/usr/bin/python3', '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                        '--basetemp', str(tmp_path / 'base'), str(tests)],
                       capture_output=True, text=True, env=env, timeout=120, cwd=str(tests))
    assert r.returncode == 0 and '1 passed' in r.stdout, r.stdout + r.stderr
