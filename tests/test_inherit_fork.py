"""vm_inherit / vm_map_inherit and what fork does with each inheritance,
checked with data through `mem` in both directions."""
import errno

import pytest

from fsmount import fails, hx

A = 0x10000


@pytest.fixture
def three(mnt):
    """A parent with three pages: share, copy, none, each holding its name."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 3 * P)
    mnt.set_region(t, A, 'inheritance', 'share')
    mnt.ctl(t, 'inherit %#x %d copy' % (A + P, P))
    mnt.ctl(t, 'inherit %#x %d none' % (A + 2 * P, P))
    for i, word in enumerate((b'share', b'copy!', b'none!')):
        mnt.mem_write(t, A + i * P, word)
    return t


def test_inherit_splits_entries(mnt, three):
    P = mnt.P
    regs = mnt.regions(three)
    assert [(r['start'], r['inheritance']) for r in regs] == [
        (hx(A), 'share'), (hx(A + P), 'copy'), (hx(A + 2 * P), 'none')]


def test_fork_data_both_directions(mnt, three):
    P = mnt.P
    SH, CP, NO = A, A + P, A + 2 * P
    child = mnt.fork(three)
    # the child sees the parent's bytes in share and copy, nothing in none
    assert mnt.mem_read(child, SH, 5) == b'share'
    assert mnt.mem_read(child, CP, 5) == b'copy!'
    fails(errno.EFAULT, mnt.mem_read, child, NO, 1)
    assert [r['start'] for r in mnt.regions(child)] == [hx(SH), hx(CP)]

    # child -> parent
    mnt.mem_write(child, SH, b'CHILD')
    mnt.mem_write(child, CP, b'CHILD')
    assert mnt.mem_read(three, SH, 5) == b'CHILD'
    assert mnt.mem_read(three, CP, 5) == b'copy!'

    # parent -> child
    mnt.mem_write(three, SH + 100, b'PARENT')
    mnt.mem_write(three, CP + 100, b'PARENT')
    assert mnt.mem_read(child, SH + 100, 6) == b'PARENT'
    assert mnt.mem_read(child, CP + 100, 6) == bytes(6)
    assert mnt.mem_read(child, CP, 5) == b'CHILD'
    assert mnt.mem_read(three, NO, 5) == b'none!'


def test_parent_writes_first_to_copy(mnt, three):
    """Copy-on-write must protect the child when the parent is the writer."""
    P = mnt.P
    child = mnt.fork(three)
    mnt.mem_write(three, A + P, b'later')
    assert mnt.mem_read(child, A + P, 5) == b'copy!'
    assert mnt.mem_read(three, A + P, 5) == b'later'


def test_fork_region_attributes(mnt, three):
    P = mnt.P
    mnt.ctl(three, 'protect %#x %d r-x max' % (A + P, P))
    child = mnt.fork(three)
    pr = {r['start']: r for r in mnt.regions(three)}
    ch = {r['start']: r for r in mnt.regions(child)}
    for start in ch:
        for key in ('protection', 'max_protection', 'inheritance', 'size'):
            assert ch[start][key] == pr[start][key], (start, key)
    assert ch[hx(A + P)]['protection'] == 'r--'
    # share: both sides shared; copy: neither
    assert mnt.region(three, A, 'shared') == 'yes'
    assert mnt.region(child, A, 'shared') == 'yes'
    assert mnt.region(three, A + P, 'shared') == 'no'
    assert mnt.region(child, A + P, 'shared') == 'no'
    # the shared page is one object on both sides
    assert mnt.region(three, A, 'object') == mnt.region(child, A, 'object')


def test_share_modes_after_fork(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, P)
    mnt.allocate(t, A + 2 * P, P)
    mnt.set_region(t, A, 'inheritance', 'share')
    mnt.mem_write(t, A, b's')
    mnt.mem_write(t, A + 2 * P, b'c')
    assert mnt.region(t, A, 'share_mode') == 'private'
    c = mnt.fork(t)
    assert mnt.region(t, A, 'share_mode') == 'shared'
    assert mnt.region(c, A, 'share_mode') == 'shared'
    assert mnt.region(t, A + 2 * P, 'share_mode') == 'cow'
    assert mnt.region(c, A + 2 * P, 'share_mode') == 'cow'
    assert mnt.info(c, A)['ref_count'] == 2


def test_copy_pages_are_shared_until_written(mnt, three):
    P = mnt.P
    child = mnt.fork(three)
    assert mnt.region(child, A + P, 'share_mode') == 'cow'
    assert mnt.region(three, A + P, 'share_mode') == 'cow'
    before = mnt.host_stats()
    assert mnt.info(child, A + P)['needs_copy'] in ('yes', 'true', '1', 1)
    mnt.mem_read(child, A + P, 5)
    assert mnt.host_stats()['pages_copied'] == before['pages_copied']
    c0 = mnt.status(child)['cow_faults']
    mnt.mem_write(child, A + P, b'W')
    assert mnt.status(child)['cow_faults'] == c0 + 1
    assert mnt.host_stats()['pages_copied'] == before['pages_copied'] + 1


def test_untouched_share_region_is_shared(mnt):
    """An entry with no object gets one at fork, so writes after the fork are shared."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    mnt.ctl(t, 'inherit %#x %d share' % (A, 2 * P))
    assert mnt.region(t, A, 'object') == 'none'
    c = mnt.fork(t)
    mnt.mem_write(c, A + P + 7, b'from child')
    assert mnt.mem_read(t, A + P + 7, 10) == b'from child'
    mnt.mem_write(t, A, b'from parent')
    assert mnt.mem_read(c, A, 11) == b'from parent'


