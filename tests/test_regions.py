"""The regions/ directory, maps and maps.json: the vm_region walk, names,
lookups by other spellings, splitting and coalescing as `ls` shows them."""
import errno
import json
import os
import re

import pytest

from fsmount import fails, hx

A = 0x10000
MAPS_LINE = re.compile(r'^([0-9a-f]{16})-([0-9a-f]{16}) ([r-][w-][x-])/([r-][w-][x-]) '
                       r'(share|copy|none) wired=(\d+) '
                       r'(empty|cow|private|private_aliased|shared|shared_aliased|trueshared) '
                       r'shared=(yes|no) object=(none|\d+) offset=0x([0-9a-f]+)$')
JSON_KEYS = {'start', 'end', 'size', 'protection', 'max_protection', 'inheritance', 'wired',
             'shared', 'needs_copy', 'share_mode', 'object', 'offset', 'shadow_depth',
             'ref_count', 'resident_pages', 'cache', 'migrate', 'replicate', 'cache_flushes',
             'dcache_flushes', 'icache_flushes', 'private_pages', 'shared_pages', 'cow_pages'}
INFO_KEYS = JSON_KEYS


@pytest.fixture
def task(mnt):
    """A task with several regions of different kinds."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)                       # touched, then split by protect
    mnt.mem_write(t, A, b'x' * (2 * P))
    mnt.ctl(t, 'protect %#x %d r--' % (A + P, P))
    mnt.allocate(t, 0x100000, P)                    # untouched
    mnt.allocate(t, 0x7fff0000, 2 * P)              # share inheritance, wired
    mnt.ctl(t, 'inherit 0x7fff0000 %d share' % (2 * P))
    mnt.ctl(t, 'wire 0x7fff0000 %d r--' % (2 * P))
    return t


def listing(mnt, task):
    return os.listdir(mnt.tp(task, 'regions'))


def test_names_fixed_width_and_in_address_order(mnt, task):
    names = listing(mnt, task)
    assert all(re.fullmatch(r'0x[0-9a-f]{16}', n) for n in names), names
    starts = [int(n, 16) for n in names]
    assert sorted(names) == [hx(s) for s in sorted(starts)]
    assert sorted(names) == [r['start'] for r in mnt.regions(task)]
    assert len(names) == mnt.status(task)['regions'] == len(mnt.maps(task))


def test_walk_like_vm_region(mnt, task):
    """Walking from address 0 (look at the entry holding the address or the
    first above, then go on from its end) meets exactly the listed regions,
    and each region's files agree with maps.json."""
    regs = mnt.regions(task)
    by_start = {int(r['start'], 16): r for r in regs}
    addr, walked = 0, []
    while True:
        above = [s for s, r in by_start.items() if s + r['size'] > addr]
        if not above:
            break
        start = min(above)
        walked.append(start)
        d = mnt.rp(task, start)
        size = int(mnt.region(task, start, 'size'))
        assert mnt.region(task, start, 'start') == hx(start)
        assert int(mnt.region(task, start, 'end'), 16) == start + size
        r = by_start[start]
        assert size == r['size']
        assert mnt.region(task, start, 'protection') == r['protection']
        assert mnt.region(task, start, 'max_protection') == r['max_protection']
        assert mnt.region(task, start, 'inheritance') == r['inheritance']
        assert int(mnt.region(task, start, 'wired')) == r['wired']
        assert mnt.region(task, start, 'shared') == ('yes' if r['shared'] else 'no')
        assert mnt.region(task, start, 'share_mode') == r['share_mode']
        obj = mnt.region(task, start, 'object')
        assert obj == ('none' if r['object'] is None else str(r['object']))
        assert mnt.region(task, start, 'offset') == '0x%x' % r['offset']
        assert os.path.isdir(d)
        addr = start + size
    assert [hx(s) for s in walked] == sorted(listing(mnt, task))


