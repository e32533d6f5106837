"""Where the build under test lives, and how to spot a sanitizer report.

Importing it also puts the tree's Python package (python/machvmfs) first on
sys.path, so the suite tests the tree's package, never an installed one.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_DIR = os.path.join(ROOT, 'python')
if sys.path[:1] != [PYTHON_DIR]:
    sys.path.insert(0, PYTHON_DIR)

import machvmfs  # noqa: E402

if os.path.dirname(os.path.dirname(os.path.abspath(machvmfs.__file__))) != PYTHON_DIR:
    raise ImportError('the suite must test the tree\'s machvmfs package (%s), but %s was '
                      'imported first (an installed copy loaded as a pytest plugin?)'
                      % (PYTHON_DIR, machvmfs.__file__))


def build_dir():
    """The variant build folder: $MACHVM_BUILD, else build/debug."""
    return os.environ.get('MACHVM_BUILD', os.path.join(ROOT, 'build', 'debug'))


def variant():
    return os.environ.get('MACHVM_VARIANT', os.path.basename(build_dir()))


def sanitizer_report(text):
    """The first lines of a sanitizer report in text, or '' if there is none."""
    return machvmfs.sanitizer_report(text)
