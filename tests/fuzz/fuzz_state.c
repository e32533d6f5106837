/*
 * fuzz_state.c - fuzzes loading a state file (machvmfs -o state=FILE): the
 * JSON reading and checking of src/persist/state.c and the engine's import
 * (src/engine/vm_persist.c) behind it.
 *
 * Input: the file's bytes, written to a file in a private folder and loaded
 * with state_load, as the daemon does at mount.  A refused file must say
 * why and leave the host stopped.  A file that loads must pass the engine's
 * invariant checker, and must survive a round trip: saved, loaded again and
 * saved again, the two saves are the same bytes.
 *
 * Built as fuzz_state, libFuzzer mutates the bytes; built as
 * fuzz_state_json, state_mutator.c mutates parsed JSON trees instead, so
 * inputs stay well-formed state files that differ in one value.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <machvm/machvm.h>

#include "../../src/persist/state.h"

#include "fuzz.h"

static char folder[256], input[300], saved[300], again[300];

static void
cleanup(void)
{
	unlink(input);
	unlink(saved);
	unlink(again);
	rmdir(folder);
}

static void
put_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
		fuzz_fail("%s: cannot write: %s", path, strerror(errno));
}

/* The file's bytes, in a malloc'd buffer of *len bytes. */
static char *
get_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		fuzz_fail("%s: cannot read", path);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		fuzz_fail("%s: cannot read", path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;

	(void)argc;
	(void)argv;
	machvm_set_panic_hook(fuzz_panic_hook);
	/* A save syncs the file: in memory (/dev/shm) that costs nothing. */
	if (!tmp || !tmp[0])
		tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
	snprintf(folder, sizeof folder, "%s/machvm-fuzz-state.XXXXXX", tmp);
	if (!mkdtemp(folder))
		fuzz_fail("mkdtemp %s: %s", folder, strerror(errno));
	snprintf(input, sizeof input, "%s/input.json", folder);
	snprintf(saved, sizeof saved, "%s/saved.json", folder);
	snprintf(again, sizeof again, "%s/again.json", folder);
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[512];
	enum state_load_result r;
	size_t alen, blen;
	char *a, *b;

	put_file(input, data, size);
	msg[0] = '\0';
	r = state_load(input, 0, -1, NULL, msg, sizeof msg);
	if (r == STATE_ERROR) {
		if (msg[0] == '\0')
			fuzz_fail("state_load refused the file without a reason");
		/* The host must be stopped: starting one must work. */
		if (machvm_host_start(0) != KERN_SUCCESS)
			fuzz_fail("after a refused file the host is still running (%s)", msg);
		machvm_host_stop();
		return 0;
	}
	if (r != STATE_LOADED)
		fuzz_fail("state_load of an existing file returned %d", (int)r);
	if (machvm_check() != KERN_SUCCESS)
		fuzz_fail("a loaded file breaks the engine's invariants");
	if (state_save(saved, msg, sizeof msg) != 0)
		fuzz_fail("a loaded host cannot be saved: %s", msg);
	machvm_host_stop();
	if (state_load(saved, 0, -1, NULL, msg, sizeof msg) != STATE_LOADED)
		fuzz_fail("a saved host does not load: %s", msg);
	if (state_save(again, msg, sizeof msg) != 0)
		fuzz_fail("a reloaded host cannot be saved: %s", msg);
	machvm_host_stop();
	a = get_file(saved, &alen);
	b = get_file(again, &blen);
	if (alen != blen || memcmp(a, b, alen) != 0)
		fuzz_fail("saving, loading and saving again changed the file (%s, %s)", saved, again);
	free(a);
	free(b);
	return 0;
}
