"""Nothing the kernel caches is ever stale.

machvmfs lets the kernel keep names and attributes (fs_layout.md, *Caching*)
and invalidates what a change makes stale before the change returns.  Each
test here first makes the kernel hold what the change will touch (stat,
ls -l, open), changes the engine through one file, and at once reads every
affected file and directory through other files, in this process and in
another one (cat, ls, stat), expecting the new state.
"""
import errno
import json
import os
import signal
import re
import subprocess
import time

import pytest

from fsmount import fails, hx, parse_kv

A = 0x10000
TIMEOUT = 60


# ---- another process -------------------------------------------------------

def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT)


def ls_other(path):
    r = run('ls', '-1', path)
    assert r.returncode == 0, r.stderr
    return sorted(r.stdout.split())


def exists_other(path):
    """Whether `stat` in another process finds path."""
    r = run('stat', '-c', '%i', path)
    if r.returncode != 0:
        assert 'No such file or directory' in r.stderr, r.stderr
    return r.returncode == 0


def cat_other(path):
    r = run('cat', path)
    assert r.returncode == 0, r.stderr
    return r.stdout


def shell(cmd):
    r = subprocess.run(['sh', '-c', cmd], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, '%s: %s' % (cmd, r.stderr)
    return r.stdout


# ---- making the kernel hold things -----------------------------------------

def hold(*paths):
    """stat every path (and so every directory on the way), here and in
    another process: the kernel now holds their names and attributes."""
    for p in paths:
        os.stat(p)
        assert exists_other(p)


def hold_listing(directory):
    """ls -l of a directory (readdirplus hands out names with attributes)."""
    r = run('ls', '-l', directory)
    assert r.returncode == 0, r.stderr
    return r.stdout


def names(mnt, task):
    return sorted(os.listdir(mnt.tp(task, 'regions')))


def assert_regions(mnt, task, starts):
    """Every way of asking for the region list agrees with starts."""
    want = sorted(hx(s) for s in starts)
    assert names(mnt, task) == want
    assert ls_other(mnt.tp(task, 'regions')) == want
    assert [r['start'] for r in mnt.regions(task)] == want
    assert [l[:16] for l in mnt.maps(task)] == ['%016x' % s for s in sorted(starts)]
    assert mnt.status(task)['regions'] == len(starts)
    for s in starts:
        assert os.path.isdir(mnt.rp(task, s))
        assert exists_other(mnt.rp(task, s, 'protection'))


def assert_gone(path):
    fails(errno.ENOENT, os.stat, path)
    fails(errno.ENOENT, os.open, os.path.join(path, 'protection'), os.O_RDONLY)
    assert not exists_other(path)
    assert not exists_other(os.path.join(path, 'size'))


# ---- the cache is on ---------------------------------------------------------

def test_names_and_attributes_are_cached(mount_factory):
    """The point of the rest: a second stat of a region file asks the daemon
    nothing (with -d, libfuse logs every request it gets)."""
    m = mount_factory(debug=True)
    t = m.create_task()
    m.allocate(t, A, m.P)
    path = m.rp(t, A, 'protection')
    os.stat(path)
    before = len(m.log_text())
    for _ in range(20):
        os.stat(path)
        assert exists_other(path)
    later = m.log_text()[before:]
    assert not re.search(r'opcode: (LOOKUP|GETATTR)', later), later[-2000:]


# ---- region boundaries -------------------------------------------------------

def test_split_and_merge_seen_in_ls_and_stat(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)
    hold(mnt.rp(t, A, 'protection'))
    hold_listing(mnt.tp(t, 'regions'))
    # split through ctl
    mnt.ctl(t, 'protect %#x %d r--' % (A + P, P))
    assert_regions(mnt, t, [A, A + P, A + 2 * P])
    assert mnt.region(t, A + P, 'protection') == 'r--'
    assert cat_other(mnt.rp(t, A + 2 * P, 'size')) == '%d\n' % (2 * P)
    hold(mnt.rp(t, A + P, 'protection'), mnt.rp(t, A + 2 * P, 'size'))
    hold_listing(mnt.tp(t, 'regions'))
    # merge through the split-off region's own file
    mnt.set_region(t, A + P, 'protection', 'rw-')
    assert_regions(mnt, t, [A])
    assert_gone(mnt.rp(t, A + P))
    assert_gone(mnt.rp(t, A + 2 * P))
    assert cat_other(mnt.rp(t, A, 'size')) == '%d\n' % (4 * P)
    assert mnt.region(t, A, 'end') == hx(A + 4 * P)


def test_merge_seen_after_ls_l_only(mnt):
    """Names the kernel got from ls -l alone (readdirplus) go too."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 8 * P)
    mnt.write('tasks/%d/ctl' % t, ''.join('protect %#x %d r--\n' % (A + i * P, P)
                                          for i in range(0, 8, 2)))
    starts = [A + i * P for i in range(8)]
    assert names(mnt, t) == [hx(s) for s in starts]
    listing = hold_listing(mnt.tp(t, 'regions'))
    assert listing.count('\nd') == 8
    mnt.ctl(t, 'protect %#x %d rw-' % (A, 8 * P))
    assert_regions(mnt, t, [A])
    for s in starts[1:]:
        assert_gone(mnt.rp(t, s))


def test_split_and_merge_by_every_region_file(mnt):
    """inheritance, attr and protection split a region through ctl and merge
    it back through the piece's own file; the piece's name goes at once."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 3 * P)
    for split, name, back in (('inherit %#x %d share', 'inheritance', 'copy'),
                              ('attr %#x %d cache off', 'attr', 'cache on'),
                              ('protect %#x %d --x', 'protection', 'rw-')):
        mnt.ctl(t, split % (A + P, P))
        assert_regions(mnt, t, [A, A + P, A + 2 * P])
        hold(mnt.rp(t, A + P, name), mnt.rp(t, A + 2 * P, name))
        hold_listing(mnt.tp(t, 'regions'))
        mnt.set_region(t, A + P, name, back)
        assert_regions(mnt, t, [A])
        assert_gone(mnt.rp(t, A + P))
        assert_gone(mnt.rp(t, A + 2 * P))


def test_allocate_next_to_a_region_swallows_its_name(mnt):
    """Two untouched neighbours coalesce: the higher one's name goes."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A + P, P)
    hold(mnt.rp(t, A + P, 'start'))
    mnt.allocate(t, A, P)
    assert_regions(mnt, t, [A])
    assert_gone(mnt.rp(t, A + P))
    assert mnt.region(t, A, 'size') == str(2 * P)


def test_cache_flush_merges_the_region_after_the_range(mnt):
    """A flush counts on whole regions without clipping: flushing the first
    page of a region makes it equal to the region after it, which merges in
    although the range never reached it."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 3 * P)
    mnt.ctl(t, 'protect %#x %d r--' % (A + 2 * P, P))
    mnt.ctl(t, 'attr %#x %d cache flush' % (A + 2 * P, P))
    mnt.ctl(t, 'protect %#x %d rw-' % (A + 2 * P, P))
    assert_regions(mnt, t, [A, A + 2 * P])
    hold(mnt.rp(t, A + 2 * P, 'attr'))
    mnt.ctl(t, 'attr %#x %d cache flush' % (A, P))
    assert_regions(mnt, t, [A])
    assert_gone(mnt.rp(t, A + 2 * P))
    assert mnt.info(t, A)['cache_flushes'] == 1


def test_remap_merges_source_regions(mnt):
    """Sharing part of a region marks the whole source region shared, which
    can make it equal to the region after it: that one merges in, in the
    source task."""
    P = mnt.P
    t = mnt.create_task()
    other = mnt.create_task()
    mnt.allocate(t, A, 3 * P)
    mnt.mem_write(t, A, b'x' * (3 * P))
    mnt.ctl(t, 'protect %#x %d r--' % (A + 2 * P, P))
    mnt.remap(other, 'src=%d:%#x size=%d share' % (t, A + 2 * P, P))
    mnt.ctl(t, 'protect %#x %d rw-' % (A + 2 * P, P))
    assert_regions(mnt, t, [A, A + 2 * P])
    hold(mnt.rp(t, A + 2 * P, 'shared'))
    hold_listing(mnt.tp(t, 'regions'))
    mnt.remap(other, 'src=%d:%#x size=%d share' % (t, A, P))
    assert_regions(mnt, t, [A])
    assert_gone(mnt.rp(t, A + 2 * P))
    assert mnt.region(t, A, 'shared') == 'yes'


def test_deallocated_region_is_gone_at_once(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, P)
    mnt.allocate(t, 0x100000, 2 * P)
    other = os.path.join(mnt.tp(t, 'regions'), '100000')      # another spelling
    hold(mnt.rp(t, 0x100000, 'protection'), mnt.rp(t, 0x100000, 'info'), other)
    hold_listing(mnt.tp(t, 'regions'))
    kept = os.open(mnt.rp(t, 0x100000, 'protection'), os.O_RDWR)
    try:
        # the change comes from another process
        shell('echo "deallocate 0x100000 %d" > %s' % (2 * P, mnt.tp(t, 'ctl')))
        assert_regions(mnt, t, [A])
        assert_gone(mnt.rp(t, 0x100000))
        fails(errno.ENOENT, os.stat, other)
        assert not exists_other(other)
        # an open file keeps its text, but cannot change what is gone
        assert os.pread(kept, 100, 0) == b'rw-\n'
        fails(errno.ENOENT, os.write, kept, b'r--\n')
    finally:
        os.close(kept)


def test_part_deallocated(mnt):
    """Freeing the middle of a region: the rest keeps its start, a new
    region starts after the hole."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)
    hold(mnt.rp(t, A, 'size'))
    hold_listing(mnt.tp(t, 'regions'))
    mnt.ctl(t, 'deallocate %#x %d' % (A + P, P))
    assert_regions(mnt, t, [A, A + 2 * P])
    assert cat_other(mnt.rp(t, A, 'size')) == '%d\n' % P
    hold(mnt.rp(t, A + 2 * P, 'size'))
    mnt.ctl(t, 'deallocate %#x %d' % (A, 4 * P))
    assert_regions(mnt, t, [])
    assert_gone(mnt.rp(t, A))
    assert_gone(mnt.rp(t, A + 2 * P))


def test_working_directory_in_regions(mnt):
    """A process whose working directory is regions/ looks names up
    relative to it, through the kernel's cache."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    mnt.ctl(t, 'protect %#x %d r--' % (A + P, P))
    proc = subprocess.Popen(
        ['sh', '-c', 'cd "$1" && while read name; do '
                     'if [ -e "$name" ]; then echo yes; else echo no; fi; done',
         'sh', mnt.tp(t, 'regions')],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(name):
        proc.stdin.write(name + '\n')
        proc.stdin.flush()
        return proc.stdout.readline().strip()

    try:
        assert ask(hx(A + P)) == 'yes'
        assert ask(hx(A + P) + '/protection') == 'yes'
        mnt.ctl(t, 'protect %#x %d rw-' % (A + P, P))
        assert ask(hx(A + P)) == 'no'
        assert ask(hx(A + P) + '/protection') == 'no'
        assert ask(hx(A)) == 'yes'
    finally:
        proc.stdin.close()
        proc.wait(timeout=TIMEOUT)


# ---- contents ---------------------------------------------------------------

def test_protection_change_seen_in_every_file(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    files = [mnt.rp(t, A, 'protection'), mnt.rp(t, A, 'info'), mnt.tp(t, 'maps'),
             mnt.tp(t, 'maps.json')]
    hold(*files)
    for f in files:
        cat_other(f)
    for how, prot in (('file', 'r--'), ('ctl', 'r-x'), ('other', '---'), ('file', 'rw-')):
        if how == 'file':
            mnt.set_region(t, A, 'protection', prot)
        elif how == 'ctl':
            mnt.ctl(t, 'protect %#x %d %s' % (A, 2 * P, prot))
        else:
            shell('echo %s > %s' % (prot, mnt.rp(t, A, 'protection')))
        assert mnt.region(t, A, 'protection') == prot
        assert cat_other(mnt.rp(t, A, 'protection')) == prot + '\n'
        assert mnt.info(t, A)['protection'] == prot
        assert parse_kv(cat_other(mnt.rp(t, A, 'info')))['protection'] == prot
        line = '%016x-%016x %s/rwx copy' % (A, A + 2 * P, prot)
        assert mnt.maps(t)[0].startswith(line)
        assert cat_other(mnt.tp(t, 'maps')).startswith(line)
        assert mnt.regions(t)[0]['protection'] == prot
        assert json.loads(cat_other(mnt.tp(t, 'maps.json')))[0]['protection'] == prot


def test_mem_write_seen_in_status_and_region(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)
    hold(mnt.tp(t, 'status'), mnt.rp(t, A, 'info'))
    assert mnt.status(t)['resident_pages'] == 0
    for i in range(1, 4):
        mnt.mem_write(t, A + (i - 1) * P, b'data')
        assert mnt.status(t)['resident_pages'] == i
        assert parse_kv(cat_other(mnt.tp(t, 'status')))['resident_pages'] == i
        assert mnt.info(t, A)['resident_pages'] == i
        assert parse_kv(cat_other(mnt.rp(t, A, 'info')))['resident_pages'] == i
        assert mnt.regions(t)[0]['resident_pages'] == i
        assert mnt.region(t, A, 'object') != 'none'


# ---- tasks -------------------------------------------------------------------

def test_fork_and_rmdir_seen_in_tasks(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    tasks = mnt.p('tasks')
    assert ls_other(tasks) == sorted([str(t), 'ctl', 'last_error'])
    hold(mnt.tp(t, 'status'))
    child = mnt.fork(t)
    assert str(child) in os.listdir(tasks)
    assert str(child) in ls_other(tasks)
    assert exists_other(mnt.rp(child, A, 'protection'))
    hold(mnt.rp(child, A, 'protection'), mnt.tp(child, 'status'))
    hold_listing(mnt.tp(child, 'regions'))
    # another fork, by another process
    shell('echo fork %d > %s' % (t, mnt.p('tasks/ctl')))
    grandchild = max(mnt.task_ids())
    assert sorted(os.listdir(tasks)) == sorted([str(t), str(child), str(grandchild),
                                                'ctl', 'last_error'])
    os.rmdir(mnt.tp(child))
    assert sorted(os.listdir(tasks)) == sorted([str(t), str(grandchild), 'ctl', 'last_error'])
    assert str(child) not in ls_other(tasks)
    for p in (mnt.tp(child), mnt.tp(child, 'status'), mnt.rp(child, A),
              mnt.rp(child, A, 'protection')):
        fails(errno.ENOENT, os.stat, p)
        assert not exists_other(p)
    shell('rmdir %s' % mnt.tp(grandchild))
    assert mnt.task_ids() == [t]
    fails(errno.ENOENT, os.stat, mnt.tp(grandchild))


def test_fork_merges_parent_regions(mnt):
    """Fork marks the parent's share regions shared, which can make two of
    them equal: the parent's map is coalesced and one name goes there."""
    P = mnt.P
    t = mnt.create_task()
    other = mnt.create_task()
    mnt.allocate(t, A, 3 * P)
    mnt.mem_write(t, A, b'x' * (3 * P))
    mnt.ctl(t, 'inherit %#x %d share' % (A, 3 * P))
    mnt.ctl(t, 'protect %#x %d r--' % (A + 2 * P, P))
    mnt.remap(other, 'src=%d:%#x size=%d share' % (t, A + 2 * P, P))
    mnt.ctl(t, 'protect %#x %d rw-' % (A + 2 * P, P))
    assert_regions(mnt, t, [A, A + 2 * P])
    hold(mnt.rp(t, A + 2 * P, 'share_mode'))
    hold_listing(mnt.tp(t, 'regions'))
    child = mnt.fork(t)
    assert_regions(mnt, t, [A])
    assert_gone(mnt.rp(t, A + 2 * P))
    assert_regions(mnt, child, [A])
    assert mnt.region(t, A, 'shared') == 'yes'


def test_working_directory_in_a_terminated_task(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, P)
    proc = subprocess.Popen(
        ['sh', '-c', 'cd "$1" && while read name; do '
                     'if [ -e "$name" ]; then echo yes; else echo no; fi; done',
         'sh', mnt.tp(t, 'regions')],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(name):
        proc.stdin.write(name + '\n')
        proc.stdin.flush()
        return proc.stdout.readline().strip()

    try:
        assert ask(hx(A)) == 'yes'
        assert ask(hx(A) + '/info') == 'yes'
        mnt.terminate(t)
        assert ask(hx(A)) == 'no'
        assert ask(hx(A) + '/info') == 'no'
    finally:
        proc.stdin.close()
        proc.wait(timeout=TIMEOUT)


def test_cow_break_in_child_seen_in_parent(mnt):
    """The parent wrote one page after the fork (its own shadow), the child
    then writes the other: the child no longer reads the original object,
    which folds into the parent's shadow, so the parent's region is no longer
    copy-on-write."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    mnt.mem_write(t, A, b'before')
    child = mnt.fork(t)
    mnt.mem_write(t, A + P, b'parent')
    share_mode = mnt.rp(t, A, 'share_mode')
    hold(share_mode, mnt.rp(t, A, 'info'))
    hold_listing(mnt.tp(t, 'regions'))
    assert mnt.region(t, A, 'share_mode') == 'cow'
    assert mnt.info(t, A)['ref_count'] == 2
    assert ' cow shared=' in cat_other(mnt.tp(t, 'maps'))
    assert mnt.regions(t)[0]['share_mode'] == 'cow'
    mnt.mem_write(child, A, b'child')
    assert mnt.region(t, A, 'share_mode') == 'private'
    assert cat_other(share_mode) == 'private\n'
    assert mnt.info(t, A)['ref_count'] == 1
    assert parse_kv(cat_other(mnt.rp(t, A, 'info')))['shadow_depth'] == 0
    assert mnt.regions(t)[0]['share_mode'] == 'private'
    assert ' private shared=' in cat_other(mnt.tp(t, 'maps'))
    assert mnt.mem_read(t, A, 6) == b'before'
    assert mnt.mem_read(child, A, 5) == b'child'


def test_terminate_child_seen_in_parent(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, P)
    mnt.mem_write(t, A, b'shared')
    mnt.set_region(t, A, 'inheritance', 'share')
    child = mnt.fork(t)
    share_mode = mnt.rp(t, A, 'share_mode')
    hold(share_mode)
    assert mnt.region(t, A, 'share_mode') == 'shared'
    assert cat_other(share_mode) == 'shared\n'
    assert ' shared shared=yes' in mnt.read('tasks/%d/maps' % t)
    assert json.loads(cat_other(mnt.tp(t, 'maps.json')))[0]['share_mode'] == 'shared'
    mnt.terminate(child)
    assert mnt.region(t, A, 'share_mode') == 'private'
    assert cat_other(share_mode) == 'private\n'
    assert mnt.info(t, A)['ref_count'] == 1
    assert json.loads(cat_other(mnt.tp(t, 'maps.json')))[0]['share_mode'] == 'private'
    assert ' private shared=yes' in mnt.read('tasks/%d/maps' % t)


def test_remap_into_another_task_seen_there(mnt):
    P = mnt.P
    src = mnt.create_task()
    mnt.allocate(src, A, 2 * P)
    mnt.mem_write(src, A, b'source')
    dst = mnt.create_task()
    mnt.allocate(dst, 0x100000, P)
    hold(mnt.rp(dst, 0x100000, 'protection'), mnt.rp(src, A, 'share_mode'))
    hold_listing(mnt.tp(dst, 'regions'))
    assert not exists_other(mnt.rp(dst, 0x200000))
    out = mnt.remap(dst, 'src=%d:%#x size=%d at=0x200000 share' % (src, A, 2 * P))
    assert out.startswith('address %s ' % hx(0x200000))
    assert_regions(mnt, dst, [0x100000, 0x200000])
    assert mnt.region(dst, 0x200000, 'share_mode') == 'trueshared'
    assert mnt.region(src, A, 'share_mode') == 'trueshared'
    assert cat_other(mnt.rp(src, A, 'shared')) == 'yes\n'
    assert mnt.mem_read(dst, 0x200000, 6) == b'source'
    # and a copy placed anywhere, from another process
    shell('echo "src=%d:%#x size=%d copy" > %s' % (src, A, P, mnt.tp(dst, 'remap')))
    starts = [int(n, 16) for n in ls_other(mnt.tp(dst, 'regions'))]
    assert len(starts) == 3 and 0x100000 in starts and 0x200000 in starts
    new = [s for s in starts if s not in (0x100000, 0x200000)][0]
    assert os.path.isdir(mnt.rp(dst, new))
    assert mnt.mem_read(dst, new, 6) == b'source'


# ---- under load, in every threading mode -----------------------------------

@pytest.mark.parametrize('args', [[], ['-s']], ids=['multithreaded', 'single-threaded'])
def test_fresh_while_others_list_and_look_up(mount_factory, args):
    """Other processes list regions/ with attributes and look names up the
    whole time (so the kernel holds directory locks and waits for the
    daemon while invalidations go out); every merge is still seen at once,
    and nothing hangs, single-threaded too."""
    m = mount_factory(args=args)
    P = m.P
    t = m.create_task()
    m.allocate(t, A, 8 * P)
    regions = m.tp(t, 'regions')
    loop = ('while :; do ls -l "$1" > /dev/null; for n in "$1"/*; do '
            '[ -e "$n/protection" ]; done; done')
    # Each loop in its own process group, so that killing it also kills
    # the ls it may be running (else that ls keeps the mount busy).
    others = [subprocess.Popen(['sh', '-c', loop, 'sh', regions],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
              for _ in range(2)]
    try:
        for i in range(60):
            piece = A + (1 + i % 6) * P
            m.ctl(t, 'protect %#x %d r--' % (piece, P))
            hold(m.rp(t, piece, 'protection'), m.rp(t, piece + P, 'protection'))
            m.set_region(t, piece, 'protection', 'rw-')
            fails(errno.ENOENT, os.stat, m.rp(t, piece))
            fails(errno.ENOENT, os.stat, m.rp(t, piece + P))
            assert names(m, t) == [hx(A)]
    finally:
        for p in others:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for p in others:        # until the group's last ls has exited too
            for _ in range(500):
                try:
                    os.killpg(p.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.01)
    assert_regions(m, t, [A])
