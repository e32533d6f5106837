"""Errors as fs_layout.md's table maps them: errno and last_error for each
kern_return_t; garbage input to every writable file; read-only files;
vanished paths; handles on terminated tasks."""
import errno
import os
import re

import pytest

from fsmount import fails, hx

A = 0x10000
LAST_ERROR = re.compile(r'^(KERN_[A-Z_]+): (.+)\n$')
PARSE_ERROR = re.compile(r"^KERN_INVALID_ARGUMENT: (\S+): (.+), got '(.*)'\n$", re.S)


@pytest.fixture
def task(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * mnt.P)
    mnt.mem_write(t, A, b'data')
    return t


def state(mnt, task):
    """Everything a reader can see of a task and the host."""
    return (mnt.read('tasks/%d/maps.json' % task), mnt.status(task), mnt.host_stats(),
            [mnt.read('tasks/%d/regions/%s/attr' % (task, r['start'])) for r in mnt.regions(task)],
            mnt.task_ids(), mnt.mem_read(task, A, 8))


# ---- the table --------------------------------------------------------------

def _einval_engine(mnt, t):
    mnt.ctl(t, 'attr 0x900000 4096 cache off')


def _efault(mnt, t):
    mnt.ctl(t, 'protect 0x900000 4096 r--')


def _eacces(mnt, t):
    mnt.ctl(t, 'protect %#x 4096 r-- max' % A)
    mnt.ctl(t, 'protect %#x 4096 rw-' % A)


def _enospc(mnt, t):
    mnt.ctl(t, 'allocate %#x 4096' % A)


def _eio(mnt, t):
    mnt.ctl(t, 'wire %#x 0x100000 r--' % A)


def _eio_unwire(mnt, t):
    # every entry before the hole is wired, so the hole is the first problem
    mnt.ctl(t, 'wire %#x 8192 r--' % A)
    mnt.ctl(t, 'wire %#x 0x100000 none' % A)


def _einval_unwire(mnt, t):
    mnt.ctl(t, 'wire %#x 4096 none' % A)


