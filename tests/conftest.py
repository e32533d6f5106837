"""pytest configuration shared by the whole suite."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Sanitizer runtime settings for every program the tests start.
os.environ.setdefault('ASAN_OPTIONS', 'abort_on_error=0:detect_leaks=1:halt_on_error=1')
os.environ.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1')
