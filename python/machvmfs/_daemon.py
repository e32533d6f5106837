"""Starting a machvmfs daemon, waiting for its mount, unmounting it and
reaping it (the `Daemon` class and the `mount()` context manager)."""
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

from ._host import Host

__all__ = ['Daemon', 'MountError', 'find_daemon', 'format_options', 'is_mounted', 'mount',
           'sanitizer_report']

#: How long `Daemon.start` waits for the mount to appear, in seconds.
MOUNT_TIMEOUT = 10.0
#: How long `Daemon.stop` waits for the daemon to exit after the unmount.
EXIT_TIMEOUT = 10.0

_SANITIZER = re.compile(r'(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|'
                        r'WARNING: ThreadSanitizer|SUMMARY: UndefinedBehaviorSanitizer)')


class MountError(Exception):
    """The daemon could not be found or started, did not mount, or ended
    badly (a non-zero exit status, a sanitizer report in its log).

    `log` holds what the daemon wrote on its standard error (may be empty).
    """

    def __init__(self, message, log=''):
        super().__init__(message)
        self.log = log


def sanitizer_report(text):
    """The first lines of an AddressSanitizer, LeakSanitizer,
    UndefinedBehaviorSanitizer or ThreadSanitizer report in `text`, or ''
    if it holds none."""
    m = _SANITIZER.search(text or '')
    if not m:
        return ''
    return text[max(0, m.start() - 200):m.start() + 3000]


def _unescape(field):
    """A path as /proc/self/mountinfo writes it (\\040 for a space, ...)."""
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), field)


def _mounts():
    """(mount point, filesystem type) of every mount this process sees."""
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5:
                continue
            rest = fields[fields.index('-') + 1:] if '-' in fields else []
            yield _unescape(fields[4]), (rest[0] if rest else '')


def is_mounted(path, fstype=None):
    """True if `path` is a mount point (of type `fstype`, e.g.
    'fuse.machvmfs', when given).  Reads /proc/self/mountinfo only, so it
    never touches the mount itself (a hung daemon cannot hang it)."""
    path = os.path.abspath(path)
    return any(mp == path and (fstype is None or t == fstype) for mp, t in _mounts())


def _fusermount():
    """fusermount3: on PATH, else where Debian puts it (a script may run with
    a PATH that holds only machvmfs's own directory)."""
    found = shutil.which('fusermount3')
    if found:
        return found
    for d in ('/usr/bin', '/bin', '/usr/local/bin'):
        if os.access(os.path.join(d, 'fusermount3'), os.X_OK):
            return os.path.join(d, 'fusermount3')
    return 'fusermount3'


def find_daemon(daemon=None):
    """The machvmfs program to run: `daemon` if given, else $MACHVMFS_DAEMON,
    else `machvmfs` found on $PATH.  Raises MountError if none is found."""
    if daemon:
        return os.fspath(daemon)
    env = os.environ.get('MACHVMFS_DAEMON')
    if env:
        return env
    found = shutil.which('machvmfs')
    if found:
        return found
    raise MountError('no machvmfs daemon: pass daemon=, set MACHVMFS_DAEMON, '
                     'or put machvmfs on PATH')


def format_options(options):
    """A dict of mount options -> the list of `-o` words: `key=value`, just
    `key` for True, nothing for False or None (page_size='16K' ->
    ['page_size=16K'], allow_other=True -> ['allow_other'])."""
    words = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        word = key if value is True else '%s=%s' % (key, value)
        if ',' in word or not word or any(c.isspace() for c in word):
            raise ValueError('mount option %r: no commas or white space' % word)
        words.append(word)
    return words


