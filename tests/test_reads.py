"""Reading text files: small pieces give the same text as one big read, every
file ends in a newline, and each open sees one snapshot throughout."""
import os
import subprocess

import pytest

from fsmount import hx

A = 0x10000


@pytest.fixture
def busy(mnt):
    """A task with enough regions that maps and maps.json span several pages."""
    P = mnt.P
    t = mnt.create_task()
    n = 120
    mnt.allocate(t, A, n * P)
    mnt.write('tasks/%d/ctl' % t, ''.join('protect %#x %d r--\n' % (A + i * P, P)
                                          for i in range(0, n, 2)))
    mnt.mem_write(t, A + P, b'touched')
    mnt.fork(t)
    return t


def text_files(mnt, t):
    r = 'tasks/%d/regions/%s/' % (t, hx(A))
    files = ['host/page_size', 'host/stats', 'tasks/last_error', 'tasks/ctl',
             'tasks/%d/ctl' % t, 'tasks/%d/remap' % t, 'tasks/%d/parent' % t,
             'tasks/%d/status' % t, 'tasks/%d/last_error' % t, 'tasks/%d/maps' % t,
             'tasks/%d/maps.json' % t]
    files += [r + n for n in ('start', 'end', 'size', 'protection', 'max_protection',
                              'inheritance', 'wired', 'attr', 'shared', 'share_mode', 'object',
                              'offset', 'info')]
    return files


def read_in_pieces(path, n):
    out = b''
    with open(path, 'rb', buffering=0) as f:
        while True:
            piece = f.read(n)
            if not piece:
                return out
            assert len(piece) <= n
            out += piece


def test_small_pieces_equal_one_read(mnt, busy):
    for rel in text_files(mnt, busy):
        path = mnt.p(rel)
        whole = read_in_pieces(path, 1 << 20)
        assert whole.endswith(b'\n'), rel
        for n in (1, 7, 100, 4095):
            if n == 1 and len(whole) > 20000:
                continue
            assert read_in_pieces(path, n) == whole, (rel, n)


def test_large_files_span_pages(mnt, busy):
    assert len(mnt.read('tasks/%d/maps' % busy)) > 2 * 4096
    assert len(mnt.read('tasks/%d/maps.json' % busy)) > 2 * 4096
    assert len(mnt.maps(busy)) == 120


def test_pread_at_offsets(mnt, busy):
    path = mnt.tp(busy, 'maps')
    whole = read_in_pieces(path, 1 << 20)
    fd = os.open(path, os.O_RDONLY)
    try:
        for off in (0, 1, 4095, 4096, 5000, len(whole) - 1):
            assert os.pread(fd, 300, off) == whole[off:off + 300], off
        assert os.pread(fd, 10, len(whole)) == b''
        assert os.pread(fd, 10, len(whole) + 12345) == b''
    finally:
        os.close(fd)


def test_snapshot_at_open(mnt, busy):
    P = mnt.P
    path = mnt.tp(busy, 'maps')
    old = read_in_pieces(path, 1 << 20)
    with open(path, 'rb', buffering=0) as f:
        head = f.read(100)
        # change the whole map: every line changes, and there are more lines
        mnt.ctl(busy, 'protect %#x %d --x' % (A, 120 * P))
        mnt.ctl(busy, 'allocate 0x40000000 %d' % P)
        rest = b''
        while True:
            piece = f.read(333)
            if not piece:
                break
            rest += piece
    assert head + rest == old
    new = read_in_pieces(path, 1 << 20)
    assert new != old and b'%016x-' % 0x40000000 in new


def test_snapshot_of_status_and_json(mnt, busy):
    P = mnt.P
    for name in ('status', 'maps.json'):
        path = mnt.tp(busy, name)
        old = read_in_pieces(path, 1 << 20)
        with open(path, 'rb', buffering=0) as f:
            head = f.read(5)
            mnt.mem_write(busy, A + 3 * P, b'more')
            mnt.ctl(busy, 'allocate anywhere %d' % P)
            rest = f.read(1 << 20)
        assert head + rest == old, name


def test_each_open_is_fresh(mnt, busy):
    P = mnt.P
    before = mnt.read('tasks/%d/status' % busy)
    mnt.ctl(busy, 'allocate 0x40000000 %d' % P)
    assert mnt.read('tasks/%d/status' % busy) != before


def test_region_file_snapshot_and_fresh_open(mnt, busy):
    path = mnt.rp(busy, A, 'protection')
    with open(path, 'rb', buffering=0) as f:
        first = f.read(1)
        mnt.set_region(busy, A, 'protection', 'rwx')
        rest = f.read(100)
    assert first + rest == b'r--\n'
    with open(path, 'rb') as f:
        assert f.read() == b'rwx\n'


def test_stat_sizes_allow_cat(mnt, busy):
    """Whatever st_size says, `cat` must show the whole text."""
    for rel in ('tasks/%d/maps' % busy, 'tasks/%d/status' % busy, 'host/stats'):
        r = subprocess.run(['cat', mnt.p(rel)], capture_output=True, timeout=30)
        assert r.returncode == 0
        assert r.stdout == read_in_pieces(mnt.p(rel), 1 << 20)
        assert r.stdout.endswith(b'\n') and len(r.stdout) > 10
