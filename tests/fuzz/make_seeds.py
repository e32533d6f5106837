#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzing harnesses (tests/fuzz/corpus/).

The ctl and parse seeds are command lines and values as fs_layout.md gives
them, framed as the harnesses read them (a selector byte or two, then the
text).  The state seeds are state files saved by the daemon itself: run with
--state-from BUILD (a build folder holding machvmfs), it mounts one, makes a
few tasks with data, forks and shares, saves, and keeps the file.

    python3 tests/fuzz/make_seeds.py [--state-from build/debug]
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, 'corpus')

# fuzz_ctl.c's targets, by index.
TASKS_CTL, PARENT_CTL, CHILD_CTL, PARENT_REMAP, CHILD_REMAP, SAVE = range(6)
PROTECTION, MAX_PROTECTION, INHERITANCE, WIRED, ATTR = range(6, 11)
CHILD_PROTECTION, CHILD_ATTR = 11, 12

CTL = [
    (TASKS_CTL, 'create\n'),
    (TASKS_CTL, 'fork 1\n'),
    (TASKS_CTL, 'terminate 2\n'),
    (TASKS_CTL, 'create\nfork 1\nfork 2\nterminate 3\n'),
    (PARENT_CTL, 'allocate 0x40000 16K\n'),
    (PARENT_CTL, 'allocate anywhere 8K\n'),
    (PARENT_CTL, 'deallocate 0x10000 4K\n'),
    (PARENT_CTL, 'protect 0x11000 4K r--\n'),
    (PARENT_CTL, 'protect 0x10000 16K VM_PROT_READ|VM_PROT_EXECUTE max\n'),
    (PARENT_CTL, 'inherit 0x10000 8K share\n'),
    (PARENT_CTL, 'map_inherit 0x10000 0x22000 none\n'),
    (PARENT_CTL, 'wire 0x10000 4K rw-\n'),
    (PARENT_CTL, 'wire 0x10000 4K none\n'),
    (PARENT_CTL, 'attr 0x10000 4K cache get\n'),
    (PARENT_CTL, 'attr 0x10000 16K MATTR_CACHE MATTR_VAL_CACHE_FLUSH\n'),
    (PARENT_CTL, 'copy 0x10000 8K 0x20000\n'),
    (PARENT_CTL, 'allocate 0x40000 16K\nprotect 0x41000 4K r--\ncopy 0x10000 4K 0x43000\n'
                 'deallocate 0x40000 8K\n'),
    (CHILD_CTL, 'protect 0x10000 4K ---\ninherit 0x10000 16K none\n'),
    (CHILD_CTL, 'remap src=1:0x12000 size=4K at=0x100000 share\n'),
    (PARENT_REMAP, 'src=2:0x10000 size=4K copy\n'),
    (CHILD_REMAP, 'src=1:0x12000 size=4K at=0x100000 share\n'),
    (CHILD_REMAP, 'src=1:0x10000 size=16K anywhere=0x200000 mask=0xffff inherit=none\n'),
    (SAVE, 'save\n'),
    (PROTECTION, 'r--\n'),
    (PROTECTION, 'rw-\n'),
    (MAX_PROTECTION, 'r-x\n'),
    (INHERITANCE, 'share\n'),
    (INHERITANCE, 'VM_INHERIT_NONE\n'),
    (WIRED, 'rw-\n'),
    (WIRED, '0\n'),
    (ATTR, 'cache flush\n'),
    (ATTR, 'cache get\n'),
    (CHILD_PROTECTION, '5\n'),
    (CHILD_ATTR, 'migrate on\n'),
]

# fuzz_parse.c's parsers, by index.
PARSE = [
    (0, '0x10000'), (0, '18446744073709551615'), (0, '18446744073709551616'), (0, '0X1f'),
    (1, '16K'), (1, '0x10K'), (1, '4G'), (1, '17179869183G'),
    (2, '1'), (2, '4294967295'), (2, '4294967296'),
    (3, 'r-x'), (3, 'rw'), (3, 'none'), (3, '7'), (3, 'VM_PROT_READ | VM_PROT_WRITE'),
    (3, 'rwz'),
    (4, 'share'), (4, 'VM_INHERIT_DEFAULT'), (4, '2'),
    (5, 'cache'), (5, 'MATTR_VAL_ICACHE_FLUSH'), (5, 'dcache_flush'),
    (6, '12'), (6, '012'), (6, '0x0000000000010000'), (6, '10000'),
    (7, 'src=1:0x12000 size=4K at=0x100000 share'),
    (7, ' src=1:0x10000  size=16K anywhere=0x200000 mask=0xffff copy inherit=none '),
    (7, 'src=1:0x10000 size=4K at=0x1000 anywhere'),
    (8, '4096'), (8, '16K'), (8, '65536'), (8, '3000'), (8, '128K'),
]


def write(name, index, blob):
    folder = os.path.join(CORPUS, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'seed-%03d' % index), 'wb') as f:
        f.write(blob)


def fill(p, scenario):
    """Makes the host of a scenario in the mount at p."""
    def put(path, text):
        with open(os.path.join(p, path), 'w') as f:
            f.write(text)
    if scenario == 0:
        return
    put('tasks/ctl', 'create\n')
    put('tasks/1/ctl', 'allocate 0x10000 16K\nallocate 0x20000 8K\n')
    if scenario == 1:
        put('tasks/1/ctl', 'protect 0x11000 4K r--\n')
        put('tasks/ctl', 'fork 1\n')
        return
    with open(os.path.join(p, 'tasks/1/mem'), 'r+b') as f:
        f.seek(0x10000)
        f.write(b'parent')
    put('tasks/1/regions/0x0000000000020000/inheritance', 'share\n')
    put('tasks/ctl', 'fork 1\n')
    with open(os.path.join(p, 'tasks/2/mem'), 'r+b') as f:
        f.seek(0x10000)
        f.write(b'child!')
    put('tasks/2/remap', 'src=1:0x11000 size=4K at=0x100000 share\n')
    put('tasks/1/ctl', 'protect 0x11000 4K r--\nattr 0x10000 4K cache off\n')


def state_seed(build, scenario):
    """A state file saved by the daemon at unmount, as bytes: of an empty
    host (0), of tasks without data (1), of tasks with data, a fork and
    sharing (2)."""
    sys.path.insert(0, os.path.dirname(HERE))
    os.environ['MACHVM_BUILD'] = os.path.abspath(build)
    from fsmount import Mount
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, 'host.json')
        m = Mount(options=['state=' + state]).start()
        try:
            fill(m.path, scenario)
        finally:
            m.close()
        with open(state, 'rb') as f:
            return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--state-from', metavar='BUILD')
    args = ap.parse_args()
    for i, (target, text) in enumerate(CTL):
        write('fuzz_ctl', i, bytes([target, 0]) + text.encode())
    for i, (parser, text) in enumerate(PARSE):
        write('fuzz_parse', i, bytes([parser]) + text.encode())
    if args.state_from:
        for scenario in range(3):
            write('fuzz_state', scenario, state_seed(args.state_from, scenario))


if __name__ == '__main__':
    main()
