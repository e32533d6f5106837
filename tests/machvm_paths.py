"""Where the build under test lives, and how to spot a sanitizer report."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SANITIZER = re.compile(r'(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|'
                        r'WARNING: ThreadSanitizer|SUMMARY: UndefinedBehaviorSanitizer)')


def build_dir():
    """The variant build folder: $MACHVM_BUILD, else build/debug."""
    return os.environ.get('MACHVM_BUILD', os.path.join(ROOT, 'build', 'debug'))


def variant():
    return os.environ.get('MACHVM_VARIANT', os.path.basename(build_dir()))


def sanitizer_report(text):
    """The first lines of a sanitizer report in text, or '' if there is none."""
    m = _SANITIZER.search(text or '')
    if not m:
        return ''
    return text[max(0, m.start() - 200):m.start() + 3000]
