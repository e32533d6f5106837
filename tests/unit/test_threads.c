/*
 * test_threads.c - the engine under several threads at once.
 *
 * Each worker owns one task and checks its own memory exactly (its bytes
 * must never change behind its back), while all of them also fork, remap
 * from each other and read each other's maps.  Afterwards the invariant
 * checker must find every reference count balanced.
 */
#include <pthread.h>
#include <stdlib.h>

#include "harness.h"

#define THREADS 4
#define ROUNDS 400
#define PAGES 16

static task_t tasks[THREADS];
static vm_address_t bases[THREADS];
static volatile int failed;

static void *worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	task_t t = tasks[me];
	vm_address_t base = bases[me];
	unsigned int seed = 1234u + (unsigned)me;
	unsigned char shadow[PAGES];          /* the byte we last wrote in each page */
	for (int p = 0; p < PAGES; p++)
		shadow[p] = 0;
	for (int r = 0; r < ROUNDS && !failed; r++) {
		int p = (int)(rand_r(&seed) % PAGES);
		unsigned char v = (unsigned char)(rand_r(&seed) | 1);
		vm_size_t n;
		if (vm_write(t, base + (vm_address_t)p * 4096, &v, 1, &n) != KERN_SUCCESS || n != 1)
			failed = 1;
		shadow[p] = v;
		/* Fork and throw away: the parent's bytes must be untouched. */
		task_t child;
		if (task_create(t, TRUE, &child) != KERN_SUCCESS)
			failed = 1;
		unsigned char junk = 0;
		(void)vm_write(child, base, &junk, 1, &n);
		if (task_terminate(child) != KERN_SUCCESS)
			failed = 1;
		/* Map a neighbour's page, copy-on-write, read it, drop it. */
		int other = (me + 1 + r) % THREADS;
		vm_address_t at = 0;
		vm_prot_t cur, max;
		kern_return_t kr = vm_remap(t, &at, 4096, 0, TRUE, tasks[other], bases[other], TRUE,
		                            &cur, &max, VM_INHERIT_NONE);
		if (kr == KERN_SUCCESS) {
			unsigned char b;
			(void)vm_read(t, at, 1, &b, &n);
			if (vm_deallocate(t, at, 4096) != KERN_SUCCESS)
				failed = 1;
		} else {
			failed = 1;
		}
		/* Protect and unprotect one of our pages; walk someone's map. */
		if (vm_protect(t, base + (vm_address_t)p * 4096, 4096, FALSE, VM_PROT_READ) != KERN_SUCCESS ||
		    vm_protect(t, base + (vm_address_t)p * 4096, 4096, FALSE, VM_PROT_DEFAULT) != KERN_SUCCESS)
			failed = 1;
		vm_region_extended_info_t *regions;
		size_t count;
		if (machvm_region_snapshot(tasks[other], &regions, &count) == KERN_SUCCESS)
			free(regions);
		/* Our memory is ours alone: every page still holds what we wrote. */
		for (int q = 0; q < PAGES; q++) {
			unsigned char b = 0xee;
			if (vm_read(t, base + (vm_address_t)q * 4096, 1, &b, &n) != KERN_SUCCESS || b != shadow[q]) {
				fprintf(stderr, "thread %d round %d: page %d reads 0x%x, wrote 0x%x\n",
				        me, r, q, b, shadow[q]);
				failed = 1;
			}
		}
	}
	return NULL;
}

TEST(threads_private_memory_stays_private)
{
	for (int i = 0; i < THREADS; i++) {
		tasks[i] = harness_task();
		bases[i] = harness_alloc(tasks[i], 0x100000, PAGES * 4096);
	}
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	CHECK(!failed);
	CHECK_KR(machvm_check(), KERN_SUCCESS);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(harness_region_count(tasks[i]), 1);
}

static task_t shared_parent;
static vm_address_t shared_base;

static void *counter(void *arg)
{
	/* Every thread bumps its own byte of one page shared by fork. */
	int me = (int)(intptr_t)arg;
	task_t child;
	if (task_create(shared_parent, TRUE, &child) != KERN_SUCCESS) {
		failed = 1;
		return NULL;
	}
	for (int i = 1; i <= 200; i++) {
		unsigned char v = (unsigned char)i;
		vm_size_t n;
		if (vm_write(child, shared_base + (vm_address_t)me, &v, 1, &n) != KERN_SUCCESS)
			failed = 1;
	}
	return (void *)(uintptr_t)child;
}

TEST(threads_shared_page_sees_every_writer)
{
	shared_parent = harness_task();
	shared_base = harness_alloc(shared_parent, 0x200000, 4096);
	CHECK_KR(vm_inherit(shared_parent, shared_base, 4096, VM_INHERIT_SHARE), KERN_SUCCESS);
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, counter, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < THREADS; i++) {
		void *child;
		pthread_join(th[i], &child);
		CHECK(child != NULL);
	}
	CHECK(!failed);
	unsigned char b[THREADS];
	vm_size_t n;
	CHECK_KR(vm_read(shared_parent, shared_base, THREADS, b, &n), KERN_SUCCESS);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(b[i], 200);
	CHECK_KR(machvm_check(), KERN_SUCCESS);
}
