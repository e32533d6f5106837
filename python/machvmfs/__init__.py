"""machvmfs: scripting a machvmfs mount from Python.

machvmfs presents Mach task address spaces as files (see the project's
README.md and fs_layout.md).  This package mounts one and drives it through
those files, with the standard library only:

    import machvmfs

    with machvmfs.mount(page_size='16K') as host:     # a fresh host, unmounted after
        t = host.create()
        a = t.allocate(0x10000, '64K')
        t.write(a, b'hello')
        child = t.fork()                                # copy-on-write
        child.write(a, b'HELLO')
        assert t.read(a, 5) == b'hello'
        try:
            t.allocate(0x10000, '16K')                  # already there
        except machvmfs.KernError as e:
            print(e.name, e.errno, e.message)           # KERN_NO_SPACE 28 KERN_NO_SPACE: ...

`Host(path)` drives a mount made any other way.  The package is also a
pytest plugin (the `machvmfs` fixture, see `machvmfs.pytest_plugin`), and
`machvmctl` (`machvmfs.cli`) is its command line.
"""
from ._host import Host, KernError, Remapped, Task, parse_number, parse_size
from ._daemon import (Daemon, MountError, find_daemon, format_options, is_mounted, mount,
                      sanitizer_report)

__version__ = '0.1.0'

__all__ = ['Daemon', 'Host', 'KernError', 'MountError', 'Remapped', 'Task', 'find_daemon',
           'format_options', 'is_mounted', 'mount', 'parse_number', 'parse_size',
           'sanitizer_report']
