/*
 * harness.h - the engine's unit-test harness.
 *
 * Each test file defines cases with TEST(name) { ... }.  The test program
 * (one per file) runs every case, or the ones named on the command line;
 * `--list` prints the case names one per line.  pytest (tests/test_unit.py)
 * runs every case of every program as its own item, in its own process.
 *
 * Before each case the host is started with 4096-byte pages; after it the
 * invariant checker runs and the host is stopped, so cases never see each
 * other.  A case that needs another page size calls harness_restart(P).
 */
#ifndef MACHVM_TEST_HARNESS_H
#define MACHVM_TEST_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <machvm/machvm.h>

typedef void (*harness_fn)(void);
void harness_register(const char *name, harness_fn fn);
void harness_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void harness_restart(vm_size_t page_size);

#define TEST(name)                                                      \
	static void name(void);                                         \
	__attribute__((constructor)) static void harness_reg_##name(void) \
	{ harness_register(#name, name); }                              \
	static void name(void)

#define CHECK(cond)                                                     \
	do { if (!(cond)) harness_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)

#define CHECK_EQ(a, b)                                                  \
	do { unsigned long long a_ = (unsigned long long)(a),           \
	     b_ = (unsigned long long)(b);                               \
	     if (a_ != b_) harness_fail(__FILE__, __LINE__,              \
	         "%s == %s: 0x%llx != 0x%llx", #a, #b, a_, b_); } while (0)

#define CHECK_KR(expr, want)                                            \
	do { kern_return_t got_ = (expr), want_ = (want);               \
	     if (got_ != want_) harness_fail(__FILE__, __LINE__,         \
	         "%s: got %s, want %s", #expr, kern_return_name(got_),   \
	         kern_return_name(want_)); } while (0)

/* Helpers most cases need. */
task_t       harness_task(void);                 /* a new empty task */
vm_address_t harness_alloc(task_t t, vm_address_t addr, vm_size_t size); /* fixed, must succeed */
int          harness_region_count(task_t t);

#endif
