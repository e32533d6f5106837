"""The memory limit (-o max_memory): the attacks that used to grow the daemon
until the kernel killed it end with ENOMEM, a last_error line naming the
call, a daemon that stays up, and other tasks that still work."""
import errno
import os

from fsmount import fails

LIMIT = 64 << 20


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS')


def check_alive_and_working(m, other):
    assert m.proc.poll() is None
    m.ctl(other, 'allocate 0x20000 4K')
    mem = os.path.join(m.path, 'tasks', str(other), 'mem')
    fd = os.open(mem, os.O_RDWR)
    try:
        assert os.pwrite(fd, b'still here', 0x20000) == 10
        assert os.pread(fd, 10, 0x20000) == b'still here'
    finally:
        os.close(fd)


def test_wire_of_a_huge_allocation_is_enomem(mount_factory):
    m = mount_factory(options=['max_memory=64M'])
    other = m.create_task()
    t = m.create_task()
    m.ctl(t, 'allocate anywhere 0x400000000000')
    before = rss_kib(m.proc.pid)
    maps = m.read('tasks/%d/maps' % t)
    fails(errno.ENOMEM, m.ctl, t, 'wire 0x1000 64G rw-')
    err = m.read('tasks/%d/last_error' % t)
    assert err.startswith('KERN_RESOURCE_SHORTAGE: ') and 'wire' in err
    # Nothing was wired or made resident, and the daemon did not grow.
    assert m.read('tasks/%d/maps' % t) == maps
    stats = m.host_stats()
    assert stats['wired_pages'] == 0 and stats['resident_pages'] == 0
    assert stats['memory_limit'] == LIMIT and stats['memory_used'] < 1 << 20
    assert rss_kib(m.proc.pid) < before + 16 << 10
    check_alive_and_working(m, other)


def test_mem_writes_past_the_limit_are_enomem(mount_factory):
    m = mount_factory(options=['max_memory=16M'])
    other = m.create_task()
    t = m.create_task()
    m.ctl(t, 'allocate 0x10000 1G')
    fd = os.open(os.path.join(m.path, 'tasks', str(t), 'mem'), os.O_WRONLY)
    chunk = b'\xa5' * (1 << 20)
    written = 0
    try:
        while True:
            try:
                n = os.pwrite(fd, chunk, 0x10000 + written)
            except OSError as e:
                assert e.errno == errno.ENOMEM
                break
            assert n > 0
            written += n
            assert written <= 16 << 20
    finally:
        os.close(fd)
    assert written > 8 << 20
    err = m.read('tasks/%d/last_error' % t)
    assert err.startswith('KERN_RESOURCE_SHORTAGE: tasks/%d/mem: vm_write' % t)
    stats = m.host_stats()
    assert stats['memory_used'] <= 16 << 20
    # What was written is there; freeing it makes room again.
    rd = os.open(os.path.join(m.path, 'tasks', str(t), 'mem'), os.O_RDONLY)
    try:
        assert os.pread(rd, 4, 0x10000) == b'\xa5' * 4
    finally:
        os.close(rd)
    os.rmdir(os.path.join(m.path, 'tasks', str(t)))
    check_alive_and_working(m, other)
    assert m.host_stats()['memory_used'] < 1 << 20


def test_max_memory_option_checked(mount_factory):
    m = mount_factory(options=['max_memory=0'])
    assert m.host_stats()['memory_limit'] == 0
    m2 = mount_factory()
    # The default: a quarter of the machine's memory.
    total = os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGESIZE')
    assert m2.host_stats()['memory_limit'] == total // 4


def test_limits_per_task(mount_factory):
    """-o task_max_wired / task_max_mapped: one task past its limit gets
    ENOMEM and nothing changes; another task has its own room; unwiring and
    deallocating give room back; host/stats shows the limits."""
    m = mount_factory(options=['task_max_wired=64K', 'task_max_mapped=1M'])
    stats = m.host_stats()
    assert stats['task_max_wired'] == 64 << 10 and stats['task_max_mapped'] == 1 << 20
    t = m.create_task()
    u = m.create_task()
    m.ctl(t, 'allocate 0x10000 512K')
    maps = m.read('tasks/%d/maps' % t)
    fails(errno.ENOMEM, m.ctl, t, 'wire 0x10000 128K rw-')
    assert m.read('tasks/%d/last_error' % t).startswith('KERN_RESOURCE_SHORTAGE: ')
    assert m.read('tasks/%d/maps' % t) == maps and m.host_stats()['wired_pages'] == 0
    m.ctl(t, 'wire 0x10000 64K rw-')
    fails(errno.ENOMEM, m.ctl, t, 'wire 0x20000 4K rw-')
    fails(errno.ENOMEM, m.ctl, t, 'allocate 0x100000 768K')
    fails(errno.ENOMEM, m.ctl, t, 'allocate anywhere 0x400000000000')
    # The other task's room is its own.
    m.ctl(u, 'allocate 0x10000 1M')
    m.ctl(u, 'wire 0x10000 64K rw-')
    assert m.host_stats()['wired_pages'] == 32
    # Giving back makes room.
    m.ctl(t, 'wire 0x10000 4K ---')
    m.ctl(t, 'wire 0x20000 4K rw-')
    m.ctl(t, 'deallocate 0x50000 256K')
    m.ctl(t, 'allocate 0x100000 768K')
    assert m.host_stats()['virtual_size'] == (1 << 20) + (1 << 20)



def test_limit_failures_say_which_limit(mount_factory):
    m = mount_factory(options=['task_max_wired=64K', 'task_max_mapped=1M', 'max_memory=1M'])
    t = m.create_task()
    m.ctl(t, 'allocate 0x10000 512K')
    fails(errno.ENOMEM, m.ctl, t, 'wire 0x10000 128K rw-')
    err = m.read('tasks/%d/last_error' % t)
    assert ('task %d would have 131072 bytes wired, past its limit of 65536 '
            '(task_max_wired)' % t) in err, err
    fails(errno.ENOMEM, m.ctl, t, 'allocate 0x100000 768K')
    err = m.read('tasks/%d/last_error' % t)
    assert ('task %d would have 1310720 bytes mapped, past its limit of 1048576 '
            '(task_max_mapped)' % t) in err, err
    u = m.create_task()
    m.ctl(u, 'allocate 0x10000 1M')
    fails(errno.ENOMEM, m.ctl, u, 'copy 0x10000 512K 0x90000')
    err = m.read('tasks/%d/last_error' % u)
    assert 'past its memory limit of 1048576 (max_memory)' in err, err
