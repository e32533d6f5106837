"""A property-based test of the whole tree: Hypothesis drives the mounted
filesystem with random sequences of the map calls (allocate, deallocate,
protect, inherit, wire, remap, fork, terminate, mem writes and reads) and,
after every step, checks what maps.json and mem show against a small model
of each task written from docs/semantics.md and fs_layout.md.

The model keeps, for every mapped page of every task, the page's
protection, maximum, inheritance and wired count, and the page's bytes as a
`Cell`: two tasks (or two addresses) that share memory (inheritance share,
a sharing remap) hold the same Cell; a copy (inheritance copy, a copying
remap) gets a new Cell with the bytes of the moment.  Copy-on-write is how
the engine makes a copy cheap; what a reader sees is that snapshot.

Region boundaries depend on memory objects, which the model does not keep,
so it checks them by the engine's merge rule instead (docs/semantics.md,
2.7): the regions tile exactly the pages the model has, each region is
uniform in the model, and two neighbouring regions always differ in a field
the merge rule compares (so every equal pair was merged).

A batch rule writes a random list of lines (allocate, deallocate, protect,
inherit, wire, copy, remap) to a ctl file in one write(2): the model runs
them on a copy of itself and keeps the copy only if every line succeeds;
if one fails, the write must fail with that line's errno and the tree must
be exactly as before (fs_layout.md, Writing: a batch is all or nothing).

Addresses stay in a window of a few pages so that sequences overlap a lot.
MACHVM_HYPOTHESIS_EXAMPLES sets how many sequences run (default 200, of up
to MACHVM_HYPOTHESIS_STEPS = 40 steps: under half a minute per build); long
runs set it to thousands.  Hypothesis keeps no database (nothing is written
into the tree), and a failure is shrunk to a minimal sequence, printed as
the steps to replay."""
import copy
import errno
import os

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule, run_state_machine_as_test)

from fsmount import Mount

EXAMPLES = int(os.environ.get('MACHVM_HYPOTHESIS_EXAMPLES', '200'))
STEPS = int(os.environ.get('MACHVM_HYPOTHESIS_STEPS', '40'))

WIN_LO, WIN_HI = 1, 9        # the window: pages [1, 9), addresses [P, 9P)
MAX_TASKS = 4

R, W, X = 1, 2, 4
PROTS = ['---', 'r--', '-w-', 'rw-', '--x', 'r-x', '-wx', 'rwx']
INHERITS = ['share', 'copy', 'none']


def prot_bits(text):
    return sum(b for b, ch in zip((R, W, X), text) if ch != '-')


def prot_text(bits):
    return PROTS[bits]


class Cell:
    """The bytes of one page, held by every mapping that shares them."""

    def __init__(self, size, data=None):
        self.data = bytearray(data if data is not None else size)


class Page:
    """One mapped page of a task: its attributes and its Cell."""

    def __init__(self, cell, prot=R | W, maxp=R | W | X, inherit='copy', wired=0):
        self.cell, self.prot, self.max, self.inherit, self.wired = cell, prot, maxp, inherit, wired

    def attrs(self):
        return (self.prot, self.max, self.inherit, self.wired)


# The fields the engine's merge rule compares besides the object (2.7).
MERGE_FIELDS = ('protection', 'max_protection', 'inheritance', 'wired', 'shared', 'needs_copy',
                'cache', 'migrate', 'replicate', 'cache_flushes', 'dcache_flushes',
                'icache_flushes')


def mergeable(a, b):
    if any(a[k] != b[k] for k in MERGE_FIELDS):
        return False
    if a['object'] is None or b['object'] is None:
        return a['object'] is None and b['object'] is None
    return a['object'] == b['object'] and a['offset'] + a['size'] == b['offset']


def expect(fn):
    """Runs fn; returns None on success or the errno of its OSError."""
    try:
        fn()
    except OSError as e:
        return e.errno
    return None


# Strategies: a page in (or just around) the window, a byte offset into it
# (so that rounding is exercised), a size in bytes.
pages = st.integers(min_value=WIN_LO, max_value=WIN_HI - 1)
slop = st.sampled_from([0, 0, 0, 1, 0x7ff, 0xfff])
sizes = st.one_of(st.integers(min_value=0, max_value=4).map(lambda n: n * 4096),
                  st.integers(min_value=1, max_value=4 * 4096))
prots = st.sampled_from(PROTS)
inherits = st.sampled_from(INHERITS)


