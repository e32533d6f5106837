"""maps and maps.json stay exactly a fresh render while the daemon keeps them.

The daemon keeps the last text of both files and, after a change, renders
again only the regions the change's report names and splices them into the
old text (fs_layout.md, *Caching*).  These tests mix changes of every kind on
a task with many regions -- allocate, deallocate, protect (splitting and
merging regions), inherit, map_inherit, wire and unwire, machine attributes,
copy, remap from the task itself and from another one, writes through mem,
a fork of the task and the child's end -- with reads of both files, a few
changes between two reads at random so that several changed ranges meet in
one splice.  After every read:

- maps must be exactly the lines rendered here from maps.json;
- every few steps maps.json must agree with the region directories (the
  names under regions/) and with each region's own `info` file, which the
  daemon renders afresh from the engine at every open.

The debug builds also compare every spliced text with a fresh render in the
daemon and abort on a difference (the mount then fails the test).

The seed is printed; MACHVM_SEED=<n> replays a run.
"""
import json
import multiprocessing
import os
import random
import time

import pytest

from fsmount import hx, parse_kv

W = 0x100000            # the window the regions live in ...
PAGES = 160             # ... of this many pages


def render_maps(regions):
    """maps as fs_layout.md describes it, from maps.json's objects."""
    out = []
    for r in regions:
        out.append('%s-%s %s/%s %s wired=%d %s shared=%s object=%s offset=0x%x\n' % (
            r['start'][2:], r['end'][2:], r['protection'], r['max_protection'],
            r['inheritance'], r['wired'], r['share_mode'], 'yes' if r['shared'] else 'no',
            'none' if r['object'] is None else r['object'], r['offset']))
    return ''.join(out)


def info_value(key, v):
    """A maps.json value as a region's info file writes it."""
    if isinstance(v, bool):
        return 'yes' if v else 'no'
    if v is None:
        return 'none'
    if key == 'offset':
        return '0x%x' % v
    return str(v)


def read_pair(mnt, t):
    """maps and maps.json of task t, each read whole (one open)."""
    maps = mnt.read('tasks/%d/maps' % t)
    text = mnt.read('tasks/%d/maps.json' % t)
    return maps, text


def check(mnt, t, deep, what, focus=()):
    """Both texts of t against each other; against the region files too for
    every region when deep, else for those within a page of a range in
    focus (the ones the last changes touched)."""
    maps, text = read_pair(mnt, t)
    regions = json.loads(text)
    assert text == json.dumps(regions, indent=2) + '\n', 'maps.json of %d after %s' % (t, what)
    assert maps == render_maps(regions), 'maps of %d disagrees with maps.json after %s' % (
        t, what)
    if deep:
        names = sorted(n for n in os.listdir(mnt.tp(t, 'regions')))
        assert names == sorted(r['start'] for r in regions), 'regions/ of %d after %s' % (t, what)
    P = mnt.P
    for r in regions:
        lo, hi = int(r['start'], 16), int(r['end'], 16)
        if deep or any(lo < b + P and hi > a - P for a, b in focus):
            try:
                info = {k: str(v) for k, v in parse_kv(mnt.read(os.path.relpath(
                    mnt.rp(t, r['start'], 'info'), mnt.path))).items()}
            except FileNotFoundError:
                raise AssertionError('maps.json of %d shows %s, which is no region, after %s'
                                     % (t, r['start'], what))
            want = {k: info_value(k, v) for k, v in r.items()}
            assert info == want, 'region %s of task %d after %s' % (r['start'], t, what)
    return regions


def try_cmd(mnt, rel, line):
    try:
        mnt.command(rel, line)
        return True
    except OSError:
        return False


# Changes that leave every region private to the task (no object, or one
# only it maps): the daemon splices these.  The rest share memory with
# another task or copy it, after which it renders whole until the sharing
# ends.
PRIVATE_KINDS = ('allocate', 'deallocate', 'protect', 'protect', 'merge', 'inherit',
                 'map_inherit', 'wire', 'attr', 'write', 'write')
ALL_KINDS = PRIVATE_KINDS + ('copy', 'remap_self', 'remap_other', 'fork', 'end_child',
                             'end_child')