def test_maps_lines_match_json(mnt, task):
    lines = mnt.maps(task)
    regs = mnt.regions(task)
    assert len(lines) == len(regs)
    for line, r in zip(lines, regs):
        m = MAPS_LINE.match(line)
        assert m, line
        start, end, prot, maxp, inh, wired, mode, shared, obj, off = m.groups()
        assert '0x' + start == r['start'] and '0x' + end == r['end']
        assert int(end, 16) - int(start, 16) == r['size']
        assert (prot, maxp, inh, int(wired), mode) == (
            r['protection'], r['max_protection'], r['inheritance'], r['wired'], r['share_mode'])
        assert shared == ('yes' if r['shared'] else 'no')
        assert obj == ('none' if r['object'] is None else str(r['object']))
        assert int(off, 16) == r['offset']


def test_maps_json_shape(mnt, task):
    regs = mnt.regions(task)
    for r in regs:
        assert set(r) == JSON_KEYS, set(r) ^ JSON_KEYS
        assert re.fullmatch(r'0x[0-9a-f]{16}', r['start']) and re.fullmatch(r'0x[0-9a-f]{16}', r['end'])
        assert isinstance(r['shared'], bool) and isinstance(r['needs_copy'], bool)
        assert r['object'] is None or isinstance(r['object'], int)
        for k in ('size', 'offset', 'wired', 'shadow_depth', 'ref_count', 'resident_pages',
                  'cache_flushes', 'dcache_flushes', 'icache_flushes', 'private_pages',
                  'shared_pages', 'cow_pages'):
            assert isinstance(r[k], int) and not isinstance(r[k], bool), k
        assert r['private_pages'] + r['shared_pages'] + r['cow_pages'] == r['resident_pages']
        for k in ('cache', 'migrate', 'replicate'):
            assert r[k] in ('on', 'off')
    assert mnt.read('tasks/%d/maps.json' % task).endswith('\n')


def test_maps_json_of_empty_task(mnt):
    t = mnt.create_task()
    assert json.loads(mnt.read('tasks/%d/maps.json' % t)) == []
    assert mnt.read('tasks/%d/maps' % t) == ''
    assert listing(mnt, t) == []


def test_info_has_everything(mnt, task):
    P = mnt.P
    for r in mnt.regions(task):
        info = mnt.info(task, int(r['start'], 16))
        assert set(info) >= INFO_KEYS, INFO_KEYS - set(info)
        assert info['size'] == r['size']
        assert info['start'] == r['start']
        assert info['resident_pages'] == r['resident_pages']
    wired = mnt.info(task, 0x7fff0000)
    assert wired['wired'] == 1 and wired['resident_pages'] == 2
    assert mnt.info(task, A)['resident_pages'] == 1
    assert mnt.info(task, A + 2 * P)['resident_pages'] == 0


def test_values_of_the_fixture(mnt, task):
    P = mnt.P
    assert mnt.maps(task) == [
        '%016x-%016x rw-/rwx copy wired=0 private_aliased shared=no object=%s offset=0x0'
        % (A, A + P, mnt.region(task, A, 'object')),
        '%016x-%016x r--/rwx copy wired=0 private_aliased shared=no object=%s offset=%#x'
        % (A + P, A + 2 * P, mnt.region(task, A, 'object'), P),
        '%016x-%016x rw-/rwx copy wired=0 private_aliased shared=no object=%s offset=%#x'
        % (A + 2 * P, A + 4 * P, mnt.region(task, A, 'object'), 2 * P),
        '%016x-%016x rw-/rwx copy wired=0 empty shared=no object=none offset=0x0'
        % (0x100000, 0x100000 + P),
        '%016x-%016x rw-/rwx share wired=1 private shared=no object=%s offset=0x0'
        % (0x7fff0000, 0x7fff0000 + 2 * P, mnt.region(task, 0x7fff0000, 'object')),
    ]


@pytest.mark.parametrize('spelling', ['0x10000', '10000', '0X10000', '0x00010000',
                                      '00000000000010000', '0x0000000000010000'])
def test_other_spellings_in_lookup(mnt, task, spelling):
    d = os.path.join(mnt.tp(task, 'regions'), spelling)
    assert os.path.isdir(d)
    with open(os.path.join(d, 'start')) as f:
        assert f.read() == hx(A) + '\n'
    assert spelling == hx(A) or spelling not in listing(mnt, task)


@pytest.mark.parametrize('spelling', ['0x13000', '0x10001', '0xfffff', 'zzz', '0x',
                                      '0x10000x', '-0x10000', '0x200000', 'start', '0x 10000'])
