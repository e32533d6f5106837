"""Replays the fuzzing harnesses' seed corpora and crash reproducers.

Each harness of tests/fuzz is built in every variant with a plain main()
(tests/fuzz/replay.c), so the inputs of tests/fuzz/corpus/<harness>/ and
tests/fuzz/regressions/<harness>/ (every crash scons fuzz ever found, kept
after its fix) run through the real code on every scons check, without
clang.  An input passes when the harness exits 0 and, under a sanitizer,
printed no report.
"""
import os
import subprocess

import pytest

from machvm_paths import ROOT, build_dir, sanitizer_report

FUZZ = os.path.join(ROOT, 'tests', 'fuzz')
HARNESSES = ('fuzz_parse', 'fuzz_ctl', 'fuzz_state')


def _inputs(harness, kind):
    folder = os.path.join(FUZZ, kind, harness)
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if not f.startswith('.'))


@pytest.mark.parametrize('harness', HARNESSES)
def test_seed_corpus_exists(harness):
    assert _inputs(harness, 'corpus'), 'no seeds in tests/fuzz/corpus/%s' % harness


@pytest.mark.parametrize('kind', ['corpus', 'regressions'])
@pytest.mark.parametrize('harness', HARNESSES)
def test_replay(harness, kind):
    program = os.path.join(build_dir(), 'tests', 'fuzz', harness)
    assert os.access(program, os.X_OK), '%s is not built (scons)' % program
    inputs = _inputs(harness, kind)
    if not inputs:
        pytest.skip('no %s inputs for %s' % (kind, harness))
    # A hang found by the fuzzer is a regression too: the inputs run in seconds.
    proc = subprocess.run([program] + inputs, capture_output=True, text=True, timeout=120)
    report = sanitizer_report(proc.stderr)
    assert proc.returncode == 0 and not report, (
        '%s failed on its %s (exit %d); reproduce with: %s FILE\n%s%s'
        % (harness, kind, proc.returncode, program, proc.stdout[-3000:], proc.stderr[-8000:]))
    # Every input ran: the harness names each one as it starts it.
    assert proc.stdout.count(' bytes)\n') == len(inputs), proc.stdout[-3000:]
