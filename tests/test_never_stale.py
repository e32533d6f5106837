"""Randomized: after any write, nothing the kernel caches is stale.

tests/test_fresh.py checks the cases one by one; this test throws thousands of
random calls at a fresh mount through every writable file: tasks/ctl (create,
fork, terminate), tasks/<id>/ctl with every verb (one or several lines a
write), the region files, tasks/<id>/remap, tasks/<id>/mem and rmdir
tasks/<id>, in a small address space (a window of 64 pages at 0x100000 and a
few pages at the bottom, where `anywhere` lands) of a few tasks, so that
regions split, merge and vanish all the time.  Some calls line a region up
with its neighbour on purpose (random calls seldom do), the last of them a
flush or a share given only the region's first page, so that the merge
happens past the range the call names.  Many calls fail; a failed call of
one engine call must change no map.

After every call a walker, one long-lived process started with the mount
(this file run as a script), looks at the tree as a user would, by path: it
lists tasks/, and for each live task lists regions/, reads maps.json, maps
and graph.dot (its entries, their objects and copy-on-write edges), and reads
every file of every region, then lists objects/ and reads
every file of every object, so the kernel holds all those
names when the next call comes (it also keeps each task's regions/ and each
region directory open).  Everything must agree exactly with maps.json read at
the same moment (nothing else runs), and every name the walker held before
the call that is no region start now must not resolve: stat and open by path,
and lookups relative to the open regions/, give ENOENT.  A terminated task's
directory must be gone, and so must every name below it; so must an object
that died (objects/<id> by path and through a kept fd), and every object a
region names must be listed.

The seed is printed; MACHVM_SEED=<n> replays a run (the calls depend only on
the seed and on what the filesystem answers), MACHVM_STALE_STEPS=<n> sets the
number of calls (a long run needs MACHVM_TEST_TIMEOUT raised too: the mount's
watchdog kills the daemon after that many seconds).
"""
import errno
import json
import os
import random
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

W = 0x100000            # the window most addresses fall in ...
WINDOW = 64             # ... of this many pages
LOW_PAGES = 24          # and the bottom pages, where `allocate anywhere` goes
MAX_TASKS = 4
CROWD = 12              # regions in a task above which it frees more
# Calls in a run by default, per build variant: a step costs about 25 ms
# with either build (most of it the walker's reads), so about 45 s for the
# debug build and 70 s under the sanitizers, which are told more.
DEFAULT_STEPS = {'debug': 1800, 'asan': 2800}
# The default run stops early (and passes) after this many seconds: the
# debug build's share of CI, and under the sanitizers well before the mount's
# watchdog (MACHVM_TEST_TIMEOUT) would kill the daemon.
BUDGET = {'debug': 55.0}
WATCHDOG_SHARE = 0.75
FULL_CHECK_EVERY = 8    # steps between checks of every name ever held
READ_THREADS = 4

REGION_FILES = ('start', 'end', 'size', 'protection', 'max_protection', 'inheritance',
                'wired', 'attr', 'shared', 'share_mode', 'object', 'offset', 'info')
INFO_KEYS = ('start', 'end', 'size', 'protection', 'max_protection', 'inheritance',
             'wired', 'shared', 'needs_copy', 'share_mode', 'object', 'offset',
             'shadow_depth', 'ref_count', 'resident_pages', 'cache', 'migrate',
             'replicate', 'cache_flushes', 'dcache_flushes', 'icache_flushes',
             'private_pages', 'shared_pages', 'cow_pages')
OBJECT_FILES = ('size', 'resident_pages', 'ref_count', 'shadow', 'shadow_offset',
                'shadowed_by', 'mapped_by', 'pages', 'chain')


def ename(e):
    return errno.errorcode.get(e, str(e))


# ============================================================================
# The walker: run as `python3 test_never_stale.py MOUNTPOINT`.  One JSON
# command a line on stdin, one JSON answer a line on stdout.
# ============================================================================

