"""machvmctl: machvmfs's calls as one command each, for shell scripts.

    t=$(machvmctl create)
    machvmctl allocate $t 0x10000 16K || exit
    machvmctl poke $t 0x10000 hello
    c=$(machvmctl fork $t)
    machvmctl peek $c 0x10000 5

Each verb writes one command line to a file of the mount (tasks/ctl,
tasks/<id>/ctl, remap, mem) through the machvmfs package and prints what
the file returns: the new task's id, the address, the remap line, the value
of `attr ... get`; verbs whose result is `ok` print nothing.  Exit status 0
on success; 1 when the call is refused, with the task's last_error line
(`KERN_NO_SPACE: tasks/1/ctl: ...`) on standard error; 2 for a usage error.
"""
import argparse
import json
import os
import sys

from ._daemon import MountError
from ._host import Host, KernError, Task, parse_number, parse_size

PROG = 'machvmctl'

EPILOG = """\
ADDR, SIZE and the other values are passed to the file as written: decimal
or 0x hex numbers, sizes with K, M or G, protections such as rw- or r-x,
inheritances share, copy or none (fs_layout.md, "Values accepted on input").

remap words, as the tasks/<id>/remap file takes them (src and size needed):
  src=TASK:ADDR size=N [at=ADDR | anywhere[=HINT]] [mask=M] [copy | share] [inherit=INH]

exit status: 0 done; 1 refused (the task's last_error line on standard
error), or no such mount or task; 2 usage error.

example:
  export MACHVMFS_MOUNT=/mnt/mvm
  t=$(machvmctl create); machvmctl allocate $t 0x10000 16K || exit
  machvmctl poke $t 0x10000 hello; c=$(machvmctl fork $t)
  machvmctl peek $c 0x10000 5
"""


class UsageError(Exception):
    pass


def _parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('-m', '--mount', metavar='MOUNTPOINT', default=argparse.SUPPRESS,
                        help='the machvmfs mount (default: $MACHVMFS_MOUNT)')
    p = argparse.ArgumentParser(
        prog=PROG, parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Runs one machvmfs call on a mounted machvmfs and prints its result.',
        epilog=EPILOG)
    verbs = p.add_subparsers(dest='verb', metavar='VERB')
    verbs.required = True

    def verb(name, help, *args):
        v = verbs.add_parser(name, parents=[common], help=help, description=help)
        for a in args:
            v.add_argument(a)
        return v

    verb('create', 'create a task; prints its id')
    verb('fork', 'fork task ID; prints the child\'s id', 'ID')
    verb('terminate', 'terminate task ID', 'ID')
    verb('allocate', 'vm_allocate at ADDR (or "anywhere"); prints the start',
         'ID', 'ADDR', 'SIZE')
    verb('deallocate', 'vm_deallocate', 'ID', 'ADDR', 'SIZE')
    v = verb('protect', 'vm_protect: set the protection (--max: the maximum)',
             'ID', 'ADDR', 'SIZE', 'PROT')
    v.add_argument('--max', action='store_true', help='set the maximum protection')
    verb('inherit', 'vm_inherit: share, copy or none', 'ID', 'ADDR', 'SIZE', 'INHERITANCE')
    verb('wire', 'vm_wire: wire for ACCESS (rw-, r--, ...); none unwires', 'ID', 'ADDR', 'SIZE',
         'ACCESS')
    verb('attr', 'vm_machine_attribute (cache|migrate|replicate on|off|flush|get...); '
         'prints the value for get', 'ID', 'ADDR', 'SIZE', 'ATTRIBUTE', 'VALUE')
    verb('copy', 'vm_copy SIZE bytes from SOURCE to DEST in task ID', 'ID', 'SOURCE', 'SIZE',
         'DEST')
    v = verb('remap', 'vm_remap into task ID; prints "address A cur_protection P '
             'max_protection M"', 'ID')
    v.add_argument('words', nargs='+', metavar='WORD',
                   help='src=TASK:ADDR size=N [at=ADDR|anywhere[=HINT]] [mask=M] [copy|share] '
                        '[inherit=INH]')
    v = verb('peek', 'read COUNT bytes of memory at ADDR; prints them as xxd does',
             'ID', 'ADDR', 'COUNT')
    v.add_argument('--raw', action='store_true', help='write the bytes as they are')
    v = verb('poke', 'write DATA (text, or hex digits with --hex) at ADDR', 'ID', 'ADDR', 'DATA')
    v.add_argument('--hex', action='store_true', help='DATA is hex digits ("68 65 6c")')
    v = verb('maps', 'print the task\'s regions (tasks/ID/maps)', 'ID')
    v.add_argument('--json', action='store_true', help='print maps.json instead')
    return p


def hexdump(addr, data):
    """xxd's lines for `data` read at `addr`: address, 16 bytes as 8 groups
    of 2 in hex, then the printable characters ('.' for the rest)."""
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        groups = ' '.join(chunk[i:i + 2].hex() for i in range(0, len(chunk), 2))
        text = ''.join(chr(b) if 0x20 <= b < 0x7f else '.' for b in chunk)
        lines.append('%08x: %-39s  %s' % (addr + off, groups, text))
    return lines


