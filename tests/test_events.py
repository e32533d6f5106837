"""host/events and tasks/<id>/events: one line per engine call, watched as a
growing log file.

Each test mounts the real filesystem and reads the events files the way a
user would: cat, a second reader, tail -f and tail -F, poll(2), a reader that
falls behind the window.  The lines are checked against the calls made and
against maps.json, so the stream cannot disagree with the tree.
"""
import errno
import os
import re
import select
import subprocess
import threading
import time

import pytest

from fsmount import daemon_path, fails, hx
from test_lifecycle import _refused_mount

LINE = re.compile(r'^(\d+) (\S+) task=(\S+)((?: [a-z_]+=\S+)*) kr=(KERN_[A-Z_]+) changes=(\S+)$')


def parse(text):
    """The events text -> a list of dicts (seq, call, task, args, kr, changes)."""
    out = []
    for line in text.splitlines():
        if line.startswith('# '):
            out.append({'missed': line})
            continue
        m = LINE.match(line)
        assert m, 'not an events line: %r' % line
        args = dict(kv.split('=', 1) for kv in m.group(4).split())
        out.append({'seq': int(m.group(1)), 'call': m.group(2), 'task': m.group(3),
                    'args': args, 'kr': m.group(5),
                    'changes': [] if m.group(6) == '-' else m.group(6).split(',')})
    return out


def events(m, task=None):
    return parse(m.read('host/events' if task is None else 'tasks/%d/events' % task))


def last(m, task=None):
    return events(m, task)[-1]


