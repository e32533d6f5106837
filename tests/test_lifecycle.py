"""Tasks: creating, forking and terminating them through tasks/ctl and rmdir;
their ids, parents and status; mounting and its options."""
import errno
import os
import pwd
import re
import signal
import subprocess
import threading

import pytest

from fsmount import daemon_path, fails, _mounted


def test_fresh_mount_is_empty(mnt):
    names = os.listdir(mnt.p('tasks'))
    assert 'ctl' in names and 'last_error' in names
    assert mnt.task_ids() == []
    assert set(os.listdir(mnt.p('host'))) >= {'page_size', 'stats'}
    assert mnt.read('host/page_size') == '4096\n'
    assert mnt.host_stats()['tasks'] == 0
    assert mnt.last_error() == 'none\n'


def test_host_stats_keys(mnt):
    stats = mnt.host_stats()
    for key in ('tasks', 'entries', 'objects', 'resident_pages', 'wired_pages', 'virtual_size',
                'faults', 'zero_fill_faults', 'cow_faults', 'shadows_created', 'collapses',
                'bypasses', 'pages_copied'):
        assert isinstance(stats.get(key), int), (key, stats)
    assert 'page_size' not in stats


def test_create_gives_increasing_ids(mnt):
    a = mnt.create_task()
    b = mnt.create_task()
    assert a == 1 and b == 2
    assert mnt.task_ids() == [1, 2]
    assert mnt.read('tasks/1/parent') == 'none\n'
    assert mnt.host_stats()['tasks'] == 2


def test_ids_are_reused_lowest_first(mnt):
    a = mnt.create_task()
    b = mnt.create_task()
    mnt.terminate(b)
    c = mnt.create_task()
    assert (a, b, c) == (1, 2, 2)
    mnt.terminate(a)
    mnt.terminate(c)
    assert mnt.task_ids() == []
    assert mnt.create_task() == 1
    assert mnt.task_ids() == [1]


def test_create_rmdir_loop_keeps_ids_bounded(mnt):
    """No loop of create and rmdir can use up the ids: they stay small."""
    keep = mnt.create_task()
    seen = set()
    for _ in range(300):
        t = mnt.create_task()
        seen.add(t)
        os.rmdir(os.path.join(mnt.path, 'tasks', str(t)))
    assert seen == {keep + 1}
    assert mnt.task_ids() == [keep]
    assert mnt.host_stats()['tasks'] == 1


def test_open_file_of_dead_task_never_reaches_a_newer_one(mnt):
    """A file kept open across its task's end pins the id: the next task
    gets another one, and the old file only ever finds its task dead."""
    t = mnt.create_task()
    mnt.ctl(t, 'allocate 0x10000 4K')
    fd = os.open(os.path.join(mnt.path, 'tasks', str(t), 'mem'), os.O_RDWR)
    ev = open(os.path.join(mnt.path, 'tasks', str(t), 'events'))
    try:
        mnt.terminate(t)
        u = mnt.create_task()
        assert u != t
        mnt.ctl(u, 'allocate 0x10000 4K')
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b'x', 0x10000)
        assert e.value.errno == errno.ESRCH
        with pytest.raises(OSError) as e:
            os.pread(fd, 1, 0x10000)
        assert e.value.errno == errno.ESRCH
        text = ev.read()
        assert text.splitlines()[-1].split()[1] == 'task_terminate'
    finally:
        os.close(fd)
        ev.close()
    # Closed: the id is free again, and its events stream starts afresh.
    v = mnt.create_task()
    assert v == t
    with open(os.path.join(mnt.path, 'tasks', str(v), 'events')) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 and lines[0].split()[1:3] == ['task_create', 'task=%d' % v]


def test_ctl_usage_before_any_write(mnt):
    usage = mnt.read('tasks/ctl')
    assert usage.endswith('\n')
    assert re.search(r'^.*\bcreate\b', usage, re.M)
    assert re.search(r'^.*\bfork\b', usage, re.M)


