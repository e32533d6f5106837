"""Who may do what, with a second user (uid/gid 65534 through setpriv) on a
mount with -o allow_other: reading is open to all, changing only to the
task's owner, wiring only to root and the user who mounted."""
import json
import os
import shutil

import pytest

from fsmount import hx

A = 0x10000
NOBODY = 65534

pytestmark = pytest.mark.skipif(os.getuid() != 0 or not shutil.which('setpriv'),
                                reason='switching to a second user needs root and setpriv')

PRELUDE = r'''
import errno, json, os, sys
root = sys.argv[1]
args = sys.argv[2:]
out = {}
def p(rel):
    return os.path.join(root, rel)
def attempt(name, fn, *a):
    try:
        r = fn(*a)
        out[name] = 'ok' if r is None else r
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
def read(rel):
    with open(p(rel), 'rb') as f:
        return f.read().decode()
def write(rel, text):
    fd = os.open(p(rel), os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
def command(rel, line):
    fd = os.open(p(rel), os.O_RDWR)
    try:
        os.write(fd, line.encode() + b'\n')
        return os.read(fd, 4096).decode().strip()
    finally:
        os.close(fd)
def memread(task, addr, n):
    fd = os.open(p('tasks/%s/mem' % task), os.O_RDONLY)
    try:
        return os.pread(fd, n, addr).decode()
    finally:
        os.close(fd)
def memwrite(task, addr, data):
    fd = os.open(p('tasks/%s/mem' % task), os.O_WRONLY)
    try:
        os.pwrite(fd, data.encode(), addr)
    finally:
        os.close(fd)
'''


def as_nobody(m, body, *args):
    out = m.run_as(NOBODY, PRELUDE + body + '\nprint(json.dumps(out))\n', *args)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def shared_mount(mount_factory):
    m = mount_factory(options=['allow_other'])
    t = m.create_task()
    m.allocate(t, A, 2 * m.P)
    m.mem_write(t, A, b'root data')
    return m, t


def test_other_user_reads_everything(shared_mount):
    m, t = shared_mount
    got = as_nobody(m, r'''
t = args[0]
attempt('tasks', lambda: sorted(os.listdir(p('tasks'))))
attempt('stats', read, 'host/stats')
attempt('status', read, 'tasks/%s/status' % t)
attempt('maps', read, 'tasks/%s/maps' % t)
attempt('json', read, 'tasks/%s/maps.json' % t)
attempt('regions', lambda: os.listdir(p('tasks/%s/regions' % t)))
attempt('prot', read, 'tasks/%s/regions/%s/protection' % (t, args[1]))
attempt('info', read, 'tasks/%s/regions/%s/info' % (t, args[1]))
attempt('mem', memread, t, int(args[2]), 9)
''', t, hx(A), A)
    assert got['tasks'] == sorted(os.listdir(m.p('tasks')))
    assert got['status'] == m.read('tasks/%d/status' % t)
    assert got['maps'] == m.read('tasks/%d/maps' % t)
    assert got['json'] == m.read('tasks/%d/maps.json' % t)
    assert got['regions'] == [hx(A)]
    assert got['prot'] == 'rw-\n'
    assert got['info'] == m.read('tasks/%d/regions/%s/info' % (t, hx(A)))
    assert got['mem'] == 'root data'
    assert 'tasks 1\n' in got['stats']


def test_other_user_cannot_change_root_tasks(shared_mount):
    m, t = shared_mount
    before = (m.read('tasks/%d/maps.json' % t), m.mem_read(t, A, 16), m.task_ids())
    got = as_nobody(m, r'''
t, r = args[0], args[1]
attempt('allocate', command, 'tasks/%s/ctl' % t, 'allocate 0x100000 4096')
attempt('protect', command, 'tasks/%s/ctl' % t, 'protect 0x10000 4096 r--')
attempt('prot_file', write, 'tasks/%s/regions/%s/protection' % (t, r), 'r--\n')
attempt('max_file', write, 'tasks/%s/regions/%s/max_protection' % (t, r), 'r--\n')
attempt('inh_file', write, 'tasks/%s/regions/%s/inheritance' % (t, r), 'share\n')
attempt('attr_file', write, 'tasks/%s/regions/%s/attr' % (t, r), 'cache off\n')
attempt('wired_file', write, 'tasks/%s/regions/%s/wired' % (t, r), 'r--\n')
attempt('mem', memwrite, t, 0x10000, 'evil')
attempt('remap', command, 'tasks/%s/remap' % t, 'src=%s:0x10000 size=4096' % t)
attempt('rmdir', os.rmdir, p('tasks/%s' % t))
attempt('terminate', command, 'tasks/ctl', 'terminate %s' % t)
''', t, hx(A))
    for key in ('allocate', 'protect', 'prot_file', 'max_file', 'inh_file', 'attr_file', 'mem',
                'remap', 'rmdir', 'terminate'):
        assert got[key] == 'EACCES', (key, got[key])
    assert got['wired_file'] in ('EACCES', 'EPERM')
    assert (m.read('tasks/%d/maps.json' % t), m.mem_read(t, A, 16), m.task_ids()) == before


