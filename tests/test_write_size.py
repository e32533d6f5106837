"""One write(2) of a writable text file is a unit whatever its size: the
kernel passes a write(2) longer than what one WRITE request carries in
pieces, so the daemon takes at most the largest write that always arrives
whole and refuses anything longer with EFBIG, changing nothing
(fs_layout.md, *Writing*).

The writes here come from an mmap'ed buffer at a chosen offset in its first
page: a buffer that starts late in a page spans one page more, which is
what makes the kernel cut a write short of its byte limit."""
import errno
import mmap
import os

import pytest

from fsmount import fails, hx

A = 0x10000
PAGE = os.sysconf('SC_PAGESIZE')


def kernel_pages():
    """The pages one WRITE request carries: what libfuse asks for (its
    buffer: 256 pages) within the kernel's max_pages_limit."""
    try:
        with open('/proc/sys/fs/fuse/max_pages_limit') as f:
            return min(256, int(f.read()))
    except OSError:
        return 256


# The documented limit: min(max_write - 1, (max_pages - 1) * page); with
# libfuse's max_write of 256 pages, 255 pages (1044480 bytes with 4 KiB pages).
LIMIT = min(256 * PAGE - 1, (kernel_pages() - 1) * PAGE)
MESSAGE = ('KERN_INVALID_ARGUMENT: %%s: one write may hold at most %d bytes (the kernel '
           'passes a longer one in pieces), got %%d or more\n' % LIMIT)


