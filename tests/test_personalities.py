"""Personalities: the same shell-level steps under three mounts, -o
personality=mach, gnu and xnu, and the three answers each must give.

One test per row of the table in docs/semantics.md, section 8 (the engine's
unit tests, tests/unit/test_personality.c, check the same rows call by
call).  An answer is what a shell user sees: the command's result read back,
or the errno and the KERN_ code that begins last_error."""
import errno
import json
import os
import shutil
import subprocess

import pytest

from fsmount import _mounted, daemon_path, fails

NAMES = ('mach', 'gnu', 'xnu')
A = 0x10000
P = 0x1000


@pytest.fixture
def hosts(mount_factory):
    """{name: Mount} for the three personalities."""
    return {n: mount_factory(options=['personality=%s' % n]) for n in NAMES}


def answer(m, task, rel, line):
    """'ok', a result, or 'ENAME KERN_CODE' for a refused write."""
    try:
        return m.command('tasks/%d/%s' % (task, rel), line)
    except OSError as e:
        return '%s %s' % (errno.errorcode[e.errno], m.last_error(task).split(':')[0])


def holed(m):
    """A task with [0x10000, 0x11000) and [0x12000, 0x13000): a hole between."""
    t = m.create_task()
    m.allocate(t, A, P)
    m.allocate(t, A + 2 * P, P)
    return t


def each(hosts, steps):
    """steps(m) under each personality: {name: what it returned}."""
    return {n: steps(m) for n, m in hosts.items()}


def protections(m, t):
    return [line.split()[1] for line in m.maps(t)]


# ---- choosing it -------------------------------------------------------------

def test_host_personality_file(hosts, mnt):
    for n, m in hosts.items():
        assert m.read('host/personality') == n + '\n'
        assert oct(os.stat(m.p('host/personality')).st_mode & 0o777) == '0o444'
        fails(errno.EACCES, m.write, 'host/personality', 'xnu\n')
        assert m.read('host/personality') == n + '\n'
    assert mnt.read('host/personality') == 'mach\n'


@pytest.mark.parametrize('value', ['bogus', 'XNU', '', ' gnu', 'mach2'])
def test_bad_personality_mounts_nothing(tmp_path, value):
    mp = tmp_path / 'mnt'
    mp.mkdir()
    try:
        r = subprocess.run([daemon_path(), '-f', '-o', 'personality=' + value, str(mp)],
                           capture_output=True, text=True, timeout=30)
    finally:
        if _mounted(str(mp)):
            subprocess.run(['fusermount3', '-u', str(mp)])
    assert r.returncode == 1
    assert 'personality' in r.stderr and 'mach, gnu or xnu' in r.stderr, r.stderr
    assert os.listdir(mp) == []


