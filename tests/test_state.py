"""-o state=FILE: the whole host kept in a file across mounts, and host/save.

A host with forks, copy-on-write, shared regions, a shared remap, wired and
read-only regions and a terminated task is unmounted and mounted again from
its file: every task, map, region file, status and byte must come back, and
sharing must still share while copies stay copies.  A file that is not a
good state file must stop the mount with exit status 1 and a message naming
the file and what is wrong, and must be left as it was.
"""
import base64
import errno
import json
import os
import shutil
import subprocess
import time

import pytest

from fsmount import daemon_path, fails, hx, _mounted

STATE_ERROR_TIMEOUT = 20


def state_mount(mount_factory, path, extra=()):
    return mount_factory(options=['state=%s' % path] + list(extra))


def load(path):
    with open(path) as f:
        return json.load(f)


def build_host(m):
    """Task 1 with several kinds of region, a fork chain, a remap, a gap in
    the task ids.  Returns the ids and where things are."""
    P = m.P
    t1 = m.create_task()
    m.allocate(t1, 0x100000, 8 * P)                      # copy-on-write after the fork
    m.mem_write(t1, 0x100000, bytes(range(256)) * (8 * P // 256))
    m.allocate(t1, 0x200000, 4 * P)                      # shared with the child
    m.mem_write(t1, 0x200000, b'shared by inheritance')
    m.set_region(t1, 0x200000, 'inheritance', 'share')
    m.allocate(t1, 0x300000, 2 * P)                      # wired
    m.mem_write(t1, 0x300000, b'wired bytes')
    m.set_region(t1, 0x300000, 'wired', 'rw-')
    m.allocate(t1, 0x400000, 2 * P)                      # read only, cache off, flushed
    m.mem_write(t1, 0x400000 + P, b'read only now')
    m.set_region(t1, 0x400000, 'max_protection', 'r-x')
    m.set_region(t1, 0x400000, 'protection', 'r--')
    m.ctl(t1, 'attr 0x400000 %d cache off' % (2 * P))
    m.ctl(t1, 'attr 0x400000 %d cache flush' % P)
    m.allocate(t1, 0x500000, 3 * P)                      # never touched
    t2 = m.fork(t1)
    m.mem_write(t2, 0x100000 + P, b'child copy' * 10)
    m.mem_write(t1, 0x100000 + 2 * P, b'parent copy' * 10)
    t3 = m.fork(t2)
    m.mem_write(t3, 0x100000 + 3 * P, b'grandchild')
    gone = m.create_task()
    m.terminate(gone)
    t4 = m.create_task()
    out = m.remap(t4, 'src=%d:0x200000 size=%d share' % (t1, 2 * P))
    shared_at = int(out.split()[1], 16)
    m.remap(t4, 'src=%d:0x100000 size=%d at=0x900000 copy' % (t3, 4 * P))
    last = m.create_task()
    m.terminate(last)
    # Ids are reused: t4 took gone's id, and last's is the lowest free one.
    assert t4 == gone
    return dict(t1=t1, t2=t2, t3=t3, t4=t4, shared_at=shared_at, next_id=last + 1,
                lowest_free=last)


def describe(m):
    """Everything the tree says about the host, read without touching memory
    (so no fault counter moves)."""
    # memory_used counts the engine's spare entries too, which a reload
    # does not rebuild: it is a measure of the process, not of the host.
    stats = ''.join(l for l in m.read('host/stats').splitlines(True)
                    if not l.startswith('memory_used '))
    pic = {'stats': stats, 'page_size': m.read('host/page_size'),
           'tasks': m.task_ids()}
    for t in pic['tasks']:
        pic[t] = {'maps': m.read('tasks/%d/maps' % t),
                  'maps.json': m.read('tasks/%d/maps.json' % t),
                  'status': m.read('tasks/%d/status' % t),
                  'parent': m.read('tasks/%d/parent' % t),
                  'infos': [m.read(os.path.relpath(m.rp(t, s, 'info'), m.path))
                            for s in m.region_starts(t)]}
    return pic


def memory(m):
    """The bytes of every readable region of every task (reads count faults)."""
    out = {}
    for t in m.task_ids():
        for r in m.regions(t):
            if r['protection'].startswith('r'):
                start = int(r['start'], 16)
                out[(t, start)] = m.mem_read(t, start, r['size'])
    return out


def test_round_trip_brings_everything_back(mount_factory, tmp_path):
    path = tmp_path / 'host.json'
    m = state_mount(mount_factory, path)
    assert m.task_ids() == []
    ids = build_host(m)
    mem_before = memory(m)
    before = describe(m)            # after the reads, so the counters match the file
    m.close()

    assert not os.path.exists(str(path) + '.tmp')
    assert (os.stat(path).st_mode & 0o777) == 0o600
    state = load(path)
    assert state['format'] == 'machvmfs-state' and state['version'] == 1
    assert state['page_size'] == m.P
    assert state['next_task_id'] == ids['next_id']
    assert [t['id'] for t in state['tasks']] == before['tasks']
    objects = {o['id']: o for o in state['objects']}
    for t in state['tasks']:
        regions = json.loads(before[t['id']]['maps.json'])
        assert [(e['start'], e['end']) for e in t['entries']] == \
            [(r['start'], r['end']) for r in regions]
        for e in t['entries']:
            assert e['object'] is None or e['object'] in objects
    for o in state['objects']:
        assert o['shadow'] is None or o['shadow'] in objects
        for index, text in o['pages'].items():
            assert int(index) < o['size'] // m.P
            assert len(base64.b64decode(text, validate=True)) == m.P
    assert {t['id']: t['parent'] for t in state['tasks']}[ids['t2']] == ids['t1']

    m2 = state_mount(mount_factory, path)
    after = describe(m2)            # before any memory read
    assert after == before
    assert memory(m2) == mem_before

    # Sharing still shares, copies stay copies.
    P = m2.P
    m2.mem_write(ids['t2'], 0x200000, b'from the child')
    assert m2.mem_read(ids['t1'], 0x200000, 14) == b'from the child'
    m2.mem_write(ids['t1'], 0x200000 + P, b'p1')
    assert m2.mem_read(ids['t4'], ids['shared_at'] + P, 2) == b'p1'
    m2.mem_write(ids['t4'], ids['shared_at'], b'via remap')
    assert m2.mem_read(ids['t1'], 0x200000, 9) == b'via remap'
    m2.mem_write(ids['t3'], 0x100000, b'only mine')
    assert m2.mem_read(ids['t2'], 0x100000, 9) == mem_before[(ids['t2'], 0x100000)][:9]
    assert m2.mem_read(ids['t1'], 0x100000, 9) == mem_before[(ids['t1'], 0x100000)][:9]
    assert m2.mem_read(ids['t3'], 0x100000, 9) == b'only mine'
    m2.mem_write(ids['t1'], 0x100000 + P, b'parent again')
    assert m2.mem_read(ids['t2'], 0x100000 + P, 10) == b'child copy'
    # Protections and wiring hold; the next task takes the lowest free id.
    fails(errno.EACCES, m2.mem_write, ids['t1'], 0x400000, b'x')
    assert m2.region(ids['t1'], 0x300000, 'wired') == '1'
    assert m2.create_task() == ids['lowest_free']
    # Fork the restored parent: its shared region is shared with the new child too.
    c = m2.fork(ids['t1'])
    m2.mem_write(c, 0x200000, b'newest')
    assert m2.mem_read(ids['t2'], 0x200000, 6) == b'newest'


def test_state_survives_two_round_trips(mount_factory, tmp_path):
    path = tmp_path / 'host.json'
    m = state_mount(mount_factory, path)
    t = m.create_task()
    m.allocate(t, 0x10000, 2 * m.P)
    m.mem_write(t, 0x10000, b'one')
    m.close()
    first = load(path)
    m = state_mount(mount_factory, path)
    m.close()
    assert load(path) == first
    m = state_mount(mount_factory, path)
    assert m.mem_read(t, 0x10000, 3) == b'one'


def test_missing_file_starts_empty_and_is_written(mount_factory, tmp_path):
    path = tmp_path / 'new.json'
    m = state_mount(mount_factory, path)
    assert m.task_ids() == []
    assert m.read('host/stats').startswith('tasks 0\n')
    assert not path.exists()
    m.close()
    state = load(path)
    assert state['tasks'] == [] and state['objects'] == []
    assert state['next_task_id'] == 1


def test_mount_without_state_forgets(mount_factory, tmp_path):
    m = mount_factory()
    t = m.create_task()
    fails(errno.EINVAL, m.write, 'host/save', 'save\n')
    assert m.last_error() == ('KERN_INVALID_ARGUMENT: host/save: no state file: '
                              'mount with -o state=FILE, got \'save\'\n')
    m.close()
    m = mount_factory()
    assert t not in m.task_ids() and m.task_ids() == []


def test_host_save(mount_factory, tmp_path):
    path = tmp_path / 'host.json'
    m = state_mount(mount_factory, path)
    assert m.read('host/save') == 'save\n'
    t = m.create_task()
    m.allocate(t, 0x10000, m.P)
    m.mem_write(t, 0x10000, b'saved now')
    assert m.command('host/save', 'save') == 'ok'
    state = load(path)
    assert [x['id'] for x in state['tasks']] == [t]
    page = state['objects'][0]['pages']['0']
    assert base64.b64decode(page).startswith(b'saved now')
    # echo save > host/save works too, and sees later changes.
    m.mem_write(t, 0x10000, b'SAVED')
    m.write('host/save', 'save\n', os.O_WRONLY | os.O_TRUNC)
    page = load(path)['objects'][0]['pages']['0']
    assert base64.b64decode(page).startswith(b'SAVED now')
    # Anything else is refused and recorded, nothing written.
    before = path.read_bytes()
    fails(errno.EINVAL, m.write, 'host/save', 'save please\n')
    assert m.last_error() == ("KERN_INVALID_ARGUMENT: host/save: the only command is "
                              "'save', got 'save please'\n")
    fails(errno.EINVAL, m.write, 'host/save', 'SAVE\n')
    assert path.read_bytes() == before
    # And a read on the same open file after a failed write shows the failure.
    fd = os.open(m.p('host/save'), os.O_RDWR)
    try:
        fails(errno.EINVAL, os.write, fd, b'nope\n')
        assert os.read(fd, 4096).decode() == m.last_error()
    finally:
        os.close(fd)


def test_save_failure_is_reported(mount_factory, tmp_path):
    folder = tmp_path / 'sub'
    folder.mkdir()
    path = folder / 'host.json'
    m = state_mount(mount_factory, path)
    m.create_task()
    shutil.rmtree(folder)           # nowhere left to write
    fails(errno.EIO, m.write, 'host/save', 'save\n')
    err = m.last_error()
    assert err.startswith('KERN_FAILURE: host/save: saving the host (') and \
        str(path) in err, err
    m.close(check=False)
    assert m.proc.returncode == 1
    assert 'not saved' in m.log_text() and str(path) in m.log_text()


def test_page_size_comes_from_the_file(mount_factory, tmp_path):
    path = tmp_path / 'big.json'
    m = state_mount(mount_factory, path, ['page_size=16K'])
    t = m.create_task()
    m.allocate(t, 0x40000, 1)
    m.close()
    m = state_mount(mount_factory, path)
    assert m.read('host/page_size') == '16384\n'
    assert m.regions(t)[0]['size'] == 16384
    m.close()
    r = refused_mount(tmp_path, path, ['page_size=4096'])
    assert '16384' in r.stderr and 'page_size=4096' in r.stderr


# ---- files that must be refused ----------------------------------------------

def refused_mount(tmp_path, path, extra=()):
    """Runs the daemon on a state file it must refuse: exit status 1, a
    message naming the file, nothing mounted, the file unchanged."""
    mp = tmp_path / 'refused-mnt'
    mp.mkdir(exist_ok=True)
    argv = [daemon_path(), '-f', '-o', ','.join(['state=%s' % path] + list(extra)), str(mp)]
    def contents():
        return path.read_bytes() if path.is_file() else path.exists()
    before = contents()
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=STATE_ERROR_TIMEOUT)
    except subprocess.TimeoutExpired:
        r = None
    finally:
        if _mounted(str(mp)):
            subprocess.run(['fusermount3', '-u', str(mp)])
    assert r is not None, 'machvmfs mounted with the state file %s' % path
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert str(path) in r.stderr, r.stderr
    assert 'AddressSanitizer' not in r.stderr and 'runtime error' not in r.stderr, r.stderr
    assert contents() == before
    return r


@pytest.fixture
def saved(mount_factory, tmp_path):
    """A good state file of a small host: a task with a shared region and a
    wired one, and a fork of it.  Returns (path, the parsed file)."""
    path = tmp_path / 'good.json'
    m = state_mount(mount_factory, path)
    t = m.create_task()
    m.allocate(t, 0x10000, 2 * m.P)
    m.mem_write(t, 0x10000, b'data')
    m.set_region(t, 0x10000, 'inheritance', 'share')
    m.allocate(t, 0x20000, m.P)
    m.set_region(t, 0x20000, 'wired', 'rw-')
    m.allocate(t, 0x30000, m.P)
    m.fork(t)
    m.close()
    return path, load(path)


def spoil(path, state, change):
    change(state)
    path.write_text(json.dumps(state, indent=1))


def entry(state, task_index, start):
    return next(e for e in state['tasks'][task_index]['entries'] if int(e['start'], 16) == start)


BAD_FILES = {
    'empty': (lambda p, s: p.write_text(''), 'not a valid JSON file'),
    'not json': (lambda p, s: p.write_text('garbage\n'), 'not a valid JSON file'),
    'truncated': (lambda p, s: p.write_text(json.dumps(s)[:-40]), 'not a valid JSON file'),
    'a list': (lambda p, s: p.write_text('[1, 2]'), 'expected a JSON object'),
    'another format': (lambda p, s: spoil(p, s, lambda x: x.update(format='other')),
                       'not a machvmfs state file'),
    'version 2': (lambda p, s: spoil(p, s, lambda x: x.update(version=2)), 'version 1 only'),
    'missing key': (lambda p, s: spoil(p, s, lambda x: x.pop('next_object_id')),
                    "missing key 'next_object_id'"),
    'unknown key': (lambda p, s: spoil(p, s, lambda x: x.update(extra=1)), "unknown key 'extra'"),
    'duplicate key': (lambda p, s: p.write_text(json.dumps(s)[:-1] + ', "version": 1}'),
                      'duplicate'),
    'negative id': (lambda p, s: spoil(p, s, lambda x: x['tasks'][0].update(id=-1)),
                    'non-negative integer'),
    'bad page size': (lambda p, s: spoil(p, s, lambda x: x.update(page_size=5000)), 'page size'),
    'bad base64': (lambda p, s: spoil(p, s, lambda x: x['objects'][0]['pages'].update(
        {k: v[:-4] + '!!!!' for k, v in x['objects'][0]['pages'].items()})),
        'not the base64 of exactly'),
    'short page': (lambda p, s: spoil(p, s, lambda x: x['objects'][0]['pages'].update(
        {k: base64.b64encode(b'short').decode() for k in x['objects'][0]['pages']})),
        'not the base64 of exactly'),
    'page index': (lambda p, s: spoil(p, s, lambda x: x['objects'][0]['pages'].update(
        {'007': x['objects'][0]['pages'][next(iter(x['objects'][0]['pages']))]})),
        "key '007' is not a page index"),
    'page outside': (lambda p, s: spoil(p, s, lambda x: x['objects'][0]['pages'].update(
        {'999': x['objects'][0]['pages'][next(iter(x['objects'][0]['pages']))]})),
        'outside its'),
    'unknown object': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x10000).update(object=4242)),
                       'object 4242 was not given before it'),
    'overlap': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x20000).update(start='0x11000')),
                'overlaps'),
    'bad protection': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x30000).update(
        protection='rwz')), "three letters like 'rw-'"),
    'cur above max': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x30000).update(
        max_protection='r--')), 'exceeds the maximum'),
    'bad inheritance': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x30000).update(
        inheritance='steal')), 'share, copy or none'),
    'wired without pages': (lambda p, s: spoil(p, s, lambda x: next(
        o for o in x['objects'] if o['id'] == entry(x, 0, 0x20000)['object'])['pages'].clear()),
        'wired entry'),
    'shared needs_copy': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x10000).update(
        needs_copy=True)), 'shared entry marked needs_copy'),
    'task order': (lambda p, s: spoil(p, s, lambda x: x['tasks'].reverse()), 'ascending'),
    'unused object': (lambda p, s: spoil(p, s, lambda x: (
        x['objects'].append({'id': x['next_object_id'], 'size': 4096, 'shadow': None,
                             'shadow_offset': 0, 'true_share': False, 'pages': {}}),
        x.update(next_object_id=x['next_object_id'] + 1))), 'used by no map entry'),
}




