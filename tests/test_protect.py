"""vm_protect through the protection / max_protection files and the protect
verb: spellings, set_maximum, splitting and coalescing, errors."""
import errno
import subprocess

import pytest

from fsmount import fails

A = 0x10000


@pytest.fixture
def task(mnt):
    t = mnt.create_task()
    mnt.allocate(t, A, 3 * mnt.P)
    return t


@pytest.mark.parametrize('spelling,want', [
    ('r--', 'r--'), ('r-x', 'r-x'), ('rw', 'rw-'), ('rwx', 'rwx'), ('---', '---'),
    ('none', '---'), ('0', '---'), ('1', 'r--'), ('3', 'rw-'), ('5', 'r-x'), ('7', 'rwx'),
    ('2', '-w-'), ('--x', '--x'), ('VM_PROT_READ', 'r--'),
    ('VM_PROT_READ|VM_PROT_EXECUTE', 'r-x'), ('VM_PROT_NONE', '---'),
    ('VM_PROT_ALL', 'rwx'), ('VM_PROT_DEFAULT', 'rw-'), ('  r--  ', 'r--'),
])
def test_protection_spellings(mnt, task, spelling, want):
    P = mnt.P
    mnt.set_region(task, A, 'protection', spelling)
    assert mnt.region(task, A, 'protection') == want
    assert mnt.region(task, A, 'max_protection') == 'rwx'
    assert mnt.maps(task)[0].split()[1] == want + '/rwx'
    assert mnt.regions(task)[0]['size'] == 3 * P