def _read(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            chunks.append(b)
        return b''.join(chunks).decode('utf-8', 'replace')
    finally:
        os.close(fd)


def _try_read(path):
    try:
        return _read(path)
    except OSError as e:
        return '<%s>' % ename(e.errno)


def _fmt(key, v):
    if key in ('shared', 'needs_copy'):
        return 'yes' if v else 'no'
    if key == 'object':
        return 'none' if v is None else '%d' % v
    if key == 'offset':
        return '0x%x' % v
    return str(v)


def expected_files(r):
    """What each file of region r (a maps.json entry) must read: the
    files named as fields of maps.json, attr and info."""
    e = {k: _fmt(k, r[k]) + '\n' for k in r}
    e['attr'] = 'cache %s\nmigrate %s\nreplicate %s\n' % (r['cache'], r['migrate'], r['replicate'])
    e['info'] = ''.join('%s %s\n' % (k, _fmt(k, r[k])) for k in INFO_KEYS)
    return e


ENTRY_NODE = re.compile(r'^\tentry_(\d+)_(0x[0-9a-f]{16}) \[', re.M)
ENTRY_EDGE = re.compile(r'^\tentry_(\d+)_(0x[0-9a-f]{16}) -> object_(\d+) \[style=(\w+)', re.M)


def graph_entries(text, task):
    """The entries tasks/<id>/graph.dot draws: (start, object or None,
    drawn copy-on-write), in order."""
    edges = {m.group(2): (int(m.group(3)), m.group(4) == 'dashed')
             for m in ENTRY_EDGE.finditer(text) if int(m.group(1)) == task}
    return [(m.group(2),) + edges.get(m.group(2), (None, False))
            for m in ENTRY_NODE.finditer(text) if int(m.group(1)) == task]


def maps_line(r):
    return '%016x-%016x %s/%s %s wired=%d %s shared=%s object=%s offset=0x%x' % (
        int(r['start'], 16), int(r['end'], 16), r['protection'], r['max_protection'],
        r['inheritance'], r['wired'], r['share_mode'], 'yes' if r['shared'] else 'no',
        'none' if r['object'] is None else r['object'], r['offset'])


class Walker:
    def __init__(self, root):
        self.root = root
        self.tasks = os.path.join(root, 'tasks')
        self.held = {}      # task -> region names looked up in the last sweep
        self.ever = {}      # task -> every region name ever looked up
        self.dirfds = {}    # task -> an open fd of its regions/
        # task -> {name: an O_PATH fd of regions/<name>}: a name in use stays
        # in the kernel's cache even when its directory is removed (rmdir
        # drops only the unused names below it), as a working directory does
        self.pins = {}
        self.pool = ThreadPoolExecutor(READ_THREADS)
        self.checked = 0    # names checked to be gone, in all
        self.files = None   # the files of a region directory (REGION_FILES at least)
        self.objects = os.path.join(root, 'objects')
        self.objects_ever = set()   # every objects/<id> name looked up
        self.object_pins = {}       # id name -> an O_PATH fd of objects/<id>

    def close(self):
        for fd in self.dirfds.values():
            os.close(fd)
        self.dirfds.clear()
        for pins in self.pins.values():
            for fd in pins.values():
                os.close(fd)
        self.pins.clear()
        for fd in self.object_pins.values():
            os.close(fd)
        self.object_pins.clear()
        self.pool.shutdown()

    def _unpin(self, task, name):
        fd = self.pins.get(task, {}).pop(name, None)
        if fd is not None:
            os.close(fd)

    def _must_fail(self, diffs, what, fn, *args, want=(errno.ENOENT,), **kw):
        try:
            r = fn(*args, **kw)
        except OSError as e:
            if e.errno not in want:
                # ESRCH comes from the inode of a dead task: the name led to it
                diffs.append('%s%s: %s, want %s' % (
                    'STALE: ' if e.errno == errno.ESRCH else '', what, ename(e.errno),
                    '/'.join(ename(w) for w in want)))
            return
        if isinstance(r, int) and fn is os.open:
            os.close(r)
        detail = ' (inode %d)' % r.st_ino if isinstance(r, os.stat_result) else ''
        diffs.append('STALE: %s succeeded%s, want %s'
                     % (what, detail, '/'.join(ename(w) for w in want)))

    def _absent(self, diffs, task, name):
        """Region name `name` of live task `task` is no region start: gone."""
        d = os.path.join(self.tasks, str(task), 'regions', name)
        self._must_fail(diffs, 'stat %s' % d, os.stat, d)
        self._must_fail(diffs, 'stat %s/info' % d, os.stat, os.path.join(d, 'info'))
        self._must_fail(diffs, 'open %s/protection' % d, os.open,
                        os.path.join(d, 'protection'), os.O_RDONLY)
        fd = self.dirfds.get(task)
        if fd is not None:
            self._must_fail(diffs, 'fstatat(regions fd of task %d, %s)' % (task, name),
                            os.stat, name, dir_fd=fd)
            self._must_fail(diffs, 'fstatat(regions fd of task %d, %s/size)' % (task, name),
                            os.stat, name + '/size', dir_fd=fd)

    def _task_gone(self, diffs, task):
        t = os.path.join(self.tasks, str(task))
        self._must_fail(diffs, 'stat %s' % t, os.stat, t)
        self._must_fail(diffs, 'stat %s/maps' % t, os.stat, os.path.join(t, 'maps'))
        self._must_fail(diffs, 'open %s/ctl' % t, os.open, os.path.join(t, 'ctl'), os.O_RDONLY)
        fd = self.dirfds.pop(task, None)
        self.checked += len(self.ever.get(task, ()))
        for name in sorted(self.ever.get(task, ())):
            d = os.path.join(t, 'regions', name)
            self._must_fail(diffs, 'stat %s' % d, os.stat, d)
            self._must_fail(diffs, 'stat %s/info' % d, os.stat, os.path.join(d, 'info'))
            if fd is not None:
                self._must_fail(diffs, 'fstatat(regions fd of dead task %d, %s)' % (task, name),
                                os.stat, name, dir_fd=fd)
                self._must_fail(diffs, 'fstatat(regions fd of dead task %d, %s/size)'
                                % (task, name), os.stat, name + '/size', dir_fd=fd)
        if fd is not None:
            # an open directory of a terminated task lists nothing: ESRCH
            self._must_fail(diffs, 'listing the kept regions/ fd of dead task %d' % task,
                            os.listdir, fd, want=(errno.ESRCH,))
            os.close(fd)
        for fd in self.pins.pop(task, {}).values():
            os.close(fd)
        self.held.pop(task, None)
        self.ever.pop(task, None)

    def sweep_objects(self, diffs, maps):
        """objects/: every object a region reaches is listed, every file of
        every listed object reads, and every object name held before the
        call that is not listed now is gone (by path and by a kept fd)."""
        names = set(os.listdir(self.objects))
        for n in sorted(self.objects_ever - names):
            d = os.path.join(self.objects, n)
            self._must_fail(diffs, 'stat %s' % d, os.stat, d)
            self._must_fail(diffs, 'stat %s/size' % d, os.stat, os.path.join(d, 'size'))
            fd = self.object_pins.pop(n, None)
            if fd is not None:
                self._must_fail(diffs, 'fstatat(kept fd of objects/%s, chain)' % n,
                                os.stat, 'chain', dir_fd=fd)
                os.close(fd)
            self.checked += 1
        self.objects_ever &= names
        for task, regions in maps.items():
            for r in regions:
                if r['object'] is not None and str(r['object']) not in names:
                    diffs.append('task %d region %s: object %s not in objects/ %s'
                                 % (task, r['start'], r['object'], sorted(names)))
        paths = [os.path.join(self.objects, n, f) for n in sorted(names) for f in OBJECT_FILES]
        texts = list(self.pool.map(_try_read, paths, chunksize=8))
        for path, got in zip(paths, texts):
            # an object may die between the listing and the read: ENOENT then
            if got.startswith('<') and got != '<ENOENT>':
                diffs.append('%s reads %r' % (path, got))
        for n in names:
            if n not in self.object_pins:
                try:
                    self.object_pins[n] = os.open(os.path.join(self.objects, n),
                                                  os.O_PATH | os.O_DIRECTORY)
                except OSError:
                    continue
            self.objects_ever.add(n)

    def sweep(self, full=False):
        diffs = []
        listing = os.listdir(self.tasks)
        ids = sorted(int(n) for n in listing if n.isdigit())
        extra = sorted(n for n in listing if not n.isdigit())
        if extra != ['ctl', 'last_error']:
            diffs.append('tasks/ lists %r besides the tasks' % extra)
        for task in sorted(set(self.held) - set(ids)):
            self._task_gone(diffs, task)
        maps = {}
        for task in ids:
            tdir = os.path.join(self.tasks, str(task))
            rdir = os.path.join(tdir, 'regions')
            try:
                if task not in self.dirfds:
                    self.dirfds[task] = os.open(rdir, os.O_RDONLY | os.O_DIRECTORY)
                names = sorted(os.listdir(rdir))
                regions = json.loads(_read(os.path.join(tdir, 'maps.json')))
                text = _read(os.path.join(tdir, 'maps'))
            except (OSError, ValueError) as e:
                diffs.append('task %d is listed in tasks/ but: %r' % (task, e))
                continue
            maps[task] = regions
            try:
                picture = _read(os.path.join(tdir, 'graph.dot'))
            except OSError as e:
                diffs.append('task %d: graph.dot: %r' % (task, e))
                picture = ''
            drawn = graph_entries(picture, task)
            want = [(r['start'], r['object'], r['needs_copy']) for r in regions]
            if drawn != want:
                diffs.append('task %d: graph.dot draws %s\n    but maps.json says %s'
                             % (task, drawn, want))
            starts = [r['start'] for r in regions]
            if names != starts:
                diffs.append('task %d: ls regions/ = %s\n    but maps.json starts = %s'
                             % (task, names, starts))
            at = 0
            for r in regions:
                s, e = int(r['start'], 16), int(r['end'], 16)
                if s < at or e - s != r['size'] or r['size'] <= 0:
                    diffs.append('task %d: maps.json is not a map: %r' % (task, r))
                at = e
            want = ''.join(maps_line(r) + '\n' for r in regions)
            if text != want:
                diffs.append('task %d: maps reads\n%s    maps.json says\n%s' % (task, text, want))
            # names held before the call that are no region start now
            gone = (self.ever if full else self.held).get(task, set()) - set(starts)
            for name in sorted(gone):
                self._absent(diffs, task, name)
                self._unpin(task, name)
            self.checked += len(gone)
            # every file of every region, by path
            by_start = {r['start']: r for r in regions}
            look = sorted(set(names) | set(starts))
            if look and self.files is None:
                self.files = sorted(os.listdir(os.path.join(rdir, look[0])))
                missing = sorted(set(REGION_FILES) - set(self.files))
                if missing:
                    diffs.append('a region directory lists %s: %s missing'
                                 % (self.files, missing))
            files = self.files or REGION_FILES
            paths = [os.path.join(rdir, n, f) for n in look for f in files]
            texts = list(self.pool.map(_try_read, paths, chunksize=8))
            i = 0
            for n in look:
                r = by_start.get(n)
                exp = expected_files(r) if r else {}
                for f in files:
                    got = texts[i]
                    i += 1
                    want = exp.get(f, '<ENOENT>')
                    if f == 'chain' and r:  # from the region's object down
                        top = got.split('\n')[0].split(' ')[:3]
                        if (r['object'] is None and got != '') or (
                                r['object'] is not None and top != ['0', str(r['object']), '0x0']):
                            diffs.append('task %d region %s chain reads %r, object %s'
                                         % (task, n, got, r['object']))
                    elif f not in exp and r:  # a file maps.json has no field for
                        if got.startswith('<') or not got.endswith('\n'):
                            diffs.append('task %d region %s file %s reads %r'
                                         % (task, n, f, got))
                    elif got != want:
                        diffs.append('task %d region %s file %s reads %r, maps.json says %r'
                                     % (task, n, f, got, want))
            held = set(look)
            pins = self.pins.setdefault(task, {})
            for n in starts:
                if n not in pins:
                    try:
                        pins[n] = os.open(os.path.join(rdir, n), os.O_PATH | os.O_DIRECTORY)
                    except OSError as e:
                        diffs.append('task %d region %s: open(O_PATH): %s'
                                     % (task, n, ename(e.errno)))
            self.held[task] = held
            self.ever.setdefault(task, set()).update(held)
        self.sweep_objects(diffs, maps)
        return {'tasks': ids, 'maps': {str(k): v for k, v in maps.items()}, 'diffs': diffs,
                'checked': self.checked}


def walker_main(root):
    w = Walker(root)
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd['op'] == 'quit':
                break
            try:
                out = w.sweep(full=cmd.get('full', False))
            except Exception as e:      # report it, keep going
                import traceback
                out = {'tasks': [], 'maps': {}, 'diffs': ['walker crashed: %r\n%s'
                                                          % (e, traceback.format_exc())]}
            sys.stdout.write(json.dumps(out) + '\n')
            sys.stdout.flush()
    finally:
        w.close()


class WalkerProcess:
    """The walker as a subprocess of the test."""

    def __init__(self, root):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), root],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd='/')

    def sweep(self, full=False):
        self.proc.stdin.write(json.dumps({'op': 'sweep', 'full': full}) + '\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, 'the walker died (exit %s)' % self.proc.poll()
        return json.loads(line)

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({'op': 'quit'}) + '\n')
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ============================================================================
# The calls.
# ============================================================================