# ---- hosts that do not hold together ------------------------------------------
# Each edit below makes a file that parses and whose every value is well
# formed, but whose host breaks a rule the engine keeps; the engine's
# invariant checker finds it as the host is rebuilt.  In the saved host,
# task 1 has 0x10000 (written, inherited share: one object both tasks map
# as shared), 0x20000 (wired: its own object) and 0x30000 (never written);
# task 2 is its fork.

def obj(state, oid):
    return next(o for o in state['objects'] if o['id'] == oid)


def add_object(state, **fields):
    """A new object (id next_object_id) with the given fields; returns its id."""
    oid = state['next_object_id']
    o = {'id': oid, 'size': 4096, 'shadow': None, 'shadow_offset': 0, 'true_share': False,
         'pages': {}}
    o.update(fields)
    state['objects'].append(o)
    state['next_object_id'] = oid + 1
    return oid


def shadow_under_wired(state, offset=0):
    """Task 2's untouched region made to map a new object that shadows task
    1's wired (private) object."""
    wired = entry(state, 0, 0x20000)['object']
    entry(state, 1, 0x30000)['object'] = add_object(state, shadow=wired, shadow_offset=offset)


INCONSISTENT = {
    # The example of a private object mapped by two tasks: a write through
    # one would show in the other.
    'private in two tasks': (lambda x: (entry(x, 0, 0x10000).update(shared=False),
                                        entry(x, 1, 0x10000).update(shared=False)),
                             'task 1 region [0x10000, 0x12000) writes them as private '
                             '(neither shared nor needs_copy), yet task 2 region '
                             '[0x10000, 0x12000) writes them as private too'),
    'private and shared': (lambda x: entry(x, 1, 0x10000).update(shared=False),
                           'task 2 region [0x10000, 0x12000) writes them as private'),
    'shared and copied': (lambda x: entry(x, 1, 0x10000).update(shared=False, needs_copy=True),
                          'writes them as shared, yet task 2 region [0x10000, 0x12000) maps '
                          'them copy-on-write (needs_copy)'),
    'shadow under a private region': (shadow_under_wired, 'which shadows it, reads them'),
    'shadow window': (lambda x: shadow_under_wired(x, offset=2 * 4096),
                      'runs past the end of its shadow'),
    'shadow order': (lambda x: x['objects'].reverse() if len(x['objects']) > 1 else None,
                     None),
    'needs_copy without object': (lambda x: entry(x, 0, 0x30000).update(needs_copy=True),
                                  'task 1: needs_copy entry without an object'),
    'shared without object': (lambda x: entry(x, 0, 0x30000).update(shared=True),
                              'shared without an object'),
    'wired needs_copy': (lambda x: entry(x, 0, 0x20000).update(needs_copy=True),
                         'wired entry without a private object'),
    'wired without object': (lambda x: entry(x, 0, 0x30000).update(wired=1),
                             'wired without an object'),
    'offset past object': (lambda x: entry(x, 0, 0x20000).update(offset=4096),
                           'runs past the end of object'),
    'object too small': (lambda x: obj(x, entry(x, 0, 0x10000)['object']).update(size=4096),
                         'runs past the end of object'),
    'page past object': (lambda x: obj(x, entry(x, 0, 0x20000)['object'])['pages'].update(
        {'1': base64.b64encode(bytes(4096)).decode()}), 'outside its'),
    'unknown shadow': (lambda x: add_object(x, shadow=999), 'its shadow 999 was not given'),
    'task past next id': (lambda x: x.update(next_task_id=2), 'next_task_id'),
    'object past next id': (lambda x: x.update(next_object_id=1), 'next_object_id'),
}


