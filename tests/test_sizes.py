"""Sizes: st_size of every text file is the length of the text a read gives,
so tools that trust it (tar, cp -a, less, editors) see the whole text; and a
size follows every change at once, however long the kernel keeps attributes."""
import os
import stat
import subprocess
import tempfile

import pytest

from fsmount import USER_MAX, hx

A = 0x10000
NPAGES = 40

@pytest.fixture
def busy(mnt):
    """A task with regions of both protections, written pages (objects with
    resident pages), a shadow chain from a fork, and a last_error line."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, NPAGES * P)
    mnt.write('tasks/%d/ctl' % t, ''.join('protect %#x %d r--\n' % (A + i * P, P)
                                          for i in range(0, NPAGES, 2)))
    for i in range(1, NPAGES, 4):
        mnt.mem_write(t, A + i * P, b'page %d' % i)
    child = mnt.fork(t)
    mnt.mem_write(child, A + P, b'copied')
    with pytest.raises(OSError):
        mnt.ctl(t, 'protect 0x1 1 bogus')
    return t


def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def tree_files(root):
    """Every regular file under root (a path inside the mount)."""
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            out.append(os.path.join(d, name))
    return out


def test_stat_size_is_the_length_of_every_text(mnt, busy):
    seen = set()
    for path in tree_files(mnt.path):
        name = os.path.basename(path)
        st = os.stat(path)
        assert stat.S_ISREG(st.st_mode)
        rel = os.path.relpath(path, mnt.path)
        if name == 'mem':
            assert st.st_size == USER_MAX, rel
            continue
        assert st.st_size == len(read_bytes(path)), rel
        # the kind of file, by its path with ids left out
        parts = rel.split('/')
        kind = '/'.join('<n>' if p.isdigit() else '<r>' if p.startswith('0x') else p
                        for p in parts)
        seen.add(kind)
    # every kind of text file of the tree was there to be checked
    for kind in ('host/page_size', 'host/stats', 'host/save', 'host/graph.dot', 'host/events',
                 'tasks/ctl', 'tasks/last_error', 'tasks/<n>/ctl', 'tasks/<n>/remap',
                 'tasks/<n>/parent', 'tasks/<n>/status', 'tasks/<n>/last_error',
                 'tasks/<n>/maps', 'tasks/<n>/maps.json', 'tasks/<n>/pagemap',
                 'tasks/<n>/graph.dot', 'tasks/<n>/events',
                 'tasks/<n>/regions/<r>/protection', 'tasks/<n>/regions/<r>/info',
                 'tasks/<n>/regions/<r>/chain', 'tasks/<n>/regions/<r>/start',
                 'tasks/<n>/regions/<r>/share_mode', 'tasks/<n>/regions/<r>/attr',
                 'objects/<n>/chain', 'objects/<n>/pages', 'objects/<n>/mapped_by',
                 'objects/<n>/shadowed_by', 'objects/<n>/size', 'objects/<n>/ref_count'):
        assert kind in seen, kind
    # the texts are not empty: a size of 0 everywhere would not pass above
    assert os.stat(mnt.tp(busy, 'maps')).st_size > 1000


def test_fstat_of_an_open_file_and_usage_sizes(mnt, busy):
    with open(mnt.tp(busy, 'maps.json'), 'rb') as f:
        assert os.fstat(f.fileno()).st_size == len(f.read())
    # a ctl file's size is its usage's, what a fresh open reads
    for rel in ('tasks/ctl', 'tasks/%d/ctl' % busy, 'tasks/%d/remap' % busy, 'host/save'):
        text = read_bytes(mnt.p(rel))
        assert len(text) >= 5 and os.stat(mnt.p(rel)).st_size == len(text)


def archive_members(tmp):
    return {os.path.relpath(p, tmp): p for p in tree_files(tmp)}


def check_copy(mnt, src_rel, copy_root):
    """Every file of the copy holds what a fresh read of the original gives,
    and every file of the original is in the copy."""
    members = archive_members(copy_root)
    originals = [os.path.relpath(p, mnt.path) for p in tree_files(mnt.p(src_rel))]
    originals = [r for r in originals if os.path.basename(r) != 'mem']
    assert originals
    for rel in originals:
        assert rel in members, rel
        got = read_bytes(members[rel])
        assert got == read_bytes(mnt.p(rel)), rel
        assert got.endswith(b'\n') or got == b'', rel


def test_tar_of_a_task_holds_every_text(mnt, busy):
    t = busy
    with tempfile.TemporaryDirectory() as tmp:
        for src in ('tasks/%d' % t, 'objects'):
            # as README.md and fs_layout.md show it
            c = subprocess.Popen(['tar', 'c', '--exclude=mem', src],
                                 cwd=mnt.path, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            x = subprocess.run(['tar', 'x', '-C', tmp], stdin=c.stdout, capture_output=True,
                               timeout=120)
            c.stdout.close()
            err = c.stderr.read().decode()
            assert c.wait(timeout=120) == 0, err
            # no "file shrank" or "changed as we read it"
            assert err == '', err
            assert x.returncode == 0, x.stderr
            check_copy(mnt, src, tmp)
        maps = os.path.join(tmp, 'tasks', str(t), 'maps')
        assert os.path.getsize(maps) > 1000


def test_cp_a_copies_every_text(mnt, busy):
    t = busy
    with tempfile.TemporaryDirectory() as tmp:
        srcs = ['tasks/%d/regions' % t, 'objects', 'host/stats', 'host/graph.dot']
        srcs += ['tasks/%d/%s' % (t, n) for n in ('maps', 'maps.json', 'pagemap',
                                                  'graph.dot', 'status', 'parent', 'ctl',
                                                  'last_error', 'remap')]
        for src in srcs:
            dest = os.path.join(tmp, os.path.dirname(src))
            os.makedirs(dest, exist_ok=True)
            r = subprocess.run(['cp', '-a', '--no-preserve=ownership', mnt.p(src), dest],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
        for src in srcs:
            if os.path.isdir(mnt.p(src)):
                check_copy(mnt, src, tmp)
            else:
                assert read_bytes(os.path.join(tmp, src)) == read_bytes(mnt.p(src)), src
                assert os.path.getsize(os.path.join(tmp, src)) > 0, src


def size(mnt, rel):
    return os.stat(mnt.p(rel)).st_size


def check(mnt, rel):
    """stat's size, which must be the length of a fresh read."""
    n = size(mnt, rel)
    assert n == len(read_bytes(mnt.p(rel))), rel
    return n