def random_change(mnt, rnd, t, other, state, kinds):
    """One change of a random kind on t (or a fork of it); returns what it was."""
    P = mnt.P
    a = W + rnd.randrange(PAGES) * P
    n = rnd.choice((1, 1, 1, 2, 3, 5, 8)) * P
    kind = rnd.choice(kinds)
    state['focus'].append((a, a + n))
    ctl = 'tasks/%d/ctl' % t
    if kind == 'allocate':
        line = 'allocate %#x %#x' % (a, n)
    elif kind == 'deallocate':
        line = 'deallocate %#x %#x' % (a, n)
    elif kind == 'protect':
        line = 'protect %#x %#x %s' % (a, n, rnd.choice(('r--', 'rw-', 'rwx', '---')))
    elif kind == 'merge':
        # The neighbour's values given to a region: the two merge.
        regions = json.loads(mnt.read('tasks/%d/maps.json' % t))
        if len(regions) < 2:
            return 'nothing to merge'
        i = rnd.randrange(len(regions) - 1)
        r, s = regions[i], regions[i + 1]
        line = 'protect %s %d %s' % (s['start'], s['size'], r['protection'])
        state['focus'].append((int(r['start'], 16), int(s['end'], 16)))
        try_cmd(mnt, ctl, 'inherit %s %d %s' % (s['start'], s['size'], r['inheritance']))
    elif kind == 'inherit':
        line = 'inherit %#x %#x %s' % (a, n, rnd.choice(('share', 'copy', 'none')))
    elif kind == 'map_inherit':
        line = 'map_inherit %#x %#x %s' % (a, a + n, rnd.choice(('share', 'copy', 'none')))
    elif kind == 'wire':
        line = 'wire %#x %#x %s' % (a, n, rnd.choice(('rw-', 'r--', 'none')))
    elif kind == 'attr':
        line = 'attr %#x %#x %s %s' % (a, n, rnd.choice(('cache', 'migrate', 'replicate')),
                                       rnd.choice(('on', 'off', 'flush', 'get')))
    elif kind == 'copy':
        d = W + rnd.randrange(PAGES) * P
        state['focus'].append((d, d + n))
        line = 'copy %#x %#x %#x' % (a, n, d)
    elif kind == 'remap_self':
        d = W + rnd.randrange(PAGES) * P
        state['focus'].append((d, d + n))
        line = 'remap src=%d:%#x size=%#x at=%#x %s' % (t, a, n, d, rnd.choice(('share', 'copy')))
    elif kind == 'remap_other':
        line = 'remap src=%d:%#x size=%#x at=%#x %s' % (
            other, W + rnd.randrange(8) * P, P * rnd.choice((1, 2)), a,
            rnd.choice(('share', 'copy')))
    elif kind == 'write':
        try:
            mnt.mem_write(t, a + rnd.randrange(P), b'x' * rnd.randrange(1, 64))
        except OSError:
            pass
        return 'write at %#x' % a
    elif kind == 'fork':
        if state['children']:
            return 'enough children'
        c = mnt.fork(t)
        state['children'].append(c)
        if rnd.random() < 0.5:      # the child writes: copy-on-write behind the parent
            try:
                mnt.mem_write(c, a, b'child')
            except OSError:
                pass
        return 'fork -> %d' % c
    else:       # end_child
        if not state['children']:
            return 'no child'
        c = state['children'].pop(rnd.randrange(len(state['children'])))
        mnt.terminate(c)
        return 'terminate %d' % c
    ok = try_cmd(mnt, ctl, line)
    return '%s (%s)' % (line, 'ok' if ok else 'failed')


def setup_task(mnt, pages):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, W, pages * P)
    mnt.write('tasks/%d/ctl' % t, ''.join('protect %#x %d r--\n' % (W + i * P, P)
                                          for i in range(1, pages, 2)))
    return t


def test_every_kind_of_change(mnt):
    seed = int(os.environ.get('MACHVM_SEED', random.randrange(1 << 30)))
    print('seed', seed)
    rnd = random.Random(seed)
    t = setup_task(mnt, PAGES)
    other = setup_task(mnt, 8)
    mnt.mem_write(other, W, b'other')
    state = {'children': [], 'focus': []}
    check(mnt, t, True, 'set-up')
    steps = int(os.environ.get('MACHVM_KEPT_STEPS', '400'))
    done = []
    for step in range(steps):
        # First only private changes (spliced), then every kind.
        kinds = PRIVATE_KINDS if step < steps * 3 // 5 else ALL_KINDS
        for _ in range(rnd.choice((1, 1, 2, 4))):
            done.append(random_change(mnt, rnd, t, other, state, kinds))
        what = 'step %d (seed %d): %s' % (step, seed, '; '.join(done[-4:]))
        if rnd.random() < 0.25:
            # Only one of the two read: the other's changes pile up.
            mnt.read('tasks/%d/%s' % (t, rnd.choice(('maps', 'maps.json'))))
            continue
        check(mnt, t, step % 10 == 0, what, state['focus'])
        state['focus'] = []
        for c in state['children']:
            check(mnt, c, False, what + ' (child %d)' % c)
    check(mnt, t, True, 'the end (seed %d)' % seed)


