#!/usr/bin/python3
"""python_api.py - machvmfs from Python: the machvmfs package (python/).

Shows: mounting a host with machvmfs.mount() (unmounted when the block
ends), a task with memory written and read through `mem`, a fork whose
child's write stays its own (copy-on-write), a page shared into the child
with remap, the regions as maps.json records, and a refused call raised as
machvmfs.KernError with the KERN_ name, the errno and the task's last_error
line.  Its last line says what it showed.

Run it from the tree (it uses the tree's python/ package):
    examples/python_api.py                mounts a host of its own; the daemon is
                                          $MACHVMFS_DAEMON, else machvmfs on PATH
    examples/python_api.py /tmp/mvm       drives a machvmfs mounted at /tmp/mvm
"""
import os
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
if os.path.isdir(os.path.join(HERE, os.pardir, 'python', 'machvmfs')):
    sys.path.insert(0, os.path.join(HERE, os.pardir, 'python'))

import machvmfs  # noqa: E402


def tour(host):
    print('page size', host.page_size)
    t = host.create()
    a = t.allocate(0x10000, 2 * host.page_size)
    print('task %d, allocated at %#x' % (t.id, a))
    t.write(a, b'parent data')
    print('task %d reads %r' % (t.id, t.read(a, 11)))

    child = t.fork()
    print('fork: task %d, parent %d, share_mode %s'
          % (child.id, child.parent, child.regions()[0]['share_mode']))
    child.write(a, b'CHILD')
    print('after the child writes CHILD: parent reads %r, child reads %r'
          % (t.read(a, 11), child.read(a, 11)))

    second = a + host.page_size
    r = child.remap(t, second, host.page_size, at=0x100000)          # shared, not copied
    child.write(r.address, b'written through the remap')
    print('remap into task %d at %#x (%s): parent reads %r'
          % (child.id, r.address, r.protection, t.read(second, 25)))

    for region in child.regions():
        print('  task %d region %s-%s %s %s object %s'
              % (child.id, region['start'], region['end'], region['protection'],
                 region['share_mode'], region['object']))
    try:
        t.allocate(a, host.page_size)
    except machvmfs.KernError as e:
        print('refused: %s (errno %d)' % (e.name, e.errno))
        print('last_error: %s' % e.message)


def main():
    if len(sys.argv) > 1:
        tour(machvmfs.Host(sys.argv[1]))
    else:
        with machvmfs.mount() as host:
            print('mounted at %s (%s)' % (host.path, host.daemon.program))
            tour(host)
        print('unmounted: %s' % (not machvmfs.is_mounted(host.path)))
    print('shown: %screate, allocate, write and read memory, fork with copy-on-write, '
          'sharing with remap, regions, and a refused call as KernError'
          % ('' if len(sys.argv) > 1 else 'mount and unmount, '))


if __name__ == '__main__':
    main()
