/*
 * test_threads.c - the engine under several threads at once.
 *
 * Each worker owns one task and checks its own memory exactly (its bytes
 * must never change behind its back), while all of them also fork, remap
 * from each other and read each other's maps.  Afterwards the invariant
 * checker must find every reference count balanced.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <machvm/persist.h>

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

/*
 * Task ids are reused, so calls that lock two tasks (vm_remap) or every
 * task (the export) meet structs recycled for new ids while they hold
 * stale ids.  Churners create and terminate tasks as fast as they can,
 * remappers map between whatever ids they last saw, an exporter walks
 * the whole host: everything must finish (no deadlock), and under
 * ThreadSanitizer no lock-order inversion may be reported.
 */
#define CHURN_SLOTS 6
static _Atomic task_t churn_ids[CHURN_SLOTS];
static _Atomic int churn_done;

static void *churner(void *arg)
{
	unsigned int seed = 99u + (unsigned)(uintptr_t)arg;
	for (int r = 0; r < ROUNDS && !failed; r++) {
		int slot = (int)(rand_r(&seed) % CHURN_SLOTS);
		task_t old = atomic_exchange(&churn_ids[slot], TASK_NULL);
		if (old != TASK_NULL && task_terminate(old) != KERN_SUCCESS)
			failed = 1;
		task_t t;
		if (task_create(TASK_NULL, FALSE, &t) != KERN_SUCCESS) {
			failed = 1;
			break;
		}
		vm_address_t a = 0x10000;
		if (vm_allocate(t, &a, 4096, FALSE) != KERN_SUCCESS)
			failed = 1;
		old = atomic_exchange(&churn_ids[slot], t);
		if (old != TASK_NULL && task_terminate(old) != KERN_SUCCESS)
			failed = 1;
	}
	return NULL;
}

static void *remapper(void *arg)
{
	unsigned int seed = 7u + (unsigned)(uintptr_t)arg;
	while (!churn_done && !failed) {
		task_t a = atomic_load(&churn_ids[rand_r(&seed) % CHURN_SLOTS]);
		task_t b = atomic_load(&churn_ids[rand_r(&seed) % CHURN_SLOTS]);
		vm_address_t at = 0;
		vm_prot_t cur, max;
		/* Either task may be gone, or be another task by now: any answer
		 * but a hang or a broken host is fine. */
		if (vm_remap(a, &at, 4096, 0, TRUE, b, 0x10000, rand_r(&seed) & 1, &cur, &max,
		             VM_INHERIT_NONE) == KERN_SUCCESS)
			(void)vm_deallocate(a, at, 4096);
	}
	return NULL;
}

static int ok_host(void *arg, const machvm_host_desc_t *h) { (void)arg; (void)h; return 0; }
static int ok_object(void *arg, const machvm_object_desc_t *o) { (void)arg; (void)o; return 0; }
static int ok_page(void *arg, uint64_t o, uint64_t i, const void *b)
{
	(void)arg; (void)o; (void)i; (void)b;
	return 0;
}
static int ok_task(void *arg, const machvm_task_desc_t *t) { (void)arg; (void)t; return 0; }
static int ok_entry(void *arg, task_t t, const machvm_entry_desc_t *e)
{
	(void)t; (void)e;
	(*(uint64_t *)arg)++;
	return 0;
}

static void *exporter(void *arg)
{
	(void)arg;
	const struct machvm_export_ops ops = { ok_host, ok_object, ok_page, ok_task, ok_entry };
	while (!churn_done && !failed) {
		uint64_t entries = 0;
		if (machvm_host_export(&ops, &entries) != KERN_SUCCESS)
			failed = 1;
	}
	return NULL;
}

