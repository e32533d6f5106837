"""A mounted host and its tasks: `Host`, `Task` and `KernError`.

Every call is one write of one command line to a file of the tree (a ctl
file, `remap`, `mem`), followed by a read of the result on the same open
file, exactly as a shell user would do it; fs_layout.md describes the files.
"""
import collections
import errno as _errno
import json
import os
import re

__all__ = ['Host', 'Task', 'KernError', 'Remapped', 'parse_number', 'parse_size']

_KERN = re.compile(r'^([A-Z][A-Z0-9_]*): ')

# What a failed read of `mem` (which records no last_error line) means in
# the engine's words.
_MEM_ERRNO = {
    _errno.EFAULT: 'KERN_INVALID_ADDRESS',
    _errno.EACCES: 'KERN_PROTECTION_FAILURE',
}


class KernError(OSError):
    """A call the filesystem refused.

    `name` is the engine's KERN_ name (`KERN_NO_SPACE`), parsed from the
    task's `last_error` line; for a refusal that is not the engine's (a
    task that does not exist, a file that is not yours) it is the errno's
    name (`ENOENT`, `EACCES`).  `errno` is the errno of the failed write,
    `message` the whole line (`KERN_NO_SPACE: tasks/1/ctl: vm_allocate(...)
    failed: [0x10000, 0x14000) overlaps the region ..., got 'allocate 0x10000
    16K'`).  A KernError is an OSError, so
    `except OSError` catches it too.
    """

    def __init__(self, errno, message, name=None, filename=None):
        super().__init__(errno, os.strerror(errno), filename)
        self.message = message
        m = _KERN.match(message)
        self.name = name or (m.group(1) if m else _errno.errorcode.get(errno, 'EIO'))
        #: for `Task.write`: how many bytes were written before the failure
        self.written = 0

    def __str__(self):
        return self.message

    def __reduce__(self):
        return (KernError, (self.errno, self.message, self.name, self.filename))


#: What `Task.remap` returns: the new start, and the protections it got.
Remapped = collections.namedtuple('Remapped', 'address protection max_protection')


def parse_number(text):
    """A number as the tree accepts it: an int, or decimal or 0x hex text."""
    if isinstance(text, int):
        return text
    s = str(text).strip()
    try:
        return int(s, 16) if s[:2].lower() == '0x' else int(s, 10)
    except ValueError:
        raise ValueError('not a number (decimal or 0x hex): %r' % text) from None


