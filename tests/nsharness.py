"""Running machvmfs where what it sends to syslog can be read.

syslog(3) always writes to /dev/log.  `run_in_namespace(code)` runs Python
code in a private mount namespace (unshare(1), root only) whose /dev is a
fresh tmpfs holding the few device nodes the daemon needs and a datagram
socket at /dev/log that the code reads through `Syslog`; the machine's own
/dev is not touched.  Everything mounted in there, the daemon's FUSE mount
included, goes away with the namespace when the code ends, whatever
happened.  The code prints its findings as JSON on its last line of output,
which run_in_namespace returns parsed.
"""
import json
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

PRELUDE = r'''
import json, os, socket, subprocess, sys, time
sys.path.insert(0, %r)
from fsmount import daemon_path, _mounted

def _dev():
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', '/dev'], check=True)
    for name, major, minor in (('fuse', 10, 229), ('null', 1, 3), ('zero', 1, 5),
                               ('urandom', 1, 9), ('random', 1, 8)):
        os.mknod('/dev/' + name, 0o20666, os.makedev(major, minor))

class Syslog:
    """The datagrams sent to /dev/log."""
    def __init__(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind('/dev/log')
        self.lines = []

    def wait_for(self, text, timeout=10.0):
        """Collects messages until one holds text; True if one did."""
        deadline = time.monotonic() + timeout
        while not any(text in m for m in self.lines):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                self.lines.append(self.sock.recv(8192).decode('utf-8', 'replace'))
            except socket.timeout:
                return False
        return True

class Daemon:
    """machvmfs -f on mountpoint, its stderr in a file."""
    def __init__(self, mountpoint, options):
        self.mnt = mountpoint
        os.makedirs(mountpoint, exist_ok=True)
        self.logpath = mountpoint + '.log'
        self.log = open(self.logpath, 'wb')
        self.proc = subprocess.Popen([daemon_path(), '-f', '-o', ','.join(options), mountpoint],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not _mounted(mountpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit('machvmfs did not mount: ' + self.text())
            time.sleep(0.01)

    def p(self, rel):
        return os.path.join(self.mnt, rel)

    def text(self):
        with open(self.logpath, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def unmount(self, timeout=30):
        """fusermount3 -u, then waits for the daemon; its exit status."""
        subprocess.run(['fusermount3', '-u', self.mnt], check=True)
        return self.proc.wait(timeout=timeout)

_dev()
syslog = Syslog()
args = sys.argv[1:]
out = {}
try:
'''

EPILOGUE = r'''
finally:
    print(json.dumps(out))
'''


def available():
    return os.getuid() == 0 and shutil.which('unshare') is not None


def run_in_namespace(code, *args, timeout=90):
    """Runs code (indented by the caller's dedent: write it at column 0) in
    the namespace, with `syslog`, `Daemon`, `args` and the dict `out` at
    hand; returns out."""
    body = ''.join('    ' + line + '\n' for line in code.strip('\n').splitlines())
    script = (PRELUDE % HERE) + body + EPILOGUE
    r = subprocess.run(['unshare', '--mount', '--propagation', 'private',
                        '/usr/bin/python3', '-c', script] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=timeout, cwd='/')
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and lines, 'in the namespace: exit %d\n%s\n%s' % (
        r.returncode, r.stdout, r.stderr)
    return json.loads(lines[-1])
