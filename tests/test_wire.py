"""vm_wire through the `wired` file and the wire verb: counting, residency,
faults, errors.  (Wiring by an unprivileged user: test_permissions.py.)"""
import errno
import os

import pytest

from fsmount import fails

A = 0x10000


@pytest.fixture
def task(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * mnt.P)
    return t


def test_wiring_is_counted(mnt, task):
    mnt.set_region(task, A, 'wired', 'rw-')
    assert mnt.region(task, A, 'wired') == '1'
    mnt.set_region(task, A, 'wired', 'r--')
    assert mnt.region(task, A, 'wired') == '2'
    assert mnt.maps(task)[0].split()[3] == 'wired=2'
    mnt.set_region(task, A, 'wired', '---')
    assert mnt.region(task, A, 'wired') == '1'
    mnt.set_region(task, A, 'wired', 'none')
    assert mnt.region(task, A, 'wired') == '0'
    fails(errno.EINVAL, mnt.set_region, task, A, 'wired', 'none')
    assert mnt.last_error(task).startswith('KERN_INVALID_ARGUMENT: ')
    assert mnt.region(task, A, 'wired') == '0'


def test_wire_verb(mnt, task):
    P = mnt.P
    assert mnt.ctl(task, 'wire %#x %d rw-' % (A, 2 * P)) == 'ok'
    assert mnt.status(task)['wired_pages'] == 2
    assert mnt.host_stats()['wired_pages'] == 2
    assert mnt.ctl(task, 'wire %#x %d none' % (A, 2 * P)) == 'ok'
    assert mnt.status(task)['wired_pages'] == 0


def test_wiring_makes_pages_resident(mnt, task):
    P = mnt.P
    assert mnt.status(task)['resident_pages'] == 0
    mnt.ctl(task, 'wire %#x %d r--' % (A, 2 * P))
    assert mnt.status(task)['resident_pages'] == 2
    info = mnt.info(task, A)
    assert info['resident_pages'] == 2
    assert info['wired'] == 1
    assert mnt.region(task, A, 'object') != 'none'
    assert mnt.mem_read(task, A, 2 * P) == bytes(2 * P)


def test_no_faults_after_wiring(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'wire %#x %d rw-' % (A, 2 * P))
    f0 = mnt.status(task)['faults']
    mnt.mem_write(task, A + 10, b'abc')
    assert mnt.mem_read(task, A + P, 5) == bytes(5)
    assert mnt.status(task)['faults'] == f0


def test_wiring_resolves_copy_on_write(mnt, task):
    P = mnt.P
    mnt.mem_write(task, A, b'before fork')
    c = mnt.fork(task)
    assert mnt.region(c, A, 'share_mode') == 'cow'
    mnt.ctl(c, 'wire %#x %d r--' % (A, 2 * P))
    info = mnt.info(c, A)
    assert info['resident_pages'] == 2
    assert info['shadow_depth'] == 0
    f0 = mnt.status(c)['faults']
    mnt.mem_write(c, A, b'child')
    assert mnt.status(c)['faults'] == f0
    assert mnt.mem_read(task, A, 11) == b'before fork'


def test_partial_wire_splits_and_unwire_coalesces(mnt, task):
    P = mnt.P
    mnt.mem_write(task, A, b't' * (2 * P))     # one object for the whole entry
    mnt.ctl(task, 'wire %#x %d rw-' % (A + P, P))
    assert [r['wired'] for r in mnt.regions(task)] == [0, 1]
    mnt.ctl(task, 'wire %#x %d none' % (A + P, P))
    assert mnt.region_starts(task) == [A]


def test_wire_over_hole_is_eio(mnt, task):
    P = mnt.P
    fails(errno.EIO, mnt.ctl, task, 'wire %#x %d rw-' % (A, 3 * P))
    assert mnt.last_error(task).startswith('KERN_FAILURE: ')
    assert [r['wired'] for r in mnt.regions(task)] == [0]
    assert mnt.status(task)['resident_pages'] == 0


def test_wire_beyond_protection_is_eio(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'protect %#x %d r--' % (A + P, P))
    fails(errno.EIO, mnt.ctl, task, 'wire %#x %d rw-' % (A, 2 * P))
    assert mnt.last_error(task).startswith('KERN_FAILURE: ')
    assert [r['wired'] for r in mnt.regions(task)] == [0, 0]
    mnt.ctl(task, 'wire %#x %d r--' % (A, 2 * P))
    assert [r['wired'] for r in mnt.regions(task)] == [1, 1]


def test_unwire_errors(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'wire %#x %d rw-' % (A, P))
    # an entry that is not wired: KERN_INVALID_ARGUMENT, and nothing unwired
    fails(errno.EINVAL, mnt.ctl, task, 'wire %#x %d none' % (A, 2 * P))
    assert mnt.last_error(task).startswith('KERN_INVALID_ARGUMENT: ')
    assert [r['wired'] for r in mnt.regions(task)] == [1, 0]
    # the first problem in address order decides: the unwired entry before the hole
    fails(errno.EINVAL, mnt.ctl, task, 'wire %#x %d none' % (A, 3 * P))
    # a hole in the range after wired entries only: KERN_FAILURE
    mnt.ctl(task, 'wire %#x %d rw-' % (A + P, P))
    fails(errno.EIO, mnt.ctl, task, 'wire %#x %d none' % (A, 3 * P))
    assert mnt.last_error(task).startswith('KERN_FAILURE: ')
    regs = mnt.regions(task)
    assert {r['wired'] for r in regs} == {1} and sum(r['size'] for r in regs) == 2 * P


def test_wire_size_zero(mnt, task):
    assert mnt.ctl(task, 'wire 0x900000 0 rw-') == 'ok'
    assert mnt.ctl(task, 'wire 0x900000 0 none') == 'ok'


@pytest.mark.parametrize('value', ['rwq', 'wired', '8', 'yes'])
def test_bad_access_is_einval(mnt, task, value):
    fails(errno.EINVAL, mnt.set_region, task, A, 'wired', value)
    assert mnt.region(task, A, 'wired') == '0'


def test_deallocate_wired(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'wire %#x %d rw-' % (A, 2 * P))
    mnt.ctl(task, 'wire %#x %d rw-' % (A, 2 * P))
    mnt.ctl(task, 'deallocate %#x %d' % (A, 2 * P))
    assert mnt.maps(task) == []
    assert mnt.status(task)['wired_pages'] == 0
    assert mnt.host_stats()['wired_pages'] == 0


def test_wire_count_limit(mnt, task):
    """65535 wirings succeed; the next one is KERN_FAILURE."""
    P = mnt.P
    line = b'wire %#x %d r--\n' % (A, P)
    per_write = 3000 // len(line)
    fd = os.open(mnt.tp(task, 'ctl'), os.O_WRONLY)
    try:
        left = 65535
        while left:
            n = min(left, per_write)
            assert os.write(fd, line * n) == len(line) * n
            left -= n
    finally:
        os.close(fd)
    assert mnt.region(task, A, 'wired') == '65535'
    fails(errno.EIO, mnt.ctl, task, line.decode())
    assert mnt.last_error(task).startswith('KERN_FAILURE: ')
    assert mnt.region(task, A, 'wired') == '65535'
    mnt.ctl(task, 'wire %#x %d none' % (A, P))
    assert mnt.region(task, A, 'wired') == '65534'