def parse_size(text):
    """A size as the tree accepts it: a number with an optional K, M or G
    suffix (times 2^10, 2^20, 2^30)."""
    if isinstance(text, int):
        return text
    s = str(text).strip()
    scale = {'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30}.get(s[-1:].lower())
    if scale:
        return parse_number(s[:-1]) * scale
    return parse_number(s)


def _word(value, what):
    """One word of a command line: ints in hex, text as given (the daemon
    parses it: `16K`, `rw-`, `share`), refusing what would break the line."""
    if isinstance(value, bool):
        raise TypeError('%s: a number or a word, not %r' % (what, value))
    if isinstance(value, int):
        if value < 0:
            raise ValueError('%s: %d is negative' % (what, value))
        return '%#x' % value
    if isinstance(value, str):
        if not value or any(c.isspace() or not c.isprintable() for c in value):
            raise ValueError('%s: %r is not one word' % (what, value))
        return value
    raise TypeError('%s: a number or a word, not %r' % (what, value))


def _prot(value, what='protection'):
    """A protection: 'rw-', 'VM_PROT_READ|VM_PROT_WRITE', or an int 0-7."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 7:
            raise ValueError('%s: %d is not 0-7' % (what, value))
        return str(value)
    return _word(value, what)


def _errno_error(e, rel):
    """An OSError from the tree itself (no last_error line) as a KernError."""
    name = _errno.errorcode.get(e.errno, 'EIO')
    return KernError(e.errno, '%s: %s: %s' % (name, rel, os.strerror(e.errno)), name,
                     os.path.join(rel))


class Host:
    """A mounted machvmfs: `Host(path)` for a mount made any way (`mount()`
    gives one too).  Raises KernError (ENOENT) if `path` is not a machvmfs
    mount point."""

    def __init__(self, path, daemon=None):
        self.path = os.path.abspath(os.fspath(path))
        #: the `Daemon` serving the mount when `mount()` made it, else None
        self.daemon = daemon
        if not os.path.isfile(os.path.join(self.path, 'tasks', 'ctl')) or \
                not os.path.isfile(os.path.join(self.path, 'host', 'page_size')):
            raise KernError(_errno.ENOENT, 'ENOENT: %s: not a machvmfs mount' % self.path,
                            'ENOENT', self.path)

    def __repr__(self):
        return '<machvmfs.Host %s>' % self.path

    # ---- files ---------------------------------------------------------------

    def file(self, rel):
        """The full path of a file of the tree (`'host/stats'`)."""
        return os.path.join(self.path, rel)

    def read(self, rel):
        """The text of a file of the tree."""
        try:
            with open(self.file(rel), 'rb') as f:
                return f.read().decode()
        except OSError as e:
            raise _errno_error(e, rel) from None

    def command(self, rel, line):
        """Writes one command line to a ctl-like file (`tasks/ctl`,
        `tasks/<id>/ctl`, `tasks/<id>/remap`, `host/save`) and returns the
        result read back on the same open file, without its newline.  A
        refused write raises KernError with the failure's line."""
        data = (line + '\n').encode()
        try:
            fd = os.open(self.file(rel), os.O_RDWR)
        except OSError as e:
            raise _errno_error(e, rel) from None
        try:
            try:
                n = os.write(fd, data)
            except OSError as e:
                raise self._failure(fd, e, rel) from None
            if n != len(data):
                raise KernError(_errno.EIO, 'EIO: %s: short write (%d of %d bytes)'
                                % (rel, n, len(data)), 'EIO', rel)
            return self._result(fd).rstrip('\n')
        finally:
            os.close(fd)

    @staticmethod
    def _result(fd):
        out = b''
        while not out.endswith(b'\n'):
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk
        return out.decode('utf-8', 'replace')

    def _failure(self, fd, e, rel):
        """The KernError for a refused write: its line, read back on the
        same open file (the daemon puts the failure's line there)."""
        try:
            line = self._result(fd).strip()
        except OSError:
            line = ''
        if not line:
            return _errno_error(e, rel)
        return KernError(e.errno, line, None, rel)

    # ---- the host ------------------------------------------------------------

    @property
    def page_size(self):
        """The host's page size in bytes."""
        return int(self.read('host/page_size'))

    def stats(self):
        """host/stats as a dict of ints."""
        return _key_values(self.read('host/stats'))

    @property
    def last_error(self):
        """tasks/last_error: the last failure of tasks/ctl, or 'none'."""
        return self.read('tasks/last_error').rstrip('\n')

    # ---- tasks ---------------------------------------------------------------

    def create(self):
        """A new empty task (`create` in tasks/ctl)."""
        return Task(self, int(self.command('tasks/ctl', 'create')))

    def task(self, id):
        """The live task `id`; KernError (ENOENT) if there is none."""
        t = Task(self, _task_id(id))
        if not os.path.isdir(t.path):
            raise KernError(_errno.ENOENT, 'ENOENT: tasks/%d: no such task' % t.id, 'ENOENT',
                            'tasks/%d' % t.id)
        return t

    def tasks(self):
        """Every live task, by id."""
        try:
            names = os.listdir(self.file('tasks'))
        except OSError as e:
            raise _errno_error(e, 'tasks') from None
        return [Task(self, i) for i in sorted(int(n) for n in names if n.isdigit())]


def _task_id(id):
    if isinstance(id, Task):
        return id.id
    n = parse_number(id)
    if not 1 <= n <= 0xffffffff:
        raise ValueError('task id %r: not 1 to 4294967295' % id)
    return n


def _key_values(text):
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(' ')
        if key:
            value = value.strip()
            out[key] = int(value) if value.isdigit() else value
    return out


class Task:
    """One task of a host: its map calls (one line each to tasks/<id>/ctl),
    its memory (tasks/<id>/mem) and its regions (maps.json).  Get one from
    `Host.create()`, `Host.task(id)` or `Task.fork()`.

    Addresses and sizes are ints, or text the tree accepts (`'0x10000'`,
    `'16K'`); protections `'rw-'` (or an int 0-7, or VM_PROT_* names joined
    by `|`); inheritances `'share'`, `'copy'`, `'none'`.  Every refused call
    raises KernError and changes nothing.
    """

    def __init__(self, host, id):
        self.host = host
        self.id = int(id)
        #: the task's directory, tasks/<id>
        self.path = host.file('tasks/%d' % self.id)

    def __repr__(self):
        return '<machvmfs.Task %d of %s>' % (self.id, self.host.path)

    def __eq__(self, other):
        return isinstance(other, Task) and (self.host.path, self.id) == (other.host.path, other.id)

    def __hash__(self):
        return hash((self.host.path, self.id))

    def __int__(self):
        return self.id

    def _rel(self, name):
        return 'tasks/%d/%s' % (self.id, name)

    def ctl(self, line):
        """Runs one raw command line of tasks/<id>/ctl; returns its result."""
        return self.host.command(self._rel('ctl'), line)

    # ---- life ---------------------------------------------------------------

    def fork(self):
        """A child task whose map is built from this one's by inheritance."""
        return Task(self.host, int(self.host.command('tasks/ctl', 'fork %d' % self.id)))

    def terminate(self):
        """Ends the task and frees its memory (`terminate` in tasks/ctl)."""
        self.host.command('tasks/ctl', 'terminate %d' % self.id)

    @property
    def alive(self):
        """True while the task exists."""
        return os.path.isdir(self.path)

    @property
    def parent(self):
        """The parent's id, or None for a task made by create()."""
        text = self.host.read(self._rel('parent')).strip()
        return None if text == 'none' else int(text)

    def status(self):
        """tasks/<id>/status as a dict (numbers as ints)."""
        return _key_values(self.host.read(self._rel('status')))

    @property
    def last_error(self):
        """The task's last_error line ('none' before any failure)."""
        return self.host.read(self._rel('last_error')).rstrip('\n')

    # ---- map calls ------------------------------------------------------------

    def allocate(self, addr, size):
        """vm_allocate at exactly `addr`; returns the start (an int)."""
        return int(self.ctl('allocate %s %s' % (_word(addr, 'address'), _word(size, 'size'))), 16)

    def allocate_anywhere(self, size):
        """vm_allocate wherever the lowest fit is; returns the start."""
        return int(self.ctl('allocate anywhere %s' % _word(size, 'size')), 16)

    def deallocate(self, addr, size):
        """vm_deallocate."""
        self.ctl('deallocate %s %s' % (_word(addr, 'address'), _word(size, 'size')))

    def protect(self, addr, size, prot, max=False):
        """vm_protect: sets the current protection, or with max=True the
        maximum (which lowers the current one with it)."""
        self.ctl('protect %s %s %s%s' % (_word(addr, 'address'), _word(size, 'size'), _prot(prot),
                                         ' max' if max else ''))

    def inherit(self, addr, size, inheritance):
        """vm_inherit: 'share', 'copy' or 'none' (or 0, 1, 2)."""
        self.ctl('inherit %s %s %s' % (_word(addr, 'address'), _word(size, 'size'),
                                       _inheritance(inheritance)))

    def map_inherit(self, start, end, inheritance):
        """vm_map_inherit on [start, end)."""
        self.ctl('map_inherit %s %s %s' % (_word(start, 'start'), _word(end, 'end'),
                                           _inheritance(inheritance)))

    def wire(self, addr, size, access):
        """vm_wire: wires once more for an access such as 'rw-'; 'none'
        (or '---', 0) unwires once."""
        self.ctl('wire %s %s %s' % (_word(addr, 'address'), _word(size, 'size'),
                                    _prot(access, 'access')))

    def attr(self, addr, size, attribute, value):
        """vm_machine_attribute: `attribute` 'cache', 'migrate' or
        'replicate'; `value` 'on', 'off', 'flush', ... or 'get', for which
        it returns 'on' or 'off' (None otherwise)."""
        out = self.ctl('attr %s %s %s %s' % (_word(addr, 'address'), _word(size, 'size'),
                                             _word(attribute, 'attribute'),
                                             _word(value, 'value')))
        return out if out != 'ok' else None

    def copy(self, source, size, dest):
        """vm_copy of [source, source+size) to dest, in this task."""
        self.ctl('copy %s %s %s' % (_word(source, 'source'), _word(size, 'size'),
                                    _word(dest, 'dest')))

    def remap(self, src, addr, size, *, at=None, anywhere=None, mask=None, copy=False,
              inherit=None):
        """vm_remap of [addr, addr+size) of task `src` (a Task or an id) into
        this task: at `at` exactly, or anywhere (the lowest fit from the hint
        `anywhere`, or from 0); shared, or with copy=True copied; `mask`
        and `inherit` as the remap file takes them.  Returns Remapped
        (address, protection, max_protection)."""
        if at is not None and anywhere not in (None, False):
            raise ValueError('remap: at= and anywhere= exclude each other')
        words = ['src=%d:%s' % (_task_id(src), _word(addr, 'address')),
                 'size=%s' % _word(size, 'size')]
        if at is not None:
            words.append('at=%s' % _word(at, 'at'))
        elif anywhere is True:
            words.append('anywhere')
        elif anywhere not in (None, False):
            words.append('anywhere=%s' % _word(anywhere, 'anywhere'))
        if mask is not None:
            words.append('mask=%s' % _word(mask, 'mask'))
        words.append('copy' if copy else 'share')
        if inherit is not None:
            words.append('inherit=%s' % _inheritance(inherit))
        out = self.host.command(self._rel('remap'), ' '.join(words))
        m = re.match(r'address (0x[0-9a-f]+) cur_protection (\S+) max_protection (\S+)$', out)
        if not m:
            raise KernError(_errno.EIO, 'EIO: %s: unexpected result %r' % (self._rel('remap'), out),
                            'EIO')
        return Remapped(int(m.group(1), 16), m.group(2), m.group(3))

    # ---- memory ---------------------------------------------------------------

    def read(self, addr, n):
        """Up to `n` bytes of memory from `addr` (vm_read through `mem`).
        Stops short at a hole or a page without read permission; raises
        KernError if the first byte cannot be read (KERN_INVALID_ADDRESS:
        unallocated, KERN_PROTECTION_FAILURE: not readable)."""
        addr, n = parse_number(addr), parse_size(n)
        rel = self._rel('mem')
        try:
            fd = os.open(self.host.file(rel), os.O_RDONLY)
        except OSError as e:
            raise _errno_error(e, rel) from None
        buf = bytearray()
        try:
            while len(buf) < n:
                try:
                    chunk = os.pread(fd, n - len(buf), addr + len(buf))
                except OSError as e:
                    if buf:
                        break
                    name = _MEM_ERRNO.get(e.errno, _errno.errorcode.get(e.errno, 'EIO'))
                    raise KernError(e.errno, '%s: %s: vm_read(task %d, %#x, %d) failed (%s)'
                                    % (name, rel, self.id, addr, n, os.strerror(e.errno)),
                                    name, rel) from None
                if not chunk:
                    break
                buf += chunk
        finally:
            os.close(fd)
        return bytes(buf)

    def write(self, addr, data):
        """Writes `data` (bytes, or str as UTF-8) at `addr` (vm_write through
        `mem`, resolving copy-on-write); returns len(data).  Raises
        KernError if not all of it could be written (a hole, a page without
        write permission): its `written` says how many bytes were."""
        addr = parse_number(addr)
        data = data.encode() if isinstance(data, str) else bytes(data)
        rel = self._rel('mem')
        try:
            fd = os.open(self.host.file(rel), os.O_WRONLY)
        except OSError as e:
            raise _errno_error(e, rel) from None
        done = 0
        try:
            while done < len(data):
                try:
                    n = os.pwrite(fd, data[done:], addr + done)
                except OSError as e:
                    err = self._mem_write_error(e, rel, addr + done, len(data) - done)
                    err.written = done
                    raise err from None
                if n <= 0:
                    break
                done += n
        finally:
            os.close(fd)
        return done

    def _mem_write_error(self, e, rel, addr, n):
        """A failed write to mem records a last_error line: use it when it
        is about mem, else say what failed in the same words."""
        try:
            line = self.last_error
        except OSError:
            line = ''
        if not (_KERN.match(line) and (' %s: ' % rel) in line):
            name = _MEM_ERRNO.get(e.errno, _errno.errorcode.get(e.errno, 'EIO'))
            line = '%s: %s: vm_write(task %d, %#x, %d) failed (%s)' % (
                name, rel, self.id, addr, n, os.strerror(e.errno))
        return KernError(e.errno, line, None, rel)

    # ---- looking ---------------------------------------------------------------

    def regions(self):
        """maps.json: one dict per region, in address order (`start`,
        `end`, `size`, `protection`, `max_protection`, `inheritance`,
        `wired`, `shared`, `share_mode`, `object`, ... as fs_layout.md
        lists them)."""
        return json.loads(self.host.read(self._rel('maps.json')))

    def maps(self):
        """The lines of tasks/<id>/maps."""
        return self.host.read(self._rel('maps')).splitlines()


def _inheritance(value):
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in (0, 1, 2):
            raise ValueError('inheritance: %d is not 0, 1 or 2' % value)
        return str(value)
    return _word(value, 'inheritance')
