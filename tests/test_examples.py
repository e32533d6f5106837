"""Runs every examples/*.sh against a fresh mount: each must exit 0 and its
output must show what its header says it shows.  Its last line says what it
showed ("shown: ..."), and every failure it prints is one it shows on purpose,
labelled "(expected: why)": a refusal ends with "-> refused (expected: ...)"
(the command's own error message before it belongs to it), a read of
last_error right after one shows its cause, and anything else that fails says
so on its own line."""
import glob
import os
import re
import shutil
import subprocess

import pytest

from fsmount import daemon_path
from machvm_paths import ROOT

EXAMPLES = os.path.join(ROOT, 'examples')
SCRIPTS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(EXAMPLES, '*.sh')))


def run(mnt, name):
    # personalities.sh mounts hosts of its own, with the daemon under test.
    env = dict(os.environ, MACHVMFS=daemon_path())
    r = subprocess.run(['bash', os.path.join(EXAMPLES, name), mnt.path], capture_output=True,
                       text=True, timeout=120, cwd='/', env=env)
    assert r.returncode == 0, '%s exited %d\n--- stdout\n%s\n--- stderr\n%s' % (
        name, r.returncode, r.stdout, r.stderr)
    assert r.stderr == '', '%s wrote to stderr:\n%s' % (name, r.stderr)
    return r.stdout


# What a failure looks like in an example's output: the shell's and dd's
# error messages, a refusal, a last_error line.
ERROR = re.compile(r'(write error|error (reading|writing)|Permission denied|Bad address|'
                   r'No space left|Invalid argument|Input/output error|Operation not permitted|'
                   r'No such file|File too large|No such process|-> refused|'
                   r'^KERN_(?!SUCCESS\b)[A-Z_]+: )')
SHOWN = re.compile(r'^shown: \S.{20,}$')


def unlabelled_errors(out):
    """The lines of out that look like a failure and are not labelled as
    expected (see the top)."""
    blocks, cur = [], ('', [])
    for line in out.splitlines():
        if line.startswith('$ '):
            blocks.append(cur)
            cur = (line, [])
        else:
            cur[1].append(line)
    blocks.append(cur)
    bad, after_refusal = [], False
    for command, body in blocks:
        refused = any(re.search(r'-> refused \(expected: \S.*\)$', l) for l in body)
        explains = after_refusal and 'last_error' in command
        bad += [l for l in body if ERROR.search(l) and not (refused or explains)
                and '(expected: ' not in l]
        after_refusal = refused
    return bad


MAPS = r'^[0-9a-f]{16}-[0-9a-f]{16} '
WORD = r'^[\w-]+$'
KV = r'^\w+ \d+$'
NAME = r'^0x[0-9a-f]{16}$'


def all_after(out, command_re, like=r'.'):
    """For every command matching command_re, in order: the output lines
    printed right after it that match `like`."""
    found, lines = [], out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith('$ ') and re.search(command_re, line):
            rest = []
            for l in lines[i + 1:]:
                if l.startswith('$ ') or l.startswith('#') or l.startswith('shown: ') or \
                        not re.search(like, l):
                    break
                rest.append(l)
            found.append(rest)
    assert found, 'no command matching %r in\n%s' % (command_re, out)
    return found


def after(out, command_re, like=r'.'):
    """The output of the first command matching command_re (see all_after)."""
    return all_after(out, command_re, like)[0]


def kv_line(line):
    return dict(re.findall(r'(\w+) (\S+)', line))


def test_every_example_is_checked():
    assert set(SCRIPTS) == set(CHECKS), 'examples without a check, or checks without an example'