def _remap_args(words):
    """The remap file's words -> Task.remap's arguments."""
    kw, src = {}, None
    seen = set()
    for w in words:
        key, eq, value = w.partition('=')
        key = key.lower()
        if key in seen or (key in ('copy', 'share') and seen & {'copy', 'share'}) or \
                (key in ('at', 'anywhere') and seen & {'at', 'anywhere'}):
            raise UsageError('remap: %r given twice or with its opposite' % w)
        seen.add(key)
        if key == 'src' and eq:
            task, colon, addr = value.partition(':')
            if not colon or not task or not addr:
                raise UsageError('remap: src=TASK:ADDR, got %r' % w)
            src = (task, addr)
        elif key in ('size', 'at', 'mask', 'inherit') and eq and value:
            kw[key] = value
        elif key == 'anywhere':
            kw['anywhere'] = value if eq else True
        elif key in ('copy', 'share') and not eq:
            kw['copy'] = key == 'copy'
        else:
            raise UsageError('remap: unknown word %r' % w)
    if src is None or 'size' not in kw:
        raise UsageError('remap: src=TASK:ADDR and size=N are needed')
    return src, kw


def run(args, out):
    """Runs the parsed command; returns the exit status."""
    path = getattr(args, 'mount', None) or os.environ.get('MACHVMFS_MOUNT')
    if not path:
        raise UsageError('no mount point: give -m MOUNTPOINT or set MACHVMFS_MOUNT')
    host = Host(path)
    verb = args.verb
    if verb == 'create':
        print(host.create().id, file=out)
        return 0
    if verb in ('fork', 'terminate'):
        # tasks/ctl itself answers for a task that is not there (and records it)
        task = Task(host, parse_number(args.ID))
    else:
        task = host.task(args.ID)
    if verb == 'fork':
        print(task.fork().id, file=out)
    elif verb == 'terminate':
        task.terminate()
    elif verb == 'allocate':
        if args.ADDR.lower() == 'anywhere':
            a = task.allocate_anywhere(args.SIZE)
        else:
            a = task.allocate(args.ADDR, args.SIZE)
        print('0x%016x' % a, file=out)
    elif verb == 'deallocate':
        task.deallocate(args.ADDR, args.SIZE)
    elif verb == 'protect':
        task.protect(args.ADDR, args.SIZE, args.PROT, max=args.max)
    elif verb == 'inherit':
        task.inherit(args.ADDR, args.SIZE, args.INHERITANCE)
    elif verb == 'wire':
        task.wire(args.ADDR, args.SIZE, args.ACCESS)
    elif verb == 'attr':
        value = task.attr(args.ADDR, args.SIZE, args.ATTRIBUTE, args.VALUE)
        if value is not None:
            print(value, file=out)
    elif verb == 'copy':
        task.copy(args.SOURCE, args.SIZE, args.DEST)
    elif verb == 'remap':
        (src, addr), kw = _remap_args(args.words)
        r = task.remap(src, addr, kw.pop('size'), **kw)
        print('address 0x%016x cur_protection %s max_protection %s'
              % (r.address, r.protection, r.max_protection), file=out)
    elif verb == 'peek':
        try:
            addr, count = parse_number(args.ADDR), parse_size(args.COUNT)
        except ValueError as e:
            raise UsageError('peek: %s' % e) from None
        data = task.read(addr, count)
        if args.raw:
            out.flush()
            out.buffer.write(data)
            out.flush()
        else:
            for line in hexdump(addr, data):
                print(line, file=out)
        if len(data) < count:
            print('%s: peek: only %d of %d bytes at %#x are readable (a hole or a page '
                  'without read permission follows)' % (PROG, len(data), count, addr),
                  file=sys.stderr)
            return 1
    elif verb == 'poke':
        if args.hex:
            try:
                data = bytes.fromhex(args.DATA)
            except ValueError:
                raise UsageError('poke --hex: %r is not hex digits' % args.DATA) from None
        else:
            data = os.fsencode(args.DATA)
        try:
            addr = parse_number(args.ADDR)
        except ValueError as e:
            raise UsageError('poke: %s' % e) from None
        task.write(addr, data)
    elif verb == 'maps':
        if args.json:
            print(json.dumps(task.regions(), indent=2), file=out)
        else:
            for line in task.maps():
                print(line, file=out)
    return 0


def main(argv=None):
    """machvmctl's entry point; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return run(args, sys.stdout)
    except UsageError as e:
        parser.error(str(e))
    except KernError as e:
        print(e.message, file=sys.stderr)
        return 1
    except (MountError, ValueError, TypeError) as e:
        print('%s: %s' % (PROG, e), file=sys.stderr)
        return 1 if isinstance(e, MountError) else 2
    except BrokenPipeError:
        return 1


if __name__ == '__main__':
    sys.exit(main())