def test_shell_exec_read_pattern(mnt):
    """fs_layout.md's own example: exec 3<>tasks/ctl; echo fork 1 >&3; read id <&3."""
    mnt.create_task()
    script = 'cd "$1"; exec 3<>tasks/ctl; echo fork 1 >&3; read id <&3; echo "id=$id"'
    out = subprocess.run(['bash', '-c', script, 'bash', mnt.path], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == 'id=2\n'
    assert mnt.read('tasks/2/parent') == '1\n'


def test_status_of_new_task(mnt):
    t = mnt.create_task()
    st = mnt.status(t)
    for key in ('id', 'parent', 'owner', 'regions', 'virtual_size', 'resident_pages',
                'wired_pages', 'objects', 'max_shadow_depth', 'faults', 'zero_fill_faults',
                'cow_faults'):
        assert key in st, (key, st)
    assert st['id'] == t
    assert st['parent'] == 'none'
    assert str(st['owner']) in (str(os.getuid()), pwd.getpwuid(os.getuid()).pw_name)
    assert (st['regions'], st['virtual_size'], st['resident_pages'], st['wired_pages']) == (0, 0, 0, 0)


def test_status_follows_the_map(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, 0x10000, 3 * P)
    mnt.allocate(t, 0x40000, P)
    st = mnt.status(t)
    assert st['regions'] == 2
    assert st['virtual_size'] == 4 * P
    assert st['resident_pages'] == 0
    mnt.mem_write(t, 0x10000 + P, b'x')
    st = mnt.status(t)
    assert st['resident_pages'] == 1
    assert st['zero_fill_faults'] >= 1 and st['faults'] >= st['zero_fill_faults']
    assert st['objects'] == 1


def test_fork_records_parent(mnt):
    p = mnt.create_task()
    c = mnt.fork(p)
    g = mnt.fork(c)
    assert mnt.read('tasks/%d/parent' % c) == '%d\n' % p
    assert mnt.read('tasks/%d/parent' % g) == '%d\n' % c
    assert mnt.status(g)['parent'] == c
    assert mnt.task_ids() == [p, c, g]


def test_fork_copies_the_map(mnt):
    P = mnt.P
    p = mnt.create_task()
    mnt.allocate(p, 0x10000, 2 * P)
    mnt.allocate(p, 0x80000, P)
    c = mnt.fork(p)
    assert [r['start'] for r in mnt.regions(c)] == [r['start'] for r in mnt.regions(p)]
    assert mnt.status(c)['virtual_size'] == 3 * P


def test_create_does_not_inherit(mnt):
    p = mnt.create_task()
    mnt.allocate(p, 0x10000, mnt.P)
    t = mnt.create_task()
    assert mnt.maps(t) == []
    assert mnt.status(t)['regions'] == 0


def test_rmdir_terminates(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, 0x10000, 4 * P)
    mnt.mem_write(t, 0x10000, b'a' * (2 * P))
    before = mnt.host_stats()
    assert before['resident_pages'] >= 2
    mnt.terminate(t)
    assert t not in mnt.task_ids()
    assert not os.path.exists(mnt.tp(t))
    after = mnt.host_stats()
    assert after['tasks'] == before['tasks'] - 1
    assert after['resident_pages'] == before['resident_pages'] - 2
    assert after['virtual_size'] == before['virtual_size'] - 4 * P
    fails(errno.ENOENT, os.rmdir, mnt.tp(t))
    fails(errno.ENOENT, mnt.read, 'tasks/%d/status' % t)


def test_terminate_command(mnt):
    """terminate <task> in tasks/ctl does what rmdir does."""
    t = mnt.create_task()
    mnt.allocate(t, 0x10000, mnt.P)
    mnt.mem_write(t, 0x10000, b'going')
    keep = mnt.create_task()
    os.stat(mnt.tp(t, 'regions'))
    assert mnt.command('tasks/ctl', 'terminate %d' % t) == 'ok'
    assert mnt.task_ids() == [keep]
    # The names the kernel held are gone as soon as the write returns.
    fails(errno.ENOENT, os.stat, mnt.tp(t))
    fails(errno.ENOENT, os.stat, mnt.tp(t, 'regions'))
    assert mnt.host_stats()['resident_pages'] == 0
    fails(errno.EINVAL, mnt.command, 'tasks/ctl', 'terminate %d' % t)
    assert mnt.last_error() == ("KERN_INVALID_ARGUMENT: tasks/ctl: task_terminate(task %d) "
                                "failed, got 'terminate %d'\n" % (t, t))
    fails(errno.EINVAL, mnt.command, 'tasks/ctl', 'terminate')
    assert 'usage: terminate <task>' in mnt.last_error()
    assert mnt.task_ids() == [keep]


def test_fork_of_terminated_task_is_esrch(mnt):
    t = mnt.create_task()
    mnt.terminate(t)
    fails(errno.ESRCH, mnt.fork, t)
    assert mnt.last_error().startswith('KERN_INVALID_TASK: ')
    fails(errno.ESRCH, mnt.fork, 4242)
    assert mnt.task_ids() == []


def test_child_survives_parent(mnt):
    p = mnt.create_task()
    mnt.allocate(p, 0x10000, mnt.P)
    mnt.mem_write(p, 0x10000, b'parent data')
    c = mnt.fork(p)
    mnt.terminate(p)
    assert mnt.mem_read(c, 0x10000, 11) == b'parent data'
    assert mnt.task_ids() == [c]


def test_task_directory_contents(mnt):
    t = mnt.create_task()
    names = set(os.listdir(mnt.tp(t)))
    assert {'ctl', 'parent', 'status', 'last_error', 'maps', 'maps.json', 'mem', 'remap',
            'regions'} <= names
    assert os.path.isdir(mnt.tp(t, 'regions'))
    assert mnt.last_error(t) == 'none\n'


def test_page_size_option(mount_factory):
    m = mount_factory(options=['page_size=16384'])
    assert m.read('host/page_size') == '16384\n'
    t = m.create_task()
    # Fixed allocations truncate and round to the mount's page size.
    assert m.allocate(t, 0x10010, 1) == 0x10000
    assert m.status(t)['virtual_size'] == 16384
    # Anywhere starts at the page size, the lowest user address.
    t2 = m.create_task()
    assert m.allocate_anywhere(t2, 1) == 16384


@pytest.mark.parametrize('opts', [['page_size=5000'], ['page_size=2048'], ['page_size=131072']])
def test_bad_page_size_refused(opts, tmp_path):
    _refused_mount(tmp_path, opts, None)


@pytest.mark.parametrize('opts', [['max_memory=12Q'], ['max_memory=1000'], ['max_memory=']])
def test_bad_max_memory_refused(opts, tmp_path):
    _refused_mount(tmp_path, opts, 'max_memory')


@pytest.mark.parametrize('opts', [['task_max_wired=abc'], ['task_max_mapped='],
                                  ['task_max_wired=-1'],
                                  ['task_max_mapped=99999999999999999999999']])
def test_bad_task_limit_refused(opts, tmp_path):
    _refused_mount(tmp_path, opts, opts[0].split('=')[0])


def test_bad_state_file_refused(tmp_path):
    # tests/test_state.py has the state file's whole story.
    state = tmp_path / 'state.json'
    state.write_text('not json\n')
    _refused_mount(tmp_path, ['state=%s' % state], str(state))


def _refused_mount(tmp_path, opts, must_mention):
    mp = tmp_path / 'mnt'
    mp.mkdir()
    argv = [daemon_path(), '-f', '-o', ','.join(opts), str(mp)]
    if not os.access(argv[0], os.X_OK):
        pytest.fail('no daemon at %s: build it first' % argv[0])
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        r = None
    finally:
        if _mounted(str(mp)):
            subprocess.run(['fusermount3', '-u', str(mp)])
    assert r is not None, 'machvmfs kept running with %s' % opts
    assert r.returncode != 0, 'machvmfs accepted %s' % opts
    assert r.stderr.strip(), 'machvmfs refused %s without saying why' % opts
    if must_mention:
        assert must_mention in r.stderr


def test_single_threaded_mount(mount_factory):
    m = mount_factory(args=['-s'])
    t = m.create_task()
    m.allocate(t, 0x10000, m.P)
    c = m.fork(t)
    assert m.task_ids() == [t, c]


def test_unmount_with_tasks_exits_cleanly(mount_factory):
    """Teardown checks exit status and sanitizer output; give it a full host."""
    m = mount_factory()
    P = m.P
    for _ in range(3):
        t = m.create_task()
        m.allocate(t, 0x10000, 4 * P)
        m.mem_write(t, 0x10000, b'z' * P)
        m.ctl(t, 'inherit 0x10000 %#x share' % P)
        m.fork(t)
    assert len(m.task_ids()) == 6


def test_status_and_stats_key_order(mnt):
    """fs_layout.md fixes the order of the "key value" lines."""
    t = mnt.create_task()
    assert [l.split()[0] for l in mnt.read('tasks/%d/status' % t).splitlines()] == [
        'id', 'parent', 'owner', 'regions', 'virtual_size', 'resident_pages', 'wired_pages',
        'objects', 'max_shadow_depth', 'faults', 'zero_fill_faults', 'cow_faults']
    assert [l.split()[0] for l in mnt.read('host/stats').splitlines()] == [
        'tasks', 'entries', 'objects', 'resident_pages', 'wired_pages', 'virtual_size', 'faults',
        'zero_fill_faults', 'cow_faults', 'shadows_created', 'collapses', 'bypasses',
        'pages_copied', 'memory_used', 'memory_limit', 'task_max_wired', 'task_max_mapped']


def test_task_ids_are_decimal_only(mnt):
    ids = [mnt.create_task() for _ in range(10)]
    assert ids[-1] == 10
    fails(errno.ENOENT, os.stat, mnt.p('tasks/010'))
    fails(errno.ENOENT, os.stat, mnt.p('tasks/0xa'))
    # in commands a number with a leading zero is still decimal: 010 is ten
    c = mnt.fork(int('10'))
    assert mnt.read('tasks/%d/parent' % c) == '10\n'
    c2 = int(mnt.command('tasks/ctl', 'fork 010'))
    assert mnt.read('tasks/%d/parent' % c2) == '10\n'
    c3 = int(mnt.command('tasks/ctl', 'fork 0xa'))
    assert mnt.read('tasks/%d/parent' % c3) == '10\n'


def test_parent_stays_after_parent_terminates(mnt):
    p = mnt.create_task()
    c = mnt.fork(p)
    mnt.terminate(p)
    assert mnt.read('tasks/%d/parent' % c) == '%d\n' % p


def test_page_size_spellings(mount_factory):
    m = mount_factory(options=['page_size=16K'])
    assert m.read('host/page_size') == '16384\n'
    m2 = mount_factory(options=['page_size=0x10000'])
    assert m2.read('host/page_size') == '65536\n'


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_unmounts_and_exits_zero(mount_factory, sig):
    """Also while files are still open (their release never comes): the daemon
    must unmount, free everything and exit 0."""
    m = mount_factory()
    t = m.create_task()
    m.allocate(t, 0x10000, m.P)
    m.mem_write(t, 0x10000, b'x')
    fds = [os.open(m.tp(t, 'ctl'), os.O_RDWR), os.open(m.tp(t, 'maps'), os.O_RDONLY)]
    os.write(fds[0], b'allocate anywhere 4096\n')
    try:
        assert m.stop_with_signal(sig) == 0
        assert not _mounted(m.path)
    finally:
        for fd in fds:
            os.close(fd)


def test_debug_flag_stays_in_foreground(mount_factory):
    m = mount_factory(debug=True)
    assert m.proc.poll() is None
    m.create_task()
    assert m.proc.poll() is None


def test_tree_is_fixed(mnt):
    """No file can be created, renamed or removed, except rmdir of a task."""
    t = mnt.create_task()
    attempts = {
        'create tasks/newfile': lambda: os.open(mnt.p('tasks/newfile'), os.O_WRONLY | os.O_CREAT),
        'create tasks/1/newfile': lambda: os.open(mnt.tp(t, 'newfile'), os.O_WRONLY | os.O_CREAT),
        'mkdir tasks/7': lambda: os.mkdir(mnt.p('tasks/7')),
        'rmdir host': lambda: os.rmdir(mnt.p('host')),
        'rmdir tasks/1/regions': lambda: os.rmdir(mnt.tp(t, 'regions')),
        'rename maps': lambda: os.rename(mnt.tp(t, 'maps'), mnt.tp(t, 'maps2')),
        'chmod ctl': lambda: os.chmod(mnt.tp(t, 'ctl'), 0o600),
        'chown ctl': lambda: os.chown(mnt.tp(t, 'ctl'), 1, 1),
        'unlink maps': lambda: os.unlink(mnt.tp(t, 'maps')),
    }
    got = {}
    for name, fn in attempts.items():
        try:
            fn()
            got[name] = 'succeeded'
        except OSError as e:
            got[name] = errno.errorcode[e.errno]
    assert got == {
        'create tasks/newfile': 'EACCES', 'create tasks/1/newfile': 'EACCES',
        'mkdir tasks/7': got['mkdir tasks/7'] if got['mkdir tasks/7'] in ('EACCES', 'EPERM')
        else 'EACCES or EPERM',
        'rmdir host': 'EPERM', 'rmdir tasks/1/regions': 'EPERM', 'rename maps': 'EPERM',
        'chmod ctl': 'EPERM', 'chown ctl': 'EPERM', 'unlink maps': 'EPERM'}
    assert t in mnt.task_ids()
    assert sorted(os.listdir(mnt.p('tasks'))) == ['1', 'ctl', 'last_error']


def test_rmdir_and_terminate_race_never_hang(mnt):
    """Tasks removed back to back, by rmdir and by tasks/ctl at once: each
    removal's invalidations must never wait for a directory another
    removal holds while that one waits for its answer."""
    errors = []

    def remover(how):
        try:
            for _ in range(150):
                t = mnt.create_task()
                mnt.allocate(t, 0x10000, mnt.P)
                os.stat(mnt.rp(t, 0x10000))      # a name the removal must drop
                # An open file pins the id: no other thread's task can
                # take it before the check below.
                pin = os.open(os.path.join(mnt.tp(t), 'status'), os.O_RDONLY)
                try:
                    if how == 'rmdir':
                        os.rmdir(mnt.tp(t))
                    else:
                        mnt.command('tasks/ctl', 'terminate %d' % t)
                    fails(errno.ENOENT, os.stat, mnt.tp(t))
                finally:
                    os.close(pin)
        except Exception as e:       # reported below, with the thread's kind
            errors.append('%s: %r' % (how, e))

    threads = [threading.Thread(target=remover, args=(how,), daemon=True)
               for how in ('rmdir', 'rmdir', 'terminate', 'terminate')]
    for th in threads:
        th.start()
    for th in threads:
        th.join(90)
    assert not any(th.is_alive() for th in threads), 'a removal hung'
    assert errors == []
    assert mnt.task_ids() == []