PROTS = ['rw-'] * 6 + ['r--'] * 4 + ['rwx', '---', 'r-x', '-w-', '--x', 'rw', 'none', '7', '3',
                                      'VM_PROT_READ|VM_PROT_WRITE', 'VM_PROT_DEFAULT']
INHERITS = ['copy'] * 5 + ['share'] * 3 + ['none'] * 2 + ['VM_INHERIT_SHARE', '1', '2']
ACCESSES = ['rw-', 'r--', 'r--', 'none', '---', '---']
ATTRS = ['cache'] * 6 + ['migrate', 'replicate', 'MATTR_CACHE', '4']
ATTR_VALUES = ['on'] * 4 + ['off'] * 4 + ['get'] * 2 + ['flush'] * 4 + ['dcache_flush',
                                                                     'icache_flush', 'MATTR_VAL_OFF']


# The fields equalize() lines up, those it does last, and whether it can.
EQUALIZE = ('protection', 'max_protection', 'inheritance', 'wired', 'cache', 'migrate',
            'replicate', 'cache_flushes', 'dcache_flushes', 'icache_flushes', 'shared')
LAST = ('cache_flushes', 'dcache_flushes', 'icache_flushes', 'shared')


def fixable(k, target, model):
    if k in ('cache_flushes', 'dcache_flushes', 'icache_flushes'):
        return target[k] < model[k]
    if k == 'shared':
        return model[k]
    if k == 'max_protection':       # only lowered
        return all(c == '-' or c == t for c, t in zip(model[k], target[k]))
    return True