def test_help_names_the_option():
    r = subprocess.run([daemon_path(), '--help'], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and '-o personality=NAME' in r.stdout


# ---- the state file ----------------------------------------------------------

def test_state_file_keeps_the_personality(mount_factory, tmp_path):
    path = tmp_path / 'host.json'
    m = mount_factory(options=['state=%s' % path, 'personality=xnu'])
    t = holed(m)
    m.close()
    assert json.loads(path.read_text())['personality'] == 'xnu'
    # Without the option, the file's personality.
    m = mount_factory(options=['state=%s' % path])
    assert m.read('host/personality') == 'xnu\n'
    assert answer(m, t, 'ctl', 'region 0x13000') == 'EFAULT KERN_INVALID_ADDRESS'
    m.close()
    # The same one again is fine; another is refused, the file unchanged.
    m = mount_factory(options=['state=%s' % path, 'personality=xnu'])
    m.close()
    before = path.read_bytes()
    mp = tmp_path / 'refused'
    mp.mkdir()
    try:
        r = subprocess.run([daemon_path(), '-f', '-o', 'state=%s,personality=gnu' % path,
                            str(mp)], capture_output=True, text=True, timeout=30)
    finally:
        if _mounted(str(mp)):
            subprocess.run(['fusermount3', '-u', str(mp)])
    assert r.returncode == 1
    assert 'xnu' in r.stderr and 'personality=gnu' in r.stderr and str(path) in r.stderr
    assert path.read_bytes() == before


def test_state_file_without_the_field_is_mach(mount_factory, tmp_path):
    path = tmp_path / 'old.json'
    m = mount_factory(options=['state=%s' % path])
    holed(m)
    m.close()
    state = json.loads(path.read_text())
    assert state['personality'] == 'mach'
    del state['personality']
    path.write_text(json.dumps(state))
    m = mount_factory(options=['state=%s' % path])
    assert m.read('host/personality') == 'mach\n'
    m.close()
    mp = tmp_path / 'refused'
    mp.mkdir()
    r = subprocess.run([daemon_path(), '-f', '-o', 'state=%s,personality=gnu' % path, str(mp)],
                       capture_output=True, text=True, timeout=30)
    if _mounted(str(mp)):
        subprocess.run(['fusermount3', '-u', str(mp)])
    assert r.returncode == 1 and 'holds a mach host' in r.stderr, r.stderr
    state['personality'] = 'plan9'
    path.write_text(json.dumps(state))
    r = subprocess.run([daemon_path(), '-f', '-o', 'state=%s' % path, str(mp)],
                       capture_output=True, text=True, timeout=30)
    if _mounted(str(mp)):
        subprocess.run(['fusermount3', '-u', str(mp)])
    assert r.returncode == 1 and 'personality' in r.stderr, r.stderr


def test_new_state_file_takes_the_option(mount_factory, tmp_path):
    path = tmp_path / 'new.json'
    m = mount_factory(options=['state=%s' % path, 'personality=gnu'])
    assert m.read('host/personality') == 'gnu\n'
    m.close()
    assert json.loads(path.read_text())['personality'] == 'gnu'


# ---- the rows ----------------------------------------------------------------

def test_protect_holes(hosts):
    def steps(m):
        t = holed(m)
        return answer(m, t, 'ctl', 'protect 0x10000 0x3000 r--'), protections(m, t)
    assert each(hosts, steps) == {
        'mach': ('EFAULT KERN_INVALID_ADDRESS', ['rw-/rwx', 'rw-/rwx']),
        'gnu': ('ok', ['r--/rwx', 'r--/rwx']),
        'xnu': ('EFAULT KERN_INVALID_ADDRESS', ['rw-/rwx', 'rw-/rwx']),
    }


def test_inherit_holes(hosts):
    def steps(m):
        t = holed(m)
        return (answer(m, t, 'ctl', 'inherit 0x10000 0x3000 none'),
                [line.split()[2] for line in m.maps(t)])
    assert each(hosts, steps) == {
        'mach': ('EFAULT KERN_INVALID_ADDRESS', ['copy', 'copy']),
        'gnu': ('ok', ['none', 'none']),
        'xnu': ('ok', ['none', 'none']),
    }


def test_region_past_end(hosts):
    def steps(m):
        t = holed(m)
        return answer(m, t, 'ctl', 'region 0x13000'), answer(m, t, 'ctl', 'region 0x11000')
    found = ('start 0x0000000000012000 size 4096 protection rw- max_protection rwx '
             'inheritance copy shared no')
    assert each(hosts, steps) == {
        'mach': ('ENOSPC KERN_NO_SPACE', found),
        'gnu': ('ENOSPC KERN_NO_SPACE', found),
        'xnu': ('EFAULT KERN_INVALID_ADDRESS', found),
    }


def test_wire_stacking(hosts):
    def steps(m):
        t = holed(m)
        counts = []
        for access in ('r--', 'rw-', 'none'):
            m.set_region(t, A, 'wired', access)
            counts.append(m.region(t, A, 'wired'))
        return counts
    assert each(hosts, steps) == {'mach': ['1', '2', '1'], 'gnu': ['1', '1', '0'],
                                  'xnu': ['1', '2', '1']}


def test_wire_hole(hosts):
    def steps(m):
        t = holed(m)
        return answer(m, t, 'ctl', 'wire 0x10000 0x3000 r--'), m.region(t, A, 'wired')
    assert each(hosts, steps) == {
        'mach': ('EIO KERN_FAILURE', '0'),
        'gnu': ('ENOSPC KERN_NO_SPACE', '0'),
        'xnu': ('EFAULT KERN_INVALID_ADDRESS', '0'),
    }


def test_wire_protection(hosts):
    def steps(m):
        t = holed(m)
        m.set_region(t, A, 'protection', 'r--')
        return answer(m, t, 'ctl', 'wire 0x10000 0x1000 rw-'), m.region(t, A, 'wired')
    assert each(hosts, steps) == {
        'mach': ('EIO KERN_FAILURE', '0'),
        'gnu': ('ENOSPC KERN_NO_SPACE', '0'),
        'xnu': ('EACCES KERN_PROTECTION_FAILURE', '0'),
    }


def test_unwire_unwired(hosts):
    def steps(m):
        t = holed(m)
        return answer(m, t, 'ctl', 'wire 0x10000 0x1000 none'), m.region(t, A, 'wired')
    assert each(hosts, steps) == {
        'mach': ('EINVAL KERN_INVALID_ARGUMENT', '0'),
        'gnu': ('ok', '0'),
        'xnu': ('ok', '0'),
    }


def test_unwire_holes(hosts):
    def steps(m):
        t = holed(m)
        m.ctl(t, 'wire 0x10000 0x1000 r--')
        m.ctl(t, 'wire 0x12000 0x1000 r--')
        return (answer(m, t, 'ctl', 'wire 0x10000 0x3000 none'),
                m.region(t, A, 'wired'), m.region(t, A + 2 * P, 'wired'))
    assert each(hosts, steps) == {
        'mach': ('EIO KERN_FAILURE', '1', '1'),
        'gnu': ('ENOSPC KERN_NO_SPACE', '1', '1'),
        'xnu': ('ok', '0', '0'),
    }


def test_range_wrap(hosts):
    def steps(m):
        t = holed(m)
        return (answer(m, t, 'ctl', 'protect 0x10000 0xffffffffffff8000 r--'),
                answer(m, t, 'ctl', 'deallocate 0x10000 0xffffffffffff8000'),
                answer(m, t, 'ctl', 'protect 0xfffffffffffff000 0xfff r--'),
                len(m.maps(t)), protections(m, t))
    assert each(hosts, steps) == {
        'mach': ('EINVAL KERN_INVALID_ARGUMENT', 'EINVAL KERN_INVALID_ARGUMENT',
                 'EINVAL KERN_INVALID_ARGUMENT', 2, ['rw-/rwx', 'rw-/rwx']),
        'gnu': ('ok', 'ok', 'ok', 2, ['rw-/rwx', 'rw-/rwx']),
        'xnu': ('EINVAL KERN_INVALID_ARGUMENT', 'EINVAL KERN_INVALID_ARGUMENT',
                'EFAULT KERN_INVALID_ADDRESS', 2, ['rw-/rwx', 'rw-/rwx']),
    }


def test_range_outside(hosts):
    def steps(m):
        t = holed(m)
        return (answer(m, t, 'ctl', 'inherit 0x12000 0x800000000000 share'),
                answer(m, t, 'ctl', 'deallocate 0x0 0x11000'),
                [line.split('-')[0] for line in m.maps(t)])
    assert each(hosts, steps) == {
        'mach': ('EFAULT KERN_INVALID_ADDRESS', 'EFAULT KERN_INVALID_ADDRESS',
                 ['0000000000010000', '0000000000012000']),
        'gnu': ('ok', 'ok', ['0000000000012000']),
        'xnu': ('ok', 'ok', ['0000000000010000', '0000000000012000']),
    }


def test_size_zero(hosts):
    def steps(m):
        t = m.create_task()
        m.allocate(t, A, 2 * P)
        return answer(m, t, 'ctl', 'protect 0x10800 0 r--'), protections(m, t)
    assert each(hosts, steps) == {
        'mach': ('ok', ['rw-/rwx']),
        'gnu': ('ok', ['r--/rwx', 'rw-/rwx']),
        'xnu': ('ok', ['rw-/rwx']),
    }


def test_data_hole(hosts):
    def steps(m):
        t = holed(m)
        m.mem_write(t, A, b'x' * P)
        try:
            got = len(m.mem_read(t, A, 3 * P))
        except OSError as e:
            got = errno.errorcode[e.errno]
        try:
            put = m.mem_write(t, A, b'y' * (3 * P))
        except OSError as e:
            put = errno.errorcode[e.errno]
        return got, put, m.mem_read(t, A, 1)
    assert each(hosts, steps) == {
        'mach': (P, P, b'y'),
        'gnu': ('EFAULT', 'EFAULT', b'x'),
        'xnu': ('EFAULT', 'EFAULT', b'x'),
    }


def test_small_copy(hosts):
    def steps(m):
        t = m.create_task()
        m.allocate(t, A, 4 * P)
        m.ctl(t, 'protect 0x10000 0x1000 r--')
        return (answer(m, t, 'ctl', 'copy 0x11000 16 0x10000'),
                answer(m, t, 'ctl', 'copy 0x11000 0x2000 0x10000'))
    assert each(hosts, steps) == {
        'mach': ('EACCES KERN_PROTECTION_FAILURE', 'EACCES KERN_PROTECTION_FAILURE'),
        # gnu: 16 bytes are not whole pages (test_data_aligned)
        'gnu': ('EINVAL KERN_INVALID_ARGUMENT', 'EACCES KERN_PROTECTION_FAILURE'),
        'xnu': ('EFAULT KERN_INVALID_ADDRESS', 'EACCES KERN_PROTECTION_FAILURE'),
    }


def test_data_wrap(hosts):
    def steps(m):
        t = holed(m)
        return answer(m, t, 'ctl', 'copy 0x10000 0xfffffffffffffff0 0x12000')
    assert each(hosts, steps) == {
        'mach': 'EINVAL KERN_INVALID_ARGUMENT',
        'gnu': 'EFAULT KERN_INVALID_ADDRESS',
        'xnu': 'EFAULT KERN_INVALID_ADDRESS',
    }


def test_has_remap(hosts):
    def steps(m):
        t = holed(m)
        got = answer(m, t, 'remap', 'src=%d:0x10000 size=0x1000 at=0x20000' % t)
        return got, len(m.maps(t)), m.last_error(t)
    got = each(hosts, steps)
    for n in ('mach', 'xnu'):
        assert got[n][:2] == ('address 0x0000000000020000 cur_protection rw- '
                              'max_protection rwx', 3)
    assert got['gnu'][:2] == ('ENOSYS MIG_BAD_ID', 2)
    assert 'vm_remap does not exist in this kernel (personality gnu)' in got['gnu'][2]
    # The ctl verb is the same call.
    t = hosts['gnu'].task_ids()[0]
    assert answer(hosts['gnu'], t, 'ctl', 'remap src=%d:0x10000 size=0x1000 anywhere' % t) \
        == 'ENOSYS MIG_BAD_ID'


def test_placement(hosts):
    def steps(m):
        t = m.create_task()
        for page in (1, 3, 7, 10):
            m.allocate(t, page * P, P)
        return m.allocate_anywhere(t, 2 * P), m.allocate_anywhere(t, P)
    assert each(hosts, steps) == {
        'mach': (0x4000, 0x2000),
        'gnu': (0x8000, 0x2000),
        'xnu': (0x4000, 0x2000),
    }


# ---- coalescing --------------------------------------------------------------

def starts(m, t):
    return [int(line.split('-')[0], 16) for line in m.maps(t)]


def test_coalesce_allocate(hosts):
    def steps(m):
        t = m.create_task()
        m.allocate(t, A, P)
        m.mem_write(t, A, b'a' * P)          # an object: it grows, or not
        m.allocate(t, A + P, P)
        m.allocate(t, A + 0x11000, P)        # then one just before it
        m.allocate(t, A + 0x10000, P)
        return starts(m, t), m.mem_read(t, A + P, 1)
    assert each(hosts, steps) == {
        'mach': ([0x10000, 0x11000, 0x20000], b'\0'),
        'gnu': ([0x10000, 0x20000], b'\0'),
        'xnu': ([0x10000, 0x20000, 0x21000], b'\0'),
    }


def test_coalesce_after_calls(hosts):
    def steps(m):
        got = []
        for touched, first, back in ((False, 'protect 0x11000 0x1000 r--',
                                      'protect 0x11000 0x1000 rw-'),
                                     (True, 'protect 0x11000 0x1000 r--',
                                      'protect 0x11000 0x1000 rw-'),
                                     (True, 'inherit 0x11000 0x1000 none',
                                      'inherit 0x11000 0x1000 copy'),
                                     (True, 'wire 0x11000 0x1000 r--',
                                      'wire 0x11000 0x1000 none')):
            t = m.create_task()
            m.allocate(t, A, 4 * P)
            if touched:
                m.mem_write(t, A, b't' * 4 * P)
            m.ctl(t, first)
            m.ctl(t, back)
            got.append(len(m.maps(t)))
        return got
    # untouched protect, touched protect, inherit, wire: regions after
    assert each(hosts, steps) == {'mach': [1, 1, 1, 1], 'gnu': [1, 1, 1, 3],
                                  'xnu': [3, 1, 3, 1]}


def test_coalesce_state_file_keeps_neighbours(mount_factory, tmp_path):
    got = {}
    for n in NAMES:
        path = tmp_path / ('%s.json' % n)
        m = mount_factory(options=['state=%s' % path, 'personality=%s' % n])
        t = m.create_task()
        m.allocate(t, A, 4 * P)
        m.ctl(t, 'protect 0x11000 0x1000 r--')
        m.ctl(t, 'protect 0x11000 0x1000 rw-')
        before = m.maps(t)
        m.close()
        m = mount_factory(options=['state=%s' % path])
        got[n] = (len(before), m.maps(t) == before, len(os.listdir(m.p('tasks/%d/regions' % t))))
        m.close()
    assert got == {'mach': (1, True, 1), 'gnu': (1, True, 1), 'xnu': (3, True, 3)}


# ---- the data path's alignment -----------------------------------------------

def test_data_aligned(hosts):
    def steps(m):
        t = holed(m)
        try:
            put = m.mem_write(t, A + 0x800, b'z' * 16)
        except OSError as e:
            put = '%s %s' % (errno.errorcode[e.errno], m.last_error(t).split(':')[0])
        m.mem_write(t, A, b'w' * P)
        return (put, answer(m, t, 'ctl', 'copy 0x10000 16 0x12000'),
                answer(m, t, 'ctl', 'copy 0x10000 0x1000 0x12000'), m.mem_read(t, A + 2 * P, 1))
    assert each(hosts, steps) == {
        'mach': (16, 'ok', 'ok', b'w'),
        'gnu': ('EINVAL KERN_INVALID_ARGUMENT', 'EINVAL KERN_INVALID_ARGUMENT', 'ok', b'w'),
        'xnu': (16, 'ok', 'ok', b'w'),
    }


# ---- vm_machine_attribute ----------------------------------------------------

def test_machine_attribute(hosts):
    def steps(m):
        t = holed(m)
        return (answer(m, t, 'ctl', 'attr 0x10000 0x1000 cache off'),
                answer(m, t, 'ctl', 'attr 0x10000 0x1000 migrate on'),
                answer(m, t, 'ctl', 'attr 0x10000 0x3000 cache flush'),
                answer(m, t, 'ctl', 'attr 0x7ffffffff000 0x2000 cache get'),
                m.regions(t)[0]['cache'])
    assert each(hosts, steps) == {
        'mach': ('ok', 'ok', 'EINVAL KERN_INVALID_ARGUMENT', 'EINVAL KERN_INVALID_ARGUMENT',
                 'off'),
        'gnu': ('EFAULT KERN_INVALID_ADDRESS', 'EFAULT KERN_INVALID_ADDRESS',
                'EFAULT KERN_INVALID_ADDRESS', 'EINVAL KERN_INVALID_ARGUMENT', 'on'),
        'xnu': ('ok', 'EFAULT KERN_INVALID_ADDRESS', 'EIO KERN_FAILURE',
                'EFAULT KERN_INVALID_ADDRESS', 'on'),
    }


# ---- vm_protect's extra bit, size 0 before the values -------------------------

def test_protect_extra_bit(hosts):
    def steps(m):
        t = m.create_task()
        m.allocate(t, A, P)
        m.mem_write(t, A, b'a' * P)
        m.ctl(t, 'inherit 0x10000 0x1000 share')
        c = m.fork(t)
        got = answer(m, c, 'ctl', 'protect 0x10000 0x1000 VM_PROT_DEFAULT|VM_PROT_COPY')
        m.mem_write(t, A, b'b' * P)
        return got, m.mem_read(c, A, 1), m.maps(c)[0].split()[1:3]
    assert each(hosts, steps) == {
        'mach': ('EINVAL KERN_INVALID_ARGUMENT', b'b', ['rw-/rwx', 'share']),
        'gnu': ('ok', b'b', ['rw-/rwx', 'share']),
        'xnu': ('ok', b'a', ['rw-/rwx', 'copy']),
    }


def test_protect_copy_raises_the_maximum(hosts):
    def steps(m):
        t = m.create_task()
        m.allocate(t, A, P)
        m.ctl(t, 'protect 0x10000 0x1000 r-- max')
        return (answer(m, t, 'ctl', 'protect 0x10000 0x1000 VM_PROT_DEFAULT|VM_PROT_COPY'),
                protections(m, t))
    assert each(hosts, steps) == {
        'mach': ('EINVAL KERN_INVALID_ARGUMENT', ['r--/r--']),
        'gnu': ('EACCES KERN_PROTECTION_FAILURE', ['r--/r--']),
        'xnu': ('ok', ['rw-/rw-']),
    }


def test_wire_access_values(hosts):
    def steps(m):
        t = holed(m)
        return (answer(m, t, 'ctl', 'wire 0x10000 0x1000 VM_PROT_COPY'),
                answer(m, t, 'ctl', 'wire 0x10000 0 VM_PROT_COPY'),
                m.region(t, A, 'wired'))
    assert each(hosts, steps) == {
        'mach': ('EINVAL KERN_INVALID_VALUE', 'EINVAL KERN_INVALID_VALUE', '0'),
        'gnu': ('EINVAL KERN_INVALID_ARGUMENT', 'EINVAL KERN_INVALID_ARGUMENT', '0'),
        'xnu': ('EINVAL KERN_INVALID_ARGUMENT', 'ok', '0'),
    }


def test_wire_already_wired(hosts):
    def steps(m):
        t = holed(m)
        m.ctl(t, 'wire 0x10000 0x1000 rw-')
        m.ctl(t, 'protect 0x10000 0x1000 r--')
        return answer(m, t, 'ctl', 'wire 0x10000 0x1000 rw-'), m.region(t, A, 'wired')
    assert each(hosts, steps) == {
        'mach': ('EIO KERN_FAILURE', '1'),
        'gnu': ('ENOSPC KERN_NO_SPACE', '1'),
        'xnu': ('ok', '2'),
    }


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which('setpriv'),
                    reason='switching to a second user needs root and setpriv')
