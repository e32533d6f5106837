"""pytest configuration shared by the whole suite."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Sanitizer runtime settings for every program the tests start.
os.environ.setdefault('ASAN_OPTIONS', 'abort_on_error=0:detect_leaks=1:halt_on_error=1')
os.environ.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1')
# A race is reported where it happens and the program goes on, so the test
# sees the rest of its run; it then exits 66 (the daemon's exit status and
# its log's report both fail the test, see fsmount.Mount.close).
# tests/tsan.supp says why each of its entries is a false positive.
os.environ.setdefault('TSAN_OPTIONS', 'halt_on_error=0:exitcode=66:second_deadlock_stack=1:'
                      'suppressions=' + os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     'tsan.supp'))

import pytest

from fsmount import Mount, daemon_path
from machvm_paths import build_dir

# pytester: for tests of pytest plugins (tests/test_python_api.py);
# machvmfs.pytest_plugin: the package's `machvmfs` fixture (a machvmfs.Host on
# a fresh mount), from the tree (machvm_paths put python/ on sys.path).
pytest_plugins = ['pytester', 'machvmfs.pytest_plugin']


@pytest.fixture
def machvmfs_daemon():
    """The `machvmfs` fixture runs the daemon of the build under test."""
    return daemon_path()


@pytest.fixture
def mount_factory(request):
    """mount_factory(options=[...], args=[...], debug=False) -> a started Mount
    (start=False: not started yet; the test calls its start()).

    Every mount made through it is unmounted at teardown, whatever happened;
    teardown then fails the test if the daemon did not exit 0 or its log holds
    a sanitizer report.
    """
    mounts = []
    request.node._machvm_mounts = mounts

    def make(options=None, args=None, debug=False, start=True):
        m = Mount(options=options, args=args, debug=debug)
        mounts.append(m)
        return m.start() if start else m

    yield make
    errors = []
    for m in reversed(mounts):
        try:
            m.close()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail('\n\n'.join(errors), pytrace=False)


@pytest.fixture
def mnt(mount_factory):
    """A fresh, empty machvmfs mounted with the default options."""
    return mount_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, says how to reproduce it: the daemon's command line, the
    test's own command line, and the end of the daemon's log."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    lines = ['rerun: MACHVM_BUILD=%s /usr/bin/python3 -m pytest -q %s'
             % (build_dir(), item.nodeid)]
    for m in getattr(item, '_machvm_mounts', []):
        lines.append(m.reproduce())
        tail = m.log_text()[-3000:]
        if tail:
            lines.append('daemon log of %s (tail):\n%s' % (m.path, tail))
    rep.sections.append(('machvmfs', '\n'.join(lines)))
