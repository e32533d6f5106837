"""tools/machvmctl against a real mount: every verb, what it prints, its exit
status, and on a refusal the task's last_error line on standard error.

What each call did is checked through the tree itself (fsmount's helpers),
not through the package machvmctl is built on.
"""
import json
import os
import subprocess

import pytest

from machvm_paths import ROOT

MACHVMCTL = os.path.join(ROOT, 'tools', 'machvmctl')
VERBS = ['create', 'fork', 'terminate', 'allocate', 'deallocate', 'protect', 'inherit', 'wire',
         'attr', 'copy', 'remap', 'peek', 'poke', 'maps']


def ctl(mnt, *args, env_mount=True, status=0):
    """Runs machvmctl (the mount in MACHVMFS_MOUNT, or none); checks its
    exit status; returns (stdout, stderr)."""
    env = dict(os.environ)
    env.pop('MACHVMFS_MOUNT', None)
    if env_mount and mnt is not None:
        env['MACHVMFS_MOUNT'] = mnt.path
    r = subprocess.run([MACHVMCTL] + [str(a) for a in args], capture_output=True, env=env,
                       timeout=60, cwd='/')
    assert r.returncode == status, 'machvmctl %s: exit %d, expected %d\n%s%s' % (
        ' '.join(map(str, args)), r.returncode, status, r.stdout.decode(), r.stderr.decode())
    return r.stdout.decode('utf-8', 'replace'), r.stderr.decode()


def refused(mnt, task, *args):
    """machvmctl must exit 1, print nothing, and say the task's (or
    tasks/ctl's) new last_error line on standard error."""
    out, err = ctl(mnt, *args, status=1)
    assert out == ''
    assert err == mnt.last_error(task), (err, mnt.last_error(task))
    assert err.startswith('KERN_')
    return err.rstrip('\n')


def test_help_lists_every_verb():
    out, err = ctl(None, '--help')
    assert out.startswith('usage: machvmctl ')
    for verb in VERBS:
        assert '\n    %s ' % verb in out, verb
    assert 'exit status' in out and 'MACHVMFS_MOUNT' in out
    out, err = ctl(None, 'peek', '--help')
    assert 'usage: machvmctl peek' in out and '--raw' in out
    _, err = ctl(None, status=2)
    assert 'usage: machvmctl' in err
    _, err = ctl(None, 'frobnicate', status=2)
    assert 'invalid choice' in err


def test_where_the_mount_is(mnt, tmp_path):
    _, err = ctl(None, 'create', status=2)
    assert 'no mount point: give -m MOUNTPOINT or set MACHVMFS_MOUNT' in err
    out, _ = ctl(mnt, '-m', mnt.path, 'create', env_mount=False)
    assert out == '1\n'
    out, _ = ctl(mnt, 'create', '-m', mnt.path, env_mount=False)     # after the verb too
    assert out == '2\n'
    _, err = ctl(mnt, '-m', str(tmp_path), 'create', status=1)       # -m wins over the env
    assert err == 'ENOENT: %s: not a machvmfs mount\n' % tmp_path
    assert mnt.task_ids() == [1, 2]


def test_create_fork_terminate(mnt):
    assert ctl(mnt, 'create') == ('1\n', '')
    assert ctl(mnt, 'fork', 1) == ('2\n', '')
    assert mnt.read('tasks/2/parent') == '1\n'
    assert refused(mnt, None, 'fork', 99).startswith('KERN_INVALID_TASK: tasks/ctl: ')
    assert ctl(mnt, 'terminate', 2) == ('', '')
    assert mnt.task_ids() == [1]
    err = refused(mnt, None, 'terminate', 2)
    assert err == "KERN_INVALID_ARGUMENT: tasks/ctl: task_terminate(task 2) failed, " \
                  "got 'terminate 2'"
    _, err = ctl(mnt, 'allocate', 2, 0x10000, 4096, status=1)
    assert err == 'ENOENT: tasks/2: no such task\n'
    _, err = ctl(mnt, 'fork', 'one', status=2)
    assert 'not a number' in err
    assert mnt.task_ids() == [1]


def test_allocate_deallocate(mnt):
    t = mnt.create_task()
    assert ctl(mnt, 'allocate', t, '0x10000', '16K') == ('0x0000000000010000\n', '')
    assert ctl(mnt, 'allocate', t, 'anywhere', '8K') == ('0x0000000000001000\n', '')
    before = mnt.maps(t)
    err = refused(mnt, t, 'allocate', t, '0x10000', '16K')
    assert err == "KERN_NO_SPACE: tasks/1/ctl: vm_allocate(task 1, 0x10000, 16384, fixed) " \
                  "failed: [0x10000, 0x14000) overlaps the region [0x10000, 0x14000) of " \
                  "task 1, got 'allocate 0x10000 16K'"
    refused(mnt, t, 'allocate', t, '0x10000', 'lots')
    assert mnt.maps(t) == before
    assert ctl(mnt, 'deallocate', t, '0x1000', '8K') == ('', '')
    assert mnt.region_starts(t) == [0x10000]
    assert refused(mnt, t, 'deallocate', t, 1 << 47, '4K').startswith('KERN_INVALID_ADDRESS: ')


