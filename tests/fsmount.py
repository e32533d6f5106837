"""Mounting machvmfs for a test, and small helpers for talking to the tree.

A Mount is one running `machvmfs -f` daemon on a fresh temporary mountpoint,
started, waited for, unmounted and reaped by the machvmfs Python package's
own code (python/machvmfs, `machvmfs.Daemon`).
Its helpers do exactly what a shell user would do (open, write a line, read
back on the same file), so a test reads like the session it checks.  Every
helper that changes something raises OSError with the errno the filesystem
returned; `fails()` turns that into an assertion.
"""
import errno
import json
import os
import signal
import subprocess
import tempfile
import threading

from machvm_paths import build_dir, sanitizer_report   # also puts python/ on sys.path

import machvmfs  # noqa: E402  (the tree's package)

MOUNT_TIMEOUT = 10.0
# A daemon that does not answer for this long is killed, so that a hung
# request fails the test (ENOTCONN) instead of hanging the whole suite.
WATCHDOG_SECONDS = float(os.environ.get('MACHVM_TEST_TIMEOUT', '120'))

USER_MAX = 1 << 47


def hx(addr):
    """The canonical spelling of an address in the tree: 0x + 16 hex digits."""
    return '0x%016x' % addr


def daemon_path():
    return os.path.join(build_dir(), 'machvmfs')


def parse_kv(text):
    """ "key value" lines -> dict; values that are decimal become ints."""
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(' ')
        value = value.strip()
        out[key] = int(value) if value.isdigit() else value
    return out


def fails(expected_errno, fn, *args, **kwargs):
    """Calls fn, asserts it raised OSError with expected_errno; returns the error."""
    try:
        result = fn(*args, **kwargs)
    except OSError as e:
        assert e.errno == expected_errno, (
            'expected %s, got %s (%s)' % (errno.errorcode[expected_errno],
                                          errno.errorcode.get(e.errno, e.errno), e))
        return e
    raise AssertionError('expected %s, but the call succeeded and returned %r'
                         % (errno.errorcode[expected_errno], result))


def _mounted(path):
    """True if path is a mount point, looked up without touching the mount."""
    return machvmfs.is_mounted(path)


