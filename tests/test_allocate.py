"""vm_allocate and vm_deallocate through tasks/<id>/ctl; results read back on
the same open file."""
import errno
import os
import re

import pytest

from fsmount import fails, hx, USER_MAX


@pytest.fixture
def task(mnt):
    return mnt.create_task()


def test_fixed_allocation_result_and_region(mnt, task):
    P = mnt.P
    assert mnt.ctl(task, 'allocate 0x10000 %d' % (3 * P)) == hx(0x10000)
    assert mnt.maps(task) == [
        '%016x-%016x rw-/rwx copy wired=0 empty shared=no object=none offset=0x0'
        % (0x10000, 0x10000 + 3 * P)]
    r = (task, 0x10000)
    assert mnt.region(*r, 'start') == hx(0x10000)
    assert mnt.region(*r, 'end') == hx(0x10000 + 3 * P)
    assert mnt.region(*r, 'size') == str(3 * P)
    assert mnt.region(*r, 'protection') == 'rw-'
    assert mnt.region(*r, 'max_protection') == 'rwx'
    assert mnt.region(*r, 'inheritance') == 'copy'
    assert mnt.region(*r, 'wired') == '0'
    assert mnt.region(*r, 'shared') == 'no'
    assert mnt.region(*r, 'share_mode') == 'empty'
    assert mnt.region(*r, 'object') == 'none'
    assert mnt.region(*r, 'offset') == '0x0'
    assert mnt.read('tasks/%d/regions/%s/attr' % (task, hx(0x10000))) == \
        'cache on\nmigrate off\nreplicate off\n'


def test_new_memory_reads_zero(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x20000, 2 * P)
    assert mnt.mem_read(task, 0x20000, 2 * P) == bytes(2 * P)


def test_fixed_truncates_address_and_rounds_size(mnt, task):
    P = mnt.P
    # (0x1ff0, 0x20) is one page, the one holding 0x1ff0.
    start = (0x10000 + P - 0x10) & ~(P - 1)
    assert mnt.allocate(task, 0x10000 + P - 0x10, 0x20) == start
    assert mnt.regions(task)[0]['size'] == P
    assert mnt.allocate(task, 0x40001, P + 1) == 0x40000
    assert mnt.regions(task)[1]['size'] == 2 * P


def test_anywhere_is_first_fit_from_page_size(mnt, task):
    P = mnt.P
    assert mnt.ctl(task, 'allocate anywhere %d' % (2 * P)) == hx(P)
    assert mnt.allocate_anywhere(task, P) == 3 * P
    mnt.allocate(task, 6 * P, P)
    # the hole [4P, 6P) is the first fit for 2 pages; 3 pages go after 7P.
    assert mnt.allocate_anywhere(task, 2 * P) == 4 * P
    assert mnt.allocate_anywhere(task, 3 * P) == 7 * P


def test_anywhere_fills_a_freed_hole(mnt, task):
    P = mnt.P
    a = mnt.allocate_anywhere(task, 4 * P)
    mnt.ctl(task, 'deallocate %#x %d' % (a + P, P))
    assert mnt.allocate_anywhere(task, P) == a + P


@pytest.mark.parametrize('spelling,size', [
    ('4K', 4096), ('8k', 8192), ('1M', 1 << 20), ('1G', 1 << 30), ('0x3000', 0x3000),
    ('12288', 12288)])
def test_size_spellings(mnt, task, spelling, size):
    mnt.ctl(task, 'allocate 0x100000 %s' % spelling)
    assert mnt.status(task)['virtual_size'] == size
    assert mnt.regions(task)[0]['size'] == size


def test_size_zero(mnt, task):
    assert mnt.ctl(task, 'allocate 0x10000 0') == hx(0)
    assert mnt.ctl(task, 'allocate anywhere 0') == hx(0)
    assert mnt.maps(task) == []


def test_overlap_is_enospc_and_changes_nothing(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x10000, 2 * P)
    before = mnt.regions(task)
    fails(errno.ENOSPC, mnt.ctl, task, 'allocate %#x %d' % (0x10000 + P, 2 * P))
    fails(errno.ENOSPC, mnt.ctl, task, 'allocate %#x %d' % (0x10000 - P, 2 * P))
    assert mnt.last_error(task).startswith('KERN_NO_SPACE: ')
    assert mnt.regions(task) == before


