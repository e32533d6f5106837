"""tools/machvm-graph: draws host/graph.dot, or the graph.dot of the tasks
named, with dot; its pictures hold exactly the nodes and edges of the files
they are drawn from, and it says clearly what is wrong (no mount, no such
task, no dot, a bad name)."""
import os
import shutil
import subprocess

import pytest

from graphs import svg_graph
from machvm_paths import ROOT

TOOL = os.path.join(ROOT, 'tools', 'machvm-graph')
A = 0x10000

pytestmark = pytest.mark.skipif(shutil.which('dot') is None,
                                reason='graphviz (dot) is not installed')


def tool(*args, env=None):
    return subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=120, env=env, cwd='/')


def dot_graph(text):
    """The nodes and edges a graph.dot text defines (one statement a line,
    fs_layout.md)."""
    nodes, edges = set(), set()
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == '->':
            edges.add((words[0], words[2].rstrip(';')))
        elif len(words) >= 2 and words[1].startswith('['):
            nodes.add(words[0])
    return nodes, edges


@pytest.fixture
def story(mnt):
    """Three tasks: a parent, its forked child that wrote (a shadow), and an
    unrelated one."""
    t = mnt.create_task()
    mnt.allocate(t, A, 16384)
    mnt.mem_write(t, A, b'parent')
    c = mnt.fork(t)
    mnt.mem_write(c, A + 4096, b'child')
    u = mnt.create_task()
    mnt.allocate(u, 0x40000, 4096)
    mnt.mem_write(u, 0x40000, b'other')
    return mnt, (t, c, u)


def test_help():
    r = tool('--help')
    assert r.returncode == 0 and r.stderr == ''
    assert 'MOUNTPOINT' in r.stdout and '-o FILE' in r.stdout and '.svg' in r.stdout


def test_every_task_by_default(story, tmp_path):
    mnt, (t, c, u) = story
    out = tmp_path / 'all.svg'
    r = tool(mnt.path, '-o', out)
    assert r.returncode == 0 and r.stderr == '' and r.stdout == '', r
    nodes, edges = svg_graph(out)
    assert (nodes, edges) == dot_graph(mnt.read('host/graph.dot'))
    assert {'task_%d' % t, 'task_%d' % c, 'task_%d' % u} <= nodes
    assert ('entry_%d_0x%016x' % (c, A), 'task_%d' % c) not in edges
    assert ('task_%d' % c, 'entry_%d_0x%016x' % (c, A)) in edges


def test_tasks_named_png_and_svg(story, tmp_path):
    mnt, (t, c, u) = story
    png = tmp_path / 'one.png'
    r = tool(mnt.path, c, '-o', png)
    assert r.returncode == 0 and r.stderr == '', r
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    out = tmp_path / 'two.svg'
    r = tool(mnt.path, t, c, '-o', out)
    assert r.returncode == 0 and r.stderr == '', r
    nodes, edges = svg_graph(out)
    want_nodes, want_edges = set(), set()
    for task in (t, c):
        n, e = dot_graph(mnt.read('tasks/%d/graph.dot' % task))
        want_nodes |= n
        want_edges |= e
    assert (nodes, edges) == (want_nodes, want_edges)
    assert 'task_%d' % u not in nodes and 'task_%d' % t in nodes


def test_errors(story, tmp_path):
    mnt, (t, c, u) = story
    out = tmp_path / 'x.svg'
    r = tool(tmp_path, '-o', out)
    assert r.returncode == 1 and 'not a machvmfs mount' in r.stderr
    r = tool('/', '-o', out)                          # a mount, of another kind
    assert r.returncode == 1 and 'not a machvmfs mount' in r.stderr
    r = tool(mnt.p('tasks'), '-o', out)               # inside it is not the mount point
    assert r.returncode == 1 and 'not a machvmfs mount' in r.stderr
    r = tool(tmp_path / 'nowhere', '-o', out)
    assert r.returncode == 1 and 'no such directory' in r.stderr
    r = tool(mnt.path, 99, '-o', out)
    assert r.returncode == 1 and 'no task 99 in ' in r.stderr
    mnt.terminate(u)
    r = tool(mnt.path, t, u, '-o', out)
    assert r.returncode == 1 and 'no task %d in ' % u in r.stderr
    r = tool(mnt.path, 'x1', '-o', out)
    assert r.returncode == 2 and 'decimal' in r.stderr
    r = tool(mnt.path, '-o', tmp_path / 'x.gif')
    assert r.returncode == 2 and '.svg or .png' in r.stderr
    r = tool(mnt.path)
    assert r.returncode == 2 and '-o' in r.stderr
    nodot = tmp_path / 'bin'
    nodot.mkdir()
    r = tool(mnt.path, '-o', out, env=dict(os.environ, PATH=str(nodot)))
    assert r.returncode == 1 and 'dot not found' in r.stderr and 'graphviz' in r.stderr
    assert not out.exists()