def test_inconsistent_cases_start_from_a_good_file(saved):
    """The edits above assume the saved host's shape: check it, so that a
    change there fails here rather than making the cases pass for the wrong
    reason."""
    path, state = saved
    assert [t['id'] for t in state['tasks']] == [1, 2]
    shared = [entry(state, i, 0x10000) for i in (0, 1)]
    assert all(e['shared'] and not e['needs_copy'] for e in shared)
    assert shared[0]['object'] == shared[1]['object'] is not None
    assert entry(state, 0, 0x20000)['wired'] == 1
    assert entry(state, 0, 0x30000)['object'] is None
    assert entry(state, 1, 0x30000)['object'] is None


@pytest.mark.parametrize('name', sorted(INCONSISTENT))
def test_inconsistent_host_refused(saved, tmp_path, name):
    path, state = saved
    change, says = INCONSISTENT[name]
    if name == 'shadow order':
        # Needs a shadow: put one in, then give the objects backwards.
        shadow_under_wired(state)
        says = 'was not given before it'
    spoil(path, state, change)
    r = refused_mount(tmp_path, path)
    assert says in r.stderr, r.stderr
    assert 'inconsistent' in r.stderr, r.stderr


def test_a_good_file_after_all_that(saved, mount_factory):
    """A write in one task shows in the other only where the file says the
    memory is shared; copies stay copies."""
    path, state = saved
    m = state_mount(mount_factory, path)
    m.mem_write(1, 0x20000, b'parent wired')
    assert m.mem_read(2, 0x20000, 12) != b'parent wired'
    m.mem_write(2, 0x10000, b'both')
    assert m.mem_read(1, 0x10000, 4) == b'both'