def test_share_after_copy_fork_keeps_sibling_private(mnt):
    """A needs_copy entry forked with share first gets its own shadow: the new
    child shares with the parent, not with the earlier copy child."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, P)
    mnt.mem_write(t, A, b'original')
    c1 = mnt.fork(t)                       # copy: both needs_copy
    mnt.set_region(t, A, 'inheritance', 'share')
    c2 = mnt.fork(t)
    mnt.mem_write(c2, A, b'from c2!')
    assert mnt.mem_read(t, A, 8) == b'from c2!'
    assert mnt.mem_read(c1, A, 8) == b'original'
    mnt.mem_write(t, A, b'parent!!')
    assert mnt.mem_read(c2, A, 8) == b'parent!!'
    assert mnt.mem_read(c1, A, 8) == b'original'
    mnt.mem_write(c1, A, b'c1 write')
    assert mnt.mem_read(t, A, 8) == b'parent!!'
    assert mnt.mem_read(c2, A, 8) == b'parent!!'


def test_fork_of_fork_chain(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    mnt.mem_write(t, A, b'gen0')
    tasks = [t]
    for gen in range(1, 6):
        c = mnt.fork(tasks[-1])
        mnt.mem_write(c, A + P, b'gen%d' % gen)
        tasks.append(c)
    for gen, task in enumerate(tasks):
        assert mnt.mem_read(task, A, 4) == b'gen0'
        if gen:
            assert mnt.mem_read(task, A + P, 4) == b'gen%d' % gen
    assert mnt.mem_read(t, A + P, 4) == bytes(4)


@pytest.mark.parametrize('spelling,want', [
    ('share', 'share'), ('copy', 'copy'), ('none', 'none'),
    ('VM_INHERIT_SHARE', 'share'), ('VM_INHERIT_COPY', 'copy'), ('VM_INHERIT_NONE', 'none'),
    ('0', 'share'), ('1', 'copy'), ('2', 'none'), (' share \t', 'share'),
])
def test_inheritance_spellings(mnt, spelling, want):
    t = mnt.create_task()
    mnt.allocate(t, A, mnt.P)
    mnt.set_region(t, A, 'inheritance', 'none' if want != 'none' else 'share')
    mnt.set_region(t, A, 'inheritance', spelling)
    assert mnt.region(t, A, 'inheritance') == want
    assert mnt.maps(t)[0].split()[2] == want


@pytest.mark.parametrize('value', ['3', 'shared', 'VM_INHERIT_DEFAULTX', '-1', 'copy none'])
def test_bad_inheritance_is_einval(mnt, value):
    t = mnt.create_task()
    mnt.allocate(t, A, mnt.P)
    fails(errno.EINVAL, mnt.set_region, t, A, 'inheritance', value)
    fails(errno.EINVAL, mnt.ctl, t, 'inherit %#x 0 %s' % (A, value))
    assert mnt.last_error(t).startswith('KERN_INVALID_ARGUMENT: ')
    assert mnt.region(t, A, 'inheritance') == 'copy'


def test_inherit_over_hole_is_efault(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, P)
    mnt.allocate(t, A + 2 * P, P)
    fails(errno.EFAULT, mnt.ctl, t, 'inherit %#x %d share' % (A, 3 * P))
    assert mnt.last_error(t).startswith('KERN_INVALID_ADDRESS: ')
    assert [r['inheritance'] for r in mnt.regions(t)] == ['copy', 'copy']
    assert mnt.ctl(t, 'inherit %#x 0 share' % A) == 'ok'
    assert mnt.region(t, A, 'inheritance') == 'copy'


def test_map_inherit_rounds_both_ends_down(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)
    # [A+1, A+2P-1) rounds down to [A, A+P): one page only
    assert mnt.ctl(t, 'map_inherit %#x %#x share' % (A + 1, A + 2 * P - 1)) == 'ok'
    assert [(r['inheritance'], r['size']) for r in mnt.regions(t)] == [
        ('share', P), ('copy', 3 * P)]
    # start == end after rounding: nothing done, success
    assert mnt.ctl(t, 'map_inherit %#x %#x none' % (A + P + 1, A + 2 * P - 1)) == 'ok'
    assert len(mnt.regions(t)) == 2
    # end < start: invalid
    fails(errno.EINVAL, mnt.ctl, t, 'map_inherit %#x %#x none' % (A + 2 * P, A + P))
    assert mnt.last_error(t).startswith('KERN_INVALID_ARGUMENT: ')
    # the same hole rule as vm_inherit
    fails(errno.EFAULT, mnt.ctl, t, 'map_inherit %#x %#x none' % (A, A + 5 * P))


def test_inherit_back_coalesces(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 3 * P)
    mnt.ctl(t, 'inherit %#x %d none' % (A + P, P))
    assert len(mnt.regions(t)) == 3
    mnt.ctl(t, 'inherit %#x %d copy' % (A + P, P))
    assert mnt.region_starts(t) == [A]


def test_wired_copy_region_is_copied_eagerly(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, P)
    mnt.mem_write(t, A, b'wired data')
    mnt.ctl(t, 'wire %#x %d rw-' % (A, P))
    c = mnt.fork(t)
    assert mnt.region(c, A, 'wired') == '0'
    assert mnt.region(t, A, 'wired') == '1'
    assert mnt.region(c, A, 'share_mode') == 'private'
    assert mnt.region(c, A, 'object') != mnt.region(t, A, 'object')
    assert mnt.mem_read(c, A, 10) == b'wired data'
    mnt.mem_write(t, A, b'WIRED')
    assert mnt.mem_read(c, A, 10) == b'wired data'


def test_needs_copy_file_follows_the_first_write(mnt, three):
    """regions/<start>/needs_copy: yes while a copied region still shares its
    object copy-on-write, no once a write has given it a shadow of its own."""
    P = mnt.P
    assert mnt.region(three, A + P, 'needs_copy') == 'no'
    child = mnt.fork(three)
    assert mnt.region(child, A + P, 'needs_copy') == 'yes'
    assert mnt.region(three, A + P, 'needs_copy') == 'yes'
    mnt.mem_write(child, A + P, b'W')
    assert mnt.region(child, A + P, 'needs_copy') == 'no'
    assert mnt.region(three, A + P, 'needs_copy') == 'yes'
    assert mnt.region(child, A + P, 'needs_copy') == mnt.info(child, A + P)['needs_copy']
