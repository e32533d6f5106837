"""libmachvm.so exports the documented API, all of it and nothing else.

The functions are read from the public headers (include/machvm/*.h): every
function declared there, at file scope, outside comments, typedefs and
structure bodies.  The library's symbols are its dynamic symbol table
(`nm -D --defined-only`).  The two sets must be equal: a declared function
that is not exported could not be called through the shared library, and an
exported symbol that is not declared (vm_map_enter, vm_object_shadow,
task_lookup ...) would clash with another library's or a real Mach's.
"""
import glob
import os
import re
import subprocess

import pytest

from machvm_paths import ROOT, build_dir

INCLUDE = os.path.join(ROOT, 'include', 'machvm')
SHARED = os.path.join(build_dir(), 'libmachvm.so')

# Engine functions the static library holds; none may be exported.
INTERNAL = ['vm_map_enter', 'vm_map_fork', 'vm_map_store_insert', 'vm_object_shadow',
            'vm_object_allocate', 'vm_page_table_get', 'task_lookup', 'machvm_panic']


def declared_functions(text):
    """{name: has MACHVM_API} for the functions one header declares."""
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    # The extern "C" braces sit between #ifdef __cplusplus and #endif.
    text = re.sub(r'#ifdef __cplusplus.*?#endif', ' ', text, flags=re.S)
    text = '\n'.join(l for l in text.split('\n') if not l.lstrip().startswith('#'))
    while True:            # structure and enumeration bodies, innermost first
        shorter = re.sub(r'\{[^{}]*\}', ' ', text)
        if shorter == text:
            break
        text = shorter
    found = {}
    for statement in text.split(';'):
        statement = ' '.join(statement.split())
        if not statement or statement.startswith('typedef'):
            continue
        m = re.match(r'^([^()]*?)\b([A-Za-z_]\w*)\s*\((.*)\)$', statement)
        if m:
            found[m.group(2)] = 'MACHVM_API' in m.group(1).split()
    return found


def header_functions():
    found = {}
    for path in sorted(glob.glob(os.path.join(INCLUDE, '*.h'))):
        with open(path) as f:
            for name, marked in declared_functions(f.read()).items():
                assert name not in found, '%s is declared twice' % name
                found[name] = (os.path.basename(path), marked)
    return found


def exported_symbols():
    if not os.path.exists(SHARED):
        pytest.fail('%s is missing: build first (scons)' % SHARED)
    out = subprocess.run(['nm', '-D', '--defined-only', SHARED], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[-1].split('@')[0] for line in out.splitlines() if line.strip()}


def test_the_header_parser_finds_declarations():
    got = declared_functions('''
        /* int commented(void); */
        typedef void (*hook_t)(const char *m);
        struct ops { int (*one)(void *arg); };
        #define NOT_A_FUNCTION(x) (x)
        #ifdef __cplusplus
        extern "C" {
        #endif
        MACHVM_API const char *named(int a,
                                     int b);
        void unmarked(void);
        #ifdef __cplusplus
        }
        #endif
    ''')
    assert got == {'named': True, 'unmarked': False}


def test_headers_declare_the_api():
    found = header_functions()
    for name in ('vm_allocate', 'vm_protect', 'vm_region', 'vm_region_extended',
                 'task_create', 'kern_return_name', 'machvm_host_start',
                 'machvm_import_begin', 'machvm_set_report_hook', 'vm_map_inherit'):
        assert name in found, name
    assert len(found) >= 40


def test_every_declared_function_is_marked():
    unmarked = sorted('%s (%s)' % (n, h) for n, (h, marked) in header_functions().items()
                      if not marked)
    assert not unmarked, 'declared without MACHVM_API: ' + ', '.join(unmarked)


def test_every_declared_function_is_exported():
    missing = sorted(set(header_functions()) - exported_symbols())
    assert not missing, 'declared in include/machvm but not exported by %s: %s' % (
        SHARED, ', '.join(missing))


def test_nothing_else_is_exported():
    extra = sorted(exported_symbols() - set(header_functions()))
    assert not extra, 'exported by %s but not declared in include/machvm: %s' % (
        SHARED, ', '.join(extra))
    for name in INTERNAL:
        assert name not in exported_symbols()


def test_soname():
    out = subprocess.run(['readelf', '-d', SHARED], capture_output=True, text=True,
                         check=True).stdout
    assert re.search(r'\(SONAME\)\s+Library soname: \[libmachvm\.so\.0\]', out), out
    assert os.path.realpath(SHARED) != os.path.abspath(SHARED)   # libmachvm.so is a link
    assert os.path.exists(os.path.join(build_dir(), 'libmachvm.so.0'))
