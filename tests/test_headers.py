"""The public headers, used from outside: C++ and strict C.

A small program includes every header in include/machvm/, is compiled as
C++17 with g++ and as C11 with gcc -pedantic (warnings are errors), is linked
against the built libmachvm.a, and again against libmachvm.so (the program
then needs libmachvm.so.0, found through its run path), and is run: it starts a host, creates a task,
allocates, reads the region back with vm_region and checks the values and
return codes, and exits 0 only if every check held.  A C++ program that
links at all proves the headers give the engine's functions C linkage.

Each header must also compile on its own, in both languages.  A canary build
of the same program expects one wrong value and must exit 1, so a program
that cannot fail would be noticed.
"""
import glob
import os
import shutil
import subprocess

import pytest

from machvm_paths import ROOT, build_dir, sanitizer_report, variant

INCLUDE = os.path.join(ROOT, 'include')
HEADERS = sorted(os.path.basename(h)
                 for h in glob.glob(os.path.join(INCLUDE, 'machvm', '*.h')))
LIBRARY = os.path.join(build_dir(), 'libmachvm.a')
SHARED = os.path.join(build_dir(), 'libmachvm.so')
LINKS = {
    'static': [LIBRARY],
    'shared': [SHARED, '-Wl,-rpath,' + build_dir()],
}

LANGUAGES = {
    'c++': ['g++', '-x', 'c++', '-std=c++17', '-Wall', '-Wextra', '-Werror', '-pedantic'],
    'c': ['gcc', '-x', 'c', '-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic'],
}

