/*
 * test_hosts.c - hosts as values (machvm_host_create / _use / _destroy):
 * several hosts in one process, each with its own tasks, ids, objects,
 * counters, personality, limits and page size, side by side and at once
 * from several threads.
 */
#include <pthread.h>
#include <string.h>

#include "harness.h"

/* Allocates and writes one page in a new task of the current host; its id. */
static task_t task_with_page(vm_address_t at, unsigned char byte)
{
	task_t t;
	CHECK_KR(task_create(TASK_NULL, FALSE, &t), KERN_SUCCESS);
	vm_address_t a = at;
	CHECK_KR(vm_allocate(t, &a, 4096, FALSE), KERN_SUCCESS);
	vm_size_t n;
	CHECK_KR(vm_write(t, at, &byte, 1, &n), KERN_SUCCESS);
	return t;
}

TEST(hosts_are_independent)
{
	/* The default host (the harness's) has one task with one page. */
	task_t d = task_with_page(0x10000, 0xdd);
	CHECK_EQ(d, 1);

	machvm_host_t h;
	CHECK_KR(machvm_host_create(&h), KERN_SUCCESS);
	CHECK(machvm_host_use(h) == NULL);          /* was on the default host */
	CHECK_KR(machvm_host_start(16384), KERN_SUCCESS);
	CHECK_KR(machvm_host_set_personality(MACHVM_PERSONALITY_XNU), KERN_SUCCESS);
	CHECK_KR(machvm_host_set_memory_limit(1 << 20), KERN_SUCCESS);

	/* Its own ids, page size, objects and counters. */
	task_t t = task_with_page(0x40000, 0x11);
	CHECK_EQ(t, 1);                             /* ids start again */
	vm_size_t P = 0;
	CHECK_KR(host_page_size(mach_host_self(), &P), KERN_SUCCESS);
	CHECK_EQ(P, 16384);
	machvm_host_stats_t s;
	CHECK_KR(machvm_host_stats(&s), KERN_SUCCESS);
	CHECK_EQ(s.tasks, 1);
	CHECK_EQ(s.resident_pages, 1);
	CHECK_EQ(s.memory_limit, 1 << 20);
	CHECK_EQ(machvm_host_personality(), MACHVM_PERSONALITY_XNU);
	unsigned char b = 0;
	vm_size_t n;
	CHECK_KR(vm_read(t, 0x40000, 1, &b, &n), KERN_SUCCESS);
	CHECK_EQ(b, 0x11);
	/* Task 1 here is not the default host's task 1: nothing at 0x10000. */
	CHECK_KR(vm_read(t, 0x10000, 1, &b, &n), KERN_INVALID_ADDRESS);
	CHECK_KR(machvm_check(), KERN_SUCCESS);

	/* Back on the default host: everything as it was. */
	CHECK(machvm_host_use(NULL) == h);
	CHECK_KR(host_page_size(mach_host_self(), &P), KERN_SUCCESS);
	CHECK_EQ(P, 4096);
	CHECK_EQ(machvm_host_personality(), MACHVM_PERSONALITY_MACH);
	CHECK_KR(machvm_host_stats(&s), KERN_SUCCESS);
	CHECK_EQ(s.tasks, 1);
	CHECK_EQ(s.memory_limit, 0);
	CHECK_KR(vm_read(d, 0x10000, 1, &b, &n), KERN_SUCCESS);
	CHECK_EQ(b, 0xdd);
	CHECK_KR(vm_read(d, 0x40000, 1, &b, &n), KERN_INVALID_ADDRESS);

	/* Stopping one host leaves the other running. */
	machvm_host_use(h);
	machvm_host_stop();
	CHECK(!machvm_task_alive(t));
	machvm_host_use(NULL);
	CHECK(machvm_task_alive(d));
	CHECK_KR(machvm_host_destroy(h), KERN_SUCCESS);
	CHECK_KR(machvm_check(), KERN_SUCCESS);
}

TEST(host_destroy_refuses_the_default_and_leaves_the_thread_on_it)
{
	CHECK_KR(machvm_host_destroy(NULL), KERN_INVALID_ARGUMENT);
	machvm_host_t h;
	CHECK_KR(machvm_host_create(&h), KERN_SUCCESS);
	machvm_host_use(h);
	CHECK_KR(machvm_host_start(0), KERN_SUCCESS);
	(void)task_with_page(0x10000, 1);
	CHECK_KR(machvm_host_destroy(h), KERN_SUCCESS); /* stops it first */
	/* The thread is back on the default host, which still runs. */
	CHECK(machvm_host_use(NULL) == NULL);
	CHECK_KR(machvm_host_start(0), KERN_FAILURE);   /* already running */
	CHECK_EQ(harness_task(), 1);
}

/*
 * Four threads, each with a host of its own, fork and write at once: each
 * sees only its own tasks and bytes, and each host checks clean.
 */
#define HOST_THREADS 4
static volatile int host_failed;

static void *own_host(void *arg)
{
	int me = (int)(intptr_t)arg;
	machvm_host_t h;
	if (machvm_host_create(&h) != KERN_SUCCESS) {
		host_failed = 1;
		return NULL;
	}
	machvm_host_use(h);
	if (machvm_host_start((vm_size_t)4096 << (me % 3)) != KERN_SUCCESS ||
	    machvm_host_set_personality((machvm_personality_t)(me % 3)) != KERN_SUCCESS)
		host_failed = 1;
	/* Whole pages: GNU Mach's vm_write takes nothing less. */
	vm_size_t P = (vm_size_t)4096 << (me % 3), n;
	static unsigned char pages[HOST_THREADS][3][16384];
	unsigned char *v = pages[me][0], *w = pages[me][1], *b = pages[me][2];
	memset(v, 0x40 + me, P);
	task_t t;
	vm_address_t a = 0x100000;
	if (task_create(TASK_NULL, FALSE, &t) != KERN_SUCCESS || t != 1 ||
	    vm_allocate(t, &a, 65536, FALSE) != KERN_SUCCESS ||
	    vm_write(t, a, v, P, &n) != KERN_SUCCESS)
		host_failed = 1;
	for (int r = 0; r < 200 && !host_failed; r++) {
		task_t c;
		if (task_create(t, TRUE, &c) != KERN_SUCCESS || c != 2) {
			host_failed = 1;
			break;
		}
		memset(w, r, P);
		if (vm_write(c, a, w, P, &n) != KERN_SUCCESS ||
		    vm_read(t, a, P, b, &n) != KERN_SUCCESS || memcmp(b, v, P) != 0 ||
		    task_terminate(c) != KERN_SUCCESS)
			host_failed = 1;
	}
	machvm_host_stats_t s;
	if (machvm_host_stats(&s) != KERN_SUCCESS || s.tasks != 1 || s.page_size != P ||
	    machvm_check() != KERN_SUCCESS)
		host_failed = 1;
	if (machvm_host_destroy(h) != KERN_SUCCESS)
		host_failed = 1;
	return NULL;
}

TEST(hosts_run_at_once_in_threads)
{
	host_failed = 0;
	pthread_t th[HOST_THREADS];
	for (int i = 0; i < HOST_THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, own_host, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < HOST_THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK(!host_failed);
	/* None of it reached the default host. */
	machvm_host_stats_t s;
	CHECK_KR(machvm_host_stats(&s), KERN_SUCCESS);
	CHECK_EQ(s.tasks, 0);
	CHECK_EQ(s.objects, 0);
}
