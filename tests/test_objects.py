"""objects/, regions/<start>/chain, tasks/<id>/pagemap and the page counts of
info, walked through the fork / copy-on-write / share / remap / collapse
stories.  At every step everything is read back from the real files and
checked against everything else: each object's ref_count against its
mapped_by and shadowed_by lines, every region (from maps.json) against the
mapped_by lines of its object, every pagemap line against the chain of its
region, the modes of a region's pagemap lines against its private / shared /
cow counts in info and maps.json, and the objects the regions reach against
the listing of objects/."""
import errno
import json
import os

import pytest

from fsmount import fails

P = 4096
A = 0x10000
RDIR = '0x%016x' % A


def read(mnt, rel):
    return mnt.read(rel)


def lines(mnt, rel):
    return read(mnt, rel).splitlines()


def poke(mnt, task, addr, data):
    fd = os.open(mnt.tp(task, 'mem'), os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, addr) == len(data)
    finally:
        os.close(fd)


def objects(mnt):
    return sorted(int(n) for n in os.listdir(mnt.p('objects')))


def obj(mnt, oid):
    d = 'objects/%d/' % oid
    chain = [l.split() for l in lines(mnt, d + 'chain')]
    return {
        'size': int(read(mnt, d + 'size')),
        'resident_pages': int(read(mnt, d + 'resident_pages')),
        'ref_count': int(read(mnt, d + 'ref_count')),
        'shadow': read(mnt, d + 'shadow').strip(),
        'shadow_offset': int(read(mnt, d + 'shadow_offset'), 16),
        'shadowed_by': [int(x) for x in lines(mnt, d + 'shadowed_by')],
        'mapped_by': [tuple(l.split()) for l in lines(mnt, d + 'mapped_by')],
        'pages': [l.split() for l in lines(mnt, d + 'pages')],
        'chain': [(int(a), int(b), int(c, 16), int(e)) for a, b, c, e in chain],
    }


def pagemap(mnt, task):
    out = []
    for l in lines(mnt, mnt.tp(task, 'pagemap')[len(mnt.path) + 1:]):
        a, o, d, m = l.split()
        assert a.startswith('0x') and len(a) == 18, l
        out.append((int(a, 16), int(o), int(d), m))
    return out


def check_all(mnt):
    """Everything agrees with everything; returns {object id: info}."""
    ids = objects(mnt)
    infos = {i: obj(mnt, i) for i in ids}
    mapped = {i: [] for i in ids}
    for t in mnt.task_ids():
        regions = json.loads(read(mnt, 'tasks/%d/maps.json' % t))
        pm = pagemap(mnt, t)
        assert [p[0] for p in pm] == sorted(set(p[0] for p in pm))
        for r in regions:
            start, end = int(r['start'], 16), int(r['end'], 16)
            rel = 'tasks/%d/regions/%s/' % (t, r['start'])
            info = dict(l.split(' ', 1) for l in lines(mnt, rel + 'info'))
            mine = [p for p in pm if start <= p[0] < end]
            chain = [l.split() for l in lines(mnt, rel + 'chain')]
            counts = {m: sum(1 for p in mine if p[3] == m) for m in ('private', 'shared', 'cow')}
            for m in counts:
                assert int(info[m + '_pages']) == counts[m] == r[m + '_pages'], (rel, m)
            assert sum(counts.values()) == r['resident_pages'] == len(mine)
            if r['object'] is None:
                assert chain == [] and mine == []
                continue
            assert r['object'] in infos, 'a region reaches object %s, not listed' % r['object']
            assert chain == [[str(a), str(b), '0x%x' % c, str(e)]
                             for a, b, c, e in infos[r['object']]['chain']]
            mapped[r['object']].append(('%d' % t, r['start'], r['end'], '0x%x' % r['offset']))
            levels = {int(l[0]): int(l[1]) for l in chain}
            for a, o, d, m in mine:
                assert levels[d] == o, (rel, hex(a))
                assert m in ('private', 'shared', 'cow')
                if d > 0:
                    assert m == 'cow'
    for i, o in infos.items():
        assert o['mapped_by'] == mapped[i], i
        assert o['ref_count'] == len(o['mapped_by']) + len(o['shadowed_by']), i
        assert o['resident_pages'] == len(o['pages']) == o['chain'][0][3]
        assert o['chain'][0][:3] == (0, i, 0)
        if o['shadow'] == 'none':
            assert len(o['chain']) == 1
        else:
            assert o['chain'][1][1] == int(o['shadow'])
            assert i in infos[int(o['shadow'])]['shadowed_by']
        for s in o['shadowed_by']:
            assert infos[s]['shadow'] == str(i)
    return infos


def test_empty_mount_and_untouched_region(mnt):
    assert sorted(os.listdir(mnt.path)) == ['host', 'objects', 'tasks']
    assert objects(mnt) == []
    t = mnt.create_task()
    mnt.allocate(t, A, 1 << 36)                         # 64 GiB, untouched
    assert objects(mnt) == []
    assert read(mnt, 'tasks/%d/pagemap' % t) == ''
    assert read(mnt, 'tasks/%d/regions/%s/chain' % (t, RDIR)) == ''
    poke(mnt, t, A + (1 << 35), b'x')
    assert pagemap(mnt, t) == [(A + (1 << 35), objects(mnt)[0], 0, 'private')]
    check_all(mnt)


