"""Batches through the mount: a write of several lines to a ctl, region or
remap file runs all of its lines or none (fs_layout.md, Writing).  A batch
whose line k fails leaves every task exactly as before -- maps, maps.json,
the region directories, every readable byte -- fails with line k's errno,
and last_error says which line and that the ones before it were undone."""
import errno
import os
import re

import pytest

from fsmount import fails

A = 0x10000


def readable_bytes(mnt, task):
    out = []
    for r in mnt.regions(task):
        if 'r' in r['protection']:
            out.append((r['start'], mnt.mem_read(task, int(r['start'], 16), r['size'])))
    return out


def state(mnt):
    """Everything a reader can see of every task."""
    s = {}
    for t in mnt.task_ids():
        s[t] = (mnt.read('tasks/%d/maps' % t), mnt.regions(t),
                sorted(os.listdir(mnt.tp(t, 'regions'))), readable_bytes(mnt, t),
                mnt.read('tasks/%d/parent' % t))
    return s


def semantic(mnt):
    """The same without object ids: what the regions mean."""
    s = {}
    for t, (_, regions, names, data, parent) in state(mnt).items():
        s[t] = ([{k: v for k, v in r.items() if k != 'object'} for r in regions], names,
                data, parent)
    return s


def make_world(mnt):
    """a: private, untouched, shared-with-c and copied-to-c regions and a
    wired one; b: a remap source; c: a fork of a."""
    P = mnt.P
    a, b = mnt.create_task(), mnt.create_task()
    for addr, n, fill in ((A, 4, b'a'), (0x20000, 4, None), (0x30000, 4, b's'),
                          (0x40000, 4, b'c'), (0x50000, 2, b'w')):
        mnt.allocate(a, addr, n * P)
        if fill:
            mnt.mem_write(a, addr, fill * (n * P))
    mnt.ctl(a, 'inherit 0x30000 %d share' % (4 * P))
    mnt.ctl(a, 'wire 0x50000 %d rw' % (2 * P))
    mnt.ctl(a, 'inherit 0x50000 %d none' % (2 * P))
    c = mnt.fork(a)
    mnt.allocate(b, A, 4 * P)
    mnt.mem_write(b, A, b'b' * (4 * P))
    return a, b, c


@pytest.fixture
def world(mnt):
    return make_world(mnt)


def good_lines(P, b):
    return [
        'allocate 0x60000 %d' % (2 * P),
        'copy %#x %d 0x30000' % (A, 2 * P),              # into the region c shares
        'protect %#x %d r--' % (A, P),
        'wire 0x40000 %d rw' % (2 * P),                   # needs_copy after the fork
        'inherit 0x20000 %d none' % (2 * P),
        'remap src=%d:%#x size=%d at=0x70000 share' % (b, A, 2 * P),
        'copy %#x %d 0x70000' % (A + 2 * P, P),           # into b's memory
        'attr %#x %d cache off' % (A, 4 * P),
        'remap src=%d:%#x size=%d copy' % (b, A + 2 * P, 2 * P),
        'deallocate %#x %d' % (A + 3 * P, P),
        'map_inherit 0x60000 0x62000 share',
        'wire 0x50000 %d none' % (2 * P),
        'deallocate 0x30000 %d' % (4 * P),
    ]


BAD = {
    'allocate': ('allocate %#x 4096' % A, errno.ENOSPC),
    'deallocate': ('deallocate 0x800000000000 4096', errno.EFAULT),
    'protect': ('protect 0xa0000 4096 r--', errno.EFAULT),
    'inherit': ('inherit 0xa0000 4096 none', errno.EFAULT),
    'map_inherit': ('map_inherit 0xa0000 0xa2000 none', errno.EFAULT),
    'wire': ('wire 0xa0000 4096 rw', errno.EIO),
    'attr': ('attr 0xa0000 4096 cache off', errno.EINVAL),
    'copy': ('copy 0xa0000 4096 0x20000', errno.EFAULT),
    'remap': ('remap src=%d:%#x size=4096 at=%#x share', errno.ENOSPC),
}


def bad_line(verb, b):
    line, err = BAD[verb]
    return (line % (b, A, A) if verb == 'remap' else line), err