PROGRAM = r'''
%(includes)s
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define EXPECT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "line %%d: expected %%s\n", __LINE__, #cond); \
		failures++; \
	} \
} while (0)

#define EXPECT_KR(call, want) do { \
	kern_return_t kr_ = (call); \
	if (kr_ != (want)) { \
		fprintf(stderr, "line %%d: %%s returned %%s, expected %%s\n", __LINE__, #call, \
		        kern_return_name(kr_), kern_return_name(want)); \
		failures++; \
	} \
} while (0)

static void on_panic(const char *message)
{
	fprintf(stderr, "engine panic: %%s\n", message);
}

struct counts {
	int hosts, tasks, entries;
};

static int count_host(void *arg, const machvm_host_desc_t *host)
{
	(void)host;
	((struct counts *)arg)->hosts++;
	return 0;
}

static int count_object(void *arg, const machvm_object_desc_t *object)
{
	(void)arg;
	(void)object;
	return 0;
}

static int count_page(void *arg, uint64_t object, uint64_t index, const void *bytes)
{
	(void)arg;
	(void)object;
	(void)index;
	(void)bytes;
	return 0;
}

static int count_task(void *arg, const machvm_task_desc_t *task)
{
	(void)task;
	((struct counts *)arg)->tasks++;
	return 0;
}

static int count_entry(void *arg, task_t task, const machvm_entry_desc_t *entry)
{
	(void)task;
	(void)entry;
	((struct counts *)arg)->entries++;
	return 0;
}

int main(void)
{
	machvm_set_panic_hook(on_panic);
	EXPECT_KR(machvm_host_start(16384), KERN_SUCCESS);
	EXPECT_KR(machvm_host_start(16384), KERN_FAILURE);

	vm_size_t p = 0;
	EXPECT_KR(host_page_size(mach_host_self(), &p), KERN_SUCCESS);
#ifdef CANARY
	EXPECT(p == 4096);      /* wrong on purpose: this build must fail */
#else
	EXPECT(p == 16384);
#endif
	EXPECT_KR(host_page_size(MACH_PORT_NULL, &p), KERN_INVALID_HOST);

	task_t t = TASK_NULL;
	EXPECT_KR(task_create(TASK_NULL, FALSE, &t), KERN_SUCCESS);
	EXPECT(t == 1);
	EXPECT(machvm_task_alive(t));

	/* Anywhere: first fit from P; 3 pages and a byte round up to 4 pages. */
	vm_address_t a = 0;
	EXPECT_KR(vm_allocate(t, &a, 3 * p + 1, TRUE), KERN_SUCCESS);
	EXPECT(a == p);

	vm_address_t addr = 0;
	vm_size_t size = 0;
	vm_prot_t prot = -1, max_prot = -1;
	vm_inherit_t inh = 99;
	boolean_t shared = 99;
	mach_port_t object = 99;
	vm_offset_t offset = 99;
	EXPECT_KR(vm_region(t, &addr, &size, &prot, &max_prot, &inh, &shared, &object, &offset),
	          KERN_SUCCESS);
	EXPECT(addr == a);
	EXPECT(size == 4 * p);
	EXPECT(prot == VM_PROT_DEFAULT);
	EXPECT(max_prot == VM_PROT_ALL);
	EXPECT(inh == VM_INHERIT_DEFAULT);
	EXPECT(shared == FALSE);
	EXPECT(object == MACH_PORT_NULL);
	EXPECT(offset == 0);

	/* Looking forward from inside moves the address down; past the end: none. */
	addr = a + 2 * p + 123;
	EXPECT_KR(vm_region(t, &addr, &size, &prot, &max_prot, &inh, &shared, &object, &offset),
	          KERN_SUCCESS);
	EXPECT(addr == a);
	addr = a + 4 * p;
	EXPECT_KR(vm_region(t, &addr, &size, &prot, &max_prot, &inh, &shared, &object, &offset),
	          KERN_NO_SPACE);

	/* Bytes in and out; the region gets an object on the first write. */
	static const char msg[] = "machvm headers";
	char buf[sizeof msg];
	vm_size_t n = 0;
	EXPECT_KR(vm_write(t, a + p + 5, msg, sizeof msg, &n), KERN_SUCCESS);
	EXPECT(n == sizeof msg);
	memset(buf, 0, sizeof buf);
	EXPECT_KR(vm_read(t, a + p + 5, sizeof buf, buf, &n), KERN_SUCCESS);
	EXPECT(n == sizeof msg);
	EXPECT(memcmp(buf, msg, sizeof msg) == 0);

	vm_region_extended_info_t info;
	addr = a;
	EXPECT_KR(vm_region_extended(t, &addr, &info), KERN_SUCCESS);
	EXPECT(info.start == a);
	EXPECT(info.object_id != 0);
	EXPECT(info.resident_pages == 1);
	EXPECT(info.share_mode == SM_PRIVATE);
	EXPECT(strcmp(machvm_share_mode_name(info.share_mode), "private") == 0);
	EXPECT(info.cache == MATTR_VAL_ON);

	/* A protection change in the middle splits the region in three. */
	EXPECT_KR(vm_protect(t, a + p, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	size_t regions = 0;
	EXPECT_KR(machvm_task_region_count(t, &regions), KERN_SUCCESS);
	EXPECT(regions == 3);

	/* A few of the documented failures. */
	vm_address_t fixed = a;
	EXPECT_KR(vm_allocate(t, &fixed, p, FALSE), KERN_NO_SPACE);
	fixed = 0;
	EXPECT_KR(vm_allocate(t, &fixed, p, FALSE), KERN_INVALID_ADDRESS);
	EXPECT_KR(vm_protect(t, a, p, FALSE, 8), KERN_INVALID_ARGUMENT);
	EXPECT_KR(vm_write(t, a + p, msg, 1, &n), KERN_PROTECTION_FAILURE);
	EXPECT_KR(vm_wire(mach_host_self(), t, a, p, VM_PROT_READ), KERN_INVALID_HOST);
	EXPECT_KR(vm_deallocate(t + 100, a, p), KERN_INVALID_ARGUMENT);
	EXPECT(strcmp(kern_return_name(KERN_NO_SPACE), "KERN_NO_SPACE") == 0);
	EXPECT(strcmp(kern_return_name(7), "KERN_UNKNOWN") == 0);

	/* A fork: the touched region is copy-on-write on both sides. */
	task_t c = TASK_NULL;
	EXPECT_KR(task_create(t, TRUE, &c), KERN_SUCCESS);
	EXPECT(c == 2);
	addr = a;
	EXPECT_KR(vm_region_extended(c, &addr, &info), KERN_SUCCESS);
	EXPECT(info.share_mode == SM_COW);
	EXPECT(info.needs_copy == TRUE);

	/* Persistence: one host, two tasks, three entries each. */
	struct counts got = { 0, 0, 0 };
	struct machvm_export_ops ops = { count_host, count_object, count_page, count_task,
	                                 count_entry };
	EXPECT_KR(machvm_host_export(&ops, &got), KERN_SUCCESS);
	EXPECT(got.hosts == 1);
	EXPECT(got.tasks == 2);
	EXPECT(got.entries == 6);

	/* The change-report types are usable from here too. */
	struct machvm_report report;
	memset(&report, 0, sizeof report);
	report.call = MACHVM_CALL_VM_ALLOCATE;
	EXPECT(report.ntasks == 0 && report.changes == NULL);
	EXPECT(MACHVM_CHANGE_SPLIT == 1);

	EXPECT_KR(machvm_check(), KERN_SUCCESS);
	EXPECT_KR(task_terminate(c), KERN_SUCCESS);
	EXPECT_KR(task_terminate(c), KERN_INVALID_ARGUMENT);
	machvm_host_stop();
	EXPECT(!machvm_task_alive(t));

	if (failures) {
		fprintf(stderr, "%%d check(s) failed\n", failures);
		return 1;
	}
	puts("headers ok");
	return 0;
}
'''