def test_sizes_follow_changes_at_once(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 8 * P)
    maps, status = 'tasks/%d/maps' % t, 'tasks/%d/status' % t
    inh = os.path.relpath(mnt.rp(t, A, 'inheritance'), mnt.path)
    before = {rel: check(mnt, rel) for rel in (maps, status, inh, 'host/stats')}
    # stat again: the cached size is still right
    assert size(mnt, maps) == before[maps]

    # protection rewritten on part of the region: one line more in maps
    mnt.write('tasks/%d/ctl' % t, 'protect %#x %d r--\n' % (A + P, P))
    assert size(mnt, maps) > before[maps]
    assert check(mnt, maps) == size(mnt, maps)

    # a region added
    n = size(mnt, maps)
    mnt.allocate(t, 0x100000, P)
    assert check(mnt, maps) > n

    # a region file written: "copy" -> "share"
    assert mnt.region(t, A, 'inheritance') == 'copy'
    mnt.set_region(t, A, 'inheritance', 'share')
    assert size(mnt, inh) == len('share\n')
    assert check(mnt, inh) == len('share\n')

    # a failed write: last_error's size moves
    le = 'tasks/%d/last_error' % t
    assert check(mnt, le) == len('none\n')
    with pytest.raises(OSError):
        mnt.ctl(t, 'protect 0x1 1 bogus')
    assert size(mnt, le) > len('none\n')
    assert check(mnt, le) == size(mnt, le)

    # pages written: the object's pages file grows
    mnt.mem_write(t, A + 2 * P, b'x')
    obj = mnt.region(t, A + 2 * P, 'object')
    pages = 'objects/%s/pages' % obj
    n = check(mnt, pages)
    mnt.mem_write(t, A + 4 * P, b'y')
    assert size(mnt, pages) > n
    check(mnt, pages)

    # reads of mem count faults without any change report: status follows
    n = check(mnt, status)
    for i in range(200):
        mnt.mem_read(t, A + 5 * P, 1)
        if size(mnt, status) != n:
            break
    assert size(mnt, status) != n, 'status never changed size over 200 faults'
    check(mnt, status)
    check(mnt, 'host/stats')


def test_fstat_follows_a_change_on_an_open_file(mnt):
    """less +F and tail -f look at fstat: the size is today's, not the snapshot's."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, P)
    with open(mnt.tp(t, 'maps'), 'rb') as f:
        snap = f.read()
        assert os.fstat(f.fileno()).st_size == len(snap)
        mnt.allocate(t, 0x200000, P)
        now = os.fstat(f.fileno()).st_size
    assert now > len(snap)
    assert now == len(read_bytes(mnt.tp(t, 'maps')))


def getattrs(mnt):
    return mnt.log_text().count('opcode: GETATTR')


def test_unchanged_sizes_stay_cached(mount_factory):
    """Sizes are cached like every other attribute: repeated stats without a
    change in between ask the daemon nothing, and a change makes the next
    stat ask again."""
    mnt = mount_factory(debug=True)
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)
    paths = [mnt.tp(t, 'maps'), mnt.tp(t, 'status'), mnt.rp(t, A, 'info'),
             mnt.rp(t, A, 'protection'), mnt.p('host/stats')]
    for p in paths:
        os.stat(p)
    first = getattrs(mnt)
    for _ in range(20):
        for p in paths:
            os.stat(p)
    assert getattrs(mnt) == first
    mnt.set_region(t, A, 'protection', 'r--')
    os.stat(paths[0])
    assert getattrs(mnt) > first