@pytest.mark.parametrize('verb', sorted(BAD))
def test_every_verb_failing_at_every_position(mnt, world, verb):
    a, b, c = world
    good = good_lines(mnt.P, b)
    line, err = bad_line(verb, b)
    for k in range(len(good) + 1):
        before = state(mnt)
        lines = good[:k] + [line] + good[k:k + 1]
        fails(err, mnt.write, 'tasks/%d/ctl' % a, '\n'.join(lines) + '\n')
        assert state(mnt) == before, (k, lines)
        last = mnt.last_error(a)
        where = ('no line ran before it' if k == 0 else
                 'the line before it was undone' if k == 1 else
                 'the %d lines before it were undone' % k)
        assert last.endswith("got '%s' (line %d of %d; %s)\n" % (line, k + 1, len(lines), where)), last


def test_committed_batch_equals_the_lines_one_by_one(mount_factory):
    """The same lines, once as one batch and once one write each, in two
    fresh mounts: the same tasks, regions and bytes (object ids aside)."""
    seen = []
    for batched in (False, True):
        mnt = mount_factory()
        a, b, c = make_world(mnt)
        good = good_lines(mnt.P, b)
        if batched:
            out = mnt.command('tasks/%d/ctl' % a, '\n'.join(good))
            assert out == 'ok'                  # the last line's result
        else:
            for line in good:
                mnt.ctl(a, line)
        seen.append(semantic(mnt))
    assert seen[0] == seen[1]


def test_copy_into_shared_region_undone(mnt, world):
    a, b, c = world
    P = mnt.P
    fails(errno.EFAULT, mnt.write, 'tasks/%d/ctl' % a,
          'copy %#x %d 0x30000\nprotect 0xa0000 4096 r--\n' % (A, 2 * P))
    assert mnt.mem_read(c, 0x30000, 2 * P) == b's' * (2 * P)   # c sees the old bytes
    assert mnt.mem_read(a, 0x30000, 2 * P) == b's' * (2 * P)
    mnt.mem_write(a, 0x30000, b'still shared')
    assert mnt.mem_read(c, 0x30000, 12) == b'still shared'


@pytest.mark.parametrize('how', ['share', 'copy'])
def test_remap_from_another_task_undone(mnt, world, how):
    a, b, c = world
    P = mnt.P
    before = state(mnt)
    fails(errno.ENOSPC, mnt.write, 'tasks/%d/ctl' % a,
          'remap src=%d:%#x size=%d at=0xb0000 %s\ncopy 0x40000 %d 0xb0000\n'
          'allocate %#x 4096\n' % (b, A, 2 * P, how, P, A))
    assert state(mnt) == before
    assert mnt.region(b, A, 'shared') == 'no'
    assert mnt.mem_read(b, A, P) == b'b' * P


def test_remap_file_batch_undone(mnt, world):
    a, b, c = world
    P = mnt.P
    before = state(mnt)
    fails(errno.ENOSPC, mnt.write, 'tasks/%d/remap' % a,
          'src=%d:%#x size=%d at=0xb0000\nsrc=%d:%#x size=%d at=0xb0000\n' % (b, A, P, b, A, P))
    assert state(mnt) == before
    assert '(line 2 of 2; the line before it was undone)' in mnt.last_error(a)


def test_wire_undone(mnt, world):
    a, b, c = world
    P = mnt.P
    before = state(mnt)
    fails(errno.EINVAL, mnt.write, 'tasks/%d/ctl' % a,
          'wire 0x20000 %d rw\nwire 0x50000 %d none\ndeallocate 0x50000 %d\n'
          'wire 0x20000 %d none\nwire 0x20000 %d none\n' % (2 * P, 2 * P, P, 2 * P, 2 * P))
    assert state(mnt) == before
    assert mnt.region(a, 0x50000, 'wired') == '1'
    assert mnt.info(a, 0x20000)['resident_pages'] == 0


def test_region_file_batch_undone(mnt, world):
    a, b, c = world
    before = state(mnt)
    fails(errno.EACCES, mnt.set_region, a, A, 'max_protection', 'r--\nrwx')
    assert state(mnt) == before
    assert mnt.region(a, A, 'max_protection') == 'rwx'


def test_fork_and_create_in_tasks_ctl_undone(mnt, world):
    a, b, c = world
    before, ids = state(mnt), mnt.task_ids()
    fails(errno.ESRCH, mnt.write, 'tasks/ctl', 'create\nfork %d\nfork %d\nfork 999\n' % (a, c))
    assert mnt.task_ids() == ids
    assert state(mnt) == before
    assert mnt.last_error().endswith(
        "got 'fork 999' (line 4 of 4; the 3 lines before it were undone)\n")
    # The ids the batch took are free again, lowest first.
    assert mnt.create_task() == max(ids) + 1