def test_other_user_owns_own_tasks(shared_mount):
    m, root_task = shared_mount
    got = as_nobody(m, r'''
t = command('tasks/ctl', 'create')
out['id'] = t
attempt('status', read, 'tasks/%s/status' % t)
attempt('allocate', command, 'tasks/%s/ctl' % t, 'allocate 0x10000 8192')
attempt('protect', command, 'tasks/%s/ctl' % t, 'protect 0x11000 4096 r--')
attempt('write', memwrite, t, 0x10000, 'mine')
attempt('read', memread, t, 0x10000, 4)
attempt('inherit_file', write, 'tasks/%s/regions/0x0000000000010000/inheritance' % t, 'share\n')
c = command('tasks/ctl', 'fork %s' % t)
out['child'] = c
attempt('child_read', memread, c, 0x10000, 4)
attempt('wire', command, 'tasks/%s/ctl' % t, 'wire 0x10000 4096 r--')
attempt('wire_error', read, 'tasks/%s/last_error' % t)
attempt('wired_file', write, 'tasks/%s/regions/0x0000000000010000/wired' % t, 'r--\n')
attempt('rmdir_child', os.rmdir, p('tasks/%s' % c))
c2 = command('tasks/ctl', 'fork %s' % t)
attempt('terminate_child', command, 'tasks/ctl', 'terminate %s' % c2)
out['child2'] = c2
''')
    t = int(got['id'])
    assert t not in (root_task,) and t in m.task_ids()
    st = m.status(t)
    assert str(st['owner']) in (str(NOBODY), 'nobody')
    assert str(m.status(root_task)['owner']) in ('0', 'root')
    assert got['allocate'] == hx(0x10000)
    assert got['protect'] == 'ok'
    assert got['write'] == 'ok' and got['read'] == 'mine'
    assert got['inherit_file'] == 'ok'
    assert got['child_read'] == 'mine'
    assert got['wire'] == 'EPERM'
    assert got['wire_error'].startswith('KERN_INVALID_HOST: ')
    assert got['wired_file'] == 'EPERM'
    assert got['rmdir_child'] == 'ok'
    assert int(got['child']) not in m.task_ids()
    assert got['terminate_child'] == 'ok'
    assert int(got['child2']) not in m.task_ids()
    assert m.region(t, 0x10000, 'wired') == '0'
    assert m.regions(t)[0]['inheritance'] == 'share'


def test_without_allow_other_others_see_nothing(mnt):
    out = mnt.run_as(NOBODY, '''
import errno, os, sys
try:
    os.listdir(os.path.join(sys.argv[1], 'tasks'))
    print('ok')
except OSError as e:
    print(errno.errorcode[e.errno])
''')
    assert out.strip() == 'EACCES'


def test_other_user_and_root_memory(shared_mount):
    """A fork or a sharing remap would let the new mapping write root's memory:
    refused.  A copying remap only reads it: allowed."""
    m, t = shared_mount
    got = as_nobody(m, r'''
t = args[0]
attempt('fork', command, 'tasks/ctl', 'fork %s' % t)
attempt('fork_error', read, 'tasks/last_error')
mine = command('tasks/ctl', 'create')
out['mine'] = mine
attempt('share', command, 'tasks/%s/remap' % mine, 'src=%s:0x10000 size=4096 share' % t)
attempt('copy', command, 'tasks/%s/remap' % mine, 'src=%s:0x10000 size=4096 copy' % t)
attempt('copy_read', memread, mine, 0x1000, 9)
attempt('copy_write', memwrite, mine, 0x1000, 'NOBODY')
''', t)
    assert got['fork'] == 'EACCES'
    assert got['share'] == 'EACCES'
    assert got['copy'].startswith('address 0x0000000000001000 ')
    assert got['copy_read'] == 'root data'
    assert got['copy_write'] == 'ok'
    assert m.mem_read(t, A, 9) == b'root data'
    assert len(m.task_ids()) == 2
