"""`pip install ./python` into a virtual environment, offline, as
python/README.md says: with Debian's own wheels (/usr/share/python-wheels)
and no index.  Then the environment's Python mounts a host with mount(),
its machvmctl runs, and its pytest finds the plugin through the `pytest11`
entry point alone (no conftest names it).

The source is copied first, so the build's files (build/, *.egg-info) never
land in the tree.  pip runs with --isolated: no configuration or PIP_*
variable of this machine helps it.
"""
import os
import shutil
import subprocess
import textwrap

import pytest

from fsmount import _mounted, daemon_path
from machvm_paths import PYTHON_DIR

WHEELS = '/usr/share/python-wheels'

USE = textwrap.dedent('''
    import sys
    import machvmfs
    print('package', machvmfs.__file__)
    with machvmfs.mount(page_size='16K') as host:
        t = host.create()
        a = t.allocate_anywhere('32K')
        t.write(a, b'from the venv')
        print('read', t.fork().read(a, 13).decode(), 'page_size', host.page_size)
        try:
            t.allocate(a, 4096)
        except machvmfs.KernError as e:
            print('refused', e.name, e.errno)
        path = host.path
    print('mounted after', machvmfs.is_mounted(path), 'exit', host.daemon.returncode)
''')

PLUGIN_TEST = textwrap.dedent('''
    def test_through_the_entry_point(machvmfs):
        t = machvmfs.create()
        assert t.allocate(0x10000, '4K') == 0x10000
''')


def test_pip_install_into_a_venv_offline(tmp_path):
    for w in ('setuptools', 'wheel'):
        if not any(n.startswith(w + '-') for n in os.listdir(WHEELS)):
            pytest.fail('no %s wheel in %s (tools/setup-debian.sh installs it)' % (w, WHEELS))
    src = tmp_path / 'python'
    shutil.copytree(PYTHON_DIR, src, ignore=shutil.ignore_patterns(
        'build', '*.egg-info', '__pycache__'))
    venv = tmp_path / 'venv'
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('PIP_', 'PYTHON', 'VIRTUAL_ENV', 'MACHVMFS_'))}
    # --system-site-packages: the environment's pytest is Debian's (the
    # package itself needs nothing but the standard library)
    subprocess.run(['/usr/bin/python3', '-m', 'venv', '--system-site-packages', str(venv)],
                   check=True, env=env, timeout=300)
    r = subprocess.run([str(venv / 'bin' / 'pip'), '--isolated', 'install', '--no-index',
                        '--find-links', WHEELS, str(src)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert 'Successfully installed machvmfs-0.1.0' in r.stdout

    env['MACHVMFS_DAEMON'] = daemon_path()
    r = subprocess.run([str(venv / 'bin' / 'python'), '-c', USE], capture_output=True,
                       text=True, env=env, timeout=120, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    site = str(venv / 'lib')
    assert lines[0].startswith('package ' + site) and lines[0].endswith('/machvmfs/__init__.py')
    assert lines[1:] == ['read from the venv page_size 16384', 'refused KERN_NO_SPACE 28',
                         'mounted after False exit 0']

    r = subprocess.run([str(venv / 'bin' / 'machvmctl'), '--help'], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith('usage: machvmctl'), r.stdout + r.stderr

    tests = tmp_path / 'plugin'
    tests.mkdir()
    (tests / 'test_plugin.py').write_text(PLUGIN_TEST)
    r = subprocess.run([str(venv / 'bin' / 'python'), '-m', 'pytest', '-q', '-p',
                        'no:cacheprovider', '--basetemp', str(tmp_path / 'base'), str(tests)],
                       capture_output=True, text=True, env=env, timeout=120, cwd=str(tests))
    assert r.returncode == 0 and '1 passed' in r.stdout, r.stdout + r.stderr
    assert not any(_mounted(os.path.join(d, 'machvmfs')) for d, _, _ in os.walk(tmp_path / 'base'))