def test_lookup_of_non_start_is_enoent(mnt, task, spelling):
    fails(errno.ENOENT, os.stat, os.path.join(mnt.tp(task, 'regions'), spelling))


def test_region_vanishes_after_deallocate(mnt, task):
    P = mnt.P
    path = mnt.rp(task, 0x100000, 'protection')
    assert os.path.exists(path)
    mnt.ctl(task, 'deallocate 0x100000 %d' % P)
    fails(errno.ENOENT, os.stat, mnt.rp(task, 0x100000))
    fails(errno.ENOENT, open, path)
    assert hx(0x100000) not in listing(mnt, task)


def test_split_and_coalesce_in_ls(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 8 * P)
    assert listing(mnt, t) == [hx(A)]
    mnt.ctl(t, 'protect %#x %d r--' % (A + 2 * P, 2 * P))
    assert sorted(listing(mnt, t)) == [hx(A), hx(A + 2 * P), hx(A + 4 * P)]
    mnt.ctl(t, 'protect %#x %d r--' % (A + 6 * P, P))
    assert sorted(listing(mnt, t)) == [hx(A), hx(A + 2 * P), hx(A + 4 * P), hx(A + 6 * P),
                                       hx(A + 7 * P)]
    mnt.ctl(t, 'protect %#x %d rw-' % (A, 8 * P))
    assert listing(mnt, t) == [hx(A)]
    # a region found by a spelling that was a start before the coalesce is gone now
    fails(errno.ENOENT, os.stat, os.path.join(mnt.tp(t, 'regions'), hex(A + 2 * P)))


def test_share_modes(mnt):
    """empty -> private (touched) -> private_aliased (split, same object) ->
    private again (coalesced)."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    assert mnt.region(t, A, 'share_mode') == 'empty'
    mnt.mem_write(t, A, b'1')
    assert mnt.region(t, A, 'share_mode') == 'private'
    assert mnt.info(t, A)['ref_count'] == 1
    mnt.ctl(t, 'protect %#x %d r--' % (A + P, P))
    assert [r['share_mode'] for r in mnt.regions(t)] == ['private_aliased'] * 2
    mnt.ctl(t, 'protect %#x %d rw-' % (A + P, P))
    assert mnt.region(t, A, 'share_mode') == 'private'


def test_region_files_modes(mnt, task):
    d = mnt.rp(task, A)
    rw = {'protection', 'max_protection', 'inheritance', 'wired', 'attr'}
    ro = {'start', 'end', 'size', 'shared', 'share_mode', 'object', 'offset', 'info'}
    assert set(os.listdir(d)) >= rw | ro
    for name in rw:
        assert os.stat(os.path.join(d, name)).st_mode & 0o200, name
    for name in ro:
        assert not os.stat(os.path.join(d, name)).st_mode & 0o222, name


def test_many_regions(mnt):
    """Protect every other page of a large allocation: N regions, listed in order."""
    P = mnt.P
    t = mnt.create_task()
    n = 300
    mnt.allocate(t, A, n * P)
    mnt.write('tasks/%d/ctl' % t, ''.join('protect %#x %d r--\n' % (A + i * P, P)
                                          for i in range(0, n, 2)))
    names = listing(mnt, t)
    assert len(names) == n
    assert sorted(names) == [hx(A + i * P) for i in range(n)]
    assert len(mnt.maps(t)) == n
    assert [r['protection'] for r in mnt.regions(t)] == ['r--', 'rw-'] * (n // 2)


def test_key_order(mnt, task):
    """fs_layout.md fixes the order of the keys of maps.json and info."""
    order = ['start', 'end', 'size', 'protection', 'max_protection', 'inheritance', 'wired',
             'shared', 'needs_copy', 'share_mode', 'object', 'offset', 'shadow_depth',
             'ref_count', 'resident_pages', 'cache', 'migrate', 'replicate', 'cache_flushes',
             'dcache_flushes', 'icache_flushes', 'private_pages', 'shared_pages', 'cow_pages']
    for r in json.loads(mnt.read('tasks/%d/maps.json' % task), object_pairs_hook=list):
        assert [k for k, _ in r] == order
    info = mnt.read('tasks/%d/regions/%s/info' % (task, hx(A)))
    assert [l.split()[0] for l in info.splitlines()] == order