def test_each_kind_of_call_is_a_line(mnt):
    m = mnt
    t = m.create_task()
    e = last(m)
    assert (e['call'], e['task'], e['args'], e['kr']) == \
        ('task_create', str(t), {'parent': 'none', 'inherit_memory': 'FALSE'}, 'KERN_SUCCESS')
    assert e['changes'] == ['task_created:%d*0' % t]

    m.allocate(t, 0x10000, 4 * m.P)
    e = last(m)
    assert e['call'] == 'vm_allocate' and e['kr'] == 'KERN_SUCCESS'
    assert e['args']['range'] == '0x10000-0x14000'
    assert e['changes'] == ['added:0x10000-0x14000']

    # The middle page: two clips and the attributes of the piece.
    m.ctl(t, 'protect 0x11001 1 r--')
    e = last(m)
    assert e['call'] == 'vm_protect' and e['args']['address'] == '0x11001'
    assert e['args']['range'] == '0x11000-0x12000', 'rounded as the engine saw it'
    assert e['changes'] == ['split@0x11000', 'split@0x12000', 'attributes:0x11000-0x12000']
    assert m.region_starts(t) == [0x10000, 0x11000, 0x12000]

    # And back: the boundaries it made go again.
    m.ctl(t, 'protect 0x11000 4K rw-')
    e = last(m)
    gone = {c.split('@')[1] for c in e['changes'] if c.startswith(('merged@', 'moved@'))}
    assert {'0x11000', '0x12000'} <= {g.split('>')[0] for g in gone}, e
    assert m.region_starts(t) == [0x10000]

    m.ctl(t, 'inherit 0x10000 4K share')
    assert last(m)['call'] == 'vm_inherit'
    m.ctl(t, 'map_inherit 0x10000 0x11000 copy')
    e = last(m)
    assert e['call'] == 'vm_map_inherit' and e['args']['end'] == '0x11000'
    m.ctl(t, 'wire 0x10000 4K rw-')
    e = last(m)
    assert e['call'] == 'vm_wire' and e['args']['host_priv'] == 'TRUE'
    assert any(c.startswith('object_created:') for c in e['changes'])
    m.ctl(t, 'wire 0x10000 4K none')
    m.ctl(t, 'attr 0x10000 4K cache flush')
    e = last(m)
    assert e['call'] == 'vm_machine_attribute' and e['args']['value'] == 'flush'
    assert m.ctl(t, 'attr 0x10000 4K cache get') == 'on'
    assert last(m)['args']['value_out'] == 'on'
    m.mem_write(t, 0x10000, b'hello')
    e = last(m)
    assert e['call'] == 'vm_write' and e['args']['count'] == '5'
    assert 'contents:0x10000-0x10005' in e['changes']
    m.ctl(t, 'copy 0x10000 5 0x12000')
    e = last(m)
    assert e['call'] == 'vm_copy' and 'contents:0x12000-0x12005' in e['changes']

    c = m.fork(t)
    e = last(m)
    assert (e['call'], e['task'], e['args']['parent']) == ('task_create', str(c), str(t))
    assert 'task_created:%d*%d' % (c, len(m.regions(c))) in e['changes']

    out = m.remap(c, 'src=%d:0x10000 size=4K at=0x40000 share' % t)
    assert out.startswith('address 0x0000000000040000')
    e = last(m)
    assert e['call'] == 'vm_remap' and e['args']['src_task'] == str(t)
    assert e['args']['copy'] == 'FALSE' and 'added:0x40000-0x41000' in e['changes']

    m.ctl(t, 'deallocate 0x13000 4K')
    e = last(m)
    assert e['call'] == 'vm_deallocate' and 'removed:0x13000-0x14000' in e['changes']

    m.terminate(c)
    e = last(m)
    assert (e['call'], e['task'], e['kr']) == ('task_terminate', str(c), 'KERN_SUCCESS')
    assert any(ch.startswith('task_terminated:%d*' % c) for ch in e['changes'])
    # The child's copy of the written page goes with it (collapsed or destroyed).
    assert any(ch.startswith(('object_collapsed:', 'object_destroyed:')) for ch in e['changes'])

    # Failed calls are lines too, with the engine's answer and no change.
    fails(errno.EFAULT, m.ctl, t, 'protect 0x80000 4K r--')
    e = last(m)
    assert (e['call'], e['kr'], e['changes']) == ('vm_protect', 'KERN_INVALID_ADDRESS', [])

    # Sequence numbers count every line, from 1.
    seqs = [x['seq'] for x in events(m)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_size_is_the_bytes_so_far(mnt):
    t = mnt.create_task()
    mnt.allocate(t, 0x10000, mnt.P)
    for name in ('host/events', 'tasks/%d/events' % t):
        text = mnt.read(name)
        assert os.stat(mnt.p(name)).st_size == len(text.encode())
    before = os.stat(mnt.p('host/events')).st_size
    mnt.ctl(t, 'protect 0x10000 4K r--')
    grown = os.stat(mnt.p('host/events')).st_size
    assert grown > before
    assert mnt.read('host/events')[before:] == mnt.read('host/events').splitlines(True)[-1]


def test_task_streams_hold_the_calls_that_name_them(mnt):
    a, b = mnt.create_task(), mnt.create_task()
    mnt.allocate(a, 0x10000, mnt.P)
    mnt.allocate(b, 0x20000, mnt.P)
    c = mnt.fork(a)
    mnt.remap(b, 'src=%d:0x10000 size=4K copy' % a)
    host = events(mnt)
    for t in (a, b, c):
        mine = events(mnt, t)
        want = [e for e in host if str(t) in (e['task'], e['args'].get('parent'),
                                              e['args'].get('src_task'))
                or any(('[%d]' % t) in ch for ch in e['changes'])]
        assert [e['seq'] for e in mine] == [e['seq'] for e in want], t
    # The fork is in the parent's stream and the child's, the remap in both tasks'.
    assert any(e['call'] == 'task_create' and e['task'] == str(c) for e in events(mnt, a))
    assert any(e['call'] == 'vm_remap' for e in events(mnt, a))
    assert any(e['call'] == 'vm_remap' for e in events(mnt, b))


def test_two_watchers_see_the_same_sequence(mnt):
    t = mnt.create_task()
    mnt.allocate(t, 0x10000, 16 * mnt.P)
    f1 = open(mnt.p('host/events'), 'rb')
    f2 = open(mnt.p('host/events'), 'rb')
    got = {1: b'', 2: b''}
    stop = threading.Event()

    def watch(f, k):
        while True:
            chunk = f.read(1000)
            if chunk:
                got[k] += chunk
            elif stop.is_set():
                rest = f.read()
                got[k] += rest
                if not rest:
                    return
            else:
                time.sleep(0.001)

    threads = [threading.Thread(target=watch, args=(f1, 1)),
               threading.Thread(target=watch, args=(f2, 2))]
    for th in threads:
        th.start()
    try:
        for i in range(200):
            prot = 'r--' if i % 2 else 'rw-'
            mnt.ctl(t, 'protect %#x 4K %s' % (0x10000 + (i % 16) * mnt.P, prot))
    finally:
        stop.set()
        for th in threads:
            th.join(30)
        f1.close()
        f2.close()
    assert got[1] == got[2]
    assert got[1].decode() == mnt.read('host/events')
    assert len(parse(got[1].decode())) == 202


def test_a_slow_watcher_is_told_what_it_missed(mount_factory):
    m = mount_factory(options=['events=16'])
    t = m.create_task()
    m.allocate(t, 0x10000, m.P)
    with open(m.p('host/events'), 'rb') as f:
        first = f.read().decode()
        assert [e['seq'] for e in parse(first)] == [1, 2]
        for i in range(40):
            m.ctl(t, 'protect 0x10000 4K %s' % ('r--' if i % 2 else 'rw-'))
        rest = parse(f.read().decode())
    # Calls 3..42 were made; the window keeps the newest 16 (27..42).
    assert rest[0] == {'missed': '# missed 24 events'}
    assert [e['seq'] for e in rest[1:]] == list(range(27, 43))
    # A fresh reader is told of everything before the window.
    fresh = parse(m.read('host/events'))
    assert fresh[0] == {'missed': '# missed 26 events'}
    assert [e['seq'] for e in fresh[1:]] == list(range(27, 43))


def test_poll_wakes_when_a_line_is_appended(mnt):
    t = mnt.create_task()
    fd = os.open(mnt.p('tasks/%d/events' % t), os.O_RDONLY)
    try:
        os.read(fd, 65536)
        p = select.poll()
        p.register(fd, select.POLLIN)
        assert p.poll(0) == [], 'nothing new yet'
        timer = threading.Timer(0.3, mnt.allocate, (t, 0x10000, mnt.P))
        timer.start()
        t0 = time.monotonic()
        ready = p.poll(10000)
        timer.join()
        assert ready and ready[0][1] & select.POLLIN, ready
        assert time.monotonic() - t0 < 9
        line = os.read(fd, 65536).decode()
        assert parse(line)[0]['call'] == 'vm_allocate'
        # select(2) works the same way.
        r, _, _ = select.select([fd], [], [], 0)
        assert r == []
    finally:
        os.close(fd)


def test_terminating_a_task_ends_its_stream(mnt):
    t = mnt.create_task()
    mnt.allocate(t, 0x10000, mnt.P)
    fd = os.open(mnt.p('tasks/%d/events' % t), os.O_RDONLY)
    try:
        os.read(fd, 65536)
        p = select.poll()
        p.register(fd, select.POLLIN)
        timer = threading.Timer(0.3, mnt.terminate, (t,))
        timer.start()
        ready = p.poll(10000)
        timer.join()
        assert ready and ready[0][1] & select.POLLIN, ready
        rest = os.read(fd, 65536).decode()
        assert parse(rest)[-1]['call'] == 'task_terminate'
        assert os.read(fd, 65536) == b'', 'the stream ends after its task_terminate line'
        assert p.poll(0)[0][1] & select.POLLHUP
    finally:
        os.close(fd)
    assert not os.path.exists(mnt.tp(t))


def test_terminating_while_polled_never_hangs_the_unmount(mount_factory):
    m = mount_factory()
    t = m.create_task()
    fd = os.open(m.p('tasks/%d/events' % t), os.O_RDONLY)
    os.read(fd, 65536)
    woke = []

    def waiter(f, timeout_ms):
        p = select.poll()
        p.register(f, select.POLLIN)
        woke.append(p.poll(timeout_ms))

    th = threading.Thread(target=waiter, args=(fd, 20000))
    th.start()
    time.sleep(0.2)
    m.terminate(t)
    th.join(20)
    assert woke and woke[0], 'the poller was not woken'
    os.close(fd)
    # A poller still waiting on the host stream when the daemon is told to
    # stop: the daemon unmounts and exits 0 (checked at teardown), and the
    # poller is not left hanging.
    fd2 = os.open(m.p('host/events'), os.O_RDONLY)
    os.read(fd2, 1 << 20)
    th2 = threading.Thread(target=waiter, args=(fd2, 30000))
    th2.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    assert m.stop_with_signal(15) == 0
    th2.join(30)
    assert not th2.is_alive() and time.monotonic() - t0 < 25
    os.close(fd2)


def follow(argv, act, want):
    """Runs a tail command, does act(), and returns the events it printed
    once it has printed want lines (or 15 s passed)."""
    tail = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    try:
        reader = threading.Thread(target=lambda: lines.extend(iter(tail.stdout.readline, b'')))
        reader.daemon = True
        reader.start()
        act()
        deadline = time.monotonic() + 15
        while len(lines) < want and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        tail.terminate()
        tail.wait(10)
    return parse(b''.join(lines).decode())


def test_tail_f_follows(mnt):
    t = mnt.create_task()

    def act():
        for i in range(5):
            mnt.allocate(t, 0x10000 + 2 * i * mnt.P, mnt.P)

    got = follow(['tail', '-n', '+1', '-f', '-s', '0.1', mnt.p('host/events')], act, 6)
    assert [e['call'] for e in got] == ['task_create'] + ['vm_allocate'] * 5


def test_tail_F_follows_by_name(mnt):
    t = mnt.create_task()

    def act():
        time.sleep(0.5)
        mnt.allocate(t, 0x10000, mnt.P)

    got = follow(['tail', '-n', '0', '-F', '-s', '0.1', mnt.p('tasks/%d/events' % t)], act, 1)
    assert [e['call'] for e in got] == ['vm_allocate']


def test_cat_and_grep_r_end(mnt):
    t = mnt.create_task()
    mnt.allocate(t, 0x10000, mnt.P)
    r = subprocess.run(['cat', mnt.p('host/events')], capture_output=True, timeout=30)
    assert r.returncode == 0 and len(parse(r.stdout.decode())) == 2
    r = subprocess.run(['grep', '-r', 'vm_allocate', mnt.path], capture_output=True,
                       timeout=60)
    found = {line.split(b':', 1)[0].decode() for line in r.stdout.splitlines()}
    assert found == {mnt.p('host/events'), mnt.p('tasks/%d/events' % t)}


def test_events_agree_with_the_tree(mnt):
    """Replaying the boundary changes of the stream gives the region starts
    maps.json shows."""
    t = mnt.create_task()
    starts = set()
    steps = ['allocate 0x10000 64K', 'protect 0x12000 8K r--', 'inherit 0x11000 4K none',
             'protect 0x12000 8K rw-', 'deallocate 0x14000 4K', 'allocate 0x14000 4K',
             'inherit 0x11000 4K copy', 'attr 0x10000 64K cache off', 'protect 0x1f000 4K r--']
    for line in steps:
        mnt.ctl(t, line)
        for ch in last(mnt)['changes']:
            kind, _, rest = ch.partition('@') if '@' in ch else ch.partition(':')
            if kind == 'split':
                starts.add(int(rest, 16))
            elif kind == 'merged':
                starts.discard(int(rest, 16))
            elif kind == 'moved':
                a, b = rest.split('>')
                starts.discard(int(a, 16))
                starts.add(int(b, 16))
            elif kind == 'added':
                starts.add(int(rest.split('-')[0], 16))
            elif kind == 'removed':
                lo, hi = (int(x, 16) for x in rest.split('*')[0].split('-'))
                starts = {s for s in starts if not lo <= s < hi}
        assert sorted(starts) == mnt.region_starts(t), line


@pytest.mark.parametrize('opts', [['events=0'], ['events=x'], ['events=2000000']])
def test_bad_events_option_refused(opts, tmp_path):
    _refused_mount(tmp_path, opts, 'events')