class Daemon:
    """One `machvmfs -f` process serving one mount point.

    `Daemon(path, daemon=None, options=[...], args=[...], debug=False,
    log_path=None)` prepares the command line (`options`: `-o` words as
    `format_options` makes them; `args`: more words before the mount
    point); `start()` runs it and waits for the mount; `stop()` unmounts,
    reaps the daemon and says what went wrong.  The daemon's standard output
    and error go to `log_path` (a temporary file, removed by `stop()`, when
    not given); `log_text()` reads them.
    """

    def __init__(self, path, daemon=None, options=(), args=(), debug=False, log_path=None):
        self.path = os.path.abspath(os.fspath(path))
        self.program = find_daemon(daemon)
        self.argv = [self.program, '-f'] + (['-d'] if debug else []) + list(args)
        if options:
            self.argv += ['-o', ','.join(options)]
        self.argv.append(self.path)
        self._own_log = log_path is None
        if log_path is None:
            fd, log_path = tempfile.mkstemp(prefix='machvmfs-', suffix='.log')
            os.close(fd)
        self.log_path = os.fspath(log_path)
        self.log = None
        self.proc = None
        self.final_log = None

    def __repr__(self):
        return '<machvmfs.Daemon %s pid %s>' % (self.path, self.proc.pid if self.proc else None)

    # ---- starting ----------------------------------------------------------

    def start(self, timeout=MOUNT_TIMEOUT):
        """Runs the daemon and returns once the mount is there.  Raises
        MountError (with the daemon's log) if it exits first or does not
        mount within `timeout` seconds; nothing is left mounted or running."""
        if not os.access(self.program, os.X_OK):
            raise MountError('no machvmfs daemon at %s' % self.program)
        self.log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not is_mounted(self.path):
            if self.proc.poll() is not None:
                self.close_log()
                raise MountError('machvmfs exited with %d before mounting %s:\n%s'
                                 % (self.proc.returncode, self.path, self.log_text()),
                                 self.log_text())
            if time.monotonic() > deadline:
                self.stop()
                raise MountError('machvmfs did not mount %s within %.0f s:\n%s'
                                 % (self.path, timeout, self.log_text()), self.log_text())
            time.sleep(0.005)
        return self

    # ---- looking -----------------------------------------------------------

    def running(self):
        """True while the daemon process has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def mounted(self):
        """True while the mount point holds a mount."""
        return is_mounted(self.path)

    @property
    def returncode(self):
        """The daemon's exit status, None while it runs (or before start)."""
        return self.proc.poll() if self.proc else None

    def log_text(self):
        """What the daemon wrote on its standard output and error so far."""
        if self.final_log is not None:
            return self.final_log
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def reproduce(self):
        """A shell line that runs this daemon again the same way."""
        return ('mkdir -p %s && %s' % (shlex.quote(self.path),
                                       ' '.join(shlex.quote(a) for a in self.argv)))

    # ---- stopping ----------------------------------------------------------

    def unmount(self):
        """`fusermount3 -u`; if that fails while the mount is still there,
        unmounts lazily (`-uz`).  Returns a problem message, or None."""
        r = subprocess.run([_fusermount(), '-u', self.path], capture_output=True, text=True)
        if r.returncode != 0 and self.mounted():
            subprocess.run([_fusermount(), '-uz', self.path], capture_output=True)
            return 'fusermount3 -u failed: %s; unmounted lazily' % r.stderr.strip()
        return None

    def wait(self, timeout=EXIT_TIMEOUT):
        """Waits for the daemon to exit; kills it after `timeout` seconds.
        Returns a problem message, or None."""
        if self.proc is None:
            return None
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return 'the daemon did not exit within %.0f s of the unmount; killed' % timeout
        return None

    def kill(self, sig=signal.SIGKILL):
        """Sends `sig` to the daemon if it still runs."""
        if self.running():
            self.proc.send_signal(sig)

    def close_log(self):
        """Closes the log (keeping its text for `log_text()`); a temporary
        log file is removed."""
        if self.log is not None and not self.log.closed:
            self.log.close()
        if self.final_log is None:
            self.final_log = self.log_text()
            if self._own_log:
                with contextlib.suppress(OSError):
                    os.unlink(self.log_path)

    def problems(self):
        """What went wrong with a daemon that has exited: a non-zero exit
        status, a sanitizer report in its log.  A list of messages."""
        found = []
        if self.proc is not None and self.proc.returncode not in (0, None):
            found.append('the daemon exited with %d' % self.proc.returncode)
        report = sanitizer_report(self.log_text())
        if report:
            found.append('sanitizer report in the daemon log:\n' + report)
        return found

    def stop(self, timeout=EXIT_TIMEOUT):
        """Unmounts (lazily if it must), waits for the daemon (killing it
        after `timeout` seconds) and closes the log.  Returns the list of
        problems: messages for a failed unmount, a daemon that had to be
        killed or exited non-zero, a sanitizer report.  Safe to call twice."""
        if self.proc is None:
            return []
        found = []
        if self.mounted():
            p = self.unmount()
            if p:
                found.append(p)
        p = self.wait(timeout)
        if p:
            found.append(p)
        self.close_log()
        return found + self.problems()


@contextlib.contextmanager
def mount(path=None, *, daemon=None, args=(), debug=False, timeout=MOUNT_TIMEOUT, check=True,
          **options):
    """Mounts a fresh machvmfs host and gives its `Host`:

        with machvmfs.mount(page_size='16K') as host:
            task = host.create()

    `path`: the mount point, an existing directory (None: a new temporary
    directory, removed afterwards).  Keyword options become `-o key=value`
    (`allow_other=True` -> `-o allow_other`).  `daemon`: the machvmfs
    program (else $MACHVMFS_DAEMON, else `machvmfs` on PATH); `args`: more
    words for its command line; `debug`: run it with `-d`.  The daemon runs
    in the foreground (`-f`) with its output in a log (`host.daemon`).

    On leaving the block, even by an exception, the mount is unmounted and
    the daemon reaped.  With `check` (the default), a block that ended
    normally then raises MountError if the daemon exited non-zero or logged
    a sanitizer report.  A daemon that cannot mount raises MountError at
    the start, with its message.
    """
    workdir = None
    if path is None:
        workdir = tempfile.mkdtemp(prefix='machvmfs-')
        path = os.path.join(workdir, 'mnt')
        os.mkdir(path)
    try:
        d = Daemon(path, daemon=daemon, options=format_options(options), args=args, debug=debug)
        d.start(timeout)
    except BaseException:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    problems = []
    ok = False
    try:
        yield Host(path, daemon=d)
        ok = True
    finally:
        problems = d.stop()
        if workdir and not d.mounted():
            shutil.rmtree(workdir, ignore_errors=True)
    if check and ok and problems:
        raise MountError('machvmfs on %s: %s\n%s' % (d.path, '; '.join(problems), d.reproduce()),
                         d.log_text())