def fill(line, total, last=None):
    """Exactly `total` bytes: `line` (ending in a newline) over and over,
    then `last` (default: line) padded with spaces to the exact length."""
    last = last if last is not None else line
    body = line * ((total - len(last)) // len(line))
    pad = total - len(body) - len(last)
    assert pad >= 0
    data = body + last.rstrip(b'\n') + b' ' * pad + b'\n'
    assert len(data) == total
    return data


def write_from(path, data, offset):
    """One write(2) of data from a buffer starting `offset` bytes into a
    page; returns (count or the OSError, what a read on the same fd gives)."""
    buf = mmap.mmap(-1, len(data) + 2 * PAGE)
    view = memoryview(buf)
    try:
        view[offset:offset + len(data)] = data
        fd = os.open(path, os.O_RDWR)
        try:
            try:
                out = os.write(fd, view[offset:offset + len(data)])
            except OSError as e:
                out = e
            return out, os.read(fd, 65536).decode()
        finally:
            os.close(fd)
    finally:
        view.release()
        buf.close()


@pytest.fixture
def task(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * mnt.P)
    mnt.mem_write(t, A, b'data')
    return t


def state(mnt, task):
    """Everything a write could have changed."""
    return (mnt.read('tasks/%d/maps.json' % task), mnt.status(task), mnt.host_stats(),
            mnt.read(os.path.relpath(mnt.rp(task, A, 'attr'), mnt.path)),
            mnt.task_ids(), mnt.read('host/events'))


def flushes(mnt, task):
    return mnt.info(task, A)['cache_flushes']


# ---- at the limit: one request, so the write is a unit ------------------------

@pytest.mark.parametrize('offset', [0, 1, PAGE - 1])
def test_write_at_the_limit_is_whole(mnt, task, offset):
    """A write of exactly the limit arrives as one request wherever its
    buffer starts: a bad last line stops every line before it, and an all
    good one runs every line and returns the full count."""
    line = b'attr %#x 4K cache flush\n' % A
    path = mnt.tp(task, 'ctl')

    bad = fill(line, LIMIT, last=b'bogus\n')
    before = state(mnt, task)
    out, result = write_from(path, bad, offset)
    assert isinstance(out, OSError) and out.errno == errno.EINVAL, out
    assert "unknown command 'bogus'" in result
    assert state(mnt, task)[:2] == before[:2]
    assert flushes(mnt, task) == 0

    good = fill(line, LIMIT)
    out, result = write_from(path, good, offset)
    assert out == LIMIT
    assert result == 'ok\n'
    assert flushes(mnt, task) == good.count(b'\n')


def test_one_long_line_at_the_limit(mnt):
    """White space around a line is trimmed whatever its length: one
    `create` padded to the limit makes one task."""
    line = b'create' + b' ' * (LIMIT - 7) + b'\n'
    out, result = write_from(mnt.p('tasks/ctl'), line, PAGE - 1)
    assert out == LIMIT
    assert mnt.task_ids() == [int(result)]


# ---- over the limit: refused whole ------------------------------------------

def files(task):
    """Every writable text file, with a line it accepts: (path, line)."""
    region = 'tasks/%d/regions/%s/' % (task, hx(A))
    return [
        ('tasks/ctl', b'create\n'),
        ('tasks/%d/ctl' % task, b'attr %#x 4K cache flush\n' % A),
        ('tasks/%d/remap' % task, b'src=%d:%#x size=4K copy\n' % (task, A)),
        (region + 'protection', b'r--\n'),
        (region + 'max_protection', b'r-x\n'),
        (region + 'inheritance', b'share\n'),
        (region + 'wired', b'r--\n'),
        (region + 'attr', b'cache flush\n'),
    ]


@pytest.mark.parametrize('index', range(8), ids=[f for f, _ in files(1)])
def test_every_file_takes_a_write_at_the_limit_whole(mnt, task, index):
    """A good line, empty lines up to the limit and a bad last line: the
    parse of the last line stops the first, so all of it came as one
    request; with a good last line the write succeeds with the full count."""
    rel, line = files(task)[index]
    before = state(mnt, task)
    bad = line + fill(b'\n', LIMIT - len(line), last=b'no such value\n')
    out, _ = write_from(mnt.p(rel), bad, PAGE - 1)
    assert isinstance(out, OSError) and out.errno == errno.EINVAL, out
    assert state(mnt, task)[:5] == before[:5]
    good = line + fill(b'\n', LIMIT - len(line), last=line)
    out, _ = write_from(mnt.p(rel), good, PAGE - 1)
    assert out == LIMIT


@pytest.mark.parametrize('index', range(8), ids=[f for f, _ in files(1)])
@pytest.mark.parametrize('size,offset', [(LIMIT + 1, 0), (LIMIT + 1, PAGE - 1),
                                         (1 << 20, 0), (3 << 20, 100)],
                         ids=['limit+1', 'limit+1-late', '1MiB', '3MiB'])
def test_write_over_the_limit_changes_nothing(mnt, task, index, size, offset):
    """Good lines and a good last line, one byte or many over the limit:
    EFBIG, nothing changed, and last_error says the limit."""
    rel, line = files(task)[index]
    owner = 0 if rel == 'tasks/ctl' else task
    before = state(mnt, task)
    out, result = write_from(mnt.p(rel), fill(line, size), offset)
    assert isinstance(out, OSError) and out.errno == errno.EFBIG, out
    assert state(mnt, task) == before
    error = mnt.last_error(owner or None)
    if '/regions/' not in rel:      # the ctl files read back the failure
        assert result == error
    got = int(error.rsplit(' got ', 1)[1].split()[0])
    # the first request of the write: all of it, or the first piece
    assert LIMIT < got <= size
    assert error == MESSAGE % (rel, got)


def test_save_over_the_limit_changes_nothing(mount_factory, tmp_path):
    """host/save too: the state file is not written, tasks/last_error says
    why; at the limit the same write saves."""
    path = tmp_path / 'host.json'
    mnt = mount_factory(options=['state=%s' % path])
    fails(errno.EFBIG, lambda: mnt.write('host/save', fill(b'\n', LIMIT + 1, last=b'save\n')))
    assert not path.exists()
    assert mnt.last_error() == MESSAGE % ('host/save', LIMIT + 1)
    assert mnt.write('host/save', fill(b'\n', LIMIT, last=b'save\n')) == LIMIT
    assert path.exists()


def test_failed_line_undoes_the_batch(mnt, task):
    """Under the limit the batch rules are unchanged: lines run in order, the
    first failing engine call stops the rest, and the ones before it are
    undone (the batch runs all or nothing)."""
    line = b'attr %#x 4K cache flush\n' % A
    data = line * 10 + b'attr 0x900000 4K cache flush\n' + line * 10
    out, result = write_from(mnt.tp(task, 'ctl'), data, 0)
    assert isinstance(out, OSError) and out.errno == errno.EINVAL
    assert flushes(mnt, task) == 0
    assert '(line 11 of 21; the 10 lines before it were undone)' in mnt.last_error(task)