def test_fork_cow_collapse_story(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)
    poke(mnt, t, A, b'page0')
    poke(mnt, t, A + 2 * P, b'page2')
    [x] = objects(mnt)
    o = check_all(mnt)[x]
    assert o['size'] == 4 * P and o['ref_count'] == 1 and o['shadow'] == 'none'
    assert o['pages'] == [['0x0'], ['0x2000']]
    assert [p[3] for p in pagemap(mnt, t)] == ['private', 'private']

    c = mnt.fork(t)
    o = check_all(mnt)[x]
    assert o['ref_count'] == 2 and len(o['mapped_by']) == 2
    assert [p[3] for p in pagemap(mnt, c)] == ['cow', 'cow']
    assert [p[3] for p in pagemap(mnt, t)] == ['cow', 'cow']

    # The child's write: a shadow in front of x with the one page.
    poke(mnt, c, A + P, b'child')
    [x2, y] = objects(mnt)
    assert x2 == x
    infos = check_all(mnt)
    assert infos[y]['shadow'] == str(x) and infos[x]['shadowed_by'] == [y]
    assert infos[y]['chain'] == [(0, y, 0, 1), (1, x, 0, 2)]
    assert pagemap(mnt, c) == [(A, x, 1, 'cow'), (A + P, y, 0, 'private'),
                               (A + 2 * P, x, 1, 'cow')]

    # The parent writes too: x is now only shadowed, by both.
    poke(mnt, t, A + 3 * P, b'parent')
    infos = check_all(mnt)
    [z] = [i for i in objects(mnt) if i not in (x, y)]
    assert infos[x]['mapped_by'] == [] and infos[x]['shadowed_by'] == [y, z]

    # The child goes: y dies, x has one reference left and collapses into z.
    held = os.open(mnt.p('objects/%d' % y), os.O_RDONLY)      # a held name
    try:
        mnt.terminate(c)
        assert objects(mnt) == [z]
        fails(errno.ENOENT, os.stat, mnt.p('objects/%d' % y))
        fails(errno.ENOENT, os.stat, mnt.p('objects/%d/size' % y))
        fails(errno.ENOENT, os.stat, mnt.p('objects/%d' % x))
        fails(errno.ENOENT, os.open, 'size', os.O_RDONLY, dir_fd=held)
    finally:
        os.close(held)
    infos = check_all(mnt)
    assert infos[z]['shadow'] == 'none' and infos[z]['resident_pages'] == 3
    assert [(p[1], p[2], p[3]) for p in pagemap(mnt, t)] == [(z, 0, 'private')] * 3


def test_share_and_remap_story(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)
    mnt.write('tasks/%d/regions/%s/inheritance' % (t, RDIR), 'share\n')
    poke(mnt, t, A, b'shared')
    c = mnt.fork(t)
    [x] = objects(mnt)
    infos = check_all(mnt)
    assert infos[x]['ref_count'] == 2
    assert pagemap(mnt, c) == [(A, x, 0, 'shared')] == pagemap(mnt, t)

    # A copying remap into a third task: cow, then private once written.
    u = mnt.create_task()
    mnt.remap(u, 'src=%d:0x%x size=8K at=0x40000 copy' % (t, A))
    check_all(mnt)
    poke(mnt, u, 0x40000, b'mine')
    check_all(mnt)
    assert pagemap(mnt, u)[0][3] == 'private'
    # A sharing remap of the child's region: three entries map x.
    mnt.remap(u, 'src=%d:0x%x size=4K at=0x80000 share' % (c, A))
    infos = check_all(mnt)
    assert infos[x]['ref_count'] == 3
    assert pagemap(mnt, u)[-1] == (0x80000, x, 0, 'shared')

    # Wired pages show as such.
    mnt.ctl(u, 'wire 0x80000 4K rw-')
    pages = obj(mnt, x)['pages']
    assert ['0x0', 'wired'] in pages
    mnt.terminate(c)
    mnt.terminate(u)
    infos = check_all(mnt)
    assert infos[x]['ref_count'] == 1 and ['0x0'] in infos[x]['pages']
    assert pagemap(mnt, t) == [(A, x, 0, 'private')]


def test_object_names_and_errors(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, P)
    poke(mnt, t, A, b'x')
    [x] = objects(mnt)
    for bad in ('0', '0%d' % x, '%d ' % x, 'x', '%d' % (x + 1), '99999999999999999999999'):
        fails(errno.ENOENT, os.stat, mnt.p('objects/' + bad))
    fails(errno.EACCES, os.open, mnt.p('objects/%d/size' % x), os.O_WRONLY)
    fails(errno.EACCES, os.open, mnt.p('tasks/%d/pagemap' % t), os.O_WRONLY)
    fails(errno.EACCES, os.open, mnt.p('tasks/%d/regions/%s/chain' % (t, RDIR)), os.O_WRONLY)
    assert sorted(os.listdir(mnt.p('objects/%d' % x))) == sorted(
        ['size', 'resident_pages', 'ref_count', 'shadow', 'shadow_offset', 'shadowed_by',
         'mapped_by', 'pages', 'chain'])
    # A file kept open on a dead object reads the text it had.
    fd = os.open(mnt.p('objects/%d/ref_count' % x), os.O_RDONLY)
    try:
        mnt.terminate(t)
        assert os.pread(fd, 100, 0) == b'1\n'
    finally:
        os.close(fd)
    assert objects(mnt) == []
    fails(errno.ENOENT, os.stat, mnt.p('objects/%d' % x))
