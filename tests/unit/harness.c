/*
 * harness.c - case registry, runner and helpers for the engine's unit tests.
 */
#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>

#define MAX_CASES 512

static struct { const char *name; harness_fn fn; } cases[MAX_CASES];
static int ncases;
static const char *current;

void harness_register(const char *name, harness_fn fn)
{
	if (ncases == MAX_CASES) {
		fprintf(stderr, "harness: more than %d cases\n", MAX_CASES);
		exit(2);
	}
	cases[ncases].name = name;
	cases[ncases].fn = fn;
	ncases++;
}

void harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "FAIL %s at %s:%d: ", current ? current : "?", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void panic_hook(const char *message)
{
	fprintf(stderr, "machvm panic in %s:\n%s\n", current ? current : "?", message);
}

void harness_restart(vm_size_t page_size)
{
	machvm_host_stop();
	CHECK_KR(machvm_host_start(page_size), KERN_SUCCESS);
}

task_t harness_task(void)
{
	task_t t = TASK_NULL;
	CHECK_KR(task_create(TASK_NULL, FALSE, &t), KERN_SUCCESS);
	CHECK(t != TASK_NULL);
	return t;
}

vm_address_t harness_alloc(task_t t, vm_address_t addr, vm_size_t size)
{
	vm_address_t a = addr;
	CHECK_KR(vm_allocate(t, &a, size, FALSE), KERN_SUCCESS);
	return a;
}

int harness_region_count(task_t t)
{
	int n = 0;
	vm_address_t addr = 0;
	vm_size_t size;
	vm_prot_t prot, max;
	vm_inherit_t inh;
	boolean_t shared;
	mach_port_t obj;
	vm_offset_t off;
	while (vm_region(t, &addr, &size, &prot, &max, &inh, &shared, &obj, &off) == KERN_SUCCESS) {
		n++;
		addr += size;
	}
	return n;
}

static int run_case(int i)
{
	current = cases[i].name;
	CHECK_KR(machvm_host_start(4096), KERN_SUCCESS);
	cases[i].fn();
	CHECK_KR(machvm_check(), KERN_SUCCESS);
	machvm_host_stop();
	printf("ok %s\n", cases[i].name);
	return 0;
}

int main(int argc, char **argv)
{
	machvm_set_panic_hook(panic_hook);
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (int i = 0; i < ncases; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	if (argc == 1) {
		for (int i = 0; i < ncases; i++)
			run_case(i);
		printf("%d passed, 0 failed\n", ncases);
		return 0;
	}
	for (int a = 1; a < argc; a++) {
		int found = 0;
		for (int i = 0; i < ncases; i++)
			if (strcmp(cases[i].name, argv[a]) == 0) {
				run_case(i);
				found = 1;
			}
		if (!found) {
			fprintf(stderr, "harness: no case named %s\n", argv[a]);
			return 2;
		}
	}
	return 0;
}