def test_tasks_ctl_batch_result_is_the_last_line(mnt):
    out = mnt.command('tasks/ctl', 'create\ncreate')
    assert out == '2'
    assert mnt.task_ids() == [1, 2]


def test_terminate_with_other_lines_refused(mnt, world):
    a, b, c = world
    ids = mnt.task_ids()
    fails(errno.EINVAL, mnt.write, 'tasks/ctl', 'create\nterminate %d\n' % b)
    assert mnt.task_ids() == ids
    assert mnt.last_error() == (
        "KERN_INVALID_ARGUMENT: tasks/ctl: a batch holding terminate lines holds nothing else (a terminate "
        "cannot be undone): write them apart, got 'create' (line 1 of 2; nothing was run)\n")


def test_terminate_batch_checked_before_it_runs(mnt, world):
    a, b, c = world
    ids = mnt.task_ids()
    fails(errno.EINVAL, mnt.write, 'tasks/ctl', 'terminate %d\nterminate %d\n' % (b, b))
    assert mnt.task_ids() == ids
    assert mnt.last_error() == (
        "KERN_INVALID_ARGUMENT: tasks/ctl: task_terminate(task %d) would fail: terminated by "
        "an earlier line, got 'terminate %d' (line 2 of 2; nothing was run)\n" % (b, b))
    fails(errno.EINVAL, mnt.write, 'tasks/ctl', 'terminate %d\nterminate 999\n' % b)
    assert mnt.task_ids() == ids
    mnt.write('tasks/ctl', 'terminate %d\nterminate %d\n' % (b, c))
    assert mnt.task_ids() == [a]


def test_parse_error_changes_nothing(mnt, world):
    a, b, c = world
    before = state(mnt)
    fails(errno.EINVAL, mnt.write, 'tasks/%d/ctl' % a, 'allocate 0x60000 4096\nallocate 0x6z\n')
    assert state(mnt) == before


def test_single_line_unchanged(mnt, world):
    """One line is its own unit, as always: no line number in last_error."""
    a, b, c = world
    fails(errno.ENOSPC, mnt.ctl, a, 'allocate %#x 4096' % A)
    assert mnt.last_error(a) == (
        "KERN_NO_SPACE: tasks/%d/ctl: vm_allocate(task %d, 0x10000, 4096, fixed) failed: "
        "[0x10000, 0x11000) overlaps the region [0x10000, 0x14000) of task %d, "
        "got 'allocate 0x10000 4096'\n" % (a, a, a))


def test_undo_is_in_the_events_log(mnt, world):
    a, b, c = world
    P = mnt.P
    fails(errno.ENOSPC, mnt.write, 'tasks/%d/ctl' % a,
          'deallocate %#x %d\nallocate 0x20000 4096\n' % (A, P))
    lines = mnt.read('host/events').splitlines()
    assert re.match(r'^\d+ vm_deallocate task=%d ' % a, lines[-3])
    assert re.match(r'^\d+ vm_allocate task=%d .* kr=KERN_NO_SPACE' % a, lines[-2])
    assert re.match(r'^\d+ machvm_batch_undo task=%d .*changes=removed:.*,added:' % a, lines[-1])
    # The region the batch removed is found again (no stale name kept).
    assert mnt.region(a, A, 'size') == str(4 * P)


def test_batch_excludes_one_line_writers(mnt, world):
    """A long batch and one-line writes at once: the one-line writes land
    before or after the batch, never inside it (an undo would lose them)."""
    import threading
    a, b, c = world
    P = mnt.P
    lines = ['attr %#x %d cache flush' % (A, P)] * 2000 + ['protect 0xa0000 4096 r--']
    done = []

    def writer():
        for _ in range(20):
            mnt.ctl(a, 'attr 0x40000 %d cache flush' % P)
        done.append(True)

    th = threading.Thread(target=writer)
    th.start()
    fails(errno.EFAULT, mnt.write, 'tasks/%d/ctl' % a, '\n'.join(lines) + '\n')
    th.join()
    assert done
    assert mnt.info(a, A)['cache_flushes'] == 0
    assert mnt.info(a, 0x40000)['cache_flushes'] == 20