class Mount:
    """One machvmfs daemon mounted on a temporary directory: a
    machvmfs.Daemon (the package's mounting code) with a watchdog, the
    checks this suite makes of how the daemon ended, and helpers."""

    def __init__(self, options=None, args=None, debug=False):
        self.workdir = tempfile.mkdtemp(prefix='machvmfs-test-')
        # Other users (the permission tests) must be able to reach the mount.
        os.chmod(self.workdir, 0o755)
        self.path = os.path.join(self.workdir, 'mnt')
        os.mkdir(self.path)
        self.logpath = os.path.join(self.workdir, 'daemon.log')
        self.daemon = machvmfs.Daemon(self.path, daemon=daemon_path(), options=options or (),
                                      args=args or (), debug=debug, log_path=self.logpath)
        self.argv = self.daemon.argv
        self.closed = False
        self.hung = False
        self._watchdog = None
        self.P = None
        self.stopped_by = None
        self.unmounted = False

    @property
    def proc(self):
        return self.daemon.proc

    @property
    def log(self):
        return self.daemon.log

    @property
    def final_log(self):
        return self.daemon.final_log

    # ---- life cycle --------------------------------------------------------

    def start(self):
        if not os.access(self.argv[0], os.X_OK):
            raise AssertionError('no daemon at %s: build it first (scons -Q builddir=... variant=...)'
                                 % self.argv[0])
        try:
            self.daemon.start(MOUNT_TIMEOUT)
        except machvmfs.MountError as e:
            self.closed = True
            raise AssertionError('%s\n%s' % (e, self.reproduce())) from None
        assert os.path.ismount(self.path)
        self._watchdog = threading.Timer(WATCHDOG_SECONDS, self._hang)
        self._watchdog.daemon = True
        self._watchdog.start()
        self.P = int(self.read('host/page_size'))
        return self

    def host(self):
        """This mount as a machvmfs.Host (the package's API)."""
        return machvmfs.Host(self.path, daemon=self.daemon)

    def keepalive(self):
        """Starts the watchdog's time again: for a mount that serves many
        tests (or examples) in turn, each of which gets the full time."""
        if self._watchdog:
            self._watchdog.cancel()
            self._watchdog = threading.Timer(WATCHDOG_SECONDS, self._hang)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _hang(self):
        self.hung = True
        self.daemon.kill(signal.SIGKILL)

    def stop_with_signal(self, sig):
        """Sends sig to the daemon and waits for it to exit (teardown then
        checks that it unmounted and exited 0)."""
        self.stopped_by = sig
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return self.proc.returncode

    def unmount_nowait(self):
        """fusermount3 -u, returning as soon as the mount is gone, while the
        daemon may still be saving; teardown waits for it and checks that
        it exited 0."""
        subprocess.run(['fusermount3', '-u', self.path], check=True)
        self.unmounted = True

    def crash(self):
        """Kills the daemon with SIGKILL, as a crash would (no unmount, no
        final save), waits for it and removes the dead mount.  Nothing more
        is checked of this mount at teardown."""
        self.closed = True
        if self._watchdog:
            self._watchdog.cancel()
        self.proc.kill()
        self.proc.wait(timeout=10)
        subprocess.run(['fusermount3', '-u', self.path], capture_output=True)
        if _mounted(self.path):
            subprocess.run(['fusermount3', '-uz', self.path], capture_output=True)
        self.daemon.close_log()

    def log_text(self):
        return self.daemon.log_text()

    def reproduce(self):
        return 'reproduce: ' + self.daemon.reproduce()

    def close(self, check=True):
        """Unmounts (lazily if it must), waits for the daemon, checks how it ended."""
        if self.closed:
            return
        self.closed = True
        if self.proc is None:           # never started
            return
        if self._watchdog:
            self._watchdog.cancel()
        problems = []
        if self.stopped_by is not None:
            # the test stopped the daemon itself; it must have unmounted and exited 0
            if _mounted(self.path):
                problems.append('still mounted after signal %d' % self.stopped_by)
                subprocess.run(['fusermount3', '-uz', self.path], capture_output=True)
        elif self.proc.poll() is not None and not self.hung and not self.unmounted:
            problems.append('the daemon died during the test (exit %d)' % self.proc.returncode)
        for step in (self.daemon.unmount, self.daemon.wait):
            p = step()
            if p:
                problems.append(p)
        self.daemon.close_log()
        if self.hung:
            problems.append('the daemon did not answer for %.0f s and was killed' % WATCHDOG_SECONDS)
        elif self.proc.returncode != 0 and not problems:
            problems.append('the daemon exited with %d' % self.proc.returncode)
        text = self.final_log
        report = sanitizer_report(text)
        if report:
            problems.append('sanitizer report in the daemon log:\n' + report)
        if not _mounted(self.path):
            # the log's text is kept in final_log (and in any failure message)
            try:
                os.rmdir(self.path)
                os.unlink(self.logpath)
                os.rmdir(self.workdir)
            except OSError:
                pass
        if check and problems:
            raise AssertionError('\n'.join(problems) + '\n' + self.reproduce()
                                 + '\n--- daemon log (tail) ---\n' + text[-6000:])

    # ---- paths and plain files ---------------------------------------------

    def p(self, rel):
        return os.path.join(self.path, str(rel))

    def tp(self, task, rel=''):
        """Path of a file of task `task`."""
        return os.path.join(self.path, 'tasks', str(task), rel) if rel else \
            os.path.join(self.path, 'tasks', str(task))

    def rp(self, task, start, name=''):
        """Path of region `start` of `task` (or of one of its files)."""
        d = os.path.join(self.tp(task, 'regions'), hx(start) if isinstance(start, int) else start)
        return os.path.join(d, name) if name else d

    def read(self, rel):
        with open(self.p(rel), 'rb') as f:
            return f.read().decode()

    def write(self, rel, text, flags=os.O_WRONLY):
        """One write(2) of text (bytes or str) to a file; returns the count written."""
        data = text if isinstance(text, bytes) else text.encode()
        fd = os.open(self.p(rel), flags)
        try:
            return os.write(fd, data)
        finally:
            os.close(fd)

    def command(self, rel, line):
        """Writes line to a ctl-like file and returns what a read on the same
        open file gives back (the call's result), without the newline."""
        data = line if isinstance(line, bytes) else line.encode()
        if not data.endswith(b'\n'):
            data += b'\n'
        fd = os.open(self.p(rel), os.O_RDWR)
        try:
            n = os.write(fd, data)
            assert n == len(data), 'short write %d of %d to %s' % (n, len(data), rel)
            out = os.read(fd, 65536).decode()
        finally:
            os.close(fd)
        assert out.endswith('\n'), 'result of %r on %s does not end in a newline: %r' % (line, rel, out)
        return out[:-1]

    # ---- tasks -------------------------------------------------------------

    def create_task(self):
        return int(self.command('tasks/ctl', 'create'))

    def fork(self, parent):
        return int(self.command('tasks/ctl', 'fork %d' % parent))

    def terminate(self, task):
        os.rmdir(self.tp(task))

    def task_ids(self):
        return sorted(int(n) for n in os.listdir(self.p('tasks')) if n.isdigit())

    def ctl(self, task, line):
        return self.command('tasks/%d/ctl' % task, line)

    def remap(self, task, line):
        return self.command('tasks/%d/remap' % task, line)

    def allocate(self, task, addr, size):
        return int(self.ctl(task, 'allocate %#x %#x' % (addr, size)), 16)

    def allocate_anywhere(self, task, size):
        return int(self.ctl(task, 'allocate anywhere %#x' % size), 16)

    def status(self, task):
        return parse_kv(self.read('tasks/%d/status' % task))

    def host_stats(self):
        return parse_kv(self.read('host/stats'))

    def last_error(self, task=None):
        return self.read('tasks/last_error' if task is None else 'tasks/%d/last_error' % task)

    def maps(self, task):
        return self.read('tasks/%d/maps' % task).splitlines()

    def regions(self, task):
        """maps.json, parsed."""
        return json.loads(self.read('tasks/%d/maps.json' % task))

    def region_starts(self, task):
        return [int(r['start'], 16) for r in self.regions(task)]

    def region(self, task, start, name):
        """One file of a region, without its newline."""
        with open(self.rp(task, start, name), 'rb') as f:
            text = f.read().decode()
        assert text.endswith('\n'), '%s ends without a newline: %r' % (name, text)
        return text[:-1]

    def info(self, task, start):
        return parse_kv(self.read(os.path.relpath(self.rp(task, start, 'info'), self.path)))

    def set_region(self, task, start, name, value):
        return self.write(os.path.relpath(self.rp(task, start, name), self.path), value + '\n')

    # ---- memory ------------------------------------------------------------

    def mem_write(self, task, addr, data):
        fd = os.open(self.tp(task, 'mem'), os.O_WRONLY)
        try:
            return os.pwrite(fd, data, addr)
        finally:
            os.close(fd)

    def mem_read(self, task, addr, n):
        fd = os.open(self.tp(task, 'mem'), os.O_RDONLY)
        try:
            return os.pread(fd, n, addr)
        finally:
            os.close(fd)

    # ---- as another user ---------------------------------------------------

    def run_as(self, uid, code, *args):
        """Runs Python code as uid/gid `uid` (setpriv); returns its stdout.
        The code gets the mountpoint as sys.argv[1] and `args` after it."""
        cmd = ['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups',
               '/usr/bin/python3', '-c', code, self.path] + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd='/')
        assert r.returncode == 0, 'as uid %d: %s\n%s%s' % (uid, code, r.stdout, r.stderr)
        return r.stdout
