/*
 * fuzz_ctl.c - fuzzes the whole write path of the writable files: the
 * daemon's fs_ctl_write (parse every line, then run them) against a real
 * engine host, as a write(2) to the file would.
 *
 * Input: byte 0 picks the file, byte 1 the caller, the rest is what is
 * written.  Every input starts from the same host: task 1 with regions at
 * 0x10000 (16K, with data) and 0x20000 (8K), and task 2 forked from it, so
 * ids and addresses in the input mean the same thing on every run and a
 * crash replays.  Besides the sanitizers, the engine's invariant checker
 * runs after every call (MACHVM_DEBUG), and a failed write must leave a
 * result line that names the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>

#include "../../src/fs/coherence.h"
#include "../../src/fs/ctl.h"
#include "../../src/fs/events.h"
#include "../../src/fs/log.h"
#include "../../src/fs/render.h"
#include "../../src/fs/taskinfo.h"
#include "../../src/fs/tree.h"

#include "fuzz.h"

#define PARENT 1
#define CHILD  2

/* The writable files, as (level, name, task, region start). */
static const struct target {
	enum fs_level level;
	const char *name;
	task_t task;
	vm_address_t start;
} targets[] = {
	{ FS_L_TASKS, "ctl", 0, 0 },
	{ FS_L_TASK, "ctl", PARENT, 0 },
	{ FS_L_TASK, "ctl", CHILD, 0 },
	{ FS_L_TASK, "remap", PARENT, 0 },
	{ FS_L_TASK, "remap", CHILD, 0 },
	{ FS_L_HOST, "save", 0, 0 },
	{ FS_L_REGION, "protection", PARENT, 0x10000 },
	{ FS_L_REGION, "max_protection", PARENT, 0x10000 },
	{ FS_L_REGION, "inheritance", PARENT, 0x10000 },
	{ FS_L_REGION, "wired", PARENT, 0x10000 },
	{ FS_L_REGION, "attr", PARENT, 0x10000 },
	{ FS_L_REGION, "protection", CHILD, 0x20000 },
	{ FS_L_REGION, "attr", CHILD, 0x20000 },
};
#define NTARGETS (sizeof targets / sizeof targets[0])

static unsigned
row_named(enum fs_level level, const char *name)
{
	for (unsigned r = 0; r < fs_nrows; r++)
		if (fs_rows[r].parent == level && strcmp(fs_rows[r].name, name) == 0)
			return r;
	fprintf(stderr, "fuzz_ctl: no file %s in the table\n", name);
	abort();
}

static void
check_kr(kern_return_t kr, const char *what)
{
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "fuzz_ctl: setting up: %s: %s\n", what, kern_return_name(kr));
		abort();
	}
}

/* The host every input starts from (see the top). */
static void
setup_host(void)
{
	vm_address_t a = 0x10000;
	task_t t, c;
	vm_size_t n;

	check_kr(machvm_host_start(4096), "machvm_host_start");
	fs_coherence_init();
	check_kr(task_create(TASK_NULL, FALSE, &t), "task_create");
	check_kr(vm_allocate(t, &a, 16384, FALSE), "vm_allocate");
	check_kr(vm_write(t, 0x10000, "fuzz", 4, &n), "vm_write");
	a = 0x20000;
	check_kr(vm_allocate(t, &a, 8192, FALSE), "vm_allocate");
	check_kr(task_create(t, TRUE, &c), "task_create (fork)");
	if (t != PARENT || c != CHILD) {
		fprintf(stderr, "fuzz_ctl: the tasks are %u and %u, not %u and %u\n",
		        (unsigned)t, (unsigned)c, PARENT, CHILD);
		abort();
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	machvm_set_panic_hook(fuzz_panic_hook);
	fs_log_init(false);
	fs_taskinfo_init(0, 0);
	if (fs_events_init(64) != 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct target *t;
	struct fs_node n;
	struct fs_ctx ctx;
	struct fs_scope scope;
	struct fs_buf result;
	int rc;

	if (size < 2)
		return 0;
	t = &targets[data[0] % NTARGETS];
	n = (struct fs_node){ row_named(t->level, t->name), t->task, t->start, false, 0 };
	/* Root, the mounting user who is not root, or another user. */
	switch (data[1] % 3) {
	case 0: ctx = (struct fs_ctx){ 0, 0, true }; break;
	case 1: ctx = (struct fs_ctx){ 1000, 1000, true }; break;
	default: ctx = (struct fs_ctx){ 1001, 1001, false }; break;
	}
	data += 2;
	size -= 2;

	setup_host();
	fs_scope_begin(&scope);
	rc = fs_ctl_write(&n, &ctx, (const char *)data, size, &result, &scope);
	fs_scope_end(&scope);
	fs_scope_free(&scope);
	/* A failure is answered with an errno and, for a write that got as far
	 * as a line, a result naming the problem. */
	if (rc > 0)
		fuzz_fail("fs_ctl_write returned %d", rc);
	if (rc != 0 && result.len &&
	    (result.data[result.len - 1] != '\n' || memchr(result.data, '\n', result.len - 1)))
		fuzz_fail("the failure's result is not one line: '%.*s'", (int)result.len,
		          result.data);
	fs_buf_free(&result);
	/* The whole host holds together after the write (a batch undone or
	 * committed included), also when MACHVM_CHECK=0 leaves out the
	 * check after every call for speed. */
	if (machvm_check() != KERN_SUCCESS)
		fuzz_fail("the invariant checker could not run");
	fs_coherence_fini();
	machvm_host_stop();
	/* Owners and last errors are keyed by task id: start again. */
	fs_taskinfo_fini();
	fs_taskinfo_init(0, 0);
	return 0;
}