@pytest.mark.parametrize('name', SCRIPTS)
def test_header(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        lines = f.read().splitlines()
    assert lines[0] == '#!/usr/bin/env bash'
    assert lines[1].startswith('# %s - ' % name)
    header = []
    for line in lines[1:]:
        if not line.startswith('#'):
            break
        header.append(line)
    assert len(header) >= 6
    assert any('examples/%s /tmp/mvm' % name in l for l in header), 'no "how to run" line'
    assert os.access(os.path.join(EXAMPLES, name), os.X_OK)


def check_tour(mnt, out):
    assert len(out.splitlines()) <= 40, 'the tour should stay short'
    t = int(re.search(r'-> task (\d+)\n', out).group(1))
    c = int(re.search(r'fork %d -> task (\d+) \(parent %d\)' % (t, t), out).group(1))
    assert after(out, r'dd if=tasks/%d/mem bs=1 skip=65536 count=5' % t) == ['hello']
    assert after(out, r'cat tasks/%d/regions/.*/share_mode' % t, WORD) == ['private']
    assert after(out, r'cat tasks/%d/regions/.*/share_mode' % c, WORD) == ['cow']
    assert 'parent reads hello, child reads HELLO' in out
    assert 'parent reads shared!' in out
    first, second = all_after(out, r'cat tasks/%d/maps' % t, MAPS)
    assert first == ['0000000000010000-0000000000012000 rw-/rwx copy wired=0 empty shared=no '
                     'object=none offset=0x0']
    assert [l.split()[2] for l in second] == ['copy', 'share']
    assert second == mnt.maps(t)
    assert after(out, r'ls tasks/%d/regions' % t, NAME) == ['0x0000000000010000', '0x0000000000011000']
    status = {l.split()[0]: int(l.split()[1]) for l in after(out, r'grep -E', KV)}
    assert status['regions'] == 2 and status['resident_pages'] >= 1
    # machvmctl: the child's bytes as xxd shows them; a refusal and its last_error line
    assert after(out, r'^\$ machvmctl peek %d 0x10000 5$' % c) == [
        '00010000: 4845 4c4c 4f' + ' ' * 29 + 'HELLO']
    assert after(out, r'^\$ machvmctl allocate %d ' % t) == [
        mnt.last_error(t).rstrip('\n'), 'exit 1 -> refused (expected: 0x10000 is taken)']
    assert mnt.last_error(t).startswith('KERN_NO_SPACE: tasks/%d/ctl: vm_allocate(' % t)


def check_fork_inheritance(mnt, out):
    p = re.search(r'parent task: (\d+)', out).group(1)
    c = re.search(r'child task (\d+)', out).group(1)
    def page(task, addr, kind, want):
        pat = r'task %s page %s \(%s\): %s' % (task, addr, kind, want)
        assert re.search(pat, out), pat
    page(c, '0x10000', 'share', r'parent-share')
    page(c, '0x11000', 'copy', r'parent-copy\.')
    page(c, '0x12000', 'none', r'.*Bad address')
    page(p, '0x10000', 'share', r'child-share\.')
    page(p, '0x11000', 'copy', r'parent-copy\.')
    page(p, '0x12000', 'none', r'parent-none\.')
    page(c, '0x10000', 'share', r'parent-again')
    page(c, '0x11000', 'copy', r'child-copy\.\.')
    assert len(after(out, r'cat tasks/%s/maps' % p, MAPS)) == 3
    assert len(after(out, r'cat tasks/%s/maps' % c, MAPS)) == 2
    shared = after(out, r'grep -H \. ', r'^tasks/')
    assert 'tasks/%s/regions/0x0000000000010000/shared:yes' % p in shared
    assert 'tasks/%s/regions/0x0000000000010000/shared:yes' % c in shared
    assert 'tasks/%s/regions/0x0000000000011000/shared:no' % c in shared


def check_protection(mnt, out):
    assert out.count('-> refused') == 4
    assert out.count('Permission denied') >= 4
    assert after(out, r'cat .*/protection .*/max_protection', WORD) == ['rw-', 'rwx']
    assert after(out, r'dd if=.*count=10 status=none; echo') == ['some bytes']
    reads = [l for l in out.splitlines() if l.startswith('$ cat ') and 'max_protection' in l]
    assert len(reads) == 2
    assert re.search(r'echo r-x > .*max_protection\n\$ cat .*\nr-x\nr-x\n', out)
    assert len(re.findall(r'^KERN_PROTECTION_FAILURE: ', out, re.M)) == 2
    t = re.search(r'^task (\d+)', out, re.M).group(1)
    split, joined = all_after(out, r'cat tasks/%s/maps' % t, MAPS)
    assert [l.split()[1] for l in split] == ['r-x/r-x', 'r--/r-x', 'r-x/r-x']
    assert len(joined) == 1
    assert joined[0].startswith('0000000000010000-0000000000013000 r-x/r-x copy')
    assert mnt.maps(int(t)) == joined


def check_wiring(mnt, out):
    cats = re.findall(r'^\$ cat \S+/wired\n(\d+)$', out, re.M)
    assert cats == ['1', '2', '1', '0'], cats
    def counters(label):
        return kv_line(re.search(r'^%s:\s+(.*)$' % label, out, re.M).group(1))
    before, wired_c, write = counters('before wiring'), counters('after wiring'), counters('after a write')
    assert (before['resident_pages'], before['wired_pages']) == ('0', '0')
    assert (wired_c['resident_pages'], wired_c['wired_pages']) == ('4', '4')
    assert write['faults'] == wired_c['faults']
    assert counters('after unwiring')['wired_pages'] == '0'
    assert counters('after unwiring')['resident_pages'] == '4'
    assert 'Invalid argument' in out and 'Input/output error' in out
    assert re.search(r'^KERN_INVALID_ARGUMENT: ', out, re.M)
    assert re.search(r'^KERN_FAILURE: ', out, re.M)
    maps = after(out, r'cat tasks/\d+/maps', MAPS)
    assert [l.split()[3] for l in maps] == ['wired=0', 'wired=1', 'wired=0', 'wired=0']


def check_attributes(mnt, out):
    attrs = re.findall(r'^\$ cat \S+/attr\n(cache \w+)\n(migrate \w+)\n(replicate \w+)$', out, re.M)
    assert attrs == [('cache on', 'migrate off', 'replicate off'),
                     ('cache on', 'migrate on', 'replicate off'),
                     ('cache off', 'migrate on', 'replicate off')]
    assert after(out, r'ls tasks/\d+/regions', NAME) == [
        '0x0000000000010000', '0x0000000000011000', '0x0000000000012000']
    assert 'attr 0x10000 0x1000 cache get -> on' in out
    assert 'attr 0x11000 0x1000 cache get -> off' in out
    flushes = {l.split()[0]: l.split()[1] for l in after(out, r'grep flushes', KV)}
    assert flushes == {'cache_flushes': '1', 'dcache_flushes': '0', 'icache_flushes': '1'}
    assert '-> refused' in out and re.search(r'^KERN_INVALID_ARGUMENT: ', out, re.M)
    maps = after(out, r'cat tasks/\d+/maps', MAPS)
    assert [l.split('-')[0] for l in maps] == ['0000000000010000', '0000000000011000']


def check_remap(mnt, out):
    results = re.findall(r'-> address (0x[0-9a-f]{16}) cur_protection (\S+) max_protection (\S+)',
                         out)
    assert len(results) == 3
    assert all(r[1:] == ('rw-', 'rwx') for r in results)
    a, b = re.search(r'source task (\d+), target task (\d+)', out).groups()
    assert results[1][0] == '0x0000000000400000'
    assert int(results[2][0], 16) == 0x100000
    s = results[0][0]
    assert 'task %s reads at %s: original' % (b, s) in out
    assert 'task %s reads at 0x10000: B-wrote!' % a in out
    assert 'task %s still reads: B-wrote!' % a in out
    assert 'task %s reads at 0x400000: copy-own' % b in out
    shared = [l for l in after(out, r'cat tasks/%s/maps tasks/%s/maps' % (a, b), MAPS)]
    assert len(shared) == 2 and all('shared=yes' in l and 'trueshared' in l for l in shared)
    assert len(mnt.maps(int(b))) == 3


def check_walk_regions(mnt, out):
    t = int(re.search(r'^task (\d+)', out, re.M).group(1))
    n, st = re.search(r'^(\d+) regions; status says: regions (\d+)$', out, re.M).groups()
    assert n == st
    names = after(out, r'ls tasks/%d/regions' % t, NAME)
    assert len(names) == int(n) and names == sorted(names)
    rows = [l for l in out.splitlines() if re.match(r'0x[0-9a-f]{16} ', l)]
    assert [r.split()[0] for r in rows] == names
    for row in rows:
        start, end, size = row.split()[:3]
        assert int(end, 16) - int(start, 16) == int(size)
    assert after(out, r'cat tasks/%d/regions/0x14000/size' % t, WORD) == ['8192']
    assert after(out, r'cat tasks/%d/regions/14000/inheritance' % t, WORD) == ['share']
    maps = after(out, r'cat tasks/%d/maps' % t, MAPS)
    assert len(maps) == int(n)
    assert '0x0000000000016000' not in names


def check_cow_chains(mnt, out):
    rows = re.findall(r'^  task (\d+)\s+(.*)$', out, re.M)
    facts = [(int(t), kv_line(rest)) for t, rest in rows]
    p = facts[0][0]
    assert facts[0][1]['share_mode'] == 'empty' and facts[0][1]['object'] == 'none'
    assert facts[1][1]['share_mode'] == 'private' and facts[1][1]['resident_pages'] == '3'
    # after the fork: both cow, same object
    (tp, fp), (tc, fc) = facts[2], facts[3]
    assert tp == p and tc != p
    assert fp['share_mode'] == fc['share_mode'] == 'cow'
    assert fp['object'] == fc['object'] == facts[1][1]['object']
    # after the child's write: a new object in front, one page of its own
    (_, fp2), (_, fc2) = facts[4], facts[5]
    assert fc2['object'] != fc['object']
    assert fc2['share_mode'] == 'cow' and fc2['shadow_depth'] == '1'
    assert fc2['resident_pages'] in ('3', '1')
    assert fp2['object'] == fp['object']
    # grandchild
    tg, fg = facts[6]
    assert tg not in (tp, tc) and fg['share_mode'] == 'cow' and int(fg['shadow_depth']) >= 1
    depth = dict(l.split() for l in after(out, r'grep -E .*tasks/%d/status' % tg, KV))
    assert int(depth['max_shadow_depth']) >= 1 and int(depth['cow_faults']) == 1
    # the child has written every page: nothing read through the chain
    tc3, fc3 = facts[7]
    assert tc3 == tc and fc3['shadow_depth'] == '0' and fc3['share_mode'] == 'private'
    stats = dict(l.split() for l in after(out, r'host/stats', KV))
    assert int(stats['shadows_created']) >= 3


def check_events(mnt, out):
    t = int(re.search(r'^task (\d+)$', out, re.M).group(1))
    c = int(re.search(r'^child (\d+)$', out, re.M).group(1))
    mine = after(out, r'cat tasks/%d/events' % t, r'^\d+ ')
    assert [l.split()[1] for l in mine] == ['task_create', 'vm_allocate', 'vm_protect',
                                            'vm_protect', 'task_create', 'vm_protect']
    assert mine[2].endswith('changes=split@0x11000,split@0x12000,attributes:0x11000-0x12000')
    assert 'merged@0x11000' in mine[3] and 'merged@0x12000' in mine[3]
    assert ' task=%d parent=%d ' % (c, t) in mine[4]
    assert 'kr=KERN_INVALID_ADDRESS changes=-' in mine[5]
    assert mine == mnt.read('tasks/%d/events' % t).splitlines()
    followed = after(out, r'cat /tmp/events\.', r'^\d+ ')
    assert followed == mine
    assert 'the follower saw 6 lines' in out
    assert '-> refused (expected: ' in out


def check_objects(mnt, out):
    o = after(out, r'^\$ ls objects$')
    assert len(o) == 1, o
    old = o[0]
    p = re.search(r'^task (\d+)$', out, re.M).group(1)
    c = re.search(r'^child (\d+)$', out, re.M).group(1)
    assert after(out, r'objects/%s/mapped_by' % old) == [
        '%s 0x0000000000010000 0x0000000000014000 0x0' % p]
    assert after(out, r'objects/%s/pages' % old, r'^0x') == ['0x0', '0x1000']
    assert after(out, r'objects/%s/ref_count' % old) == ['2']
    maps = all_after(out, r'tasks/%s/pagemap' % c)
    assert maps[0] == ['0x0000000000010000 %s 0 cow' % old, '0x0000000000011000 %s 0 cow' % old]
    two = all_after(out, r'^\$ ls objects$')[1]
    assert len(two) == 2 and old in two
    new = [i for i in two if i != old][0]
    assert after(out, r'objects/%s/shadow$' % new) == [old]
    assert after(out, r'objects/%s/shadowed_by' % old) == [new]
    assert after(out, r'/chain') == ['0 %s 0x0 1' % new, '1 %s 0x0 2' % old]
    assert maps[1] == ['0x0000000000010000 %s 1 cow' % old,
                       '0x0000000000011000 %s 0 private' % new]
    assert after(out, r'_pages') == ['private_pages 1', 'shared_pages 0', 'cow_pages 1']
    assert all_after(out, r'^\$ ls objects$')[2] == [old]
    assert not os.path.exists(os.path.join(mnt.path, 'objects', new))


def check_graph_story(mnt, out):
    """Five pictures: one object; both tasks mapping it copy-on-write; the
    child's shadow in front; the parent's too; after the child's end, one
    object neither of those, the parent's alone."""
    from graphs import svg_graph
    p = re.search(r'^task (\d+)$', out, re.M).group(1)
    c = re.search(r'^child (\d+)$', out, re.M).group(1)
    d = re.search(r'pictures \(.*\) in (/\S+)$', out, re.M).group(1)
    try:
        ep, ec = ['entry_%s_0x0000000000010000' % t for t in (p, c)]
        pics = []
        for i in range(1, 6):
            assert 'story-%d.svg: ' % i in out
            styles = {}
            nodes, edges = svg_graph(os.path.join(d, 'story-%d.svg' % i), styles)
            objs = sorted(n for n in nodes if n.startswith('object_'))
            pics.append((nodes, edges, styles, objs))
        nodes, edges, styles, [o] = pics[0]
        assert nodes == {'task_' + p, ep, o} and styles[(ep, o)] is None
        nodes, edges, styles, objs = pics[1]
        assert objs == [o] and 'task_' + c in nodes
        assert styles[(ep, o)] and styles[(ec, o)]             # dashed: copy-on-write
        nodes, edges, styles, objs = pics[2]
        [y] = [x for x in objs if x != o]
        assert (ec, y) in edges and (y, o) in edges and styles[(ec, y)] is None
        nodes, edges, styles, objs = pics[3]
        [z] = [x for x in objs if x not in (o, y)]
        assert {(y, o), (z, o), (ep, z), (ec, y)} <= edges
        nodes, edges, styles, objs = pics[4]
        assert objs == [z] and nodes == {'task_' + p, ep, z}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def check_personalities(mnt, out):
    mounts = re.findall(r'^\$ machvmfs -o personality=(\w+) (\S+); cat \S+\n(\w+)$', out, re.M)
    assert [(m[0], m[2]) for m in mounts] == [('mach', 'mach'), ('gnu', 'gnu'), ('xnu', 'xnu')]
    for _, path, _ in mounts:       # unmounted, and the folder gone
        assert not os.path.exists(path), path
    assert 'the host at %s follows the mach rules' % mnt.path in out
    lines = out.splitlines()
    head = lines.index(next(l for l in lines if l.startswith('command ')))
    assert lines[head].split() == ['command', 'mach', 'gnu', 'xnu']
    rows = {}
    for line in lines[head + 1:]:
        if not line:
            break
        rows[line[:40].strip()] = [line[41 + 27 * i:41 + 27 * i + 26].strip() for i in range(3)]
    addr = 'address 0x0000000000020000'
    assert rows == {
        'protect 0x10000 0x3000 r-- (a hole)':
            ['KERN_INVALID_ADDRESS', 'ok', 'KERN_INVALID_ADDRESS'],
        'wire 0x10000 0x3000 r-- (a hole)':
            ['KERN_FAILURE', 'KERN_NO_SPACE', 'KERN_INVALID_ADDRESS'],
        'region 0x13000 (past the last)':
            ['KERN_NO_SPACE', 'KERN_NO_SPACE', 'KERN_INVALID_ADDRESS'],
        'wired after wiring r-- then rw-': ['wired 2', 'wired 1', 'wired 2'],
        'copy 0x11000 16 0x10000 (page 1 r--)':
            ['KERN_PROTECTION_FAILURE', 'KERN_INVALID_ARGUMENT', 'KERN_INVALID_ADDRESS'],
        'read 12K at 0x10000 (a hole inside)': ['4096 bytes', 'error', 'error'],
        'remap src=T:0x10000 size=4K at=0x20000': [addr, 'MIG_BAD_ID', addr],
        'allocate anywhere 8K (holes 1,3,2 pages)':
            ['0x0000000000004000', '0x0000000000008000', '0x0000000000004000'],
        '16K, protect page 2 r-- then rw- again': ['1 regions', '1 regions', '3 regions'],
        'write 5 bytes into mem at 0x10800': ['ok', 'KERN_INVALID_ARGUMENT', 'ok'],
        'r--/r--, protect rw-|VM_PROT_COPY': ['r--/r--', 'r--/r--', 'rw-/rw-'],
    }, rows
    assert lines[-1].startswith('shown: the same commands on three hosts')


def check_batch(mnt, out):
    t = int(re.search(r'^task (\d+)', out, re.M).group(1))
    assert after(out, r'allocate anywhere 4K', NAME) == ['0x0000000000001000']
    assert out.count('-> refused') == 1
    assert 'No space left on device' in out
    [last] = after(out, r'cat tasks/%d/last_error' % t, r'^KERN_')
    assert last.startswith('KERN_NO_SPACE: tasks/%d/ctl: vm_allocate(' % t)
    assert last.endswith("(line 3 of 3; the 2 lines before it were undone)")
    assert after(out, r'dd if=tasks/\d+/mem') == ['shared bytes']
    before, now = all_after(out, r'cat tasks/%d/maps' % t, MAPS)
    assert before == now and len(before) == 2
    assert mnt.maps(t) == now


CHECKS = {
    'personalities.sh': check_personalities,
    'batch.sh': check_batch,
    'graph-story.sh': check_graph_story,
    'objects.sh': check_objects,
    'events.sh': check_events,
    'tour.sh': check_tour,
    'fork_inheritance.sh': check_fork_inheritance,
    'protection.sh': check_protection,
    'wiring.sh': check_wiring,
    'attributes.sh': check_attributes,
    'remap.sh': check_remap,
    'walk_regions.sh': check_walk_regions,
    'cow_chains.sh': check_cow_chains,
}


@pytest.mark.parametrize('name', SCRIPTS)
def test_example(mnt, name):
    out = run(mnt, name)
    assert out.count('\n$ ') + out.startswith('$ ') >= 3, 'the example should show its commands'
    last = out.rstrip('\n').split('\n')[-1]
    assert SHOWN.match(last), '%s: the last line should say what it showed: %r' % (name, last)
    assert out.count('\nshown: ') == 1
    assert unlabelled_errors(out) == [], '%s: failures not labelled "(expected: ...)"' % name
    CHECKS[name](mnt, out)


def test_unlabelled_errors_are_found():
    out = '\n'.join([
        '$ echo rw- > tasks/1/regions/0x10000/protection',
        'bash: echo: write error: Permission denied',
        '  -> refused (expected: the maximum is r--)',
        '$ cat tasks/1/last_error',
        'KERN_PROTECTION_FAILURE: tasks/1/ctl: vm_protect(...) failed: ..., got \'rw-\'',
        '$ dd if=tasks/2/mem',
        "dd: error reading 'tasks/2/mem': Bad address",
        '  task 2 page 0x12000: Bad address (expected: a hole)',
        '$ echo wire 0x10000 4K none > tasks/1/ctl',
        'bash: echo: write error: Invalid argument',
        '  -> refused',
        '$ cat tasks/1/last_error',
        'KERN_INVALID_ARGUMENT: tasks/1/ctl: vm_wire(...) failed, got \'x\'',
    ])
    assert unlabelled_errors(out) == [
        "dd: error reading 'tasks/2/mem': Bad address",
        'bash: echo: write error: Invalid argument', '  -> refused',
        "KERN_INVALID_ARGUMENT: tasks/1/ctl: vm_wire(...) failed, got 'x'"]
# ---- examples/python_api.py: the Python package ---------------------------------

PYTHON_EXAMPLE = os.path.join(EXAMPLES, 'python_api.py')


def check_python_api(out, last_error):
    lines = out.splitlines()
    assert lines[-1].startswith('shown: ') and 'fork with copy-on-write' in lines[-1]
    t, a = re.search(r'^task (\d+), allocated at (0x[0-9a-f]+)$', out, re.M).groups()
    assert a == '0x10000'
    assert "task %s reads b'parent data'" % t in lines
    c = re.search(r'^fork: task (\d+), parent %s, share_mode cow$' % t, out, re.M).group(1)
    assert "after the child writes CHILD: parent reads b'parent data', " \
           "child reads b'CHILDt data'" in lines
    assert "remap into task %s at 0x100000 (rw-): parent reads " \
           "b'written through the remap'" % c in lines
    regions = [l.split() for l in lines if l.startswith('  task %s region ' % c)]
    assert [r[3] for r in regions] == ['0x0000000000010000-0x0000000000012000',
                                       '0x0000000000100000-0x0000000000101000']
    assert regions[1][5] == 'trueshared'
    assert 'refused: KERN_NO_SPACE (errno 28)' in lines
    assert 'last_error: ' + last_error in lines
    return lines


def test_python_example_on_a_mount(mnt):
    with open(PYTHON_EXAMPLE) as f:
        text = f.read()
    assert text.startswith('#!/usr/bin/python3\n"""python_api.py - ')
    assert 'examples/python_api.py /tmp/mvm' in text and os.access(PYTHON_EXAMPLE, os.X_OK)
    r = subprocess.run([PYTHON_EXAMPLE, mnt.path], capture_output=True, text=True, timeout=120,
                       cwd='/')
    assert r.returncode == 0, r.stdout + r.stderr
    check_python_api(r.stdout, mnt.last_error(1).rstrip('\n'))
    assert mnt.task_ids() == [1, 2]


def test_python_example_mounts_its_own_host():
    from fsmount import _mounted, daemon_path
    env = dict(os.environ, MACHVMFS_DAEMON=daemon_path())
    r = subprocess.run([PYTHON_EXAMPLE], capture_output=True, text=True, timeout=120, cwd='/',
                       env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    path, program = re.match(r'mounted at (\S+) \((\S+)\)\n', r.stdout).groups()
    assert program == daemon_path()
    lines = check_python_api(r.stdout, "KERN_NO_SPACE: tasks/1/ctl: vm_allocate(task 1, 0x10000, "
                                       "4096, fixed) failed: [0x10000, 0x11000) overlaps the region "
                                       "[0x10000, 0x12000) of task 1, got "
                                       "'allocate 0x10000 0x1000'")
    assert lines[-2] == 'unmounted: True'
    assert not _mounted(path) and not os.path.exists(path)


# ---- examples/two_hosts.c: hosts as values, through the library ------------------

C_EXAMPLE = os.path.join(EXAMPLES, 'two_hosts.c')
# What the variant's objects were built with: the program links with the same.
SANITIZE = {'asan': ['-fsanitize=address,undefined'], 'tsan': ['-fsanitize=thread']}


def test_two_hosts_example(tmp_path):
    from machvm_paths import build_dir, variant
    with open(C_EXAMPLE) as f:
        text = f.read()
    assert text.startswith('/*\n * two_hosts.c - ') and './two_hosts' in text
    prog = str(tmp_path / 'two_hosts')
    subprocess.run(['gcc', '-std=c11', '-Wall', '-Wextra', '-Werror',
                    '-I', os.path.join(ROOT, 'include'), C_EXAMPLE,
                    os.path.join(build_dir(), 'libmachvm.a'), '-lpthread', '-o', prog]
                   + SANITIZE.get(variant(), []), check=True)
    r = subprocess.run([prog], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == '', r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        'host A (mach, page size 4096): task 1, 1 byte allocated at 0x1000, '
        'region [0x1000, 0x2000) of 4096 bytes',
        'host B (xnu, page size 16384): task 1, 1 byte allocated at 0x4000, '
        'region [0x4000, 0x8000) of 16384 bytes',
        "host A: task 1 reads 'm' at 0x1000",
        "host B: task 1 reads 'x' at 0x4000",
        'host B: task 1 reads nothing at 0x1000 -> refused (expected: KERN_INVALID_ADDRESS, '
        "another host's task 1 has it)",
        'shown: two hosts in one process, each with its own task 1, page size and personality']