TEST(threads_reused_ids_lock_in_one_order)
{
	pthread_t churn[2], other[3];
	failed = 0;
	churn_done = 0;
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&churn[i], NULL, churner, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&other[i], NULL, remapper, (void *)(intptr_t)i) == 0);
	CHECK(pthread_create(&other[2], NULL, exporter, NULL) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(churn[i], NULL);
	churn_done = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(other[i], NULL);
	CHECK(!failed);
	CHECK_KR(machvm_check(), KERN_SUCCESS);
	for (int s = 0; s < CHURN_SLOTS; s++) {
		task_t t = atomic_exchange(&churn_ids[s], TASK_NULL);
		if (t != TASK_NULL)
			CHECK_KR(task_terminate(t), KERN_SUCCESS);
	}
}

/*
 * A fork or the end of a big task lets other calls have the object lock
 * every few hundred entries (vm_object_lock_yield).  While task `big`
 * forks and its children end in a loop, another task writes the pages it
 * shares with `big`, and readers walk both of them: every child must read
 * `big`'s private pages exactly, and its copy of each shared page a value
 * the writer wrote between the fork's start and its end (the counters
 * only grow; the one being written may be a step ahead of its record);
 * afterwards the checker finds every count balanced.
 */
#define YIELD_PAGES 1200                /* entries of `big`: several yields */
#define YIELD_SHARED 600                /* the first ones shared with `writer_task` */
static task_t big, writer_task, small;
static _Atomic int yield_done;
static _Atomic unsigned char yield_written[YIELD_SHARED];
static const vm_address_t YIELD_BASE = 0x10000000;

static unsigned char private_byte(int p)
{
	return (unsigned char)(p * 7 + 3);
}

static void *big_forker(void *arg)
{
	(void)arg;
	for (int r = 0; r < 30 && !failed; r++) {
		unsigned char before[YIELD_SHARED];
		for (int p = 0; p < YIELD_SHARED; p++)
			before[p] = atomic_load(&yield_written[p]);
		task_t c;
		if (task_create(big, TRUE, &c) != KERN_SUCCESS) {
			failed = 1;
			break;
		}
		for (int p = 0; p < YIELD_PAGES; p += 37) {
			unsigned char b = 0, after = p < YIELD_SHARED ? atomic_load(&yield_written[p]) : 0;
			vm_size_t n;
			if (vm_read(c, YIELD_BASE + (vm_address_t)p * 4096, 1, &b, &n) != KERN_SUCCESS) {
				failed = 1;
			} else if (p >= YIELD_SHARED ? b != private_byte(p)
			                             : b < before[p] || b > after + 1) {
				fprintf(stderr, "round %d: child reads 0x%x at page %d\n", r, b, p);
				failed = 1;
			}
		}
		if (task_terminate(c) != KERN_SUCCESS)
			failed = 1;
	}
	yield_done = 1;
	return NULL;
}

static void *shared_writer(void *arg)
{
	unsigned int seed = 5u + (unsigned)(uintptr_t)arg;
	while (!yield_done && !failed) {
		int p = (int)(rand_r(&seed) % YIELD_SHARED);
		unsigned char v = (unsigned char)(atomic_load(&yield_written[p]) + 1);
		vm_size_t n;
		if (v == 0)
			continue;               /* stays at 255: counters only grow */
		if (vm_write(writer_task, YIELD_BASE + (vm_address_t)p * 4096, &v, 1, &n) != KERN_SUCCESS)
			failed = 1;
		atomic_store(&yield_written[p], v);
	}
	return NULL;
}

static void *yield_reader(void *arg)
{
	(void)arg;
	while (!yield_done && !failed) {
		vm_address_t a = 0;
		vm_region_extended_info_t x;
		while (vm_region_extended(writer_task, &a, &x) == KERN_SUCCESS)
			a += x.size;
		vm_address_t s = 0;
		vm_size_t size;
		vm_prot_t cur, max;
		vm_inherit_t inh;
		boolean_t shared;
		mach_port_t name;
		vm_offset_t off;
		if (vm_region(small, &s, &size, &cur, &max, &inh, &shared, &name, &off) != KERN_SUCCESS)
			failed = 1;
	}
	return NULL;
}

