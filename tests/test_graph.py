"""host/graph.dot and tasks/<id>/graph.dot, through the fork / copy-on-write /
collapse / share / remap / wire stories and a task's death.  Every picture
is rendered with the real `dot` (which must say nothing on stderr) and read
back through `dot -Tjson`; its nodes, edges and styles are then checked
against what the other files say at the same moment: maps.json for the
entries (needs_copy: a dashed edge, wired: a bold node and a thick edge,
shared: a filled object), objects/<id>/chain for the shadow links, and
objects/<id>/{resident_pages,ref_count} for the objects' labels."""
import errno
import json
import os
import shutil
import subprocess

import pytest

from fsmount import fails

P = 4096
A = 0x10000
RDIR = '0x%016x' % A

pytestmark = pytest.mark.skipif(shutil.which('dot') is None,
                                reason='graphviz (dot) is not installed')


def poke(mnt, task, addr, data):
    fd = os.open(mnt.tp(task, 'mem'), os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, addr) == len(data)
    finally:
        os.close(fd)


def dot(text, fmt):
    r = subprocess.run(['dot', '-T' + fmt], input=text, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stderr == '', 'dot -T%s: %d %r' % (fmt, r.returncode,
                                                                      r.stderr)
    return r.stdout


def parse(text):
    """(nodes {name: attributes}, edges {(tail, head): attributes}) as dot
    itself reads the text; it must render to SVG without a word."""
    assert '<svg' in dot(text, 'svg')
    g = json.loads(dot(text, 'json'))
    objs = g.get('objects', [])
    names = {o['_gvid']: o['name'] for o in objs}
    nodes = {o['name']: o for o in objs}
    edges = {}
    for e in g.get('edges', []):
        key = (names[e['tail']], names[e['head']])
        assert key not in edges, 'edge %s twice' % (key,)
        edges[key] = e
    return nodes, edges, g


def graph(mnt, rel):
    return parse(mnt.read(rel))


def label(node):
    return node['label'].split('\\n')


def expected(mnt, tasks):
    """The nodes and edges the picture of these tasks must hold, from the
    other files: {node: style}, {(tail, head): style}."""
    nodes, edges = {}, {}
    shared = set()
    for t in mnt.task_ids():
        for r in json.loads(mnt.read('tasks/%d/maps.json' % t)):
            if r['shared'] and r['object'] is not None:
                shared.add(r['object'])
    reached = set()
    for t in tasks:
        nodes['task_%d' % t] = 'rounded'
        for r in json.loads(mnt.read('tasks/%d/maps.json' % t)):
            e = 'entry_%d_%s' % (t, r['start'])
            nodes[e] = 'bold' if r['wired'] else 'solid'
            edges[('task_%d' % t, e)] = None
            if r['object'] is None:
                continue
            edges[(e, 'object_%d' % r['object'])] = (
                'dashed' if r['needs_copy'] else 'solid', '3' if r['wired'] else None)
            chain = [l.split() for l in mnt.read('tasks/%d/regions/%s/chain'
                                                 % (t, r['start'])).splitlines()]
            assert int(chain[0][1]) == r['object']
            for upper, lower in zip(chain, chain[1:]):
                edges[('object_' + upper[1], 'object_' + lower[1])] = ('dotted', None)
            reached |= {int(l[1]) for l in chain}
    for o in reached:
        nodes['object_%d' % o] = 'filled' if o in shared else 'solid'
    return nodes, edges


def check(mnt, rel, tasks):
    """The picture at rel shows exactly these tasks; returns its nodes."""
    nodes, edges, _ = graph(mnt, rel)
    want_nodes, want_edges = expected(mnt, tasks)
    assert {n: nodes[n].get('style') for n in nodes} == want_nodes
    got = {}
    for k, e in edges.items():
        if k[0].startswith('task_'):
            got[k] = None
        else:
            got[k] = (e.get('style'), e.get('penwidth'))
    assert got == want_edges
    for n, node in nodes.items():
        if n.startswith('object_'):
            oid = n[len('object_'):]
            lines = label(node)
            assert lines[0] == 'object ' + oid
            d = 'objects/%s/' % oid
            assert 'size ' + mnt.read(d + 'size').strip() in lines
            assert 'resident ' + mnt.read(d + 'resident_pages').strip() in lines
            assert 'refs ' + mnt.read(d + 'ref_count').strip() in lines
            if node.get('style') == 'filled':
                assert node['fillcolor'] == 'lightblue'
    return nodes


def check_all(mnt):
    ids = mnt.task_ids()
    for t in ids:
        check(mnt, 'tasks/%d/graph.dot' % t, [t])
    return check(mnt, 'host/graph.dot', ids)


def objects(mnt):
    return sorted(int(n) for n in os.listdir(mnt.p('objects')))


def test_empty_host_and_empty_task(mnt):
    nodes, edges, _ = graph(mnt, 'host/graph.dot')
    assert nodes == {} and edges == {}
    t = mnt.create_task()
    assert check_all(mnt).keys() == {'task_%d' % t}
    mnt.allocate(t, A, 1 << 30)                       # untouched: no object
    nodes = check_all(mnt)
    assert 'no object yet' in label(nodes['entry_%d_%s' % (t, RDIR)])
    fails(errno.EACCES, os.open, mnt.p('host/graph.dot'), os.O_WRONLY)
    fails(errno.EACCES, os.open, mnt.tp(t, 'graph.dot'), os.O_WRONLY)


def test_fork_cow_collapse_story(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)
    poke(mnt, t, A, b'page0')
    [x] = objects(mnt)
    check_all(mnt)
    c = mnt.fork(t)
    _, edges, _ = graph(mnt, 'host/graph.dot')
    for task in (t, c):                            # both map x copy-on-write
        assert edges[('entry_%d_%s' % (task, RDIR), 'object_%d' % x)]['style'] == 'dashed'
    check_all(mnt)
    poke(mnt, c, A + P, b'child')                  # a shadow in front of x
    [_, y] = objects(mnt)
    nodes, edges, _ = graph(mnt, 'tasks/%d/graph.dot' % c)
    assert edges[('object_%d' % y, 'object_%d' % x)]['style'] == 'dotted'
    assert ('entry_%d_%s' % (c, RDIR), 'object_%d' % y) in edges
    assert 'task_%d' % t not in nodes
    check_all(mnt)
    poke(mnt, t, A + 3 * P, b'parent')             # x only shadowed now
    check_all(mnt)
    [z] = [i for i in objects(mnt) if i not in (x, y)]

    # The child dies: y goes, x collapses into z; the picture follows, and
    # the child's picture kept open says ESRCH, as every file of a dead task.
    fd = os.open(mnt.tp(c, 'graph.dot'), os.O_RDONLY)
    hfd = os.open(mnt.p('host/graph.dot'), os.O_RDONLY)
    try:
        assert b'object_%d ' % y in os.pread(fd, 1 << 20, 0)
        before = os.pread(hfd, 1 << 20, 0)
        mnt.terminate(c)
        fails(errno.ESRCH, os.pread, fd, 1 << 20, 0)
        assert os.pread(hfd, 1 << 20, 0) == before     # the host's: the text it had
    finally:
        os.close(fd)
        os.close(hfd)
    fails(errno.ENOENT, os.stat, mnt.tp(c, 'graph.dot'))
    nodes = check_all(mnt)
    assert {n for n in nodes if n.startswith('object_')} == {'object_%d' % z}
    assert not any(n.startswith('task_%d' % c) or n.startswith('entry_%d_' % c)
                   for n in nodes)


def test_share_remap_and_wire_story(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 4 * P)
    mnt.write('tasks/%d/regions/%s/inheritance' % (t, RDIR), 'share\n')
    poke(mnt, t, A, b'shared')
    c = mnt.fork(t)
    [x] = objects(mnt)
    nodes = check_all(mnt)
    assert nodes['object_%d' % x]['style'] == 'filled'
    # the child's own picture still tells x is shared
    nodes, _, _ = graph(mnt, 'tasks/%d/graph.dot' % c)
    assert nodes['object_%d' % x]['style'] == 'filled'

    u = mnt.create_task()
    mnt.remap(u, 'src=%d:0x%x size=8K at=0x40000 copy' % (t, A))
    check_all(mnt)
    poke(mnt, u, 0x40000, b'mine')
    check_all(mnt)
    mnt.remap(u, 'src=%d:0x%x size=4K at=0x80000 share' % (c, A))
    check_all(mnt)
    mnt.ctl(u, 'wire 0x80000 4K rw-')
    nodes, edges, _ = graph(mnt, 'tasks/%d/graph.dot' % u)
    w = 'entry_%d_0x%016x' % (u, 0x80000)
    assert nodes[w]['style'] == 'bold' and 'wired 1' in label(nodes[w])
    assert edges[(w, 'object_%d' % x)]['penwidth'] == '3'
    check_all(mnt)
    mnt.terminate(c)
    mnt.terminate(u)
    nodes = check_all(mnt)
    assert {n for n in nodes if not n.startswith('object_')} == {
        'task_%d' % t, 'entry_%d_%s' % (t, RDIR)}


def test_many_entries_are_cut_and_said(mnt):
    t = mnt.create_task()
    n = 2003                                       # FS_GRAPH_MAX_ENTRIES + 3
    mnt.write(mnt.tp(t, 'ctl')[len(mnt.path) + 1:],
              ''.join('allocate 0x%x 4K\n' % (A + 2 * P * i) for i in range(n)))
    u = mnt.create_task()
    mnt.allocate(u, A, P)
    assert len(json.loads(mnt.read('tasks/%d/maps.json' % t))) == n
    text = mnt.read('host/graph.dot')
    assert text.count(' -> entry_%d_' % t) == 2000
    assert text.count(' -> entry_%d_' % u) == 0
    assert 'more_%d [shape=note, label="3 more entries not drawn"]' % t in text
    assert 'more_%d [shape=note, label="1 more entry not drawn"]' % u in text
    assert 'label="truncated: 2000 of 2004 entries drawn"' in text
    assert 'entry_%d_0x%016x ' % (t, A + 2 * P * 1999) in text
    assert 'entry_%d_0x%016x ' % (t, A + 2 * P * 2000) not in text
    # A task's own picture is cut the same way, on its own.
    mine = mnt.read('tasks/%d/graph.dot' % u)
    assert 'truncated' not in mine and 'more_' not in mine
    nodes, edges, _ = parse(mine)
    assert ('task_%d' % u, 'entry_%d_%s' % (u, RDIR)) in edges