def test_protect_inherit_wire_attr_copy(mnt):
    t = mnt.create_task()
    mnt.allocate(t, 0x10000, 0x4000)
    assert ctl(mnt, 'protect', t, '0x10000', '4K', 'r--') == ('', '')
    assert mnt.region(t, 0x10000, 'protection') == 'r--'
    assert ctl(mnt, 'protect', t, '0x10000', '4K', 'r-x', '--max') == ('', '')
    assert mnt.region(t, 0x10000, 'max_protection') == 'r-x'
    err = refused(mnt, t, 'protect', t, '0x10000', '4K', 'rw-')
    assert err.startswith('KERN_PROTECTION_FAILURE: tasks/1/ctl: vm_protect(')
    assert ctl(mnt, 'inherit', t, '0x11000', '4K', 'share') == ('', '')
    assert mnt.region(t, 0x11000, 'inheritance') == 'share'
    refused(mnt, t, 'inherit', t, '0x90000', '4K', 'share')
    assert ctl(mnt, 'wire', t, '0x12000', '4K', 'rw-') == ('', '')
    assert mnt.region(t, 0x12000, 'wired') == '1'
    assert ctl(mnt, 'wire', t, '0x12000', '4K', 'none') == ('', '')
    assert refused(mnt, t, 'wire', t, '0x12000', '4K', 'none').startswith('KERN_INVALID_ARGUMENT')
    assert ctl(mnt, 'attr', t, '0x13000', '4K', 'cache', 'get') == ('on\n', '')
    assert ctl(mnt, 'attr', t, '0x13000', '4K', 'cache', 'off') == ('', '')
    assert ctl(mnt, 'attr', t, '0x13000', '4K', 'cache', 'get') == ('off\n', '')
    refused(mnt, t, 'attr', t, '0x13000', '4K', 'migrate', 'flush')
    mnt.mem_write(t, 0x11000, b'copy me')
    assert ctl(mnt, 'copy', t, '0x11000', '4K', '0x12000') == ('', '')
    assert mnt.mem_read(t, 0x12000, 7) == b'copy me'
    refused(mnt, t, 'copy', t, '0x90000', '4K', '0x12000')


def test_remap(mnt):
    a = mnt.create_task()
    b = mnt.create_task()
    mnt.allocate(a, 0x10000, 0x4000)
    mnt.mem_write(a, 0x10000, b'source')
    out, _ = ctl(mnt, 'remap', b, 'src=%d:0x10000' % a, 'size=4K', 'at=0x100000', 'share')
    assert out == 'address 0x0000000000100000 cur_protection rw- max_protection rwx\n'
    mnt.mem_write(b, 0x100000, b'SHARED')
    assert mnt.mem_read(a, 0x10000, 6) == b'SHARED'
    out, _ = ctl(mnt, 'remap', b, 'size=8K', 'copy', 'anywhere=0x400000', 'src=%d:0x10000' % a,
                 'inherit=none', 'mask=0')
    assert out == 'address 0x0000000000400000 cur_protection rw- max_protection rwx\n'
    assert mnt.region(b, 0x400000, 'inheritance') == 'none'
    out, _ = ctl(mnt, 'remap', b, 'src=%d:0x10000' % a, 'size=4K', 'anywhere')
    assert out.startswith('address 0x') and out.endswith(' cur_protection rw- max_protection rwx\n')
    err = refused(mnt, b, 'remap', b, 'src=%d:0x90000' % a, 'size=4K')
    assert err.startswith('KERN_INVALID_ADDRESS: tasks/2/remap: vm_remap(')
    refused(mnt, b, 'remap', b, 'src=%d:0x10000' % a, 'size=4K', 'at=0x100000')
    before = mnt.maps(b)
    for words in (['src=%d:0x10000' % a], ['size=4K'], ['src=1', 'size=4K'],
                  ['src=%d:0x10000' % a, 'size=4K', 'bogus'],
                  ['src=%d:0x10000' % a, 'size=4K', 'copy', 'share'],
                  ['src=%d:0x10000' % a, 'size=4K', 'at=0x500000', 'anywhere']):
        _, err = ctl(mnt, 'remap', b, *words, status=2)
        assert 'machvmctl: error: remap: ' in err, (words, err)
    assert mnt.maps(b) == before


