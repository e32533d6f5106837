"""fs_layout.md and the daemon's tables must not drift apart.

`machvmfs --dump-layout` prints the file table and the command table the
daemon really serves; fs_layout.md carries the same text in its one fenced
```layout block.  Any change to the tree (a row, a mode, a handler, a verb or
its usage) must be made in both places, or this test fails.
"""
import os
import re
import subprocess

from machvm_paths import ROOT, build_dir

LAYOUT_DOC = os.path.join(ROOT, 'fs_layout.md')
BLOCK = re.compile(r'^```layout\n(.*?)^```$', re.S | re.M)


def dump_layout():
    daemon = os.path.join(build_dir(), 'machvmfs')
    assert os.access(daemon, os.X_OK), 'no daemon at %s: build it first' % daemon
    proc = subprocess.run([daemon, '--dump-layout'], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == '', proc.stderr
    return proc.stdout


def documented_layout():
    with open(LAYOUT_DOC) as f:
        blocks = BLOCK.findall(f.read())
    assert len(blocks) == 1, 'fs_layout.md must hold exactly one ```layout block, has %d' % len(blocks)
    return blocks[0]


def test_dump_layout_matches_fs_layout_md():
    dumped, documented = dump_layout(), documented_layout()
    assert dumped == documented, (
        'machvmfs --dump-layout differs from the ```layout block of fs_layout.md;\n'
        'update the block with: %s/machvmfs --dump-layout' % build_dir())


def sections():
    """The dump's file lines and command lines, split at its '# ' headers."""
    out = {}
    current = None
    for line in dump_layout().splitlines():
        if line.startswith('# '):
            current = line[2:].split(':')[0]
            out[current] = []
        else:
            assert current, 'a line before any header: %r' % line
            out[current].append(line.split())
    assert set(out) == {'files', 'commands'}, set(out)
    return out


def test_dump_layout_lists_the_contract_tree():
    rows = sections()['files']
    paths = [r[0] for r in rows]
    assert len(paths) == len(set(paths)), 'a path listed twice'
    paths = set(paths)
    region = 'tasks/<id>/regions/<start>/'
    want = {'/', 'host/', 'host/page_size', 'host/stats', 'host/personality', 'host/save',
            'host/events', 'tasks/',
            'tasks/ctl', 'tasks/last_error', 'tasks/<id>/', 'tasks/<id>/regions/', region}
    want |= {'tasks/<id>/' + f for f in ('ctl', 'parent', 'status', 'last_error', 'maps',
                                         'maps.json', 'mem', 'remap', 'events')}
    want |= {region + f for f in ('start', 'end', 'size', 'protection', 'max_protection',
                                  'inheritance', 'wired', 'attr', 'shared', 'needs_copy',
                                  'share_mode',
                                  'object', 'offset', 'info', 'chain')}
    want |= {'tasks/<id>/pagemap', 'objects/', 'objects/<object>/'}
    want |= {'host/graph.dot', 'tasks/<id>/graph.dot'}
    want |= {'objects/<object>/' + f for f in ('size', 'resident_pages', 'ref_count', 'shadow',
                                               'shadow_offset', 'shadowed_by', 'mapped_by',
                                               'pages', 'chain')}
    assert paths == want


def test_modes_follow_writability():
    for r in sections()['files']:
        path, mode, read, write = r[0], r[1], r[2], r[3]
        if path.endswith('/'):
            assert mode == '0755', r
        elif write != '-' or 'data' in r[4:]:
            assert mode == '0644', r
        else:
            assert mode == '0444' and read != '-', r


def test_dump_layout_lists_every_contract_verb():
    verbs = {(r[0], r[1]) for r in sections()['commands']}
    want = {('tasks/ctl', v) for v in ('create', 'fork')}
    want |= {('tasks/<id>/ctl', v) for v in ('allocate', 'deallocate', 'protect', 'inherit',
                                             'map_inherit', 'wire', 'attr', 'copy', 'region')}
    assert want <= verbs, want - verbs
