"""vm_machine_attribute through the `attr` file and the attr verb: every
attribute and value, get, and the flush counters seen in `info`."""
import errno

import pytest

from fsmount import fails, hx

A = 0x10000
DEFAULT = 'cache on\nmigrate off\nreplicate off\n'


@pytest.fixture
def task(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 3 * mnt.P)
    return t


def attr(mnt, task, start=A):
    return mnt.read('tasks/%d/regions/%s/attr' % (task, hx(start)))


@pytest.mark.parametrize('line,want', [
    ('cache off', 'cache off\nmigrate off\nreplicate off\n'),
    ('cache MATTR_VAL_OFF', 'cache off\nmigrate off\nreplicate off\n'),
    ('migrate on', 'cache on\nmigrate on\nreplicate off\n'),
    ('migrate MATTR_VAL_ON', 'cache on\nmigrate on\nreplicate off\n'),
    ('replicate on', 'cache on\nmigrate off\nreplicate on\n'),
    ('cache on', DEFAULT),
    ('migrate off', DEFAULT),
    ('  replicate   off  ', DEFAULT),
])
def test_set_through_attr_file(mnt, task, line, want):
    mnt.set_region(task, A, 'attr', line)
    assert attr(mnt, task) == want
    r = mnt.regions(task)[0]
    lines = dict(l.split() for l in want.splitlines())
    assert (r['cache'], r['migrate'], r['replicate']) == (
        lines['cache'], lines['migrate'], lines['replicate'])
    info = mnt.info(task, A)
    assert (info['cache'], info['migrate'], info['replicate']) == (
        lines['cache'], lines['migrate'], lines['replicate'])


def test_attr_verb_splits_and_coalesces(mnt, task):
    P = mnt.P
    assert mnt.ctl(task, 'attr %#x %d migrate on' % (A + P, P)) == 'ok'
    assert [r['migrate'] for r in mnt.regions(task)] == ['off', 'on', 'off']
    assert attr(mnt, task, A + P) == 'cache on\nmigrate on\nreplicate off\n'
    mnt.ctl(task, 'attr %#x %d migrate off' % (A + P, P))
    assert mnt.region_starts(task) == [A]


@pytest.mark.parametrize('attribute', ['cache', 'migrate', 'replicate'])
def test_get(mnt, task, attribute):
    P = mnt.P
    default = 'on' if attribute == 'cache' else 'off'
    other = 'off' if default == 'on' else 'on'
    assert mnt.ctl(task, 'attr %#x %d %s get' % (A, P, attribute)) == default
    mnt.ctl(task, 'attr %#x %d %s %s' % (A + P, P, attribute, other))
    assert mnt.ctl(task, 'attr %#x %d %s get' % (A + P, P, attribute)) == other
    assert mnt.ctl(task, 'attr %#x %d %s MATTR_VAL_GET' % (A + P, 1, attribute)) == other
    # get answers for the start of the range
    assert mnt.ctl(task, 'attr %#x %d %s get' % (A, 3 * P, attribute)) == default
    # get changes nothing
    assert len(mnt.regions(task)) == 3


def test_get_size_zero_succeeds(mnt, task):
    mnt.ctl(task, 'attr %#x 0 cache get' % A)
    mnt.ctl(task, 'attr 0x900000 0 cache get')
    assert mnt.last_error(task) == 'none\n'


@pytest.mark.parametrize('value,counter', [
    ('flush', 'cache_flushes'), ('MATTR_VAL_CACHE_FLUSH', 'cache_flushes'),
    ('dcache_flush', 'dcache_flushes'), ('MATTR_VAL_DCACHE_FLUSH', 'dcache_flushes'),
    ('icache_flush', 'icache_flushes'), ('MATTR_VAL_ICACHE_FLUSH', 'icache_flushes'),
])
def test_flush_counters(mnt, task, value, counter):
    P = mnt.P
    names = ('cache_flushes', 'dcache_flushes', 'icache_flushes')
    assert [mnt.info(task, A)[n] for n in names] == [0, 0, 0]
    mnt.ctl(task, 'attr %#x %d cache %s' % (A, 3 * P, value))
    mnt.set_region(task, A, 'attr', 'cache %s' % value)
    info = mnt.info(task, A)
    assert [info[n] for n in names] == [2 if n == counter else 0 for n in names]
    assert mnt.regions(task)[0][counter] == 2
    # a flush changes nothing else
    assert attr(mnt, task) == DEFAULT
    assert len(mnt.regions(task)) == 1


def test_flush_counts_per_entry(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'attr %#x %d replicate on' % (A + P, P))
    mnt.ctl(task, 'attr %#x %d cache flush' % (A, 3 * P))
    assert [r['cache_flushes'] for r in mnt.regions(task)] == [1, 1, 1]
    mnt.ctl(task, 'attr %#x %d cache flush' % (A, P))
    assert [r['cache_flushes'] for r in mnt.regions(task)] == [2, 1, 1]
    # equal in everything but the flush counters: they stay apart
    mnt.ctl(task, 'attr %#x %d replicate off' % (A + P, P))
    regs = mnt.regions(task)
    assert [r['cache_flushes'] for r in regs] == [2, 1]
    assert [r['start'] for r in regs] == [hx(A), hx(A + P)]


@pytest.mark.parametrize('attribute', ['migrate', 'replicate'])
@pytest.mark.parametrize('value', ['flush', 'dcache_flush', 'icache_flush'])
def test_flush_only_for_cache(mnt, task, attribute, value):
    fails(errno.EINVAL, mnt.ctl, task, 'attr %#x %d %s %s' % (A, mnt.P, attribute, value))
    assert mnt.last_error(task).startswith('KERN_INVALID_ARGUMENT: ')
    assert mnt.info(task, A)['cache_flushes'] == 0


def test_unallocated_range_is_einval(mnt, task):
    P = mnt.P
    fails(errno.EINVAL, mnt.ctl, task, 'attr %#x %d cache off' % (A, 4 * P))
    assert mnt.last_error(task).startswith('KERN_INVALID_ARGUMENT: ')
    assert attr(mnt, task) == DEFAULT
    fails(errno.EINVAL, mnt.ctl, task, 'attr 0x900000 %d cache get' % P)
    fails(errno.EINVAL, mnt.ctl, task, 'attr 0x900000 %d cache flush' % P)


@pytest.mark.parametrize('line', ['cache', 'cache maybe', 'colour on', 'on', 'cache on off',
                                  'MATTR_VAL_ON cache'])
def test_bad_attr_input(mnt, task, line):
    fails(errno.EINVAL, mnt.set_region, task, A, 'attr', line)
    assert mnt.last_error(task).startswith('KERN_INVALID_ARGUMENT: ')
    assert attr(mnt, task) == DEFAULT
    assert len(mnt.regions(task)) == 1