# ---- garbage --------------------------------------------------------------------

def set_key(path, key):
    """spoil() for a change at a JSON path like ('tasks', 0, 'entries', 0, 'start')."""
    def change(x, value):
        for k in key[:-1]:
            x = x[k]
        x[key[-1]] = value
    return change


GARBAGE = {
    'binary': (lambda p, s: p.write_bytes(bytes(range(256)) * 4), 'not a valid JSON file'),
    'nul byte': (lambda p, s: p.write_bytes(json.dumps(s).encode()[:50] + b'\0' +
                                            json.dumps(s).encode()[50:]), 'not a valid JSON file'),
    'not utf-8': (lambda p, s: p.write_bytes(json.dumps(s).encode().replace(
        b'"machvmfs-state"', b'"machvmfs-\xff\xfe"')), 'not a valid JSON file'),
    'deep nesting': (lambda p, s: p.write_text('[' * 100000 + ']' * 100000), 'not a valid JSON file'),
    'huge integer': (lambda p, s: p.write_text(json.dumps(s).replace(
        '"page_size": 4096', '"page_size": 1' + '0' * 40)), 'not a valid JSON file'),
    'huge real': (lambda p, s: p.write_text(json.dumps(s).replace(
        '"page_size": 4096', '"page_size": 1e999')), 'not a valid JSON file'),
    'real page size': (lambda p, s: spoil(p, s, lambda x: x.update(page_size=4096.0)),
                       "'page_size' must be a non-negative integer"),
    'string for a number': (lambda p, s: spoil(p, s, lambda x: x.update(next_task_id='3')),
                            "'next_task_id' must be a non-negative integer"),
    'biggest next task id': (lambda p, s: spoil(p, s, lambda x: x.update(next_task_id=2**63 - 1)),
                             'next task id 9223372036854775807 is not from 1 to'),
    'biggest next object id': (lambda p, s: spoil(p, s, lambda x: x.update(
        next_object_id=2**63 - 1)), 'next object id 9223372036854775807 is not from 1 to 2^53'),
    'biggest object size': (lambda p, s: spoil(p, s, lambda x: x['objects'][0].update(
        size=2**63 - 1)), 'is not a multiple of the page size'),
    'biggest offset': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x10000).update(
        offset=2**63 - 1)), 'runs past the end of object'),
    'biggest shadow offset': (lambda p, s: spoil(p, s, lambda x: shadow_under_wired(
        x, offset=2**63 - 4096)), 'runs past the end of its shadow'),
    'biggest wired count': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x20000).update(
        wired=2**63 - 1)), 'wired count'),
    'biggest flush count': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x20000).update(
        cache_flushes=2**63 - 1)), 'flush counter'),
    'biggest counter': (lambda p, s: spoil(p, s, lambda x: x['counters'].update(
        faults=2**64)), 'not a valid JSON file'),
    'address past 2^47': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x30000).update(
        end='0xffffffffffff0000')), 'page-aligned range'),
    'address of 17 digits': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x30000).update(
        end='0x10000000000000000')), 'up to 16 hex digits'),
    'address wraps': (lambda p, s: spoil(p, s, lambda x: entry(x, 0, 0x30000).update(
        start='0xfffffffffffff000', end='0x0000000000001000')), 'page-aligned range'),
    'null tasks': (lambda p, s: spoil(p, s, lambda x: x.update(tasks=None)), 'expected an array'),
    'entries an object': (lambda p, s: spoil(p, s, lambda x: x['tasks'][0].update(entries={})),
                          "'entries' must be an array"),
    'pages a list': (lambda p, s: spoil(p, s, lambda x: x['objects'][0].update(pages=[])),
                     'expected a JSON object of page index'),
    'page key huge': (lambda p, s: spoil(p, s, lambda x: x['objects'][0]['pages'].update(
        {'99999999999999999999': base64.b64encode(bytes(4096)).decode()})),
        'is not a page index'),
    'duplicate page': (lambda p, s: p.write_text(json.dumps(s).replace(
        '"pages": {"0": ', '"pages": {"0": "", "0": ', 1)), 'duplicate'),
}


