"""vm_remap through tasks/<id>/remap: sharing and copying between tasks,
anywhere / fixed placement, masks, several source entries, errors."""
import errno
import os
import re

import pytest

from fsmount import fails, hx, USER_MAX

A = 0x10000
RESULT = re.compile(r'^address (0x[0-9a-f]{16}) cur_protection ([r-][w-][x-]) '
                    r'max_protection ([r-][w-][x-])$')


@pytest.fixture
def src(mnt):
    """A source task with two touched pages at A holding 'page0' and 'page1'."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    mnt.mem_write(t, A, b'page0')
    mnt.mem_write(t, A + P, b'page1')
    return t


def remap(mnt, task, line):
    out = mnt.remap(task, line)
    m = RESULT.match(out)
    assert m, out
    return int(m.group(1), 16), m.group(2), m.group(3)


def test_usage_before_any_write(mnt, src):
    usage = mnt.read('tasks/%d/remap' % src)
    assert 'src=' in usage and usage.endswith('\n')


def test_share_between_tasks(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    addr, cur, mx = remap(mnt, dst, 'src=%d:%#x size=%d' % (src, A, 2 * P))
    # default: anywhere from 0, so the lowest fit in an empty task: the page size
    assert addr == P
    assert (cur, mx) == ('rw-', 'rwx')
    assert mnt.mem_read(dst, addr, 5) == b'page0'
    assert mnt.mem_read(dst, addr + P, 5) == b'page1'
    mnt.mem_write(dst, addr + 1, b'DST')
    assert mnt.mem_read(src, A, 5) == b'pDST0'
    mnt.mem_write(src, A + P + 1, b'SRC')
    assert mnt.mem_read(dst, addr + P, 5) == b'pSRC1'
    # both sides shared, default inheritance copy, same object
    r = mnt.regions(dst)[0]
    assert (r['shared'], r['inheritance'], r['size']) == (True, 'copy', 2 * P)
    assert mnt.region(src, A, 'shared') == 'yes'
    assert mnt.region(src, A, 'object') == mnt.region(dst, addr, 'object')
    assert mnt.region(dst, addr, 'share_mode') == 'trueshared'
    assert mnt.region(src, A, 'share_mode') == 'trueshared'


def test_copy_between_tasks(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    addr, cur, mx = remap(mnt, dst, 'src=%d:%#x size=%d copy' % (src, A, 2 * P))
    assert mnt.mem_read(dst, addr, 5) == b'page0'
    assert mnt.mem_read(dst, addr + P, 5) == b'page1'
    mnt.mem_write(dst, addr, b'D')
    mnt.mem_write(src, A + P, b'S')
    assert mnt.mem_read(src, A, 5) == b'page0'
    assert mnt.mem_read(dst, addr + P, 5) == b'page1'
    assert mnt.mem_read(dst, addr, 5) == b'Dage0'
    assert mnt.region(dst, addr, 'shared') == 'no'
    assert mnt.region(src, A, 'shared') == 'no'


def test_copy_of_wired_source(mnt, src):
    P = mnt.P
    mnt.ctl(src, 'wire %#x %d rw-' % (A, 2 * P))
    dst = mnt.create_task()
    addr, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d copy' % (src, A, 2 * P))
    assert mnt.region(dst, addr, 'wired') == '0'
    mnt.mem_write(src, A, b'X')
    assert mnt.mem_read(dst, addr, 5) == b'page0'


def test_share_then_copy_explicit(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    addr, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d share' % (src, A, P))
    mnt.mem_write(dst, addr, b'S')
    assert mnt.mem_read(src, A, 5) == b'Sage0'


@pytest.fixture
def low_src(mnt):
    """A task whose memory starts at the page size, so anywhere fits above it."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, P, 2 * P)
    mnt.mem_write(t, P, b'low')
    return t


def test_same_task_share(mnt, low_src):
    P = mnt.P
    addr, _, _ = remap(mnt, low_src, 'src=%d:%#x size=%d' % (low_src, P, P))
    assert addr == 3 * P
    mnt.mem_write(low_src, addr, b'ALIAS')
    assert mnt.mem_read(low_src, P, 5) == b'ALIAS'