class Calls:
    """Picks random calls from the state the walker last saw."""

    def __init__(self, mnt, rng):
        self.m = mnt
        self.P = mnt.P
        self.rng = rng
        self.live = []          # the tasks we made and have not terminated
        self.dead = []
        self.maps = {}          # task -> the walker's last maps.json of it
        self.focus = None       # the pair of regions equalize() works on

    # ---- values ------------------------------------------------------------

    def regions(self, task):
        return self.maps.get(task, [])

    def region(self, task):
        regs = self.regions(task)
        return self.rng.choice(regs) if regs else None

    def holes(self, task):
        """The unallocated [lo, hi) of the window and of the bottom pages."""
        out = []
        for lo, hi in ((self.P, self.P * (1 + LOW_PAGES)), (W, W + WINDOW * self.P)):
            at = lo
            for r in self.regions(task):
                s, e = int(r['start'], 16), int(r['end'], 16)
                if e <= at or s >= hi:
                    continue
                if s > at:
                    out.append((at, s))
                at = max(at, e)
            if at < hi:
                out.append((at, hi))
        return out

    def addr(self, task):
        rng, P = self.rng, self.P
        x = rng.random()
        r = self.region(task)
        if x < 0.55:
            return W + rng.randrange(WINDOW) * P
        if x < 0.72 and r:
            return int(r['start' if rng.random() < 0.6 else 'end'], 16)
        if x < 0.84:
            return P + rng.randrange(LOW_PAGES) * P
        if x < 0.93:
            return W + rng.randrange(-4, WINDOW + 4) * P
        if x < 0.97:
            return W + rng.randrange(WINDOW * P)
        return rng.choice([0, 1 << 47, (1 << 47) - P, (1 << 64) - P])

    def size(self):
        rng, P = self.rng, self.P
        x = rng.random()
        if x < 0.7:
            return rng.randint(1, 8) * P
        if x < 0.85:
            return rng.randint(9, 48) * P
        if x < 0.9:
            return rng.randrange(1, 3 * P)
        if x < 0.95:
            return 0
        return rng.choice([1 << 47, (1 << 64) - P])

    def span(self, task):
        """An (addr, size) to apply a call to: often exactly some regions."""
        regs = self.regions(task)
        if regs and self.rng.random() < 0.35:
            i = self.rng.randrange(len(regs))
            j = min(len(regs) - 1, i + self.rng.choice([0, 0, 0, 1, 2]))
            a = int(regs[i]['start'], 16)
            return a, int(regs[j]['end'], 16) - a
        return self.addr(task), self.size()

    def num(self, v):
        return ('%#x' if self.rng.random() < 0.7 else '%d') % v

    def some_task(self):
        """A live task, now and then a dead or unknown one."""
        x = self.rng.random()
        if self.live and x < 0.95:
            return self.rng.choice(self.live)
        if self.dead and x < 0.98:
            return self.rng.choice(self.dead)
        return 999999

    # ---- the calls: each is (kind, description, thunk, single, effect) -----
    # single: one engine call, which changes nothing if it fails; effect:
    # ('create',) makes a task (the result is its id), ('rmdir', t) ends t,
    # ('past', t, start): the call may merge region `start` of task t into
    # the one before it, past the range it names (counted when it does).

    def command(self, rel, data):
        """One write of data to a ctl-like file, then its result read back."""
        def run():
            fd = os.open(self.m.p(rel), os.O_RDWR)
            try:
                n = os.write(fd, data.encode())
                assert n == len(data), 'short write %d of %d' % (n, len(data))
                return os.read(fd, 4096).decode().strip()
            finally:
                os.close(fd)
        return run

    def plain_write(self, rel, data):
        def run():
            fd = os.open(self.m.p(rel), os.O_WRONLY)
            try:
                return 'wrote %d' % os.write(fd, data.encode())
            finally:
                os.close(fd)
        return run

    def ctl_line(self, task):
        rng, n = self.rng, self.num
        # a task with many regions frees more (each region costs the walker)
        crowd = max(0, len(self.regions(task)) - CROWD) * 3
        verb = rng.choices(['allocate', 'anywhere', 'deallocate', 'protect', 'protect max',
                            'inherit', 'map_inherit', 'wire', 'attr', 'copy', 'remap'],
                           [18, 3, 7 + crowd, 16, 3, 7, 4, 5, 7, 6, 5])[0]
        if verb == 'allocate':
            holes = self.holes(task)
            if holes and rng.random() < 0.6:
                # a hole's first or last pages: often next to a region
                lo, hi = rng.choice(holes)
                s = rng.randint(1, min(16, (hi - lo) // self.P)) * self.P
                if rng.random() < 0.3:
                    s = hi - lo
                a = lo if rng.random() < 0.5 else hi - s
            else:
                a = self.addr(task)
                s = rng.randint(1, 16) * self.P if rng.random() < 0.8 else self.size()
            return 'allocate %s %s' % (n(a), n(s))
        if verb == 'anywhere':
            return 'allocate anywhere %s' % rng.choice(['4K', '8K', '%d' % self.P, '3K', '16k'])
        if verb == 'deallocate':
            a, s = self.span(task)
            if crowd and rng.random() < 0.5:
                a, s = W + rng.randrange(WINDOW // 2) * self.P, WINDOW // 2 * self.P
            return 'deallocate %s %s' % (n(a), n(s))
        if verb in ('protect', 'protect max'):
            a, s = self.span(task)
            return 'protect %s %s %s%s' % (n(a), n(s), rng.choice(PROTS),
                                           ' max' if verb == 'protect max' else '')
        if verb == 'inherit':
            a, s = self.span(task)
            return 'inherit %s %s %s' % (n(a), n(s), rng.choice(INHERITS))
        if verb == 'map_inherit':
            a, s = self.span(task)
            e = a + s if rng.random() < 0.9 else max(0, a - self.P)
            return 'map_inherit %s %s %s' % (n(a), n(min(e, (1 << 64) - 1)), rng.choice(INHERITS))
        if verb == 'wire':
            a, s = self.span(task)
            return 'wire %s %s %s' % (n(a), n(s), rng.choice(ACCESSES))
        if verb == 'attr':
            a, s = self.span(task)
            return 'attr %s %s %s %s' % (n(a), n(s), rng.choice(ATTRS), rng.choice(ATTR_VALUES))
        if verb == 'copy':
            a, s = self.span(task)
            return 'copy %s %s %s' % (n(a), n(min(s, 16 * self.P)), n(self.addr(task)))
        return 'remap ' + self.remap_words(task)

    def remap_words(self, task):
        rng = self.rng
        src = self.some_task() if rng.random() < 0.8 else task
        a, s = self.span(src)
        words = ['src=%d:%s' % (src, self.num(a)), 'size=%s' % self.num(min(s, 16 * self.P))]
        x = rng.random()
        if x < 0.5:
            words.append('at=%s' % self.num(self.addr(task)))
        elif x < 0.65:
            words.append('anywhere=%#x' % W)
        elif x < 0.75:
            words.append('anywhere')
        if rng.random() < 0.1:
            words.append('mask=%#x' % rng.choice([0xfff, 0x1fff, 0xffff]))
        x = rng.random()
        if x < 0.45:
            words.append('copy')
        elif x < 0.85:
            words.append('share')
        if rng.random() < 0.3:
            words.append('inherit=%s' % rng.choice(INHERITS))
        rng.shuffle(words)
        return ' '.join(words)

    def equalize(self):
        """A call that makes a region equal to a neighbour in one more field,
        so that the two merge once they agree in all: random calls alone
        seldom line regions up (flush counters and `shared` above all).  It
        takes the closest pair, and leaves flushes and sharing for last: they
        apply to a whole region but are given only its first page, so the
        merge they cause reaches past the range (fs_cache_changed_after)."""
        rng, P = self.rng, self.P
        pairs, near = [], []
        for t in self.live:
            regs = self.regions(t)
            for i in range(len(regs) - 1):
                a, b = regs[i], regs[i + 1]
                if a['end'] != b['start'] or a['object'] != b['object'] or (
                        a['object'] is not None and a['offset'] + a['size'] != b['offset']):
                    continue
                near.append((t, a, b))
                focus = self.focus == (t, a['start'], b['start'])
                for target, model in ((a, b), (b, a)):
                    fix = [k for k in EQUALIZE if target[k] != model[k]]
                    if fix and all(fixable(k, target, model) for k in fix):
                        # the lower one flushed or shared last: the merge
                        # is past the range
                        late = target is b and all(k in LAST for k in fix)
                        pairs.append((-1 if focus else len(fix) + late, rng.random(), fix,
                                      t, target, model))
        if near and (not pairs or rng.random() < 0.25):
            # first set them apart: flush or share the upper one, whole; then
            # work on that pair
            t, a, b = rng.choice(near)
            self.focus = (t, a['start'], b['start'])
            if rng.random() < 0.6:
                line = 'attr %s %d cache %s' % (b['start'], b['size'],
                                                rng.choice(['flush', 'flush', 'dcache_flush']))
                return ('apart flush', 'tasks/%d/ctl: %s' % (t, line),
                        self.command('tasks/%d/ctl' % t, line + '\n'), True, None)
            into = rng.choice(self.live)
            line = 'src=%d:%s size=%d anywhere share' % (t, b['start'], b['size'])
            return ('apart share', 'tasks/%d/remap: %s' % (into, line),
                    self.command('tasks/%d/remap' % into, line + '\n'), True, None)
        if not pairs:
            return None
        pairs.sort(key=lambda p: p[:2])
        _, _, fix, t, target, model = pairs[0] if rng.random() < 0.8 else rng.choice(pairs)
        self.focus = (t, min(target['start'], model['start']), max(target['start'], model['start']))
        early = [k for k in fix if k not in LAST]
        k = rng.choice(early or fix)
        start, size = int(target['start'], 16), target['size']
        first = min(size, P) if rng.random() < 0.8 else size
        # the merge this may make happens past the range given
        past = ('past', t, model['start']) if (
            k in LAST and target['end'] == model['start'] and first < size) else None
        rdir = 'tasks/%d/regions/%s/' % (t, target['start'])
        if k == 'shared':
            into = rng.choice(self.live)
            line = 'src=%d:%#x size=%d anywhere share' % (t, start, first)
            return ('equalize shared', 'tasks/%d/remap: %s' % (into, line),
                    self.command('tasks/%d/remap' % into, line + '\n'), True, past)
        if k.endswith('_flushes'):
            value = {'cache_flushes': 'flush', 'dcache_flushes': 'dcache_flush',
                     'icache_flushes': 'icache_flush'}[k]
            if rng.random() < 0.7:
                line = 'attr %#x %d cache %s' % (start, first, value)
            else:
                return ('equalize ' + k, '%sattr: cache %s' % (rdir, value),
                        self.plain_write(rdir + 'attr', 'cache %s\n' % value), True, None)
        elif k in ('cache', 'migrate', 'replicate'):
            line = 'attr %#x %d %s %s' % (start, size, k, model[k])
        elif k == 'wired':
            access = 'r--' if target[k] < model[k] else 'none'
            line = 'wire %#x %d %s' % (start, size, access)
        elif k == 'inheritance':
            if rng.random() < 0.5:
                return ('equalize inheritance', '%sinheritance: %s' % (rdir, model[k]),
                        self.plain_write(rdir + 'inheritance', model[k] + '\n'), True, None)
            line = 'inherit %#x %d %s' % (start, size, model[k])
        else:
            if rng.random() < 0.5:
                return ('equalize ' + k, '%s%s: %s' % (rdir, k, model[k]),
                        self.plain_write(rdir + k, model[k] + '\n'), True, None)
            line = 'protect %#x %d %s%s' % (start, size, model[k],
                                            ' max' if k == 'max_protection' else '')
        return ('equalize ' + k, 'tasks/%d/ctl: %s' % (t, line),
                self.command('tasks/%d/ctl' % t, line + '\n'), True, past)

    def pick(self):
        rng = self.rng
        nlive = len(self.live)
        weights = {
            'create': 200 if nlive == 0 else (1.5 if nlive < MAX_TASKS else 0),
            'fork': 2.5 if 0 < nlive < MAX_TASKS else 0.1,
            'rmdir': 0.4 + (3 if nlive >= MAX_TASKS else 0.6 if nlive > 1 else 0),
            'ctl': 40, 'ctl lines': 3, 'region': 25, 'remap': 5, 'mem': 5, 'equalize': 15,
        }
        kind = rng.choices(list(weights), list(weights.values()))[0]
        if kind == 'equalize':
            call = self.equalize()
            if call:
                return call
            kind = 'ctl'
        if kind == 'create':
            return 'create', 'tasks/ctl: create', self.command('tasks/ctl', 'create\n'), True, ('create',)
        if kind == 'fork':
            t = self.some_task()
            return ('fork', 'tasks/ctl: fork %d' % t, self.command('tasks/ctl', 'fork %d\n' % t),
                    True, ('create',))
        if kind == 'rmdir':
            t = self.some_task()
            if rng.random() < 0.4:      # the kernel removes nothing itself then
                return ('terminate', 'tasks/ctl: terminate %d' % t,
                        self.command('tasks/ctl', 'terminate %d\n' % t), True, ('rmdir', t))
            path = self.m.tp(t)
            return 'rmdir', 'rmdir tasks/%d' % t, (lambda: os.rmdir(path) or 'ok'), True, ('rmdir', t)
        t = self.some_task()
        if kind == 'ctl':
            line = self.ctl_line(t)
            return ('ctl ' + line.split()[0] + (' anywhere' if ' anywhere ' in line else '')
                    + (' max' if line.endswith(' max') else ''), 'tasks/%d/ctl: %s' % (t, line), self.command('tasks/%d/ctl' % t, line + '\n'),
                    True, None)
        if kind == 'ctl lines':
            lines = [self.ctl_line(t) for _ in range(rng.randint(2, 4))]
            data = '\n'.join(lines) + '\n'
            return ('ctl lines', 'tasks/%d/ctl: %r' % (t, data), self.command('tasks/%d/ctl' % t, data),
                    False, None)
        if kind == 'remap':
            words = self.remap_words(t)
            return ('remap file', 'tasks/%d/remap: %s' % (t, words),
                    self.command('tasks/%d/remap' % t, words + '\n'), True, None)
        if kind == 'mem':
            r = self.region(t)
            if r and rng.random() < 0.7:
                a = int(r['start'], 16) + rng.randrange(r['size'])
            else:
                a = self.addr(t)
            if rng.random() < 0.2:
                a += rng.randrange(self.P)
            a = min(a, (1 << 47) + self.P)      # a file offset: below 2^63
            length = rng.choice([1, 8, 100, self.P, 2 * self.P + 5, 5 * self.P])
            data = bytes([rng.randrange(1, 256)]) * length
            path = self.m.tp(t, 'mem')

            def mem():
                fd = os.open(path, os.O_WRONLY)
                try:
                    return 'wrote %d' % os.pwrite(fd, data, a)
                finally:
                    os.close(fd)
            return 'mem', 'tasks/%d/mem: pwrite %d bytes at %#x' % (t, length, a), mem, True, None
        # a region file
        r = self.region(t)
        if r is None or rng.random() < 0.08:
            name = '0x%016x' % (W + rng.randrange(WINDOW) * self.P)     # likely no start
        else:
            name = r['start']
        if rng.random() < 0.1:      # another spelling of the start
            name = rng.choice(['%x', '0X%X', '%08x']) % int(name, 16)
        f = rng.choices(['protection', 'max_protection', 'inheritance', 'wired', 'attr'],
                        [10, 2, 6, 3, 5])[0]
        if f in ('protection', 'max_protection'):
            value = rng.choice(PROTS)
        elif f == 'inheritance':
            value = rng.choice(INHERITS)
        elif f == 'wired':
            value = rng.choice(ACCESSES)
        else:
            value = '%s %s' % (rng.choice(ATTRS), rng.choice(['on', 'off', 'on', 'off', 'flush',
                                                              'flush', 'get', 'dcache_flush']))
        rel = 'tasks/%d/regions/%s/%s' % (t, name, f)
        return 'region ' + f, '%s: %s' % (rel, value), self.plain_write(rel, value + '\n'), True, None


# ============================================================================
# The test.
# ============================================================================

def test_never_stale(mnt):
    import pytest
    from fsmount import WATCHDOG_SECONDS
    from machvm_paths import variant
    seed_env = os.environ.get('MACHVM_SEED')
    seed = int(seed_env) if seed_env else random.SystemRandom().randrange(1 << 32)
    steps_env = os.environ.get('MACHVM_STALE_STEPS')
    steps = int(steps_env) if steps_env else DEFAULT_STEPS.get(variant(), DEFAULT_STEPS['debug'])
    budget = None if steps_env else min(BUDGET.get(variant(), 1e9),
                                        WATCHDOG_SHARE * WATCHDOG_SECONDS)
    print('never-stale: MACHVM_SEED=%d MACHVM_STALE_STEPS=%d' % (seed, steps))
    rng = random.Random(seed)
    calls = Calls(mnt, rng)
    walker = WalkerProcess(mnt.path)
    history = []
    outcomes = {}
    started = time.monotonic()
    done = seen_tasks = seen_regions = most_regions = past_merges = 0
    step, desc, result = -1, 'none yet', ''

    def failure(what):
        return ('never-stale failed: MACHVM_SEED=%d, step %d of %d\n  call: %s\n  -> %s\n'
                'the last calls:\n%s\n%s\nreplay: MACHVM_SEED=%d MACHVM_STALE_STEPS=%d'
                % (seed, step, steps, desc, result, '\n'.join(history[-15:]), what,
                   seed, step + 1))
    try:
        snap = walker.sweep()
        assert snap['diffs'] == [] and snap['tasks'] == [], snap
        for step in range(steps):
            if budget is not None and time.monotonic() - started > budget:
                print('never-stale: stopped after %d steps, %.0f s (the time budget)'
                      % (step, time.monotonic() - started))
                break
            kind, desc, run, single, effect = calls.pick()
            try:
                result = run()
                ok = True
            except OSError as e:
                result = ename(e.errno)
                ok = False
                if e.errno in (errno.ENOTCONN, errno.ECONNABORTED):
                    pytest.fail(pytrace=False, reason=failure('the daemon is gone'))
            except Exception as e:
                result = repr(e)
                pytest.fail(pytrace=False, reason=failure('the call raised %r' % e))
            outcomes.setdefault(kind, {}).setdefault('ok' if ok else result, 0)
            outcomes[kind]['ok' if ok else result] += 1
            history.append('%5d %s -> %s' % (step, desc, result if not ok else 'ok: ' + result))
            if ok and effect and effect[0] == 'create':
                calls.live.append(int(result))
            elif ok and effect and effect[0] == 'rmdir':
                calls.live.remove(effect[1])
                calls.dead.append(effect[1])
            before = snap
            try:
                snap = walker.sweep(full=step % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1)
            except (AssertionError, ValueError) as e:
                pytest.fail(pytrace=False, reason=failure('the walker: %s' % e))
            problems = list(snap['diffs'])
            if sorted(calls.live) != snap['tasks']:
                problems.append('tasks/ lists %s, the calls made left %s alive'
                                % (snap['tasks'], sorted(calls.live)))
            if not ok and single and before['maps'] != snap['maps']:
                for t in sorted(set(before['maps']) | set(snap['maps']), key=int):
                    b, a = before['maps'].get(t), snap['maps'].get(t)
                    if a != b:
                        problems.append('the failed call changed task %s:\n  before %s\n  after  %s'
                                        % (t, json.dumps(b), json.dumps(a)))
            if problems:
                pytest.fail(pytrace=False, reason=failure(
                    'what disagrees (%d):\n%s' % (len(problems), '\n'.join(problems[:40]))))
            if ok and effect and effect[0] == 'past' and any(
                    r['start'] == effect[2] for r in calls.maps.get(effect[1], [])) and not any(
                    r['start'] == effect[2] for r in snap['maps'].get(str(effect[1]), [])):
                past_merges += 1
            calls.maps = {int(k): v for k, v in snap['maps'].items()}
            seen_tasks += len(calls.maps)
            seen_regions += sum(len(v) for v in calls.maps.values())
            most_regions = max([most_regions] + [len(v) for v in calls.maps.values()])
            done = step + 1
    finally:
        walker.close()
    print('never-stale: %d steps in %.1f s; on average %.1f tasks of %.1f regions, at most %d;'
          ' %d names checked gone, %d merges past the range of a flush or share'
          % (done, time.monotonic() - started, seen_tasks / max(done, 1),
             seen_regions / max(seen_tasks, 1), most_regions, snap.get('checked', 0),
             past_merges))
    for kind in sorted(outcomes):
        print('  %-16s %s' % (kind, ' '.join('%s=%d' % kv for kv in sorted(outcomes[kind].items()))))


if __name__ == '__main__':
    walker_main(sys.argv[1])