def test_peek_poke(mnt):
    t = mnt.create_task()
    mnt.allocate(t, 0x10000, 0x2000)
    assert ctl(mnt, 'poke', t, '0x10000', 'hello, world: 0123456789') == ('', '')
    assert mnt.mem_read(t, 0x10000, 24) == b'hello, world: 0123456789'
    out, _ = ctl(mnt, 'peek', t, '0x10000', '20')
    assert out == ('00010000: 6865 6c6c 6f2c 2077 6f72 6c64 3a20 3031  hello, world: 01\n'
                   '00010010: 3233 3435' + ' ' * 32 + '2345\n')      # as xxd does
    assert ctl(mnt, 'poke', '--hex', t, '65536', '00 ff 7e0a') == ('', '')
    assert mnt.mem_read(t, 0x10000, 5) == b'\x00\xff~\no'
    out, _ = ctl(mnt, 'peek', t, 0x10000, 4)
    assert out == '00010000: 00ff 7e0a' + ' ' * 32 + '..~.\n'
    r = subprocess.run([MACHVMCTL, '-m', mnt.path, 'peek', '--raw', str(t), '0x10000', '6'],
                       capture_output=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, b'\x00\xff~\no,', b'')
    # a read that runs into the hole: what was there, then exit 1
    out, err = ctl(mnt, 'peek', t, '0x11ffe', '4', status=1)
    assert out == '00011ffe: 0000' + ' ' * 37 + '..\n'
    assert err.startswith('machvmctl: peek: only 2 of 4 bytes at 0x11ffe are readable')
    # refused from the first byte: reads record no last_error, so it says why itself
    out, err = ctl(mnt, 'peek', t, '0x20000', '4', status=1)
    assert (out, err) == ('', 'KERN_INVALID_ADDRESS: tasks/1/mem: vm_read(task 1, 0x20000, 4) '
                              'failed (Bad address)\n')
    err = refused(mnt, t, 'poke', t, '0x20000', 'nowhere')
    assert err == ('KERN_INVALID_ADDRESS: tasks/1/mem: vm_write(task 1, 0x20000, 7) failed: '
                   'nothing is mapped at 0x20000 in task 1 (a hole up to 0x800000000000)')
    mnt.ctl(t, 'protect 0x11000 4K r--')
    refused(mnt, t, 'poke', t, '0x11000', 'read-only')
    _, err = ctl(mnt, 'poke', '--hex', t, '0x10000', 'xyz', status=2)
    assert 'not hex digits' in err
    _, err = ctl(mnt, 'peek', t, 'here', '4', status=2)
    assert 'not a number' in err
    assert mnt.mem_read(t, 0x10000, 5) == b'\x00\xff~\no'


def test_maps(mnt):
    t = mnt.create_task()
    assert ctl(mnt, 'maps', t) == ('', '')
    mnt.allocate(t, 0x10000, 0x2000)
    mnt.ctl(t, 'protect 0x11000 4K r--')
    out, _ = ctl(mnt, 'maps', t)
    assert out.splitlines() == mnt.maps(t) and len(mnt.maps(t)) == 2
    out, _ = ctl(mnt, 'maps', '--json', t)
    assert json.loads(out) == mnt.regions(t)
    _, err = ctl(mnt, 'maps', 7, status=1)
    assert err == 'ENOENT: tasks/7: no such task\n'


@pytest.mark.parametrize('verb', VERBS)
def test_every_verb_says_its_usage(verb):
    out, _ = ctl(None, verb, '--help')
    assert out.startswith('usage: machvmctl %s' % verb)


def _readme_section(title):
    with open(os.path.join(ROOT, 'README.md')) as f:
        text = f.read()
    start = text.index('\n## %s\n' % title)
    return text[start:text.index('\n## ', start + 1)]


def _blocks(section):
    """The indented blocks of a README section, as lists of lines."""
    blocks, cur = [], []
    for line in section.splitlines():
        if line.startswith('    '):
            cur.append(line[4:])
        elif cur and line.strip():
            blocks.append(cur)
            cur = []
    return blocks + ([cur] if cur else [])


def test_readme_scripting_examples(mnt, tmp_path):
    """The shell and Python examples of README's *Scripting* section run as
    shown: the commands print the lines shown after them."""
    shell, python = [b for b in _blocks(_readme_section('Scripting: machvmctl and the Python '
                                                        'package'))
                     if b[0].startswith(('export', 'import'))]
    commands = [l for l in shell if l.startswith(('export ', 't=', 'c=', 'machvmctl '))]
    shown = [l for l in shell if l not in commands]
    script = '\n'.join(commands).replace('/mnt/mvm', mnt.path)
    env = dict(os.environ, PATH=os.path.join(ROOT, 'tools') + os.pathsep + os.environ['PATH'])
    r = subprocess.run(['bash', '-c', '{\n%s\n} 2>&1' % script], capture_output=True, text=True,
                       env=env, timeout=60, cwd='/')
    assert r.returncode == 1, r.stdout + r.stderr           # the last command is refused
    assert r.stdout.splitlines() == shown
    assert mnt.maps(1)[0].startswith('0000000000010000-0000000000014000 ')
    from fsmount import daemon_path
    script = tmp_path / 'readme.py'
    script.write_text('\n'.join(python) + '\n')
    env = dict(os.environ, MACHVMFS_DAEMON=daemon_path(),
               PYTHONPATH=os.path.join(ROOT, 'python'))
    r = subprocess.run(['/usr/bin/python3', str(script)], capture_output=True, text=True,
                       env=env, timeout=60, cwd='/')
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        "b'hello' b'HELLO'",
        "KERN_NO_SPACE: tasks/1/ctl: vm_allocate(task 1, 0x10000, 16384, fixed) failed: "
        "[0x10000, 0x14000) overlaps the region [0x10000, 0x20000) of task 1, "
        "got 'allocate 0x10000 16K'"]
