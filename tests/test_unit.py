"""Runs every case of every engine unit-test program as its own pytest item.

The programs are built by SCons into $MACHVM_BUILD/tests/unit; each lists its
cases with --list and runs one case when named.  A case passes when it exits 0
and, under the sanitizers, printed no sanitizer report.
"""
import os
import subprocess

import pytest

from machvm_paths import build_dir, sanitizer_report

UNIT_DIR = os.path.join(build_dir(), 'tests', 'unit')


def _cases():
    if not os.path.isdir(UNIT_DIR):
        return []
    found = []
    for name in sorted(os.listdir(UNIT_DIR)):
        path = os.path.join(UNIT_DIR, name)
        if not name.startswith('test_') or not os.access(path, os.X_OK) or name.endswith('.o'):
            continue
        out = subprocess.run([path, '--list'], capture_output=True, text=True, check=True).stdout
        found += [pytest.param(path, case, id='%s::%s' % (name, case)) for case in out.split()]
    return found


def test_unit_programs_exist():
    assert _cases(), 'no unit-test programs under %s: build first (scons)' % UNIT_DIR


@pytest.mark.parametrize('program,case', _cases())
def test_unit(program, case):
    proc = subprocess.run([program, case], capture_output=True, text=True, timeout=600)
    report = sanitizer_report(proc.stderr)
    assert proc.returncode == 0 and not report, (
        'unit case failed (exit %d); reproduce with: %s %s\n%s%s'
        % (proc.returncode, program, case, proc.stdout[-4000:], proc.stderr[-8000:]))
