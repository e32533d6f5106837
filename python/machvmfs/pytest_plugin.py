"""The machvmfs pytest plugin: a `machvmfs` fixture giving each test a fresh
host.

Installed with pip it loads by itself (entry point `pytest11`); otherwise
name it in a conftest.py (with the package importable, e.g. on PYTHONPATH):

    pytest_plugins = ['machvmfs.pytest_plugin']

    def test_fork(machvmfs):                 # a machvmfs.Host
        t = machvmfs.create()
        t.allocate(0x10000, '16K')
        assert t.fork().regions()[0]['share_mode'] == 'cow'

    @pytest.mark.machvmfs(page_size='16K')   # mount options for this test
    def test_big_pages(machvmfs):
        assert machvmfs.page_size == 16384

The fixture mounts on a directory of the test's `tmp_path`, with the
daemon's output in `tmp_path/machvmfs.log`, and unmounts at teardown,
whatever the test did.  Teardown then fails (a pytest error at teardown) if
the daemon exited non-zero or logged a sanitizer report (AddressSanitizer,
LeakSanitizer, UndefinedBehaviorSanitizer, ThreadSanitizer).  A failing
test's report gets a `machvmfs` section with the daemon's command line and
the end of its log.

The daemon: `--machvmfs-daemon PATH`, else $MACHVMFS_DAEMON, else
`machvmfs` on PATH; a conftest can override the `machvmfs_daemon` fixture
(return a path) and `machvmfs_options` (return a dict of mount options).
"""
import pytest

from ._daemon import Daemon, MountError, format_options
from ._host import Host


def pytest_addoption(parser):
    group = parser.getgroup('machvmfs')
    group.addoption('--machvmfs-daemon', dest='machvmfs_daemon', default=None, metavar='PATH',
                    help='the machvmfs daemon the machvmfs fixture runs '
                         '(default: $MACHVMFS_DAEMON, then machvmfs on PATH)')


def pytest_configure(config):
    config.addinivalue_line('markers', 'machvmfs(**options): mount options (-o key=value) '
                            'for the machvmfs fixture of this test')


@pytest.fixture
def machvmfs_daemon(request):
    """The daemon program the `machvmfs` fixture runs (None: look it up in
    $MACHVMFS_DAEMON, then PATH).  Override it in a conftest to choose."""
    return request.config.getoption('machvmfs_daemon')


@pytest.fixture
def machvmfs_options():
    """Mount options for every `machvmfs` fixture (a dict, as mount()
    takes them); a `machvmfs` marker on a test adds to them."""
    return {}


@pytest.fixture
def machvmfs(request, tmp_path, machvmfs_daemon, machvmfs_options):
    """A fresh machvmfs host (a machvmfs.Host) mounted for this test."""
    options = dict(machvmfs_options)
    for mark in reversed(list(request.node.iter_markers('machvmfs'))):
        if mark.args:
            raise TypeError('the machvmfs marker takes keyword options only')
        options.update(mark.kwargs)
    mp = tmp_path / 'machvmfs'
    mp.mkdir()
    try:
        daemon = Daemon(mp, daemon=machvmfs_daemon, options=format_options(options),
                        log_path=tmp_path / 'machvmfs.log')
        request.node.__dict__.setdefault('_machvmfs_daemons', []).append(daemon)
        daemon.start()
    except MountError as e:
        pytest.fail('machvmfs did not mount: %s' % e, pytrace=False)
    yield Host(mp, daemon=daemon)
    problems = daemon.stop()
    if problems:
        pytest.fail('machvmfs on %s: %s\nreproduce: %s\n--- daemon log (tail) ---\n%s'
                    % (daemon.path, '\n'.join(problems), daemon.reproduce(),
                       daemon.log_text()[-4000:]), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report says how its daemon ran and what it logged."""
    outcome = yield
    rep = outcome.get_result()
    daemons = item.__dict__.get('_machvmfs_daemons')
    if not rep.failed or not daemons:
        return
    lines = []
    for d in daemons:
        lines.append('reproduce: ' + d.reproduce())
        tail = d.log_text()[-3000:]
        if tail:
            lines.append('daemon log of %s (tail):\n%s' % (d.path, tail))
    rep.sections.append(('machvmfs', '\n'.join(lines)))