class MapMachine(RuleBasedStateMachine):
    mnt = None        # set by the test: one mount for every example

    def __init__(self):
        super().__init__()
        m = self.mnt
        m.keepalive()                   # the watchdog times each example
        self.P = m.P
        for t in m.task_ids():          # a clean host for every example
            m.terminate(t)
        self.tasks = {}                 # id -> {page number: Page}

    # ---- helpers -----------------------------------------------------------

    def pick(self, data):
        return data.draw(st.sampled_from(sorted(self.tasks)))

    def span(self, addr, size):
        """The standard range conversion (1.2), in page numbers."""
        P = self.P
        return addr // P, (addr + size + P - 1) // P

    def ctl(self, task, line):
        return self.mnt.ctl(task, line)

    def lowest_fit(self, task, n):
        pn = 1
        while any(p in self.tasks[task] for p in range(pn, pn + n)):
            pn += 1
        return pn

    # ---- tasks -------------------------------------------------------------

    @initialize(n=st.integers(min_value=1, max_value=WIN_HI - WIN_LO))
    def first_task(self, n):
        """Every sequence starts with a task holding the first n pages of
        the window, so that most steps have memory to work on."""
        self.create()
        t = max(self.tasks)
        assert self.mnt.allocate(t, WIN_LO * self.P, n * self.P) == WIN_LO * self.P
        for p in range(WIN_LO, WIN_LO + n):
            self.tasks[t][p] = Page(Cell(self.P))

    @precondition(lambda self: len(self.tasks) < MAX_TASKS)
    @rule()
    def create(self):
        t = self.mnt.create_task()
        assert t not in self.tasks
        self.tasks[t] = {}

    @precondition(lambda self: 0 < len(self.tasks) < MAX_TASKS)
    @rule(data=st.data())
    def fork(self, data):
        parent = self.pick(data)
        child = self.mnt.fork(parent)
        assert child not in self.tasks
        mine = {}
        for pn, pg in self.tasks[parent].items():
            if pg.inherit == 'share':
                cell = pg.cell
            elif pg.inherit == 'copy':
                cell = Cell(self.P, pg.cell.data)
            else:
                continue
            mine[pn] = Page(cell, pg.prot, pg.max, pg.inherit, 0)
        self.tasks[child] = mine

    @precondition(lambda self: len(self.tasks) > 1)
    @rule(data=st.data(), by_rmdir=st.booleans())
    def terminate(self, data, by_rmdir):
        t = self.pick(data)
        if by_rmdir:
            self.mnt.terminate(t)
        else:
            assert self.mnt.command('tasks/ctl', 'terminate %d' % t) == 'ok'
        del self.tasks[t]

    # ---- map calls ---------------------------------------------------------

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), pn=pages, off=slop, size=sizes, anywhere=st.booleans())
    def allocate(self, data, pn, off, size, anywhere):
        t = self.pick(data)
        m, P = self.tasks[t], self.P
        n = (size + P - 1) // P
        if anywhere:
            line = 'allocate anywhere %#x' % size
            start = self.lowest_fit(t, n) if n else 0
        else:
            line = 'allocate %#x %#x' % (pn * P + off, size)
            start = pn if n else 0
        if n and not anywhere and any(p in m for p in range(start, start + n)):
            assert expect(lambda: self.ctl(t, line)) == errno.ENOSPC
            return
        out = self.ctl(t, line)
        assert int(out, 16) == start * P
        for p in range(start, start + n):
            m[p] = Page(Cell(P))

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), pn=pages, off=slop, size=sizes)
    def deallocate(self, data, pn, off, size):
        t = self.pick(data)
        self.ctl(t, 'deallocate %#x %#x' % (pn * self.P + off, size))
        if size:
            lo, hi = self.span(pn * self.P + off, size)
            for p in range(lo, hi):
                self.tasks[t].pop(p, None)

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), pn=pages, off=slop, size=sizes, prot=prots, set_max=st.booleans())
    def protect(self, data, pn, off, size, prot, set_max):
        t = self.pick(data)
        m, new = self.tasks[t], prot_bits(prot)
        line = 'protect %#x %#x %s%s' % (pn * self.P + off, size, prot, ' max' if set_max else '')
        err = None
        lo, hi = self.span(pn * self.P + off, size) if size else (0, 0)
        for p in range(lo, hi):            # the walk: the first problem decides
            if p not in m:
                err = errno.EFAULT
            elif new & ~m[p].max:
                err = errno.EACCES
            if err:
                break
        assert expect(lambda: self.ctl(t, line)) == err, line
        if err:
            return
        for p in range(lo, hi):
            if set_max:
                m[p].max = new
                m[p].prot &= new
            else:
                m[p].prot = new

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), pn=pages, off=slop, size=sizes, inherit=inherits)
    def inherit(self, data, pn, off, size, inherit):
        t = self.pick(data)
        m = self.tasks[t]
        line = 'inherit %#x %#x %s' % (pn * self.P + off, size, inherit)
        lo, hi = self.span(pn * self.P + off, size) if size else (0, 0)
        err = errno.EFAULT if any(p not in m for p in range(lo, hi)) else None
        assert expect(lambda: self.ctl(t, line)) == err, line
        if not err:
            for p in range(lo, hi):
                m[p].inherit = inherit

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), pn=pages, off=slop, size=sizes,
          access=st.sampled_from(['r--', 'rw-', '-w-', 'r-x', 'rwx', 'none', '---', 'none']),
          via_file=st.booleans())
    def wire(self, data, pn, off, size, access, via_file):
        """wire / unwire, in ctl or (for a whole region) in its wired file."""
        t = self.pick(data)
        m, P = self.tasks[t], self.P
        bits = 0 if access in ('none', '---') else prot_bits(access)
        if via_file:
            region = self.region_at(t, pn)
            if region is None:
                return
            lo, hi = region
            do = lambda: self.mnt.set_region(t, lo * P, 'wired', access)  # noqa: E731
            line = 'wired of region %#x: %s' % (lo * P, access)
        else:
            line = 'wire %#x %#x %s' % (pn * P + off, size, access)
            lo, hi = self.span(pn * P + off, size) if size else (0, 0)
            do = lambda: self.ctl(t, line)  # noqa: E731
        err = None
        for p in range(lo, hi):
            if p not in m:
                err = errno.EIO                 # KERN_FAILURE: a hole
            elif bits and bits & ~m[p].prot:
                err = errno.EIO                 # KERN_FAILURE: missing protection
            elif not bits and m[p].wired == 0:
                err = errno.EINVAL              # unwiring an unwired entry
            if err:
                break
        assert expect(do) == err, line
        if not err:
            for p in range(lo, hi):
                m[p].wired += 1 if bits else -1

    def region_at(self, t, pn):
        """The region holding page pn as the filesystem shows it, as page
        numbers [lo, hi), or None."""
        for r in self.mnt.regions(t):
            lo, hi = int(r['start'], 16) // self.P, int(r['end'], 16) // self.P
            if lo <= pn < hi:
                return lo, hi
        return None

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), pn=pages, off=slop, npages=st.integers(min_value=1, max_value=3),
          share=st.booleans(), at=st.one_of(st.none(), pages), inherit=inherits)
    def remap(self, data, pn, off, npages, share, at, inherit):
        target, src = self.pick(data), self.pick(data)
        P, m, s = self.P, self.tasks[target], self.tasks[src]
        size = npages * P - (off if off < P else 0)
        words = ['src=%d:%#x' % (src, pn * P + off), 'size=%#x' % size,
                 'share' if share else 'copy', 'inherit=%s' % inherit]
        if at is not None:
            words.append('at=%#x' % (at * P))
        words = data.draw(st.permutations(words))
        line = ' '.join(words)
        n = (size + P - 1) // P           # the source: trunc(addr), round(size)
        lo = (pn * P + off) // P
        err = None
        for p in range(lo, lo + n):
            if p not in s:
                err = errno.EFAULT
            elif not share and not s[p].max & R:
                err = errno.EACCES
            if err:
                break
        if err is None:
            dst = at if at is not None else self.lowest_fit(target, n)
            if any(p in m for p in range(dst, dst + n)):
                err = errno.ENOSPC
        use_ctl = data.draw(st.booleans())
        do = (lambda: self.ctl(target, 'remap ' + line)) if use_ctl else \
            (lambda: self.mnt.remap(target, line))
        if err:
            assert expect(do) == err, line
            return
        out = do()
        cur = mx = R | W | X
        new = {}
        for i, p in enumerate(range(lo, lo + n)):
            pg = s[p]
            cur, mx = cur & pg.prot, mx & pg.max
            cell = pg.cell if share else Cell(P, pg.cell.data)
            new[dst + i] = Page(cell, pg.prot, pg.max, inherit, 0)
        m.update(new)
        assert out == 'address %#018x cur_protection %s max_protection %s' % (
            dst * P, prot_text(cur), prot_text(mx)), line

    # ---- memory --------------------------------------------------------------

    def transfer(self, t, addr, n, need):
        """What a mem read or write of n bytes at addr does by the model:
        (errno, None) when its first byte fails, else (None, bytes moved)."""
        m, P = self.tasks[t], self.P
        done = 0
        while done < n:
            pg = m.get((addr + done) // P)
            if pg is None or not pg.prot & need:
                if done == 0:
                    return (errno.EFAULT if pg is None else errno.EACCES), None
                break
            done += min(n - done, P - (addr + done) % P)
        return None, done

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), pn=pages, off=st.integers(min_value=0, max_value=4095),
          n=st.integers(min_value=1, max_value=3 * 4096), fill=st.integers(min_value=1, max_value=255))
    def mem_write(self, data, pn, off, n, fill):
        t = self.pick(data)
        addr, P = pn * self.P + off, self.P
        payload = bytes((fill + i) % 256 for i in range(n))
        err, count = self.transfer(t, addr, n, W)
        if err:
            assert expect(lambda: self.mnt.mem_write(t, addr, payload)) == err
            return
        assert self.mnt.mem_write(t, addr, payload) == count
        for i in range(count):
            a = addr + i
            self.tasks[t][a // P].cell.data[a % P] = payload[i]

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), pn=pages, off=st.integers(min_value=0, max_value=4095),
          n=st.integers(min_value=1, max_value=3 * 4096))
    def mem_read(self, data, pn, off, n):
        """A read across pages: short at the first hole or unreadable page."""
        t = self.pick(data)
        addr, P = pn * self.P + off, self.P
        err, count = self.transfer(t, addr, n, R)
        if err:
            assert expect(lambda: self.mnt.mem_read(t, addr, n)) == err
            return
        want = b''.join(bytes(self.tasks[t][(addr + i) // P].cell.data[(addr + i) % P:
                                                                       (addr + i) % P + 1])
                        for i in range(count))
        assert self.mnt.mem_read(t, addr, n) == want

    # ---- batches: several lines in one write, all or nothing ---------------------

    def batch_line(self, tasks, t, kind, data):
        """Draws one line of kind for task t and runs it on the model tasks
        (a copy): (line, None) after applying it, or (line, errno) with
        nothing applied."""
        P, m = self.P, tasks[t]
        pn, off, size = data.draw(pages), data.draw(slop), data.draw(sizes)
        addr = pn * P + off
        lo, hi = self.span(addr, size) if size else (0, 0)
        if kind == 'allocate':
            n = (size + P - 1) // P
            if n and any(p in m for p in range(lo, lo + n)):
                return 'allocate %#x %#x' % (addr, size), errno.ENOSPC
            for p in range(addr // P, addr // P + n):
                m[p] = Page(Cell(P))
            return 'allocate %#x %#x' % (addr, size), None
        if kind == 'deallocate':
            for p in range(lo, hi):
                m.pop(p, None)
            return 'deallocate %#x %#x' % (addr, size), None
        if kind == 'protect':
            prot = data.draw(prots)
            new = prot_bits(prot)
            for p in range(lo, hi):
                if p not in m:
                    return 'protect %#x %#x %s' % (addr, size, prot), errno.EFAULT
                if new & ~m[p].max:
                    return 'protect %#x %#x %s' % (addr, size, prot), errno.EACCES
            for p in range(lo, hi):
                m[p].prot = new
            return 'protect %#x %#x %s' % (addr, size, prot), None
        if kind == 'inherit':
            inh = data.draw(inherits)
            line = 'inherit %#x %#x %s' % (addr, size, inh)
            if any(p not in m for p in range(lo, hi)):
                return line, errno.EFAULT
            for p in range(lo, hi):
                m[p].inherit = inh
            return line, None
        if kind == 'wire':
            access = data.draw(st.sampled_from(['rw-', 'r--', 'none']))
            bits = 0 if access == 'none' else prot_bits(access)
            line = 'wire %#x %#x %s' % (addr, size, access)
            for p in range(lo, hi):
                if p not in m or (bits and bits & ~m[p].prot):
                    return line, errno.EIO
                if not bits and m[p].wired == 0:
                    return line, errno.EINVAL
            for p in range(lo, hi):
                m[p].wired += 1 if bits else -1
            return line, None
        if kind == 'copy':
            dest = data.draw(pages) * P + data.draw(slop)
            line = 'copy %#x %#x %#x' % (addr, size, dest)
            if size == 0:
                return line, None
            for a, need in ((addr, R), (dest, W)):
                for p in range(a // P, (a + size - 1) // P + 1):
                    if p not in m:
                        return line, errno.EFAULT
                    if not m[p].prot & need:
                        return line, errno.EACCES
            buf = bytes(m[(addr + i) // P].cell.data[(addr + i) % P] for i in range(size))
            for i in range(size):
                m[(dest + i) // P].cell.data[(dest + i) % P] = buf[i]
            return line, None
        # remap from any task of the model (the file's own included)
        src = data.draw(st.sampled_from(sorted(tasks)))
        s_ = tasks[src]
        npages, share = data.draw(st.integers(min_value=1, max_value=2)), data.draw(st.booleans())
        at = data.draw(st.one_of(st.none(), pages))
        line = 'remap src=%d:%#x size=%#x %s%s' % (src, pn * P, npages * P,
                                                  'share' if share else 'copy',
                                                  '' if at is None else ' at=%#x' % (at * P))
        for p in range(pn, pn + npages):
            if p not in s_:
                return line, errno.EFAULT
            if not share and not s_[p].max & R:
                return line, errno.EACCES
        dst = at
        if dst is None:
            dst = 1
            while any(p in m for p in range(dst, dst + npages)):
                dst += 1
        if any(p in m for p in range(dst, dst + npages)):
            return line, errno.ENOSPC
        new = {}
        for i, p in enumerate(range(pn, pn + npages)):
            pg = s_[p]
            new[dst + i] = Page(pg.cell if share else Cell(P, pg.cell.data), pg.prot, pg.max,
                                'copy', 0)
        m.update(new)
        return line, None

    @precondition(lambda self: self.tasks)
    @rule(data=st.data(), n=st.integers(min_value=2, max_value=6))
    def batch(self, data, n):
        t = self.pick(data)
        trial = copy.deepcopy(self.tasks)       # Cells shared stay shared
        lines, err = [], None
        for _ in range(n):
            kind = data.draw(st.sampled_from(['allocate', 'deallocate', 'protect', 'inherit',
                                              'wire', 'copy', 'remap']))
            line, err = self.batch_line(trial, t, kind, data)
            lines.append(line)
            if err is not None:
                break
        failing = len(lines)
        if len(lines) == 1:                     # a batch has two lines at least
            lines.append('protect %#x 0 rw-' % self.P)
        text = '\n'.join(lines) + '\n'
        assert expect(lambda: self.mnt.write('tasks/%d/ctl' % t, text)) == err, text
        if err is None:
            self.tasks = trial
        else:
            assert '(line %d of %d; ' % (failing, len(lines)) in self.mnt.last_error(t), text

    # ---- the check after every step ------------------------------------------

    @invariant()
    def tree_matches_model(self):
        m, P = self.mnt, self.P
        assert m.task_ids() == sorted(self.tasks)
        for t, model in self.tasks.items():
            regions = m.regions(t)
            seen = set()
            for r in regions:
                lo, hi = int(r['start'], 16) // P, int(r['end'], 16) // P
                assert r['size'] == (hi - lo) * P
                for p in range(lo, hi):
                    pg = model.get(p)
                    assert pg is not None, 'task %d: page %#x mapped, not in the model' % (t, p * P)
                    got = (prot_bits(r['protection']), prot_bits(r['max_protection']),
                           r['inheritance'], r['wired'])
                    assert got == pg.attrs(), 'task %d page %#x: %r, model %r' % (
                        t, p * P, got, pg.attrs())
                    seen.add(p)
            assert seen == set(model), 'task %d: the model has pages %s the map lacks' % (
                t, sorted(hex(p * P) for p in set(model) - seen))
            for a, b in zip(regions, regions[1:]):
                if a['end'] == b['start']:
                    assert not mergeable(a, b), 'task %d: %s and %s were not merged' % (
                        t, a['start'], b['start'])
            self.check_memory(t, model)

    def check_memory(self, t, model):
        """Every page of the window and every page the model has: the bytes
        of a readable page, EACCES for an unreadable one, EFAULT for a hole."""
        P = self.P
        fd = os.open(self.mnt.tp(t, 'mem'), os.O_RDONLY)
        try:
            for p in sorted(set(range(WIN_LO, WIN_HI)) | set(model)):
                pg = model.get(p)
                try:
                    got = os.pread(fd, P, p * P)
                except OSError as e:
                    want = errno.EFAULT if pg is None else errno.EACCES
                    assert e.errno == want and (pg is None or not pg.prot & R), (
                        'task %d page %#x: %s' % (t, p * P, e))
                    continue
                assert pg is not None and pg.prot & R, 'task %d page %#x read' % (t, p * P)
                assert got == bytes(pg.cell.data), 'task %d page %#x: bytes differ' % (t, p * P)
        finally:
            os.close(fd)


@pytest.fixture(scope='module')
def shared_mount():
    """One mount for every example (mounting costs more than an example);
    each example starts by terminating what the last one left."""
    m = Mount().start()
    yield m
    m.close()


def test_tree_follows_the_model(shared_mount):
    MapMachine.mnt = shared_mount
    run_state_machine_as_test(
        MapMachine,
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                          database=None, suppress_health_check=list(HealthCheck)))