def test_failed_write_result_on_same_fd(mnt, task):
    """Reading ctl after a failed write gives the same line as last_error."""
    mnt.allocate(task, 0x10000, mnt.P)
    fd = os.open(mnt.tp(task, 'ctl'), os.O_RDWR)
    try:
        fails(errno.ENOSPC, os.write, fd, b'allocate 0x10000 1\n')
        out = os.read(fd, 4096).decode()
    finally:
        os.close(fd)
    assert out.startswith('KERN_NO_SPACE: ')
    assert out == mnt.last_error(task)


@pytest.mark.parametrize('line,err,kern', [
    ('allocate 0 4096', errno.EFAULT, 'KERN_INVALID_ADDRESS'),
    ('allocate 0x10 4096', errno.EFAULT, 'KERN_INVALID_ADDRESS'),
    ('allocate %#x 8192' % (USER_MAX - 4096), errno.EFAULT, 'KERN_INVALID_ADDRESS'),
    ('allocate %#x 4096' % USER_MAX, errno.EFAULT, 'KERN_INVALID_ADDRESS'),
    ('allocate 0x10000 0xffffffffffffffff', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('allocate anywhere 0xffffffffffffffff', errno.EINVAL, 'KERN_INVALID_ARGUMENT'),
    ('allocate anywhere %#x' % USER_MAX, errno.ENOSPC, 'KERN_NO_SPACE'),
])
def test_allocate_errors(mnt, task, line, err, kern):
    fails(err, mnt.ctl, task, line)
    assert mnt.last_error(task).startswith(kern + ': ')
    assert mnt.maps(task) == []


def test_top_of_user_range(mnt, task):
    P = mnt.P
    assert mnt.allocate(task, USER_MAX - P, P) == USER_MAX - P
    assert mnt.regions(task)[0]['end'] == hx(USER_MAX)


def test_adjacent_allocations_coalesce(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x10000, P)
    mnt.allocate(task, 0x10000 + P, P)
    mnt.allocate(task, 0x10000 - P, P)
    assert mnt.maps(task) == [
        '%016x-%016x rw-/rwx copy wired=0 empty shared=no object=none offset=0x0'
        % (0x10000 - P, 0x10000 + 2 * P)]


def test_deallocate_middle_splits(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x10000, 4 * P)
    assert mnt.ctl(task, 'deallocate %#x %d' % (0x10000 + P, 2 * P)) == 'ok'
    assert mnt.region_starts(task) == [0x10000, 0x10000 + 3 * P]
    assert mnt.status(task)['virtual_size'] == 2 * P
    fails(errno.EFAULT, mnt.mem_read, task, 0x10000 + P, 1)


def test_deallocate_unaligned_rounds_outward(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x10000, 4 * P)
    mnt.ctl(task, 'deallocate %#x 2' % (0x10000 + P - 1))
    # trunc(0x10000+P-1) .. round(0x10000+P+1): pages 0 and 1 go.
    assert mnt.region_starts(task) == [0x10000 + 2 * P]


def test_deallocate_over_holes_and_nothing(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x10000, P)
    mnt.allocate(task, 0x10000 + 4 * P, P)
    assert mnt.ctl(task, 'deallocate 0x40000000 %d' % P) == 'ok'
    assert len(mnt.maps(task)) == 2
    assert mnt.ctl(task, 'deallocate 0x10000 %d' % (5 * P)) == 'ok'
    assert mnt.maps(task) == []
    assert mnt.ctl(task, 'deallocate 0x10000 0') == 'ok'


def test_deallocate_frees_pages(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x10000, 3 * P)
    mnt.mem_write(task, 0x10000, b'q' * (3 * P))
    before = mnt.host_stats()
    mnt.ctl(task, 'deallocate 0x10000 %d' % (3 * P))
    after = mnt.host_stats()
    assert before['resident_pages'] - after['resident_pages'] == 3
    assert after['objects'] == before['objects'] - 1
    assert mnt.status(task)['resident_pages'] == 0


def test_reallocate_after_deallocate_is_zero(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x10000, P)
    mnt.mem_write(task, 0x10000, b'old bytes')
    mnt.ctl(task, 'deallocate 0x10000 %d' % P)
    mnt.allocate(task, 0x10000, P)
    assert mnt.mem_read(task, 0x10000, 9) == bytes(9)


def test_several_lines_in_one_write(mnt, task):
    P = mnt.P
    mnt.write('tasks/%d/ctl' % task, 'allocate 0x10000 %d\n\nallocate 0x30000 %d\n' % (P, P))
    assert mnt.region_starts(task) == [0x10000, 0x30000]


def test_several_lines_all_or_nothing(mnt, task):
    P = mnt.P
    fails(errno.ENOSPC, mnt.write, 'tasks/%d/ctl' % task,
          'allocate 0x10000 %d\nallocate 0x10000 %d\nallocate 0x50000 %d\n' % (P, P, P))
    assert mnt.region_starts(task) == []
    assert mnt.last_error(task).startswith('KERN_NO_SPACE: ')
    assert mnt.last_error(task).endswith(
        "got 'allocate 0x10000 %d' (line 2 of 3; the line before it was undone)\n" % P)


def test_white_space_only_write_does_nothing(mnt, task):
    assert mnt.write('tasks/%d/ctl' % task, '  \n\t\n') == 5
    assert mnt.maps(task) == []
    assert mnt.last_error(task) == 'none\n'


def test_surrounding_white_space_ignored(mnt, task):
    assert mnt.ctl(task, '   allocate   0x10000\t4096   ') == hx(0x10000)


def test_usage_before_any_write(mnt, task):
    usage = mnt.read('tasks/%d/ctl' % task)
    for verb in ('allocate', 'deallocate', 'protect', 'inherit', 'map_inherit', 'wire', 'attr',
                 'copy'):
        assert re.search(r'\b%s\b' % verb, usage), (verb, usage)


def test_copy_verb(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x10000, 4 * P)
    mnt.mem_write(task, 0x10000 + 5, b'copied text')
    assert mnt.ctl(task, 'copy %#x 16 %#x' % (0x10000, 0x10000 + 2 * P + 3)) == 'ok'
    assert mnt.mem_read(task, 0x10000 + 2 * P + 3, 16) == b'\0' * 5 + b'copied text'


def test_copy_all_or_nothing(mnt, task):
    P = mnt.P
    mnt.allocate(task, 0x10000, P)
    mnt.allocate(task, 0x20000, P)
    mnt.mem_write(task, 0x10000, b'x' * P)
    # the destination runs into a hole: nothing is written
    fails(errno.EFAULT, mnt.ctl, task, 'copy 0x10000 %d %#x' % (P, 0x20000 + P // 2))
    assert mnt.mem_read(task, 0x20000, P) == bytes(P)
    # the source runs into a hole
    fails(errno.EFAULT, mnt.ctl, task, 'copy 0x10000 %d 0x20000' % (2 * P))
    assert mnt.mem_read(task, 0x20000, P) == bytes(P)
    # the destination is not writable
    mnt.ctl(task, 'protect 0x20000 %d r--' % P)
    fails(errno.EACCES, mnt.ctl, task, 'copy 0x10000 %d 0x20000' % P)
    assert mnt.mem_read(task, 0x20000, P) == bytes(P)


def test_result_of_several_commands_is_the_last(mnt, task):
    P = mnt.P
    out = mnt.ctl(task, 'allocate 0x10000 %d\nallocate anywhere %d' % (P, P))
    assert out == hx(P)
    out = mnt.ctl(task, 'allocate anywhere %d\nprotect 0x10000 %d r--' % (P, P))
    assert out == 'ok'


def test_keywords_ignore_case(mnt, task):
    P = mnt.P
    assert mnt.ctl(task, 'allocate ANYWHERE %d' % P) == hx(P)
    mnt.ctl(task, 'protect %#x %d r-- MAX' % (P, P))
    assert mnt.regions(task)[0]['max_protection'] == 'r--'
    mnt.ctl(task, 'inherit %#x %d SHARE' % (P, P))
    assert mnt.regions(task)[0]['inheritance'] == 'share'
    fails(errno.EINVAL, mnt.ctl, task, 'ALLOCATE 0x10000 4096')


def test_remap_verb_in_ctl(mnt, task):
    P = mnt.P
    src = mnt.create_task()
    mnt.allocate(src, 0x10000, P)
    mnt.mem_write(src, 0x10000, b'via ctl')
    out = mnt.ctl(task, 'remap src=%d:0x10000 size=%d at=0x70000' % (src, P))
    assert out == 'address %s cur_protection rw- max_protection rwx' % hx(0x70000)
    assert mnt.mem_read(task, 0x70000, 7) == b'via ctl'