def test_echo_into_protection(mnt, task):
    """`echo VALUE > FILE` (open with O_TRUNC) must work."""
    path = mnt.rp(task, A, 'protection')
    r = subprocess.run(['sh', '-c', 'echo r-x > "$1"', 'sh', path], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert mnt.region(task, A, 'protection') == 'r-x'


def test_protect_verb_part_splits_and_back_coalesces(mnt, task):
    P = mnt.P
    assert mnt.ctl(task, 'protect %#x %d r--' % (A + P, P)) == 'ok'
    assert [(r['start'], r['protection']) for r in mnt.regions(task)] == [
        ('0x%016x' % A, 'rw-'), ('0x%016x' % (A + P), 'r--'), ('0x%016x' % (A + 2 * P), 'rw-')]
    mnt.ctl(task, 'protect %#x %d rw-' % (A + P, P))
    assert mnt.region_starts(task) == [A]
    assert mnt.regions(task)[0]['size'] == 3 * P


def test_touched_region_coalesces_after_round_trip(mnt, task):
    P = mnt.P
    mnt.mem_write(task, A, b't' * (3 * P))
    obj = mnt.region(task, A, 'object')
    assert obj != 'none'
    mnt.ctl(task, 'protect %#x %d r--' % (A + P, P))
    assert len(mnt.regions(task)) == 3
    # the pieces map the same object at contiguous offsets
    assert [r['object'] for r in mnt.regions(task)] == [int(obj)] * 3
    assert [r['offset'] for r in mnt.regions(task)] == [0, P, 2 * P]
    mnt.ctl(task, 'protect %#x %d rw-' % (A + P, P))
    assert mnt.region_starts(task) == [A]
    assert mnt.mem_read(task, A, 3 * P) == b't' * (3 * P)


def test_unaligned_protect_covers_whole_pages(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'protect %#x 2 r--' % (A + P - 1))
    # [trunc(A+P-1), round(A+P+1)) = the first two pages
    assert [(r['protection'], r['size']) for r in mnt.regions(task)] == [('r--', 2 * P),
                                                                         ('rw-', P)]


def test_set_maximum_lowers_current(mnt, task):
    mnt.set_region(task, A, 'max_protection', 'r-x')
    assert mnt.region(task, A, 'max_protection') == 'r-x'
    assert mnt.region(task, A, 'protection') == 'r--'   # rw- & r-x
    mnt.set_region(task, A, 'protection', 'r-x')
    assert mnt.region(task, A, 'protection') == 'r-x'


def test_max_cannot_be_raised(mnt, task):
    mnt.set_region(task, A, 'max_protection', 'r--')
    fails(errno.EACCES, mnt.set_region, task, A, 'max_protection', 'rwx')
    assert mnt.last_error(task).startswith('KERN_PROTECTION_FAILURE: ')
    assert mnt.region(task, A, 'max_protection') == 'r--'
    fails(errno.EACCES, mnt.set_region, task, A, 'protection', 'rw-')
    assert mnt.region(task, A, 'protection') == 'r--'
    # lowering further is fine, and equal is fine
    mnt.set_region(task, A, 'max_protection', 'r--')
    mnt.set_region(task, A, 'max_protection', '---')
    assert mnt.maps(task)[0].split()[1] == '---/---'


def test_protect_verb_with_max(mnt, task):
    P = mnt.P
    assert mnt.ctl(task, 'protect %#x %d r-- max' % (A, P)) == 'ok'
    regs = mnt.regions(task)
    assert (regs[0]['protection'], regs[0]['max_protection']) == ('r--', 'r--')
    assert (regs[1]['protection'], regs[1]['max_protection']) == ('rw-', 'rwx')
    fails(errno.EACCES, mnt.ctl, task, 'protect %#x %d rw-' % (A, 2 * P))
    # a failed call changes nothing: the second page is still rw- and unsplit
    assert [(r['protection'], r['max_protection'], r['size']) for r in mnt.regions(task)] == [
        ('r--', 'r--', P), ('rw-', 'rwx', 2 * P)]


def test_hole_is_efault_and_changes_nothing(mnt, task):
    P = mnt.P
    mnt.allocate(task, A + 4 * P, P)
    before = mnt.regions(task)
    fails(errno.EFAULT, mnt.ctl, task, 'protect %#x %d r--' % (A, 5 * P))
    assert mnt.last_error(task).startswith('KERN_INVALID_ADDRESS: ')
    assert mnt.regions(task) == before
    fails(errno.EFAULT, mnt.ctl, task, 'protect 0x900000 %d r--' % P)


def test_first_problem_in_address_order_decides(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'protect %#x %d r-- max' % (A, P))
    # [A, A+P) lacks w in max, and there is a hole at A+3P: the max comes first.
    fails(errno.EACCES, mnt.ctl, task, 'protect %#x %d rw-' % (A, 5 * P))
    assert mnt.last_error(task).startswith('KERN_PROTECTION_FAILURE: ')


def test_size_zero_does_nothing(mnt, task):
    assert mnt.ctl(task, 'protect %#x 0 r--' % A) == 'ok'
    assert mnt.ctl(task, 'protect 0x900000 0 r--') == 'ok'
    assert mnt.region(task, A, 'protection') == 'rw-'


@pytest.mark.parametrize('value', ['rwz', 'rwxr', 'rwxx', '8', '9', '-1', 'VM_PROT_BANANA',
                                   'VM_PROT_READ|', 'r w'])
def test_bad_protection_is_einval(mnt, task, value):
    before = mnt.regions(task)
    fails(errno.EINVAL, mnt.set_region, task, A, 'protection', value)
    assert mnt.last_error(task).startswith('KERN_INVALID_ARGUMENT: ')
    fails(errno.EINVAL, mnt.ctl, task, 'protect %#x 0 %s' % (A, value))
    assert mnt.regions(task) == before


def test_protection_enforced_on_mem(mnt, task):
    P = mnt.P
    mnt.mem_write(task, A, b'readable')
    mnt.set_region(task, A, 'protection', 'r--')
    assert mnt.mem_read(task, A, 8) == b'readable'
    fails(errno.EACCES, mnt.mem_write, task, A, b'X')
    mnt.ctl(task, 'protect %#x %d ---' % (A, P))
    fails(errno.EACCES, mnt.mem_read, task, A, 1)
    mnt.ctl(task, 'protect %#x %d -w-' % (A, P))
    fails(errno.EACCES, mnt.mem_read, task, A, 1)
    assert mnt.mem_write(task, A, b'W') == 1
    mnt.ctl(task, 'protect %#x %d rw-' % (A, P))
    assert mnt.mem_read(task, A, 8) == b'Weadable'


def test_wired_entry_stays_wired(mnt, task):
    P = mnt.P
    mnt.ctl(task, 'wire %#x %d r--' % (A, 3 * P))
    mnt.set_region(task, A, 'protection', 'r--')
    assert mnt.region(task, A, 'wired') == '1'
    assert mnt.status(task)['wired_pages'] == 3