def _compiler(lang):
    cmd = LANGUAGES[lang]
    if shutil.which(cmd[0]) is None:
        pytest.fail('%s is not installed (tools/setup-debian.sh installs it)' % cmd[0])
    return list(cmd)


def _sanitize():
    return {'asan': ['-fsanitize=address,undefined'],
            'tsan': ['-fsanitize=thread']}.get(variant(), [])


def _source(tmp_path, name):
    includes = '\n'.join('#include <machvm/%s>' % h for h in HEADERS)
    path = tmp_path / name
    path.write_text(PROGRAM % {'includes': includes})
    return str(path)


def _build(tmp_path, lang, link, extra=()):
    library = LINKS[link][0]
    if not os.path.isfile(library):
        pytest.fail('%s is missing: build first (scons)' % library)
    src = _source(tmp_path, 'headers_check.src')
    exe = str(tmp_path / ('headers_check_' + lang.replace('+', 'x')))
    cmd = _compiler(lang) + list(extra) + _sanitize() + [
        '-I' + INCLUDE, src, '-x', 'none'] + LINKS[link] + ['-pthread', '-o', exe]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, 'build failed: %s\n%s' % (' '.join(cmd), proc.stderr[-6000:])
    needed = subprocess.run(['readelf', '-d', exe], capture_output=True, text=True,
                            check=True).stdout
    assert ('[libmachvm.so.0]' in needed) == (link == 'shared'), needed
    return exe


def _run(exe):
    return subprocess.run([exe], capture_output=True, text=True, timeout=120)


def test_every_header_is_found():
    assert {'kern_return.h', 'vm_types.h', 'vm.h', 'machvm.h', 'persist.h'} <= set(HEADERS)


@pytest.mark.parametrize('lang', sorted(LANGUAGES))
@pytest.mark.parametrize('header', HEADERS)
def test_header_compiles_alone(tmp_path, lang, header):
    src = tmp_path / 'one.src'
    # (a declaration of its own: a header of macros only, api.h, leaves an
    # empty translation unit, which -pedantic C rejects)
    src.write_text('#include <machvm/%s>\n#include <machvm/%s>\ntypedef int alone_t;\n'
                   % (header, header))
    cmd = _compiler(lang) + ['-I' + INCLUDE, '-fsyntax-only', str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, '%s alone, as %s:\n%s' % (header, lang, proc.stderr[-4000:])


@pytest.mark.parametrize('link', sorted(LINKS))
@pytest.mark.parametrize('lang', sorted(LANGUAGES))
def test_program_links_and_runs(tmp_path, lang, link):
    proc = _run(_build(tmp_path, lang, link))
    report = sanitizer_report(proc.stderr)
    assert proc.returncode == 0 and not report, (
        'the %s program failed (exit %d):\n%s%s' % (lang, proc.returncode,
                                                   proc.stdout[-2000:], proc.stderr[-6000:]))
    assert proc.stdout.strip() == 'headers ok'


@pytest.mark.parametrize('link', sorted(LINKS))
@pytest.mark.parametrize('lang', sorted(LANGUAGES))
def test_canary_fails(tmp_path, lang, link):
    proc = _run(_build(tmp_path, lang, link, ['-DCANARY']))
    assert proc.returncode == 1, 'the canary build should exit 1, got %d:\n%s' % (
        proc.returncode, proc.stderr[-2000:])
    assert 'p == 4096' in proc.stderr