def test_wire_unprivileged(mount_factory):
    from test_permissions import as_nobody
    got = {}
    for n in NAMES:
        m = mount_factory(options=['allow_other', 'personality=%s' % n])
        got[n] = as_nobody(m, r"""
t = command('tasks/ctl', 'create')
command('tasks/%s/ctl' % t, 'allocate 0x100000 0x900000')
attempt('small', command, 'tasks/%s/ctl' % t, 'wire 0x100000 0x1000 r--')
attempt('small_error', lambda: read('tasks/%s/last_error' % t).split(':')[0])
attempt('past', command, 'tasks/%s/ctl' % t, 'wire 0x200000 0x800000 r--')
attempt('past_error', lambda: read('tasks/%s/last_error' % t).split(':')[0])
""")
        m.close()
    for n in ('mach', 'xnu'):
        assert (got[n]['small'], got[n]['small_error']) == ('EPERM', 'KERN_INVALID_HOST')
    assert got['gnu']['small'] == 'ok'
    assert (got['gnu']['past'], got['gnu']['past_error']) == ('EPERM', 'KERN_NO_ACCESS')


# ---- fork --------------------------------------------------------------------

def test_fork_unreadable_copy(hosts):
    def steps(m):
        t = m.create_task()
        m.allocate(t, A, P)
        m.mem_write(t, A, b'a' * P)
        m.ctl(t, 'inherit 0x10000 0x1000 share')
        m.fork(t)
        m.ctl(t, 'inherit 0x10000 0x1000 copy')
        m.ctl(t, 'protect 0x10000 0x1000 none max')
        return len(m.maps(m.fork(t)))
    assert each(hosts, steps) == {'mach': 1, 'gnu': 1, 'xnu': 0}
