"""Several processes using one mount at once (the daemon is multithreaded):
results must be what some serial order of the same calls would give."""
import json
import multiprocessing
import os


A = 0x10000
TIMEOUT = 120


def _command(path, line):
    fd = os.open(path, os.O_RDWR)
    try:
        os.write(fd, line.encode() + b'\n')
        return os.read(fd, 4096).decode().strip()
    finally:
        os.close(fd)


def _creator(args):
    root, n = args
    return [int(_command(os.path.join(root, 'tasks', 'ctl'), 'create')) for _ in range(n)]


def _allocator(args):
    root, task, n, P = args
    ctl = os.path.join(root, 'tasks', str(task), 'ctl')
    return [int(_command(ctl, 'allocate anywhere %d' % P), 16) for _ in range(n)]


def pattern(task, addr, size, k):
    return (task * 31 + addr // size + k) & 0xff


def _writer(args):
    """Writes its own pages again and again, checking each write reads back."""
    root, task, addr, size, rounds = args
    fd = os.open(os.path.join(root, 'tasks', str(task), 'mem'), os.O_RDWR)
    try:
        for k in range(rounds):
            data = bytes([pattern(task, addr, size, k)]) * size
            assert os.pwrite(fd, data, addr) == size
            got = os.pread(fd, size, addr)
            if got != data:
                return 'round %d at %#x: read back differs' % (k, addr)
    finally:
        os.close(fd)
    return 'ok'


def _filler(args):
    """Fills two pages with one byte value per write, values 1..rounds."""
    root, task, P, rounds = args
    fd = os.open(os.path.join(root, 'tasks', str(task), 'mem'), os.O_WRONLY)
    try:
        for k in range(1, rounds + 1):
            assert os.pwrite(fd, bytes([k & 0xff]) * (2 * P), A) == 2 * P
    finally:
        os.close(fd)
    return 'ok'


def _forker(args):
    """Forks the task repeatedly; every child must hold two uniform pages."""
    root, task, P, rounds = args
    bad = []
    for _ in range(rounds):
        child = int(_command(os.path.join(root, 'tasks', 'ctl'), 'fork %d' % task))
        fd = os.open(os.path.join(root, 'tasks', str(child), 'mem'), os.O_RDONLY)
        try:
            data = os.pread(fd, 2 * P, A)
        finally:
            os.close(fd)
        if len(set(data)) != 1:
            bad.append('child %d holds a torn copy: %s' % (child, sorted(set(data))))
        os.rmdir(os.path.join(root, 'tasks', str(child)))
    return bad


def _flipper(args):
    root, task, P, n, rounds = args
    ctl = os.path.join(root, 'tasks', str(task), 'ctl')
    for k in range(rounds):
        prot = 'r--' if k % 2 == 0 else 'rw-'
        _command(ctl, 'protect %#x %d %s' % (A + (k * 5 % (n - 3)) * P, (1 + k % 3) * P, prot))
    return 'ok'


def _map_reader(args):
    """Reads maps.json repeatedly; every snapshot must describe [A, A+n*P)
    exactly, in order, without overlaps or gaps."""
    root, task, P, n, rounds = args
    path = os.path.join(root, 'tasks', str(task), 'maps.json')
    for _ in range(rounds):
        with open(path, 'rb') as f:
            regs = json.loads(f.read())
        at = A
        for r in regs:
            start, end = int(r['start'], 16), int(r['end'], 16)
            if start != at or end - start != r['size'] or r['size'] <= 0:
                return 'bad snapshot: %r' % regs
            at = end
        if at != A + n * P:
            return 'snapshot does not cover the allocation: %r' % regs
    return 'ok'


def _run(func, args_list):
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(len(args_list)) as pool:
        return pool.map_async(func, args_list).get(timeout=TIMEOUT)


def test_concurrent_creates(mnt):
    per, procs = 25, 4
    results = _run(_creator, [(mnt.path, per)] * procs)
    ids = [i for r in results for i in r]
    assert len(set(ids)) == per * procs
    assert sorted(ids) == mnt.task_ids()
    assert sorted(ids) == list(range(1, per * procs + 1))
    for r in results:
        assert r == sorted(r)
    assert mnt.host_stats()['tasks'] == per * procs


def test_concurrent_allocate_anywhere(mnt):
    P = mnt.P
    t = mnt.create_task()
    per, procs = 20, 4
    results = _run(_allocator, [(mnt.path, t, per, P)] * procs)
    addrs = sorted(a for r in results for a in r)
    # first fit from P, one page each: exactly the pages P .. per*procs*P
    assert addrs == [P * (i + 1) for i in range(per * procs)]
    assert mnt.status(t)['virtual_size'] == per * procs * P
    regs = mnt.regions(t)
    assert len(regs) == 1 and regs[0]['size'] == per * procs * P


def test_concurrent_writers(mnt):
    P = mnt.P
    t = mnt.create_task()
    procs = 4
    mnt.allocate(t, A, procs * 2 * P)
    results = _run(_writer, [(mnt.path, t, A + i * 2 * P, 2 * P, 30) for i in range(procs)])
    assert results == ['ok'] * procs
    for i in range(procs):
        addr = A + i * 2 * P
        assert mnt.mem_read(t, addr, 2 * P) == bytes([pattern(t, addr, 2 * P, 29)]) * (2 * P)
    assert mnt.status(t)['resident_pages'] == procs * 2


def test_concurrent_writers_across_forked_tasks(mnt):
    """Parent and children write the same copy-on-write pages at once; each
    ends with its own bytes."""
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    mnt.mem_write(t, A, b'\x01' * (2 * P))
    kids = [mnt.fork(t) for _ in range(3)]
    tasks = [t] + kids
    results = _run(_writer, [(mnt.path, task, A, 2 * P, 20) for task in tasks])
    assert results == ['ok'] * len(tasks)
    for task in tasks:
        assert mnt.mem_read(task, A, 2 * P) == bytes([pattern(task, A, 2 * P, 19)]) * (2 * P)


def test_fork_sees_whole_writes(mnt):
    P = mnt.P
    t = mnt.create_task()
    mnt.allocate(t, A, 2 * P)
    mnt.mem_write(t, A, b'\x00' * (2 * P))
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(3) as pool:
        fill = pool.apply_async(_filler, ((mnt.path, t, P, 200),))
        forks = [pool.apply_async(_forker, ((mnt.path, t, P, 15),)) for _ in range(2)]
        assert fill.get(timeout=TIMEOUT) == 'ok'
        for f in forks:
            assert f.get(timeout=TIMEOUT) == []
    assert mnt.task_ids() == [t]
    assert mnt.mem_read(t, A, 2 * P) == bytes([200]) * (2 * P)


def test_snapshots_consistent_while_changing(mnt):
    P = mnt.P
    t = mnt.create_task()
    n = 16
    mnt.allocate(t, A, n * P)
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(4) as pool:
        flips = [pool.apply_async(_flipper, ((mnt.path, t, P, n, 60),)) for _ in range(2)]
        reads = [pool.apply_async(_map_reader, ((mnt.path, t, P, n, 60),)) for _ in range(2)]
        for r in flips + reads:
            assert r.get(timeout=TIMEOUT) == 'ok'
    assert mnt.status(t)['virtual_size'] == n * P
