"""The `mem` file: vm_read / vm_write at file offset = address.  Short
transfers at holes and unreadable pages, EFAULT, EACCES, dd."""
import errno
import os
import subprocess

import pytest

from fsmount import fails, USER_MAX

A = 0x10000


@pytest.fixture
def task(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * mnt.P)
    return t


def pattern(n, seed=1):
    return bytes((i * 7 + seed) & 0xff for i in range(n))


def test_size_is_top_of_user_range(mnt, task):
    assert os.stat(mnt.tp(task, 'mem')).st_size == USER_MAX


def test_write_then_read_unaligned(mnt, task):
    P = mnt.P
    data = pattern(2 * P + 123)
    assert mnt.mem_write(task, A + P - 77, data) == len(data)
    assert mnt.mem_read(task, A + P - 77, len(data)) == data
    assert mnt.mem_read(task, A, P - 77) == bytes(P - 77)


def test_short_read_at_hole(mnt, task):
    P = mnt.P
    mnt.mem_write(task, A + 3 * P, b'\xff' * P)
    got = mnt.mem_read(task, A + 3 * P + 10, 3 * P)
    assert got == b'\xff' * (P - 10)


def test_short_write_at_hole(mnt, task):
    P = mnt.P
    assert mnt.mem_write(task, A + 4 * P - 6, b'0123456789') == 6
    assert mnt.mem_read(task, A + 4 * P - 6, 6) == b'012345'


def test_start_in_hole_is_efault(mnt, task):
    P = mnt.P
    fails(errno.EFAULT, mnt.mem_read, task, A + 4 * P, 1)
    fails(errno.EFAULT, mnt.mem_write, task, A - 1, b'ab')
    fails(errno.EFAULT, mnt.mem_read, task, 0, 16)
    fails(errno.EFAULT, mnt.mem_read, task, USER_MAX - P, 16)


def test_protection_errors(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'protect %#x %d r--' % (A, P))
    mnt.ctl(task, 'protect %#x %d ---' % (A + P, P))
    fails(errno.EACCES, mnt.mem_write, task, A, b'x')
    fails(errno.EACCES, mnt.mem_read, task, A + P, 1)
    fails(errno.EACCES, mnt.mem_write, task, A + P + 5, b'x')
    # a read that runs into a page without read permission is short
    assert mnt.mem_read(task, A, 2 * P) == bytes(P)
    # a write that runs into a read-only page is short
    assert mnt.mem_write(task, A + 2 * P, b'w' * (3 * P)) == 2 * P
    mnt.ctl(task, 'protect %#x %d r--' % (A + 3 * P, P))
    assert mnt.mem_write(task, A + 2 * P, b'v' * (2 * P)) == P


def test_read_allocates_nothing(mnt, task):
    P = mnt.P
    st = mnt.status(task)
    assert mnt.mem_read(task, A, 4 * P) == bytes(4 * P)
    after = mnt.status(task)
    assert after['resident_pages'] == 0
    assert mnt.region(task, A, 'object') == 'none'
    assert mnt.region(task, A, 'share_mode') == 'empty'
    assert after['zero_fill_faults'] - st['zero_fill_faults'] == 4
    assert after['faults'] - st['faults'] == 4


def test_write_fills_zero_pages(mnt, task):
    P = mnt.P
    st = mnt.status(task)
    mnt.mem_write(task, A + P - 1, b'ab')          # touches two pages
    after = mnt.status(task)
    assert after['resident_pages'] == 2
    assert after['zero_fill_faults'] - st['zero_fill_faults'] == 2
    assert after['cow_faults'] == st['cow_faults']
    assert mnt.region(task, A, 'share_mode') == 'private'


def test_many_pages(mnt):
    P = mnt.P
    t = mnt.create_task()
    n = 64
    mnt.allocate(t, A, n * P)
    data = pattern(n * P, 3)
    assert mnt.mem_write(t, A, data) == len(data)
    assert mnt.mem_read(t, A, len(data)) == data
    assert mnt.status(t)['resident_pages'] == n


def test_read_write_size_zero(mnt, task):
    assert mnt.mem_read(task, A, 0) == b''
    assert mnt.mem_write(task, A, b'') == 0


def test_dd(mnt, task, tmp_path):
    P = mnt.P
    src = tmp_path / 'in.bin'
    data = pattern(3 * P, 9)
    src.write_bytes(data)
    mem = mnt.tp(task, 'mem')
    r = subprocess.run(['dd', 'if=%s' % src, 'of=%s' % mem, 'bs=%d' % P, 'seek=%d' % (A // P),
                        'conv=notrunc', 'status=none'], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(['dd', 'if=%s' % mem, 'bs=%d' % P, 'skip=%d' % (A // P), 'count=3',
                        'status=none'], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data
    # one read across the end of the allocation is short: it stops at the hole
    r = subprocess.run(['dd', 'if=%s' % mem, 'bs=%d' % (8 * P), 'iflag=skip_bytes',
                        'skip=%d' % (A + 2 * P), 'count=1', 'status=none'],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data[2 * P:] + bytes(P)
    # the next read would start in the hole: dd reports the error
    r = subprocess.run(['dd', 'if=%s' % mem, 'bs=%d' % P, 'skip=%d' % (A // P + 3),
                        'count=2', 'status=none'], capture_output=True, text=False, timeout=30)
    assert r.returncode != 0
    assert r.stdout == bytes(P)
    assert b'Bad address' in r.stderr
    # byte offsets
    r = subprocess.run(['dd', 'if=%s' % mem, 'iflag=skip_bytes,count_bytes', 'skip=%d' % (A + 5),
                        'count=7', 'status=none'], capture_output=True, timeout=30)
    assert r.stdout == data[5:12]


def test_dd_into_hole_fails(mnt, task):
    r = subprocess.run(['dd', 'if=/dev/zero', 'of=%s' % mnt.tp(task, 'mem'), 'bs=16', 'count=1',
                        'oflag=seek_bytes', 'seek=%d' % 0x900000, 'conv=notrunc', 'status=none'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert 'Bad address' in r.stderr


def test_copy_on_write_through_mem(mnt, task):
    mnt.mem_write(task, A, b'orig')
    child = mnt.fork(task)
    st = mnt.status(child)
    mnt.mem_write(child, A + 2, b'XY')
    after = mnt.status(child)
    assert after['cow_faults'] - st['cow_faults'] == 1
    assert mnt.mem_read(child, A, 4) == b'orXY'
    assert mnt.mem_read(task, A, 4) == b'orig'


def test_other_tasks_unaffected(mnt, task):
    other = mnt.create_task()
    mnt.allocate(other, A, mnt.P)
    mnt.mem_write(task, A, b'mine')
    assert mnt.mem_read(other, A, 4) == bytes(4)


def test_mem_open_read_write_same_fd(mnt, task):
    fd = os.open(mnt.tp(task, 'mem'), os.O_RDWR)
    try:
        os.lseek(fd, A + 100, os.SEEK_SET)
        assert os.write(fd, b'sequential') == 10
        assert os.lseek(fd, 0, os.SEEK_CUR) == A + 110
        os.lseek(fd, A + 100, os.SEEK_SET)
        assert os.read(fd, 10) == b'sequential'
    finally:
        os.close(fd)


def test_read_at_or_past_the_top_is_end_of_file(mnt, task):
    assert mnt.mem_read(task, USER_MAX, 16) == b''
    assert mnt.mem_read(task, USER_MAX + 4096, 16) == b''