@pytest.mark.parametrize('name', sorted(GARBAGE))
def test_garbage_refused(saved, tmp_path, name):
    path, state = saved
    make, says = GARBAGE[name]
    make(path, state)
    r = refused_mount(tmp_path, path)
    assert says in r.stderr, r.stderr


@pytest.mark.parametrize('fraction', [0, 1, 10, 25, 50, 75, 90, 99])
def test_truncated_anywhere_refused(saved, tmp_path, fraction):
    """Cut at any point, the file is refused and left as it was."""
    path, state = saved
    text = path.read_bytes()
    path.write_bytes(text[:len(text) * fraction // 100])
    r = refused_mount(tmp_path, path)
    assert 'not a valid JSON file' in r.stderr, r.stderr


@pytest.mark.parametrize('name', sorted(BAD_FILES))
def test_bad_state_file_refused(saved, tmp_path, name):
    path, state = saved
    make, says = BAD_FILES[name]
    make(path, state)
    r = refused_mount(tmp_path, path)
    assert says in r.stderr, r.stderr


def test_unreadable_state_file_refused(tmp_path):
    folder = tmp_path / 'a-folder.json'
    folder.mkdir()
    r = refused_mount(tmp_path, folder)
    assert 'not a regular file' in r.stderr
    r = refused_mount(tmp_path, tmp_path / 'no-such-folder' / 'x.json')
    assert 'not writable' in r.stderr


def test_the_good_file_loads(saved, mount_factory):
    path, state = saved
    m = state_mount(mount_factory, path)
    assert m.task_ids() == [t['id'] for t in state['tasks']]
    assert m.mem_read(1, 0x10000, 4) == b'data'
    m.mem_write(2, 0x10000, b'DATA')
    assert m.mem_read(1, 0x10000, 4) == b'DATA'


def test_relative_path_survives_daemonizing(tmp_path):
    """Without -f the daemon moves to / : a relative FILE must still mean
    the folder it was started in."""
    mp = tmp_path / 'mnt'
    mp.mkdir()
    r = subprocess.run([daemon_path(), '-o', 'state=rel.json', str(mp)], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    try:
        deadline = time.monotonic() + 10
        while not _mounted(str(mp)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _mounted(str(mp))
        with open(mp / 'tasks' / 'ctl', 'w') as f:
            f.write('create\n')
    finally:
        subprocess.run(['fusermount3', '-u', str(mp)], capture_output=True)
    target = tmp_path / 'rel.json'
    deadline = time.monotonic() + 10
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [t['id'] for t in load(target)['tasks']] == [1]


def test_saves_while_the_host_changes(mount_factory, tmp_path):
    """host/save in the middle of forks, writes and terminations: no hang,
    and every file saved meanwhile loads."""
    import shutil
    import threading
    path = tmp_path / 'busy.json'
    m = state_mount(mount_factory, path)
    P = m.P
    root = m.create_task()
    m.allocate(root, 0x10000, 16 * P)
    m.set_region(root, 0x10000, 'inheritance', 'share')
    m.allocate(root, 0x100000, 16 * P)
    stop = threading.Event()
    errors = []

    def churn(seed):
        n = 0
        while not stop.is_set() and n < 60:
            n += 1
            try:
                c = m.fork(root)
                m.mem_write(c, 0x100000 + (n % 16) * P, b'%d-%d' % (seed, n))
                m.mem_write(c, 0x10000 + (n % 16) * P, b'shared %d' % n)
                if n % 3:
                    m.terminate(c)
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.ESRCH):
                    errors.append(e)
                    return

    workers = [threading.Thread(target=churn, args=(i,)) for i in range(3)]
    for w in workers:
        w.start()
    copies = []
    try:
        for i in range(6):
            assert m.command('host/save', 'save') == 'ok'
            copy = tmp_path / ('copy%d.json' % i)
            shutil.copy(path, copy)
            copies.append(copy)
            time.sleep(0.05)
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert not errors, errors
    m.close()
    for copy in copies[::2] + [path]:
        state = load(copy)
        c = state_mount(mount_factory, copy)
        assert c.task_ids() == [t['id'] for t in state['tasks']]
        assert root in c.task_ids()
        c.close()


# ---- progress of a long load -----------------------------------------------------

def test_load_progress_in_the_foreground(saved, mount_factory, monkeypatch):
    """With -f, a load that takes longer than MACHVMFS_PROGRESS_MS (0 here:
    every region) says how far it got, region by region, up to the total."""
    path, state = saved
    total = sum(len(t['entries']) for t in state['tasks'])
    assert total >= 4
    monkeypatch.setenv('MACHVMFS_PROGRESS_MS', '0')
    m = state_mount(mount_factory, path)
    lines = [l for l in m.log_text().splitlines() if 'loading' in l]
    assert lines == ['machvmfs: loading %s: %d of %d regions' % (path, k, total)
                     for k in range(0, total + 1)], m.log_text()
    assert m.task_ids() == [1, 2]


def test_quick_load_is_quiet(saved, mount_factory):
    """By default (a second) a small file loads without a word."""
    path, state = saved
    m = state_mount(mount_factory, path)
    assert m.task_ids() == [1, 2]
    assert 'loading' not in m.log_text(), m.log_text()


def test_load_progress_now_and_then(saved, mount_factory, monkeypatch):
    """With an interval the lines are spaced out: counts rise, and the last
    line gives the total even when no interval ended exactly there."""
    path, state = saved
    template = dict(entry(state, 0, 0x30000))
    entries = []
    for i in range(5000):        # one-page regions, alternately rw- and r--
        e = dict(template)
        e['start'] = '0x%016x' % (0x100000 + i * 4096)
        e['end'] = '0x%016x' % (0x100000 + (i + 1) * 4096)
        e['protection'] = 'rw-' if i % 2 == 0 else 'r--'
        entries.append(e)
    state['tasks'][1]['entries'] += entries     # after its own, which end lower
    spoil(path, state, lambda x: None)
    total = sum(len(t['entries']) for t in state['tasks'])
    monkeypatch.setenv('MACHVMFS_PROGRESS_MS', '1')
    m = state_mount(mount_factory, path)
    prefix = 'machvmfs: loading %s: ' % path
    lines = [l for l in m.log_text().splitlines() if 'loading' in l]
    assert lines and all(l.startswith(prefix) and l.endswith(' of %d regions' % total)
                         for l in lines), m.log_text()
    counts = [int(l[len(prefix):].split()[0]) for l in lines]
    assert counts == sorted(set(counts)) and counts[-1] == total, counts
    assert len(m.regions(2)) == len(state['tasks'][1]['entries'])