def test_anywhere_with_hint(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    addr, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d anywhere=0x200000' % (src, A, P))
    assert addr == 0x200000
    addr2, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d anywhere=%#x' % (src, A, P, 0x200000 + 5))
    assert addr2 == 0x200000 + P
    addr3, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d anywhere' % (src, A, P))
    assert addr3 == P


def test_mask(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    addr, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d mask=0xffff' % (src, A, P))
    assert addr == 0x10000
    addr2, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d mask=0xffff' % (src, A, P))
    assert addr2 == 0x20000
    addr3, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d' % (src, A, P))
    assert addr3 == P


def test_fixed(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    addr, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d at=0x500000' % (src, A + P, P))
    assert addr == 0x500000
    assert mnt.mem_read(dst, 0x500000, 5) == b'page1'
    # an unaligned target is truncated
    addr, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d at=%#x' % (src, A, P, 0x600000 + 3))
    assert addr == 0x600000


def test_fixed_errors(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    mnt.allocate(dst, 0x500000, P)
    before = mnt.regions(dst)
    fails(errno.ENOSPC, mnt.remap, dst, 'src=%d:%#x size=%d at=%#x' % (src, A, 2 * P, 0x500000 - P))
    assert mnt.last_error(dst).startswith('KERN_NO_SPACE: ')
    fails(errno.ENOSPC, mnt.remap, dst, 'src=%d:%#x size=%d at=0x501000 mask=0x1fff' % (src, A, P))
    fails(errno.EFAULT, mnt.remap, dst, 'src=%d:%#x size=%d at=%#x' % (src, A, 2 * P, USER_MAX - P))
    assert mnt.last_error(dst).startswith('KERN_INVALID_ADDRESS: ')
    fails(errno.EFAULT, mnt.remap, dst, 'src=%d:%#x size=%d at=0' % (src, A, P))
    assert mnt.regions(dst) == before
    assert mnt.region(src, A, 'shared') == 'no'


def test_source_rounding(mnt, src):
    """[trunc(src), trunc(src) + round(size)): 0x10 bytes at A+P-8 is one page."""
    P = mnt.P
    dst = mnt.create_task()
    addr, _, _ = remap(mnt, dst, 'src=%d:%#x size=16' % (src, A + P - 8))
    assert mnt.regions(dst)[0]['size'] == P
    assert mnt.mem_read(dst, addr, 5) == b'page0'


def test_several_source_entries(mnt, src):
    """Two source entries rw-/rwx and r--/r-x: two target entries, and the
    result is the AND of both."""
    P = mnt.P
    mnt.ctl(src, 'protect %#x %d r-x max' % (A + P, P))
    assert mnt.region(src, A + P, 'protection') == 'r--'
    dst = mnt.create_task()
    addr, cur, mx = remap(mnt, dst, 'src=%d:%#x size=%d' % (src, A, 2 * P))
    assert (cur, mx) == ('r--', 'r-x')
    regs = mnt.regions(dst)
    assert [(r['start'], r['protection'], r['max_protection']) for r in regs] == [
        (hx(addr), 'rw-', 'rwx'), (hx(addr + P), 'r--', 'r-x')]
    # the source is not split beyond what it was
    assert mnt.region_starts(src) == [A, A + P]


def test_source_entries_are_not_split(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    remap(mnt, dst, 'src=%d:%#x size=%d' % (src, A + P, P))
    assert mnt.region_starts(src) == [A]
    assert mnt.region(src, A, 'shared') == 'yes'


def test_inherit_argument_and_fork(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    addr, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d inherit=share' % (src, A, P))
    assert mnt.region(dst, addr, 'inheritance') == 'share'
    child = mnt.fork(dst)
    mnt.mem_write(child, addr, b'C')
    assert mnt.mem_read(src, A, 5) == b'Cage0'
    assert mnt.mem_read(dst, addr, 5) == b'Cage0'
    addr2, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d inherit=none' % (src, A, P))
    assert mnt.region(dst, addr2, 'inheritance') == 'none'


def test_copy_needs_read_in_max(mnt, src):
    P = mnt.P
    mnt.ctl(src, 'protect %#x %d -w- max' % (A, P))
    dst = mnt.create_task()
    fails(errno.EACCES, mnt.remap, dst, 'src=%d:%#x size=%d copy' % (src, A, P))
    assert mnt.last_error(dst).startswith('KERN_PROTECTION_FAILURE: ')
    assert mnt.maps(dst) == []
    # sharing does not need read
    addr, cur, mx = remap(mnt, dst, 'src=%d:%#x size=%d share' % (src, A, P))
    assert (cur, mx) == ('-w-', '-w-')


@pytest.mark.parametrize('line,err,kern', [
    ('src={s}:{a:#x} size=0', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('src={s}:{a:#x} size={p} inherit=3', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('src=999:{a:#x} size={p}', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('src={s}:0x900000 size={p}', errno.EFAULT, 'KERN_INVALID_ADDRESS'),
    ('src={s}:{a:#x} size={p3}', errno.EFAULT, 'KERN_INVALID_ADDRESS'),
    ('src={s}:{a:#x} size={p} copy share', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('src={s}:{a:#x} size={p} at=0x500000 anywhere', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('src={s}:{a:#x}', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('size={p}', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('src={s} size={p}', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('src={s}:{a:#x} size={p} colour=blue', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
])
def test_errors(mnt, src, line, err, kern):
    P = mnt.P
    dst = mnt.create_task()
    text = line.format(s=src, a=A, p=P, p3=3 * P)
    fails(err, mnt.remap, dst, text)
    assert mnt.last_error(dst).startswith(kern + ': '), mnt.last_error(dst)
    assert mnt.maps(dst) == []
    assert mnt.region(src, A, 'shared') == 'no'


def test_dead_source_task(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    mnt.terminate(src)
    fails(errno.EINVAL, mnt.remap, dst, 'src=%d:%#x size=%d' % (src, A, P))


def test_shared_mapping_survives_source_termination(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    addr, _, _ = remap(mnt, dst, 'src=%d:%#x size=%d' % (src, A, 2 * P))
    mnt.terminate(src)
    assert mnt.mem_read(dst, addr + P, 5) == b'page1'
    mnt.mem_write(dst, addr + P, b'still')
    assert mnt.mem_read(dst, addr + P, 5) == b'still'


def test_remap_result_on_same_fd(mnt, src):
    P = mnt.P
    dst = mnt.create_task()
    fd = os.open(mnt.tp(dst, 'remap'), os.O_RDWR)
    try:
        os.write(fd, b'src=%d:%#x size=%d at=0x300000\n' % (src, A, P))
        out = os.read(fd, 4096).decode()
    finally:
        os.close(fd)
    assert out == 'address %s cur_protection rw- max_protection rwx\n' % hx(0x300000)