TEST(threads_fork_lets_others_in)
{
	failed = 0;
	yield_done = 0;
	big = harness_task();
	small = harness_task();
	harness_alloc(small, 0x100000, 4096);
	harness_alloc(big, YIELD_BASE, YIELD_PAGES * 4096);
	for (int p = 0; p < YIELD_PAGES; p++) {
		vm_address_t a = YIELD_BASE + (vm_address_t)p * 4096;
		unsigned char v = p < YIELD_SHARED ? 0 : private_byte(p);
		vm_size_t n;
		CHECK_KR(vm_write(big, a, &v, 1, &n), KERN_SUCCESS);
		/* Every other page executable too, so that no two entries merge. */
		if (p % 2)
			CHECK_KR(vm_protect(big, a, 4096, FALSE, VM_PROT_ALL), KERN_SUCCESS);
	}
	CHECK_KR(vm_inherit(big, YIELD_BASE, YIELD_SHARED * 4096, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK_KR(task_create(big, TRUE, &writer_task), KERN_SUCCESS);
	/* From now on big's forks copy the shared pages (at once: they are shared). */
	CHECK_KR(vm_inherit(big, YIELD_BASE, YIELD_SHARED * 4096, VM_INHERIT_COPY), KERN_SUCCESS);
	CHECK_EQ(harness_region_count(big), YIELD_PAGES);
	pthread_t th[3];
	CHECK(pthread_create(&th[0], NULL, big_forker, NULL) == 0);
	CHECK(pthread_create(&th[1], NULL, shared_writer, NULL) == 0);
	CHECK(pthread_create(&th[2], NULL, yield_reader, NULL) == 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK(!failed);
	CHECK_KR(machvm_check(), KERN_SUCCESS);
	CHECK_KR(task_terminate(writer_task), KERN_SUCCESS);
	CHECK_KR(task_terminate(big), KERN_SUCCESS);
	CHECK_KR(task_terminate(small), KERN_SUCCESS);
}

/*
 * Memory domains (vm_domain.h): a call on a task waits only for calls in
 * its own domain.  The test holds task a's domain itself and checks who
 * gets through: a task of another domain does at once, a fork's child of
 * a waits, and so does another task once a vm_remap has made its domain
 * one with a's.
 */
#include "../../src/engine/task.h"
#include "../../src/engine/vm_domain.h"
#include <time.h>

static _Atomic int protect_done;

static void *protect_one(void *arg)
{
	task_t t = (task_t)(uintptr_t)arg;
	if (vm_protect(t, 0x100000, 4096, FALSE, VM_PROT_READ) != KERN_SUCCESS)
		failed = 1;
	atomic_store(&protect_done, 1);
	return NULL;
}

/* Whether a vm_protect of t by another thread ends within ms. */
static bool protect_ends_within(task_t t, int ms, pthread_t *th)
{
	atomic_store(&protect_done, 0);
	CHECK(pthread_create(th, NULL, protect_one, (void *)(uintptr_t)t) == 0);
	for (int i = 0; i < ms; i++) {
		if (atomic_load(&protect_done))
			return true;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	return atomic_load(&protect_done);
}

static void hold_domain_of(task_t id, struct task **t)
{
	*t = task_lookup(id);
	CHECK(*t != NULL && task_lock_live(*t, id));
	(void)vm_domain_enter(*t);
}

static void let_go(struct task *t)
{
	vm_domain_leave();
	task_unlock(t);
}

/* While this thread holds holder's domain, a vm_protect of t does not end
 * (for 200 ms); once it lets go, it does. */
static void waits_for_domain_of(task_t holder, task_t t)
{
	pthread_t th;
	struct task *held;
	hold_domain_of(holder, &held);
	CHECK(!protect_ends_within(t, 200, &th));
	let_go(held);
	pthread_join(th, NULL);
	CHECK(atomic_load(&protect_done));
}

TEST(threads_domains_wait_only_for_their_own)
{
	failed = 0;
	task_t a = harness_task(), b = harness_task(), child;
	harness_alloc(a, 0x100000, 4096);
	harness_alloc(b, 0x100000, 4096);
	unsigned char v = 1;
	vm_size_t n;
	CHECK_KR(vm_write(a, 0x100000, &v, 1, &n), KERN_SUCCESS);
	CHECK_KR(vm_write(b, 0x100000, &v, 1, &n), KERN_SUCCESS);
	CHECK_KR(task_create(a, TRUE, &child), KERN_SUCCESS);
	pthread_t th;
	struct task *held;

	/* Another domain: through at once (generously: a loaded machine). */
	hold_domain_of(a, &held);
	CHECK(protect_ends_within(b, 5000, &th));
	pthread_join(th, NULL);
	let_go(held);
	/* The child shares a's objects: it waits for a's domain. */
	waits_for_domain_of(a, child);

	/* A remap of b's page into a makes their domains one: now b waits. */
	vm_address_t at = 0;
	vm_prot_t cur, max;
	CHECK_KR(vm_remap(a, &at, 4096, 0, TRUE, b, 0x100000, FALSE, &cur, &max,
	                  VM_INHERIT_SHARE), KERN_SUCCESS);
	waits_for_domain_of(a, b);
	CHECK(!failed);
	CHECK_KR(machvm_check(), KERN_SUCCESS);
	CHECK_KR(task_terminate(child), KERN_SUCCESS);
	CHECK_KR(task_terminate(a), KERN_SUCCESS);
	CHECK_KR(task_terminate(b), KERN_SUCCESS);
}

/*
 * Objects looked up by id while calls make and free them in several
 * domains, which remaps and batches merge meanwhile: every answer is a
 * whole object or "not live", nothing hangs, and under ThreadSanitizer no
 * race or inversion may be reported.
 */
static _Atomic int lookups_done;

static void *object_churner(void *arg)
{
	unsigned int seed = 31u + (unsigned)(uintptr_t)arg;
	for (int r = 0; r < ROUNDS && !failed; r++) {
		task_t t, c;
		if (task_create(TASK_NULL, FALSE, &t) != KERN_SUCCESS) {
			failed = 1;
			break;
		}
		vm_address_t a = 0x10000;
		unsigned char v = (unsigned char)r;
		vm_size_t n;
		if (vm_allocate(t, &a, 4 * 4096, FALSE) != KERN_SUCCESS ||
		    vm_write(t, a + 4096 * (rand_r(&seed) % 4), &v, 1, &n) != KERN_SUCCESS ||
		    task_create(t, TRUE, &c) != KERN_SUCCESS)
			failed = 1;
		(void)vm_write(c, a, &v, 1, &n);       /* a shadow in front */
		task_t other = atomic_load(&churn_ids[rand_r(&seed) % CHURN_SLOTS]);
		vm_address_t at = 0;
		vm_prot_t cur, max;
		if (other != TASK_NULL &&
		    vm_remap(c, &at, 4096, 0, TRUE, other, 0x10000, rand_r(&seed) & 1, &cur, &max,
		             VM_INHERIT_COPY) == KERN_SUCCESS)
			(void)vm_write(c, at, &v, 1, &n);
		machvm_batch_t *bt;
		task_t pair[2] = { t, c };
		if (machvm_batch_begin(pair, 2, &bt) == KERN_SUCCESS) {
			(void)vm_write(t, a, &v, 1, &n);
			if (rand_r(&seed) & 1)
				machvm_batch_commit(bt);
			else
				machvm_batch_undo(bt);
		}
		task_t old = atomic_exchange(&churn_ids[rand_r(&seed) % CHURN_SLOTS], c);
		if (old != TASK_NULL)
			(void)task_terminate(old);
		if (task_terminate(t) != KERN_SUCCESS)
			failed = 1;
	}
	return NULL;
}

static void *object_looker(void *arg)
{
	(void)arg;
	while (!lookups_done && !failed) {
		uint64_t ids[64];
		size_t count;
		if (machvm_object_list(0, ids, 64, &count) != KERN_SUCCESS) {
			failed = 1;
			break;
		}
		for (size_t i = 0; i < count && i < 64; i++) {
			machvm_object_info_t info;
			kern_return_t kr = machvm_object_info(ids[i], MACHVM_OBJECT_CHAIN |
			                                      MACHVM_OBJECT_SHADOWED_BY, &info);
			if (kr == KERN_SUCCESS) {
				if (info.id != ids[i] || info.nchain == 0 || info.chain[0].id != ids[i])
					failed = 1;
				machvm_object_info_free(&info);
			} else if (kr != KERN_INVALID_ARGUMENT) {
				failed = 1;
			}
		}
	}
	return NULL;
}

TEST(threads_objects_by_id_while_they_go)
{
	pthread_t churn[2], look;
	failed = 0;
	lookups_done = 0;
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&churn[i], NULL, object_churner, (void *)(intptr_t)i) == 0);
	CHECK(pthread_create(&look, NULL, object_looker, NULL) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(churn[i], NULL);
	lookups_done = 1;
	pthread_join(look, NULL);
	CHECK(!failed);
	CHECK_KR(machvm_check(), KERN_SUCCESS);
	for (int s = 0; s < CHURN_SLOTS; s++) {
		task_t t = atomic_exchange(&churn_ids[s], TASK_NULL);
		if (t != TASK_NULL)
			CHECK_KR(task_terminate(t), KERN_SUCCESS);
	}
}

/*
 * The lock-order check of debug builds (host.c): a thread that takes a
 * lock against the order (engine.h) is stopped at once with a panic that
 * names the rule, before it can deadlock with another thread.  Each case
 * runs in a child process, which must die of the panic's abort.
 */
#ifdef MACHVM_DEBUG
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/engine/vm_object.h"

static void must_panic(void (*fn)(void), const char *what)
{
	fflush(stderr);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
#ifdef __SANITIZE_THREAD__
		/* ThreadSanitizer sees the wrong order as well and reports it
		 * before the panic: the child's report is the point of the case,
		 * not a finding, so it is kept out of the test's output. */
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 2);
#endif
		fn();
		_exit(0);               /* not stopped: the check missed it */
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
		fprintf(stderr, "%s was not stopped by the lock-order check\n", what);
		CHECK(0);
	}
}

static task_t order_a, order_b;

static void task_under_domain(void)
{
	struct task *b = task_lookup(order_b);
	CHECK(task_lock_live(b, order_b));
	(void)vm_domain_enter(b);
	(void)task_lock_live(task_lookup(order_a), order_a);
}

static void tasks_against_addresses(void)
{
	struct task *a = task_lookup(order_a), *b = task_lookup(order_b);
	struct task *lo = a < b ? a : b, *hi = a < b ? b : a;
	(void)task_lock_live(hi, hi == a ? order_a : order_b);
	(void)task_lock_live(lo, lo == a ? order_a : order_b);
}

static void host_under_task(void)
{
	(void)task_lock_live(task_lookup(order_a), order_a);
	task_t t;
	(void)task_create(TASK_NULL, FALSE, &t);        /* takes host_lock */
}

static void domains_twice(void)
{
	struct task *a = task_lookup(order_a), *b = task_lookup(order_b);
	CHECK(task_lock_pair(a, order_a, b, order_b));
	(void)vm_domain_enter(a);
	(void)vm_domain_enter(b);
}

TEST(lock_order_check_stops_a_wrong_order)
{
	order_a = harness_task();
	order_b = harness_task();
	must_panic(task_under_domain, "a task lock under a domain lock");
	must_panic(tasks_against_addresses, "task locks against address order");
	must_panic(host_under_task, "host_lock under a task lock");
	must_panic(domains_twice, "two domain locks");
	/* The right order passes. */
	struct task *a = task_lookup(order_a), *b = task_lookup(order_b);
	CHECK(task_lock_pair(a, order_a, b, order_b));
	(void)vm_domain_enter(a);
	vm_domain_leave();
	task_unlock_pair(a, b);
}
#endif