@pytest.mark.parametrize('action,err,kern', [
    (_efault, errno.EFAULT, 'KERN_INVALID_ADDRESS'),
    (_eacces, errno.EACCES, 'KERN_PROTECTION_FAILURE'),
    (_enospc, errno.ENOSPC, 'KERN_NO_SPACE'),
    (_einval_engine, errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    (_einval_unwire, errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    (_eio, errno.EIO, 'KERN_FAILURE'),
    (_eio_unwire, errno.EIO, 'KERN_FAILURE'),
])
def test_errno_table(mnt, task, action, err, kern):
    assert mnt.last_error(task) == 'none\n'
    fails(err, action, mnt, task)
    m = LAST_ERROR.match(mnt.last_error(task))
    assert m and m.group(1) == kern, mnt.last_error(task)
    # a later success does not clear last_error
    mnt.ctl(task, 'allocate 0x800000 4096')
    assert mnt.last_error(task).startswith(kern + ': ')


def test_esrch_for_dead_parent(mnt):
    assert mnt.last_error() == 'none\n'
    fails(errno.ESRCH, mnt.fork, 77)
    assert LAST_ERROR.match(mnt.last_error()).group(1) == 'KERN_INVALID_TASK'


def test_region_file_failure_recorded_in_task(mnt, task):
    mnt.set_region(task, A, 'max_protection', 'r--')
    fails(errno.EACCES, mnt.set_region, task, A, 'protection', 'rwx')
    assert mnt.last_error(task).startswith('KERN_PROTECTION_FAILURE: ')


def test_errors_are_per_task(mnt, task):
    other = mnt.create_task()
    fails(errno.EFAULT, mnt.ctl, task, 'protect 0x900000 4096 r--')
    assert mnt.last_error(other) == 'none\n'
    assert mnt.last_error() == 'none\n'


def test_debug_log_records_failures(mount_factory):
    m = mount_factory(debug=True)
    t = m.create_task()
    fails(errno.EFAULT, m.ctl, t, 'protect 0x900000 4096 r--')
    line = m.last_error(t).strip()
    m.close()
    assert line in m.log_text()


# ---- garbage ----------------------------------------------------------------

TASK_CTL_GARBAGE = ['frobnicate', 'fork', 'fork abc', 'fork 1 2', 'create 5', 'fork -1',
                    'fork 1x', b'\xff\xfe', b'cre\x00ate']
CTL_GARBAGE = [
    'frobnicate 1 2', 'allocate', 'allocate 0x10000', 'allocate 0x10000 4096 extra',
    'allocate zz 4096', 'allocate 0x10000 12T', 'allocate 0x10000 4096Q', 'allocate 0x10000 -4096',
    'allocate 0x10000 99999999999999999999999', 'allocate 0x 4096', 'allocate anywhere',
    'allocate anywhere 4096 0x10000', 'deallocate 0x10000', 'protect 0x10000 4096',
    'protect 0x10000 4096 rwz', 'protect 0x10000 4096 r-- maximum', 'inherit 0x10000 4096 sometimes',
    'inherit 0x10000 4096', 'map_inherit 0x10000', 'map_inherit 0x10000 0x20000 3',
    'wire 0x10000 4096 wq', 'wire 0x10000 4096', 'attr 0x10000 4096 cache',
    'attr 0x10000 4096 colour on', 'attr 0x10000 4096 cache maybe', 'copy 0x10000 4096',
    'copy 0x10000 4096 0x11000 0x12000', b'allocate\x00 0x20000 4096', b'\xff\xfe\xfd',
    'allocate 0x20000 0x1000 0x1000',
]
REMAP_GARBAGE = ['garbage', 'src=', 'src=1:zz size=4096', 'src=1:0x10000 size=', 'src=1:0x10000',
                 'src=1:0x10000 size=4096 mask=zz', 'src=1:0x10000 size=4096 inherit=sometimes',
                 'src=1:0x10000 size=4096 at=', 'src=1:0x10000 size=4096 anywhere=zz',
                 'src=x:0x10000 size=4096']
REGION_GARBAGE = {
    'protection': ['rwz', 'banana', 'r--r', '9'],
    'max_protection': ['rwz', 'banana', 'r-- max'],
    'inheritance': ['sometimes', '3', 'share copy'],
    'wired': ['rwz', 'twice', '10'],
    'attr': ['cache maybe', 'colour on', 'cache', 'on'],
}


def _check_parse_error(text, line):
    m = PARSE_ERROR.match(text)
    assert m, 'last_error %r is not "KERN_INVALID_ARGUMENT: <file>: <what>, got \'<input>\'"' % text
    if isinstance(line, str) and line.isprintable():
        assert m.group(3) in line.strip(), (m.group(3), line)


@pytest.mark.parametrize('line', TASK_CTL_GARBAGE)
def test_garbage_tasks_ctl(mnt, task, line):
    before = state(mnt, task)
    fails(errno.EINVAL, mnt.write, 'tasks/ctl', line if isinstance(line, bytes) else line + '\n')
    _check_parse_error(mnt.last_error(), line)
    assert state(mnt, task) == before


@pytest.mark.parametrize('line', CTL_GARBAGE)
def test_garbage_task_ctl(mnt, task, line):
    before = state(mnt, task)
    fails(errno.EINVAL, mnt.write, 'tasks/%d/ctl' % task,
          line if isinstance(line, bytes) else line + '\n')
    _check_parse_error(mnt.last_error(task), line)
    assert state(mnt, task) == before


@pytest.mark.parametrize('line', REMAP_GARBAGE)
def test_garbage_remap(mnt, task, line):
    dst = mnt.create_task()
    before = state(mnt, task), mnt.maps(dst)
    fails(errno.EINVAL, mnt.write, 'tasks/%d/remap' % dst, line + '\n')
    _check_parse_error(mnt.last_error(dst), line)
    assert (state(mnt, task), mnt.maps(dst)) == before


@pytest.mark.parametrize('name,value', [(n, v) for n, vs in REGION_GARBAGE.items() for v in vs])
def test_garbage_region_files(mnt, task, name, value):
    before = state(mnt, task)
    fails(errno.EINVAL, mnt.set_region, task, A, name, value)
    _check_parse_error(mnt.last_error(task), value)
    assert state(mnt, task) == before


def test_garbage_result_on_same_fd(mnt, task):
    fd = os.open(mnt.tp(task, 'ctl'), os.O_RDWR)
    try:
        fails(errno.EINVAL, os.write, fd, b'allocate zz 4096\n')
        out = os.read(fd, 4096).decode()
    finally:
        os.close(fd)
    assert out == mnt.last_error(task)
    _check_parse_error(out, 'allocate zz 4096')


# ---- read-only files --------------------------------------------------------

READ_ONLY = ['host/page_size', 'host/stats', 'tasks/last_error', 'tasks/{t}/parent',
             'tasks/{t}/status', 'tasks/{t}/last_error', 'tasks/{t}/maps', 'tasks/{t}/maps.json',
             'tasks/{t}/regions/{r}/start', 'tasks/{t}/regions/{r}/end',
             'tasks/{t}/regions/{r}/size', 'tasks/{t}/regions/{r}/shared',
             'tasks/{t}/regions/{r}/share_mode', 'tasks/{t}/regions/{r}/object',
             'tasks/{t}/regions/{r}/offset', 'tasks/{t}/regions/{r}/info']


@pytest.mark.parametrize('rel', READ_ONLY)
def test_writing_read_only_file_is_eacces(mnt, task, rel):
    path = rel.format(t=task, r=hx(A))
    before = mnt.read(path)
    fails(errno.EACCES, mnt.write, path, 'x\n')
    fails(errno.EACCES, mnt.write, path, 'x\n', os.O_WRONLY | os.O_TRUNC)
    if 'stats' not in path:
        assert mnt.read(path) == before


# ---- vanished paths ---------------------------------------------------------

def test_enoent_for_vanished_paths(mnt, task):
    P = mnt.P
    fails(errno.ENOENT, mnt.read, 'tasks/999/status')
    fails(errno.ENOENT, os.stat, mnt.p('tasks/999'))
    fails(errno.ENOENT, mnt.read, 'tasks/%d/no_such_file' % task)
    fails(errno.ENOENT, mnt.read, 'host/no_such_file')
    fails(errno.ENOENT, os.stat, mnt.rp(task, 0x900000))
    region = mnt.rp(task, A, 'protection')
    mnt.ctl(task, 'deallocate %#x %d' % (A, 2 * P))
    fails(errno.ENOENT, open, region)
    mnt.terminate(task)
    fails(errno.ENOENT, os.stat, mnt.tp(task))
    fails(errno.ENOENT, mnt.write, 'tasks/%d/ctl' % task, 'allocate 0x10000 4096\n')
    fails(errno.ENOENT, os.rmdir, mnt.tp(task))


# ---- handles on terminated tasks --------------------------------------------

def test_esrch_on_handles_of_terminated_task(mnt, task):
    names = {
        'ctl': mnt.tp(task, 'ctl'),
        'mem': mnt.tp(task, 'mem'),
        'remap': mnt.tp(task, 'remap'),
        'protection': mnt.rp(task, A, 'protection'),
        'inheritance': mnt.rp(task, A, 'inheritance'),
        'wired': mnt.rp(task, A, 'wired'),
        'attr': mnt.rp(task, A, 'attr'),
    }
    src = mnt.create_task()
    mnt.allocate(src, A, mnt.P)
    fds = {n: os.open(p, os.O_RDWR) for n, p in names.items()}
    memr = os.open(names['mem'], os.O_RDONLY)
    try:
        mnt.terminate(task)
        fails(errno.ESRCH, os.write, fds['ctl'], b'allocate 0x10000 4096\n')
        fails(errno.ESRCH, os.pwrite, fds['mem'], b'x', A)
        fails(errno.ESRCH, os.pread, memr, 4, A)
        fails(errno.ESRCH, os.write, fds['remap'], b'src=%d:%#x size=4096\n' % (src, A))
        fails(errno.ESRCH, os.write, fds['protection'], b'r--\n')
        fails(errno.ESRCH, os.write, fds['inheritance'], b'share\n')
        fails(errno.ESRCH, os.write, fds['wired'], b'r--\n')
        fails(errno.ESRCH, os.write, fds['attr'], b'cache off\n')
    finally:
        for fd in list(fds.values()) + [memr]:
            os.close(fd)
    assert mnt.task_ids() == [src]
    assert mnt.maps(src) == ['%016x-%016x rw-/rwx copy wired=0 empty shared=no object=none offset=0x0'
                             % (A, A + mnt.P)]


def test_esrch_on_snapshot_and_directory_handles(mnt, task):
    status = os.open(mnt.tp(task, 'status'), os.O_RDONLY)
    regions = os.open(mnt.tp(task, 'regions'), os.O_RDONLY | os.O_DIRECTORY)
    try:
        mnt.terminate(task)
        fails(errno.ESRCH, os.read, status, 100)
        fails(errno.ESRCH, os.fstat, status)
        fails(errno.ESRCH, os.listdir, regions)
    finally:
        os.close(status)
        os.close(regions)


def test_region_file_of_a_moved_region_is_enoent(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'protect %#x %d r--' % (A + P, P))
    fd = os.open(mnt.rp(task, A + P, 'protection'), os.O_WRONLY)
    try:
        mnt.ctl(task, 'protect %#x %d rw-' % (A + P, P))     # coalesces: no region at A+P
        assert mnt.region_starts(task) == [A]
        fails(errno.ENOENT, os.write, fd, b'r--\n')
    finally:
        os.close(fd)
    assert mnt.region(task, A, 'protection') == 'rw-'


def test_truncate(mnt, task):
    ctl = mnt.tp(task, 'ctl')
    os.truncate(ctl, 0)
    fails(errno.EINVAL, os.truncate, ctl, 10)
    fails(errno.EACCES, os.truncate, mnt.tp(task, 'maps'), 0)
    assert mnt.write('tasks/%d/ctl' % task, 'allocate 0x40000 4096\n', os.O_WRONLY | os.O_TRUNC)
    assert mnt.write('tasks/%d/ctl' % task, 'allocate 0x50000 4096\n', os.O_WRONLY | os.O_APPEND)
    assert mnt.region_starts(task) == [A, 0x40000, 0x50000]


def test_failed_mem_write_is_recorded(mnt, task):
    fails(errno.EFAULT, mnt.mem_write, task, 0x900000, b'hello')
    m = LAST_ERROR.match(mnt.last_error(task))
    assert m and m.group(1) == 'KERN_INVALID_ADDRESS' and 'tasks/%d/mem' % task in m.group(2)


def test_engine_error_line_names_file_and_input(mnt, task):
    fails(errno.ENOSPC, mnt.ctl, task, 'allocate 0x10000 16K')
    line = mnt.last_error(task)
    assert line.startswith('KERN_NO_SPACE: tasks/%d/ctl: ' % task)
    assert line.endswith(" got 'allocate 0x10000 16K'\n")


def test_parse_error_in_any_line_changes_nothing(mnt, task):
    """Every line is parsed before any is run."""
    before = state(mnt, task)
    fails(errno.EINVAL, mnt.write, 'tasks/%d/ctl' % task,
          'allocate 0x40000 4096\nprotect 0x10000 4096 r--\nbanana\n')
    assert state(mnt, task) == before


def test_input_shown_printable(mnt, task):
    fails(errno.EINVAL, mnt.write, 'tasks/%d/ctl' % task, b'alloc\xffate 1 2\n')
    line = mnt.last_error(task)
    assert line.isascii() and line.endswith("got 'alloc?ate 1 2'\n"), line
    fails(errno.EINVAL, mnt.write, 'tasks/%d/ctl' % task, 'x' * 500 + '\n')
    got = PARSE_ERROR.match(mnt.last_error(task)).group(3)
    assert got in ('x' * 200, 'x' * 200 + '...'), got


# ---- the cause: what the engine saw when the call failed --------------------

ENGINE_LINE = re.compile(r"^(KERN_[A-Z_]+): (\S+): (\w+\(.*?\)) failed: (.+), got '(.*)'\n$")


def _cause(mnt, task, kern, file=None):
    """The cause part of the task's last_error, checking the rest of the line."""
    text = mnt.last_error(task)
    m = ENGINE_LINE.match(text)
    assert m, 'last_error %r does not name a cause' % text
    assert m.group(1) == kern, text
    if file:
        assert m.group(2) == file, text
    return m.group(4)


def test_cause_allocate_names_the_region_it_overlaps(mnt, task):
    P = mnt.P
    before = state(mnt, task)
    fails(errno.ENOSPC, mnt.ctl, task, 'allocate %#x %d' % (A + P, 4 * P))
    assert _cause(mnt, task, 'KERN_NO_SPACE', 'tasks/%d/ctl' % task) == \
        '[%#x, %#x) overlaps the region [%#x, %#x) of task %d' % (A + P, A + 5 * P, A, A + 2 * P,
                                                                task)
    assert state(mnt, task) == before


def test_cause_hole_names_its_address(mnt, task):
    P = mnt.P
    mnt.allocate(task, A + 4 * P, P)
    fails(errno.EFAULT, mnt.ctl, task, 'protect %#x %d r--' % (A, 5 * P))
    assert _cause(mnt, task, 'KERN_INVALID_ADDRESS') == \
        'nothing is mapped at %#x in task %d (a hole up to %#x)' % (A + 2 * P, task, A + 4 * P)
    fails(errno.EFAULT, mnt.ctl, task, 'inherit 0x900000 4096 share')
    assert _cause(mnt, task, 'KERN_INVALID_ADDRESS') == \
        'nothing is mapped at 0x900000 in task %d (a hole up to 0x800000000000)' % task


def test_cause_protect_names_the_maximum(mnt, task):
    mnt.ctl(task, 'protect %#x %d r-- max' % (A, mnt.P))
    fails(errno.EACCES, mnt.ctl, task, 'protect %#x %d rw-' % (A, 2 * mnt.P))
    assert _cause(mnt, task, 'KERN_PROTECTION_FAILURE') == \
        'the region [%#x, %#x) of task %d has maximum protection r--, which does not allow rw-' \
        % (A, A + mnt.P, task)
    # the same through a region file, raising the maximum
    fails(errno.EACCES, mnt.set_region, task, A, 'max_protection', 'rwx')
    assert _cause(mnt, task, 'KERN_PROTECTION_FAILURE',
                  'tasks/%d/regions/%s/max_protection' % (task, hx(A))) == \
        'the region [%#x, %#x) of task %d has maximum protection r--, which does not allow rwx' \
        % (A, A + mnt.P, task)


def test_cause_unwire_says_not_wired(mnt, task):
    fails(errno.EINVAL, mnt.ctl, task, 'wire %#x %d none' % (A, mnt.P))
    assert _cause(mnt, task, 'KERN_INVALID_ARGUMENT') == \
        'the region [%#x, %#x) of task %d is not wired' % (A, A + 2 * mnt.P, task)
    fails(errno.EINVAL, mnt.set_region, task, A, 'wired', 'none')
    assert _cause(mnt, task, 'KERN_INVALID_ARGUMENT').endswith('is not wired')


def test_cause_wire_names_the_protection(mnt, task):
    mnt.ctl(task, 'protect %#x %d r--' % (A, mnt.P))
    fails(errno.EIO, mnt.ctl, task, 'wire %#x %d rw-' % (A, mnt.P))
    assert _cause(mnt, task, 'KERN_FAILURE') == \
        'the page %#x of task %d has protection r-- (region [%#x, %#x), maximum rwx), ' \
        'which does not allow rw-' % (A, task, A, A + mnt.P)


def test_cause_mem_write_names_the_page_and_its_protection(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'protect %#x %d r--' % (A + P, P))
    fails(errno.EACCES, mnt.mem_write, task, A + P + 5, b'hello')
    assert mnt.last_error(task) == (
        'KERN_PROTECTION_FAILURE: tasks/%d/mem: vm_write(task %d, %#x, 5) failed: the page %#x '
        'of task %d has protection r-- (region [%#x, %#x), maximum rwx), which does not allow '
        '-w-\n' % (task, task, A + P + 5, A + P, task, A + P, A + 2 * P))
    fails(errno.EFAULT, mnt.mem_write, task, 0x900010, b'hello')
    assert mnt.last_error(task) == (
        'KERN_INVALID_ADDRESS: tasks/%d/mem: vm_write(task %d, 0x900010, 5) failed: nothing is '
        'mapped at 0x900010 in task %d (a hole up to 0x800000000000)\n' % (task, task, task))


def test_cause_remap_names_source_hole_and_target_entry(mnt, task):
    dst = mnt.create_task()
    mnt.allocate(dst, 0x40000, mnt.P)
    fails(errno.EFAULT, mnt.write, 'tasks/%d/remap' % dst,
          'src=%d:%#x size=%d\n' % (task, A, 3 * mnt.P))
    assert _cause(mnt, dst, 'KERN_INVALID_ADDRESS', 'tasks/%d/remap' % dst) == \
        'nothing is mapped at %#x in task %d (a hole up to 0x800000000000)' % (A + 2 * mnt.P, task)
    fails(errno.ENOSPC, mnt.write, 'tasks/%d/remap' % dst,
          'src=%d:%#x size=%d at=0x40000\n' % (task, A, mnt.P))
    assert _cause(mnt, dst, 'KERN_NO_SPACE') == \
        '[0x40000, %#x) overlaps the region [0x40000, %#x) of task %d' % (
            0x40000 + mnt.P, 0x40000 + mnt.P, dst)


def test_cause_outside_the_user_range(mnt, task):
    fails(errno.EFAULT, mnt.ctl, task, 'deallocate 0 4096')
    assert _cause(mnt, task, 'KERN_INVALID_ADDRESS') == \
        '[0x0, %#x) is outside the user range [%#x, 0x800000000000)' % (mnt.P, mnt.P)


def test_no_cause_when_the_code_says_it_all(mnt, task):
    """A failure the record does not cover keeps the line as it was."""
    fails(errno.ESRCH, mnt.fork, 77)
    assert re.match(r"^KERN_INVALID_TASK: tasks/ctl: task_create\(task 77, inherit_memory TRUE\) "
                    r"failed, got 'fork 77'\n$", mnt.last_error()), mnt.last_error()


def test_no_stale_cause_from_an_earlier_call(mount_factory):
    """task_create, task_terminate and save keep no record: a failure of one
    never shows the cause an earlier map call left (one thread: -s)."""
    m = mount_factory(args=['-s'])
    t = m.create_task()
    fails(errno.EFAULT, m.ctl, t, 'protect 0x900000 4096 r--')
    assert 'nothing is mapped at 0x900000' in m.last_error(t)
    fails(errno.ESRCH, m.fork, 77)
    assert m.last_error() == ("KERN_INVALID_TASK: tasks/ctl: task_create(task 77, inherit_memory "
                              "TRUE) failed, got 'fork 77'\n")
    fails(errno.EINVAL, m.command, 'tasks/ctl', 'terminate 99')
    assert m.last_error() == ("KERN_INVALID_ARGUMENT: tasks/ctl: task_terminate(task 99) failed, "
                              "got 'terminate 99'\n")
