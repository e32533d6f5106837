"""The manual pages: man/machvmfs.8 and man/libmachvm.3.

Each renders with man(1) and groff without a single warning.  machvmfs(8)
names everything the daemon itself says it has: every file and directory and
every command usage of `machvmfs --dump-layout` (the daemon's own tables),
every option of `machvmfs --help`, every errno the daemon's sources can
answer with.  libmachvm(3) names every function the headers export
(MACHVM_API, as tests/test_symbols.py reads them) and every return code, and
its example program builds against the library and prints what the page says
it prints.  So a new verb, file, option, errno or function without a word in
the pages fails here.
"""
import errno
import functools
import glob
import os
import re
import shutil
import subprocess

import pytest

from machvm_paths import ROOT, build_dir, variant
from test_symbols import header_functions

MAN8 = os.path.join(ROOT, 'man', 'machvmfs.8')
MAN3 = os.path.join(ROOT, 'man', 'libmachvm.3')
PAGES = [MAN8, MAN3]


def _need(tool, package):
    if not shutil.which(tool):
        pytest.fail('%s is missing (tools/setup-debian.sh installs %s)' % (tool, package))


@functools.lru_cache(maxsize=None)
def render(path, width='80'):
    """(stdout, stderr, status) of man -l on path, in the C locale."""
    _need('man', 'man-db')
    r = subprocess.run(['man', '--warnings', '-l', path], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL='C', LANG='C', MANWIDTH=width,
                                MAN_KEEP_FORMATTING=''))
    return r.stdout, r.stderr, r.returncode


def text_of(path):
    """The page as plain text with all white space runs made one space, so
    words broken across lines still match."""
    out, err, rc = render(path, width='200')
    assert rc == 0, err
    return ' ' + ' '.join(out.split()) + ' '


def section(path, name):
    """The text of one top-level section (NAME, ERRORS ...), as text_of."""
    out, err, rc = render(path, width='200')
    assert rc == 0, err
    parts, cur = {}, None
    for line in out.split('\n'):
        if line and not line[0].isspace() and line == line.upper():
            cur = parts.setdefault(line.strip(), [])
        elif cur is not None:
            cur.append(line)
    assert name in parts, 'no section %s in %s' % (name, path)
    return ' ' + ' '.join(' '.join(parts[name]).split()) + ' '


def dump_layout():
    out = subprocess.run([os.path.join(build_dir(), 'machvmfs'), '--dump-layout'],
                         capture_output=True, text=True, check=True).stdout
    files, commands, part = [], [], None
    for line in out.splitlines():
        if line.startswith('# files'):
            part = files
        elif line.startswith('# commands'):
            part = commands
        elif line.strip() and part is not None:
            part.append(line)
    paths = [l.split()[0] for l in files]
    # file, verb, argument count, engine call, usage (the rest of the line)
    cmds = []
    for l in commands:
        m = re.match(r'^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.*)$', l)
        cmds.append((m.group(1), m.group(2), m.group(5).strip()))
    return paths, cmds


def help_options():
    r = subprocess.run([os.path.join(build_dir(), 'machvmfs'), '--help'],
                       capture_output=True, text=True)
    text = r.stdout + r.stderr
    usage = text.split('\n')[0]
    opts = re.findall(r'\[(-\w)\]', usage)
    own = text.split('machvmfs options:', 1)[1].split('FUSE options:', 1)[0]
    opts += ['-o ' + o + '=' for o in re.findall(r'^\s*-o (\w+)=', own, re.M)]
    opts += re.findall(r'^\s*(--[\w-]+)', own, re.M)
    return opts


def daemon_errnos():
    """Every errno name the daemon's sources use, except where they only
    compare errno with it (a reason they read, not one they answer)."""
    names = set(errno.errorcode.values())
    found = set()
    for path in glob.glob(os.path.join(ROOT, 'src', 'fs', '*.c')):
        with open(path) as f:
            src = f.read()
        for m in re.finditer(r'\b(E[A-Z0-9]+)\b', src):
            if m.group(1) in names and not re.search(r'[=!]=\s*$', src[:m.start()]):
                found.add(m.group(1))
    return found


def missing_in_man8(page, paths, cmds, opts, errnos):
    """What machvmfs(8) (the page at path page) fails to name."""
    text = text_of(page)
    missing = []
    for p in paths:
        if ' ' + p + ' ' not in text:
            missing.append('file ' + p)
    for f, verb, usage in cmds:
        if ' ' + usage + ' ' not in text:
            missing.append('usage of %s in %s: %s' % (verb, f, usage))
        if ' %s ' % verb not in section(page, 'COMMANDS'):
            missing.append('verb %s' % verb)
        if ' ' + f + ' ' not in section(page, 'COMMANDS'):
            missing.append('command file %s' % f)
    for o in opts:
        if ' ' + o not in section(page, 'OPTIONS'):
            missing.append('option ' + o)
    errors = section(page, 'ERRORS')
    for e in sorted(errnos):
        if ' %s ' % e not in errors:
            missing.append('errno ' + e)
    return missing


def missing_in_man3(text, functions):
    return ['function ' + f for f in sorted(functions)
            if not re.search(r'[ *]%s\(' % re.escape(f), text)]


