/*
 * host.h - the host as a value: everything one host's engine keeps, in one
 * struct, so that one process can run several hosts side by side.
 *
 * Every engine call works on the calling thread's current host
 * (machvm_host_use), which is the process's default host until the
 * thread chooses another.  The modules reach it through HOST, below.
 * What stays per thread (a call's memory reservation, its report and its
 * failure record, the debug lock-order record) or per process (the panic
 * hook, MACHVM_CHECK) is not here.
 */
#ifndef MACHVM_HOST_H
#define MACHVM_HOST_H

#include <pthread.h>
#include <stdatomic.h>
#include <machvm/persist.h>
#include "engine.h"
#include "task.h"
#include "vm_object.h"
#include "vm_page.h"

/*
 * The task table: chunks of TASK_CHUNK slots, made as ids grow and kept
 * until the host stops, so a slot's address never changes and can be read
 * without a lock.  At most TASK_CHUNK * TASK_CHUNKS ids per host run.
 */
#define TASK_CHUNK  1024
#define TASK_CHUNKS (MACHVM_TASK_ID_LIMIT / TASK_CHUNK)

typedef struct task *_Atomic task_slot_t;

/*
 * The ids in ascending order, for vm_object_ids (the object table's lock): every
 * live object's id, plus ids of freed objects not yet swept out (a freed
 * id may be there twice, or once again for a live object, after an import
 * renumbered its objects).  New ids are appended, ids only grow, so the
 * order holds; an import sorts it once.  Swept when half of it is dead.
 */
struct vm_object_order {
	uint64_t *v;
	size_t n, cap;
	size_t dead;            /* entries that are not (any more) a live id */
	bool unsorted;
};

/* A state-file import in progress (vm_persist.c). */
struct imp_object;
struct imp_task;
struct vm_import {
	bool active;
	machvm_host_desc_t host;
	struct imp_object *objects;
	size_t nobjects, objects_cap;
	struct vm_page_table by_id;     /* object id -> index + 1 */
	struct imp_task *tasks;
	size_t ntasks, tasks_cap;
};

struct machvm_batch;

/*
 * The host's sums of every map (entries, bytes, wired pages) are split in
 * shards, each thread adding to its own: one shared counter that every
 * call changing an entry count bumps would pass its cache line from CPU
 * to CPU between calls on unrelated tasks.  A sum is the shards' total
 * (modulo 2^64: a shard may go below zero when one thread adds what
 * another takes away).  128 bytes apart, no two shards share a cache line.
 */
#define VM_TOTAL_SHARDS 16
struct vm_total_shard {
	_Atomic uint64_t entries, size, wired;
	char pad[128 - 3 * sizeof(uint64_t)];
};

struct machvm_host {
	struct vm_host_head head;       /* first: engine.h reads it */

	/* host.c: the task table, its ids, the memory account, the limits */
	pthread_mutex_t lock;           /* host_lock in the lock order */
	bool running;
	task_slot_t *_Atomic task_chunks[TASK_CHUNKS];
	task_t next_task_id;            /* one above the highest id handed out */
	uint64_t live_tasks;
	struct task *task_free_list;    /* terminated, ready for reuse */
	struct task *task_all;          /* every task struct, for host stop */
	uint64_t task_structs;          /* how many there are */
	/* The free ids below next_task_id: a binary min-heap, so task_create
	 * takes the lowest.  It always has room for every id below
	 * next_task_id (it is grown before next_task_id moves), so giving an
	 * id back cannot fail. */
	task_t *free_ids;
	size_t nfree_ids, free_ids_cap;
	uint64_t task_serial;           /* the last serial handed out */
	_Atomic uint64_t mem_used;
	_Atomic uint64_t mem_limit;     /* 0: none */
	_Atomic uint64_t task_max_wired, task_max_mapped;      /* bytes; 0: none */

	/* vm_domain.c: how many domains exist (the memory account's check) */
	_Atomic uint64_t domains;

	/* vm_object.c: the object table and its lock (the innermost); the
	 * counters are atomic */
	pthread_mutex_t object_table_lock;
	struct vm_object_stats object_stats;
	struct vm_object *object_all;   /* every live object */
	struct vm_page_table objects_by_id;
	struct vm_object_order object_order;
	uint64_t object_next_id;        /* the last id handed out */

	/* vm_map.c: the sums of every map, in shards (vm_map_totals) */
	struct vm_total_shard totals[VM_TOTAL_SHARDS];

	/* vm_report.c */
	void *report_hook_arg;

	/* vm_batch.c: the open batches, and their lock (taken before the
	 * object table's, engine.h) */
	pthread_mutex_t batch_lock;
	struct machvm_batch *open_batches;

	/* vm_check.c: debug builds shut other calls out while they check */
	pthread_rwlock_t call_gate;

	/* vm_persist.c */
	struct vm_import import;
	char import_error[512];         /* machvm_import_error */
};

/* The calling thread's host, as an lvalue: HOST.running, HOST.lock. */
#define HOST (*vm_host())

/* Makes h an empty host that is not running, as the default host starts;
 * false if a lock could not be made. */
bool vm_host_init(struct machvm_host *h);

#endif