def test_a_change_in_the_middle_of_many_regions(mnt):
    """The benchmark's case: one page protected and back in a big map, each
    text read between; also an open held over a change keeps its snapshot."""
    P = mnt.P
    n = 3000
    t = setup_task(mnt, n)
    base = mnt.read('tasks/%d/maps' % t)
    assert len(base.splitlines()) == n
    mid = W + (n // 2 + 1) * P
    with open(mnt.tp(t, 'maps'), 'rb') as held:
        first = held.read(100)
        for prot, lines in (('rw-', n - 2), ('r--', n)):
            mnt.ctl(t, 'protect %#x %d %s' % (mid, P, prot))
            regions = check(mnt, t, False, 'protect %s' % prot)
            assert len(regions) == lines
        assert first + held.read() == base.encode()
    assert mnt.read('tasks/%d/maps' % t) == base
    # A fork and the child's end leave an untouched parent as it was; a
    # write then gives one region an object of its own.
    c = mnt.fork(t)
    assert mnt.read('tasks/%d/maps' % t) == base
    mnt.terminate(c)
    mnt.mem_write(t, mid - P, b'touched')          # a read-write region
    regions = check(mnt, t, False, 'a write', [(mid - P, mid)])
    assert [r['object'] is not None for r in regions].count(True) == 1
    # A change at each end, and a region allocated past the last one.
    mnt.ctl(t, 'protect %#x %d rwx' % (W, P))
    mnt.ctl(t, 'protect %#x %d rwx' % (W + (n - 1) * P, P))
    mnt.allocate(t, W + (n + 4) * P, P)
    regions = check(mnt, t, True, 'changes at both ends')
    assert len(regions) == n + 1
    assert regions[-1]['start'] == hx(W + (n + 4) * P)
    # Everything gone, then one region again.
    mnt.ctl(t, 'deallocate %#x %#x' % (W, (n + 8) * P))
    assert read_pair(mnt, t) == ('', '[]\n')
    mnt.allocate(t, W, P)
    check(mnt, t, True, 'one region again')


@pytest.mark.parametrize('how', ['rmdir', 'terminate'])
def test_a_reused_id_reads_its_own_map(mnt, how):
    """A task's text is never served for a newer task with the same id."""
    P = mnt.P
    t = setup_task(mnt, 40)
    old = read_pair(mnt, t)
    if how == 'rmdir':
        mnt.terminate(t)
    else:
        mnt.command('tasks/ctl', 'terminate %d' % t)
    u = mnt.create_task()
    assert u == t
    assert read_pair(mnt, u) == ('', '[]\n')
    mnt.allocate(u, W, 3 * P)
    regions = check(mnt, u, True, 'a new task under an old id')
    assert len(regions) == 1 and read_pair(mnt, u) != old


def _flip(args):
    """Protects random spans of the task read-only or read-write, for secs:
    one page to a hundred and twenty, so that one change splits or merges
    many regions at once."""
    root, t, P, n, secs, seed = args
    rnd = random.Random(seed)
    ctl = os.path.join(root, 'tasks', str(t), 'ctl')
    end = time.monotonic() + secs
    while time.monotonic() < end:
        k = rnd.choice((1, 2, 3, 40, 120))
        a = W + rnd.randrange(n - k) * P
        with open(ctl, 'w') as f:
            f.write('protect %#x %d %s\n' % (a, k * P, rnd.choice(('r--', 'rw-'))))
    return 'ok'


def _read_maps(args):
    """Reads maps whole, again and again: every text must be one state of
    the map, the n pages from W in order, no gap, no overlap."""
    root, t, P, n, secs = args
    path = os.path.join(root, 'tasks', str(t), 'maps')
    end = time.monotonic() + secs
    reads = 0
    while time.monotonic() < end:
        with open(path, 'rb') as f:
            text = f.read().decode()
        at = W
        for line in text.splitlines():
            span = line.split(' ', 1)[0]
            lo, hi = (int(x, 16) for x in span.split('-'))
            if lo != at or hi <= lo:
                return 'not one snapshot (at %#x): %s' % (at, line)
            at = hi
        if at != W + n * P:
            return 'the regions end at %#x, not at %#x' % (at, W + n * P)
        reads += 1
    return 'ok' if reads else 'no read finished'


def test_one_snapshot_while_the_map_changes(mnt):
    """Reads while other processes change the map: a spliced text is never a
    mix of the map before and after a change.  (A race: a splice that
    missed a change made while it read the regions is caught in some runs,
    not in every one.)"""
    P = mnt.P
    n = 2000
    t = setup_task(mnt, n)
    secs = 3.0
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(4) as pool:
        jobs = [pool.apply_async(_flip, ((mnt.path, t, P, n, secs, k),)) for k in range(3)]
        jobs += [pool.apply_async(_read_maps, ((mnt.path, t, P, n, secs),))]
        for j in jobs:
            assert j.get(timeout=60 + 4 * secs) == 'ok'