# ---- rendering --------------------------------------------------------------

@pytest.mark.parametrize('page', PAGES, ids=os.path.basename)
def test_page_renders_without_warning(page):
    _need('groff', 'groff-base')
    r = subprocess.run(['groff', '-man', '-ww', '-z', page], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == '', r.stderr
    out, err, rc = render(page)
    assert rc == 0 and err == '', err
    title = 'MACHVMFS(8)' if page == MAN8 else 'LIBMACHVM(3)'
    assert out.lstrip().startswith(title), out[:200]
    for name in ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES', 'SEE ALSO'):
        assert '\n%s\n' % name in out, name


def test_a_bad_page_is_noticed(tmp_path):
    """The warning check sees a warning: an unknown macro and a bad escape."""
    bad = tmp_path / 'bad.8'
    bad.write_text('.TH BAD 8\n.SH NAME\nbad \\- bad\n.XY\n\\*[nosuch]\n')
    r = subprocess.run(['groff', '-man', '-ww', '-z', str(bad)], capture_output=True, text=True)
    assert r.stderr != ''


# ---- machvmfs(8) names the daemon's own tables -------------------------------

def test_machvmfs8_names_every_file_verb_option_and_errno():
    paths, cmds = dump_layout()
    assert len(paths) > 40 and len(cmds) > 10
    opts = help_options()
    assert '-o page_size=' in opts and '--dump-layout' in opts and '-f' in opts
    errnos = daemon_errnos()
    assert {'EFAULT', 'EACCES', 'ENOSPC', 'EINVAL', 'EFBIG', 'ESRCH', 'ENOENT'} <= errnos
    missing = missing_in_man8(MAN8, paths, cmds, opts, errnos)
    assert not missing, 'man/machvmfs.8 does not document: ' + '; '.join(missing)


def test_machvmfs8_names_every_kern_return_of_the_errno_table():
    with open(os.path.join(ROOT, 'src', 'fs', 'errors.c')) as f:
        codes = set(re.findall(r'case (KERN_\w+):', f.read())) - {'KERN_SUCCESS'}
    errors = section(MAN8, 'ERRORS')
    assert codes and all(c in errors for c in codes), sorted(c for c in codes if c not in errors)


def test_the_man8_check_can_fail(tmp_path):
    """A page without one verb's usage, or one file, is caught."""
    paths, cmds = dump_layout()
    with open(MAN8) as f:
        src = f.read()
    cut = tmp_path / 'cut.8'
    cut.write_text(src.replace('map_inherit <start> <end> <inheritance>\n', '')
                      .replace('.B tasks/<id>/pagemap\n', '.B tasks/<id>/somethingelse\n'))
    missing = missing_in_man8(str(cut), paths, cmds, help_options(), daemon_errnos())
    assert any(m.startswith('usage of map_inherit') for m in missing), missing
    assert 'file tasks/<id>/pagemap' in missing


# ---- libmachvm(3) names the headers' API ------------------------------------

def test_libmachvm3_names_every_exported_function():
    functions = header_functions()
    assert len(functions) > 50
    missing = missing_in_man3(text_of(MAN3), functions)
    assert not missing, 'man/libmachvm.3 does not document: ' + ', '.join(missing)


def test_libmachvm3_names_every_return_code():
    with open(os.path.join(ROOT, 'include', 'machvm', 'kern_return.h')) as f:
        codes = re.findall(r'#define (KERN_\w+)\s+\d', f.read())
    assert len(codes) > 8
    described = section(MAN3, 'DESCRIPTION')
    assert [c for c in codes if not re.search(r'\b%s\b' % c, described)] == []


def test_the_man3_check_can_fail(tmp_path):
    with open(MAN3) as f:
        src = f.read()
    cut = tmp_path / 'cut.3'
    cut.write_text(src.replace('machvm_task_map_gen', 'machvm_something_else'))
    assert missing_in_man3(text_of(str(cut)), header_functions()) == [
        'function machvm_task_map_gen']


def test_libmachvm3_example_builds_and_prints_what_it_says(tmp_path):
    text, _, _ = render(MAN3, width='200')
    lines = text.split('\n')
    start = lines.index('EXAMPLES') + 1
    end = next(i for i in range(start, len(lines)) if lines[i].strip().startswith('Built with'))
    program = '\n'.join(l[7:] for l in lines[start:end]) + '\n'
    assert 'machvm_why_get' in program
    claim = re.search(r'it prints (.*?)\.(?: |$)', ' '.join(' '.join(lines[end:end + 3]).split()))
    assert claim, lines[end:end + 3]
    src = tmp_path / 'example.c'
    src.write_text(program)
    exe = tmp_path / 'example'
    flags = ['-fsanitize=address,undefined'] if variant() == 'asan' else \
            ['-fsanitize=thread'] if variant() == 'tsan' else []
    subprocess.run(['gcc', '-std=c11', '-Wall', '-Wextra', '-Werror', '-I',
                    os.path.join(ROOT, 'include'), str(src),
                    os.path.join(build_dir(), 'libmachvm.a'), '-pthread', '-o', str(exe)] + flags,
                   check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == claim.group(1)
