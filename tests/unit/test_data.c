/*
 * test_data.c - the data path: vm_read, vm_write and vm_copy.
 *
 * Reads and writes may start and end anywhere; the first byte decides the
 * error, and a hole or a page without the permission later on ends the
 * transfer early.  vm_copy is all or nothing and behaves as if the whole
 * source were read before anything is written.  Reads never allocate pages.
 */
#include <stdlib.h>
#include "harness.h"
#include "util.h"

#define RW   (VM_PROT_READ | VM_PROT_WRITE)

/* ---- helpers ----------------------------------------------------------- */

/* A byte pattern that differs at every offset and between seeds. */
static unsigned char pat(vm_address_t addr, unsigned seed)
{
	uint64_t x = addr * 0x9e3779b97f4a7c15ull + seed * 0x632be59bd9b4e019ull;
	return (unsigned char)(x >> 56);
}

static void put(task_t t, vm_address_t addr, const void *buf, vm_size_t size)
{
	vm_size_t n = ~(vm_size_t)0;
	CHECK_KR(vm_write(t, addr, buf, size, &n), KERN_SUCCESS);
	CHECK_EQ(n, size);
}

static void get(task_t t, vm_address_t addr, void *buf, vm_size_t size)
{
	vm_size_t n = ~(vm_size_t)0;
	CHECK_KR(vm_read(t, addr, size, buf, &n), KERN_SUCCESS);
	CHECK_EQ(n, size);
}

/* Writes the pattern for seed over [addr, addr+size). */
static void put_pat(task_t t, vm_address_t addr, vm_size_t size, unsigned seed)
{
	unsigned char *b = malloc(size);
	CHECK(b != NULL);
	for (vm_size_t i = 0; i < size; i++)
		b[i] = pat(addr + i, seed);
	put(t, addr, b, size);
	free(b);
}

/* [addr, addr+size) must equal want; names the first byte that differs. */
#define EXPECT_BYTES(t, addr, want, size) expect_bytes(__FILE__, __LINE__, (t), (addr), (want), (size))
static void expect_bytes(const char *file, int line, task_t t, vm_address_t addr,
                         const unsigned char *want, vm_size_t size)
{
	unsigned char *b = malloc(size ? size : 1);
	vm_size_t n = 0;
	CHECK(b != NULL);
	kern_return_t kr = vm_read(t, addr, size, b, &n);
	if (kr != KERN_SUCCESS || n != size)
		harness_fail(file, line, "vm_read(0x%llx, 0x%llx): %s, count 0x%llx",
		             (unsigned long long)addr, (unsigned long long)size,
		             kern_return_name(kr), (unsigned long long)n);
	for (vm_size_t i = 0; i < size; i++)
		if (b[i] != want[i])
			harness_fail(file, line, "byte at 0x%llx is 0x%02x, want 0x%02x",
			             (unsigned long long)(addr + i), b[i], want[i]);
	free(b);
}

/*
 * What a failing call must leave as it was: the map and the task counters
 * (snapshot), the host's resident pages and objects, and the bytes of up to
 * two readable ranges.  The snapshot is taken after reading the ranges, as
 * reads of untouched pages count faults; the check compares it before
 * reading them again.
 */
struct frozen {
	task_t t;
	util_snap_t snap;
	uint64_t resident, objects;
	vm_address_t addr[2];
	vm_size_t size[2];
	unsigned char *bytes[2];
};

static void freeze2(struct frozen *f, task_t t, vm_address_t a0, vm_size_t s0,
                    vm_address_t a1, vm_size_t s1)
{
	f->t = t;
	f->addr[0] = a0;
	f->size[0] = s0;
	f->addr[1] = a1;
	f->size[1] = s1;
	for (int i = 0; i < 2; i++) {
		f->bytes[i] = malloc(f->size[i] ? f->size[i] : 1);
		CHECK(f->bytes[i] != NULL);
		if (f->size[i])
			get(t, f->addr[i], f->bytes[i], f->size[i]);
	}
	f->snap = util_snapshot(t);
	machvm_host_stats_t h = util_host_stats();
	f->resident = h.resident_pages;
	f->objects = h.objects;
}

static void freeze(struct frozen *f, task_t t, vm_address_t addr, vm_size_t size)
{
	freeze2(f, t, addr, size, 0, 0);
}

#define CHECK_FROZEN(f) check_frozen(__FILE__, __LINE__, (f))
static void check_frozen(const char *file, int line, struct frozen *f)
{
	char why[256];
	util_snap_t now = util_snapshot(f->t);
	if (util_snap_diff(&f->snap, &now, why, sizeof why))
		harness_fail(file, line, "failed call changed the map: %s", why);
	util_snap_free(&now);
	machvm_host_stats_t h = util_host_stats();
	if (h.resident_pages != f->resident || h.objects != f->objects)
		harness_fail(file, line, "failed call changed host resident_pages %llu -> %llu, "
		             "objects %llu -> %llu",
		             (unsigned long long)f->resident, (unsigned long long)h.resident_pages,
		             (unsigned long long)f->objects, (unsigned long long)h.objects);
	for (int i = 0; i < 2; i++) {
		if (f->size[i])
			expect_bytes(file, line, f->t, f->addr[i], f->bytes[i], f->size[i]);
		free(f->bytes[i]);
	}
	util_snap_free(&f->snap);
}

/* ---- unaligned transfers ----------------------------------------------- */

/*
 * Many writes at odd offsets and lengths into a 5-page range, checked against
 * a local model after each one, with reads at odd offsets too.
 */
static void unaligned_model(void)
{
	vm_size_t p = util_page_size();
	vm_size_t len = 5 * p;
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, len);
	unsigned char *model = calloc(len, 1), *buf = malloc(len);
	CHECK(model && buf);
	unsigned x = 777;
	for (int i = 0; i < 300; i++) {
		x = x * 1103515245u + 12345u;
		vm_size_t off = (x >> 4) % len;
		x = x * 1103515245u + 12345u;
		vm_size_t n = 1 + (x >> 4) % (2 * p + 3);
		if (off + n > len)
			n = len - off;
		for (vm_size_t k = 0; k < n; k++)
			buf[k] = pat(a + off + k, (unsigned)i + 1);
		put(t, a + off, buf, n);
		memcpy(model + off, buf, n);

		x = x * 1103515245u + 12345u;
		vm_size_t roff = (x >> 4) % len;
		x = x * 1103515245u + 12345u;
		vm_size_t rn = (x >> 4) % (len - roff + 1);
		EXPECT_BYTES(t, a + roff, model + roff, rn);
	}
	EXPECT_BYTES(t, a, model, len);
	/* single bytes at the edges of every page */
	for (vm_size_t pg = 0; pg < 5; pg++) {
		CHECK_EQ(util_read_byte(t, a + pg * p), model[pg * p]);
		CHECK_EQ(util_read_byte(t, a + pg * p + p - 1), model[pg * p + p - 1]);
	}
	free(model);
	free(buf);
}

TEST(data_unaligned_model_4k)
{
	unaligned_model();
}

TEST(data_unaligned_model_16k)
{
	harness_restart(16384);
	unaligned_model();
}

TEST(data_unaligned_across_entries)
{
	/* A transfer that crosses from one entry into an adjacent one. */
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, 2 * p);
	harness_alloc(t, a + 2 * p, 2 * p);
	CHECK_KR(vm_inherit(t, a + 2 * p, 2 * p, VM_INHERIT_SHARE), KERN_SUCCESS);
	CHECK(harness_region_count(t) == 2);
	unsigned char b[300];
	for (int i = 0; i < 300; i++)
		b[i] = (unsigned char)(i * 7 + 1);
	put(t, a + 2 * p - 150, b, 300);
	EXPECT_BYTES(t, a + 2 * p - 150, b, 300);
	EXPECT_FILL(t, a, 2 * p - 150, 0);
	EXPECT_FILL(t, a + 2 * p + 150, 2 * p - 150, 0);
}

TEST(data_size_zero)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, p);
	unsigned char b = 0x5a;
	vm_size_t n = 99;
	CHECK_KR(vm_read(t, a + 3, 0, &b, &n), KERN_SUCCESS);
	CHECK_EQ(n, 0);
	CHECK_EQ(b, 0x5a);
	n = 99;
	CHECK_KR(vm_write(t, a + 3, &b, 0, &n), KERN_SUCCESS);
	CHECK_EQ(n, 0);
	EXPECT_FILL(t, a, p, 0);
	/* nothing is transferred, so nothing is checked */
	n = 99;
	CHECK_KR(vm_read(t, 0x900000, 0, &b, &n), KERN_SUCCESS);
	CHECK_EQ(n, 0);
	n = 99;
	CHECK_KR(vm_write(t, 0x900000, &b, 0, &n), KERN_SUCCESS);
	CHECK_EQ(n, 0);
	CHECK_KR(vm_copy(t, a, 0, a + 1), KERN_SUCCESS);
	CHECK_EQ(util_task_stats(t).resident_pages, 0);
}

/* ---- errors decided by the first byte ------------------------------------ */

TEST(data_unallocated_start_invalid_address)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, p);
	harness_alloc(t, a + 2 * p, p);     /* hole at a+p */
	util_fill(t, a, p, 0x11);
	unsigned char b[64];
	memset(b, 0x77, sizeof b);
	vm_address_t bad[] = { a + p, a + p + 5, a + 2 * p - 1, a - 1, a - p, a + 3 * p, p, 0x10,
	                       MACHVM_USER_MAX - 64 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct frozen f;
		freeze(&f, t, a, p);
		vm_size_t n = 0;
		CHECK_KR(vm_read(t, bad[i], 64, b, &n), KERN_INVALID_ADDRESS);
		CHECK_KR(vm_write(t, bad[i], b, 64, &n), KERN_INVALID_ADDRESS);
		CHECK_FROZEN(&f);
	}
	/* an empty task */
	task_t e = harness_task();
	vm_size_t n;
	CHECK_KR(vm_read(e, a, 1, b, &n), KERN_INVALID_ADDRESS);
	CHECK_KR(vm_write(e, a, b, 1, &n), KERN_INVALID_ADDRESS);
	CHECK_EQ(harness_region_count(e), 0);
}

TEST(data_beyond_user_range)
{
	task_t t = harness_task();
	unsigned char b[16];
	vm_size_t n;
	CHECK_KR(vm_read(t, MACHVM_USER_MAX, 16, b, &n), KERN_INVALID_ADDRESS);
	CHECK_KR(vm_write(t, MACHVM_USER_MAX + 0x1000, b, 16, &n), KERN_INVALID_ADDRESS);
	CHECK_KR(vm_copy(t, MACHVM_USER_MAX, 16, 0x100000), KERN_INVALID_ADDRESS);
}

TEST(data_overflow_invalid_argument)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, p);
	unsigned char b[16];
	vm_size_t n;
	/* addr + size overflows */
	CHECK_KR(vm_read(t, a, ~(vm_size_t)0 - 0x10, b, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_write(t, a, b, ~(vm_size_t)0 - 0x10, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_copy(t, a, ~(vm_size_t)0 - 0x10, a), KERN_INVALID_ARGUMENT);
	/* the rounded end wraps to 0 */
	CHECK_KR(vm_read(t, ~(vm_address_t)0 - 0x20, 0x10, b, &n), KERN_INVALID_ARGUMENT);
	CHECK_KR(vm_write(t, ~(vm_address_t)0 - 0x20, b, 0x10, &n), KERN_INVALID_ARGUMENT);
	CHECK_EQ(util_task_stats(t).resident_pages, 0);
}

TEST(data_no_permission_at_start)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, 4 * p);
	put_pat(t, a, 4 * p, 1);
	CHECK_KR(vm_protect(t, a, p, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, a + p, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, a + 2 * p, p, FALSE, VM_PROT_WRITE), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, a + 3 * p, p, FALSE, VM_PROT_EXECUTE), KERN_SUCCESS);
	unsigned char b[32];
	memset(b, 0x3c, sizeof b);
	vm_size_t n;

	struct frozen f;
	freeze(&f, t, a + p, p);
	/* --- : neither */
	CHECK_KR(vm_read(t, a + 17, 32, b, &n), KERN_PROTECTION_FAILURE);
	CHECK_KR(vm_write(t, a + 17, b, 32, &n), KERN_PROTECTION_FAILURE);
	/* r-- : read only */
	CHECK_KR(vm_write(t, a + p, b, 32, &n), KERN_PROTECTION_FAILURE);
	CHECK_KR(vm_write(t, a + 2 * p - 1, b, 1, &n), KERN_PROTECTION_FAILURE);
	/* --x : execute does not imply read */
	CHECK_KR(vm_read(t, a + 3 * p + 100, 32, b, &n), KERN_PROTECTION_FAILURE);
	CHECK_KR(vm_write(t, a + 3 * p + 100, b, 32, &n), KERN_PROTECTION_FAILURE);
	/* -w- : not readable */
	CHECK_KR(vm_read(t, a + 2 * p, 32, b, &n), KERN_PROTECTION_FAILURE);
	CHECK_FROZEN(&f);

	/* -w- is writable: write there, make it readable, read it back */
	util_fill(t, a + 2 * p + 8, 16, 0xd1);
	CHECK_KR(vm_protect(t, a + 2 * p, p, FALSE, RW), KERN_SUCCESS);
	EXPECT_FILL(t, a + 2 * p + 8, 16, 0xd1);
	CHECK_EQ(util_read_byte(t, a + 2 * p + 7), pat(a + 2 * p + 7, 1));
	/* the --- page still holds its bytes */
	CHECK_KR(vm_protect(t, a, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_EQ(util_read_byte(t, a + 17), pat(a + 17, 1));
}

TEST(data_protection_is_current_not_max)
{
	/* cur r-- with max rwx: writes fail although max allows them. */
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, p);
	util_fill(t, a, p, 0x21);
	CHECK_KR(vm_protect(t, a, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	unsigned char v = 1;
	vm_size_t n;
	CHECK_KR(vm_write(t, a, &v, 1, &n), KERN_PROTECTION_FAILURE);
	EXPECT_FILL(t, a, p, 0x21);
}

/* ---- short transfers ---------------------------------------------------- */

TEST(data_short_at_hole)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, 2 * p);
	harness_alloc(t, a + 3 * p, p);       /* hole [a+2p, a+3p) */
	put_pat(t, a, 2 * p, 3);
	util_fill(t, a + 3 * p, p, 0x44);

	unsigned char *b = malloc(4 * p);
	CHECK(b != NULL);
	memset(b, 0xee, 4 * p);
	vm_size_t n = 0;
	CHECK_KR(vm_read(t, a + p + 10, 2 * p, b, &n), KERN_SUCCESS);
	CHECK_EQ(n, p - 10);
	for (vm_size_t i = 0; i < n; i++)
		CHECK_EQ(b[i], pat(a + p + 10 + i, 3));
	CHECK_EQ(b[n], 0xee);                 /* nothing past the count is written */

	/* reading through the hole up to and past the next entry */
	n = 0;
	CHECK_KR(vm_read(t, a, 4 * p, b, &n), KERN_SUCCESS);
	CHECK_EQ(n, 2 * p);

	/* write: stops at the hole, the entry after it untouched */
	memset(b, 0x5b, 4 * p);
	n = 0;
	CHECK_KR(vm_write(t, a + p + 10, b, 3 * p, &n), KERN_SUCCESS);
	CHECK_EQ(n, p - 10);
	EXPECT_FILL(t, a + p + 10, p - 10, 0x5b);
	EXPECT_FILL(t, a + 3 * p, p, 0x44);
	CHECK_EQ(util_read_byte(t, a + p + 9), pat(a + p + 9, 3));
	free(b);
}

TEST(data_short_at_page_without_permission)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, 4 * p);
	put_pat(t, a, 4 * p, 5);
	/* [a, a+p) rw-, [a+p, a+2p) r--, [a+2p, a+3p) ---, [a+3p, a+4p) rw- */
	CHECK_KR(vm_protect(t, a + p, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, a + 2 * p, p, FALSE, VM_PROT_NONE), KERN_SUCCESS);

	unsigned char *b = malloc(4 * p);
	CHECK(b != NULL);
	memset(b, 0x6c, 4 * p);
	vm_size_t n = 0;
	/* a write from the rw- page runs into the r-- page: short */
	CHECK_KR(vm_write(t, a + 5, b, 2 * p, &n), KERN_SUCCESS);
	CHECK_EQ(n, p - 5);
	EXPECT_FILL(t, a + 5, p - 5, 0x6c);
	CHECK_EQ(util_read_byte(t, a + p), pat(a + p, 5));
	CHECK_EQ(util_read_byte(t, a + 4), pat(a + 4, 5));

	/* a read from the r-- page runs into the --- page: short */
	n = 0;
	CHECK_KR(vm_read(t, a + p + 100, 3 * p, b, &n), KERN_SUCCESS);
	CHECK_EQ(n, p - 100);
	for (vm_size_t i = 0; i < n; i++)
		CHECK_EQ(b[i], pat(a + p + 100 + i, 5));

	/* a read from the start covers rw- and r--, stops at --- */
	n = 0;
	CHECK_KR(vm_read(t, a, 4 * p, b, &n), KERN_SUCCESS);
	CHECK_EQ(n, 2 * p);

	/* the page after the --- one was never written */
	CHECK_KR(vm_protect(t, a + 2 * p, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	for (vm_size_t i = 2 * p; i < 4 * p; i += p / 4)
		CHECK_EQ(util_read_byte(t, a + i), pat(a + i, 5));
	free(b);
}

TEST(data_short_write_leaves_rest)
{
	/* A short write writes exactly *count bytes and no more, also across a
	 * page boundary inside the writable part. */
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, 3 * p);
	CHECK_KR(vm_protect(t, a + 2 * p, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	unsigned char *b = malloc(3 * p);
	CHECK(b != NULL);
	memset(b, 0x7d, 3 * p);
	vm_size_t n = 0;
	CHECK_KR(vm_write(t, a + p / 2, b, 3 * p, &n), KERN_SUCCESS);
	CHECK_EQ(n, 2 * p - p / 2);
	EXPECT_FILL(t, a, p / 2, 0);
	EXPECT_FILL(t, a + p / 2, 2 * p - p / 2, 0x7d);
	EXPECT_FILL(t, a + 2 * p, p, 0);
	/* the read-only page was not filled in */
	CHECK_EQ(util_region(t, a + 2 * p).resident_pages, 0);
	free(b);
}

/* ---- reads allocate nothing ---------------------------------------------- */

TEST(data_read_untouched_is_zero_and_allocates_nothing)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, 8 * p);
	machvm_host_stats_t h0 = util_host_stats();
	EXPECT_FILL(t, a, 8 * p, 0);
	EXPECT_FILL(t, a + 3 * p + 11, 2 * p, 0);
	machvm_host_stats_t h1 = util_host_stats();
	CHECK_EQ(h1.resident_pages, h0.resident_pages);
	CHECK_EQ(util_task_stats(t).resident_pages, 0);
	CHECK_EQ(util_region(t, a).resident_pages, 0);

	/* touched page 2; pages around it still read zero and stay unallocated */
	util_fill(t, a + 2 * p + 5, 1, 0x42);
	h0 = util_host_stats();
	EXPECT_FILL(t, a, 2 * p + 5, 0);
	EXPECT_FILL(t, a + 2 * p + 6, 6 * p - 6, 0);
	h1 = util_host_stats();
	CHECK_EQ(h1.resident_pages, h0.resident_pages);
	CHECK_EQ(util_task_stats(t).resident_pages, 1);
	CHECK_EQ(util_region(t, a).resident_pages, 1);
}

TEST(data_read_untouched_in_fork_child_allocates_nothing)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, 4 * p);
	util_fill(t, a, 1, 0x13);
	task_t c = TASK_NULL;
	CHECK_KR(task_create(t, TRUE, &c), KERN_SUCCESS);
	machvm_host_stats_t h0 = util_host_stats();
	EXPECT_FILL(c, a + 1, 4 * p - 1, 0);
	EXPECT_FILL(c, a, 1, 0x13);
	EXPECT_FILL(t, a + p, 3 * p, 0);
	CHECK_EQ(util_host_stats().resident_pages, h0.resident_pages);
	CHECK_EQ(util_host_stats().objects, h0.objects);
}

/* ---- vm_copy ------------------------------------------------------------ */

/* vm_copy(src, size, dst) against memmove on a model of [a, a+len). */
static void copy_model(task_t t, vm_address_t a, unsigned char *model,
                       vm_size_t src_off, vm_size_t size, vm_size_t dst_off)
{
	CHECK_KR(vm_copy(t, a + src_off, size, a + dst_off), KERN_SUCCESS);
	memmove(model + dst_off, model + src_off, size);
}

TEST(data_copy_overlapping)
{
	vm_size_t p = util_page_size();
	vm_size_t len = 6 * p;
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, len);
	unsigned char *model = malloc(len);
	CHECK(model != NULL);
	for (vm_size_t i = 0; i < len; i++)
		model[i] = pat(a + i, 9);
	put(t, a, model, len);

	/* forward overlap (dest above source): a naive front-to-back copy would
	 * smear the first bytes over everything */
	copy_model(t, a, model, 10, 2 * p + 100, 10 + 777);
	EXPECT_BYTES(t, a, model, len);
	/* backward overlap (dest below source) */
	copy_model(t, a, model, 1000, 2 * p, 3);
	EXPECT_BYTES(t, a, model, len);
	/* overlap by one byte, page aligned, a whole-page shift */
	copy_model(t, a, model, 0, 3 * p, p);
	EXPECT_BYTES(t, a, model, len);
	copy_model(t, a, model, 2 * p, 3 * p, 2 * p - 1);
	EXPECT_BYTES(t, a, model, len);
	/* onto itself */
	copy_model(t, a, model, 123, 4 * p, 123);
	EXPECT_BYTES(t, a, model, len);
	/* disjoint, unaligned, crossing pages */
	copy_model(t, a, model, 5, p + 3, 4 * p + 17);
	EXPECT_BYTES(t, a, model, len);
	free(model);
}

TEST(data_copy_across_entries_and_untouched)
{
	/* Source partly untouched (zeros), destination in another entry. */
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, 3 * p);
	vm_address_t d = harness_alloc(t, 0x200000, 3 * p);
	util_fill(t, a + p, p, 0x3e);
	util_fill(t, d, 3 * p, 0xff);
	CHECK_KR(vm_copy(t, a + p / 2, 2 * p, d + 1), KERN_SUCCESS);
	EXPECT_FILL(t, d, 1, 0xff);
	EXPECT_FILL(t, d + 1, p / 2, 0);
	EXPECT_FILL(t, d + 1 + p / 2, p, 0x3e);
	EXPECT_FILL(t, d + 1 + p / 2 + p, p / 2, 0);
	EXPECT_FILL(t, d + 1 + 2 * p, p - 1, 0xff);
	/* the source is unchanged */
	EXPECT_FILL(t, a, p, 0);
	EXPECT_FILL(t, a + p, p, 0x3e);
	EXPECT_FILL(t, a + 2 * p, p, 0);
}

TEST(data_copy_into_cow_page_is_private)
{
	/* A copy into a page shared copy-on-write with a fork child resolves the
	 * COW: the child keeps its bytes. */
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = harness_alloc(t, 0x100000, 2 * p);
	util_fill(t, a, p, 0x01);
	util_fill(t, a + p, p, 0x02);
	task_t c = TASK_NULL;
	CHECK_KR(task_create(t, TRUE, &c), KERN_SUCCESS);
	CHECK_KR(vm_copy(t, a, p, a + p), KERN_SUCCESS);
	EXPECT_FILL(t, a + p, p, 0x01);
	EXPECT_FILL(c, a + p, p, 0x02);
	CHECK_KR(vm_copy(c, a + p, p, a), KERN_SUCCESS);
	EXPECT_FILL(c, a, p, 0x02);
	EXPECT_FILL(t, a, p, 0x01);
}

/*
 * An environment with every kind of obstacle, 16 pages at a:
 *   [0,4) rw- touched   [4,5) hole   [5,6) r-- touched   [6,7) -w- touched
 *   [7,8) --- touched   [8,12) rw- untouched            [12,16) rw- touched
 */
static vm_address_t obstacles(task_t t)
{
	vm_size_t p = util_page_size();
	vm_address_t a = 0x100000;
	harness_alloc(t, a, 4 * p);
	harness_alloc(t, a + 5 * p, 11 * p);
	put_pat(t, a, 4 * p, 11);
	put_pat(t, a + 5 * p, 3 * p, 11);
	put_pat(t, a + 12 * p, 4 * p, 11);
	CHECK_KR(vm_protect(t, a + 5 * p, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, a + 6 * p, p, FALSE, VM_PROT_WRITE), KERN_SUCCESS);
	CHECK_KR(vm_protect(t, a + 7 * p, p, FALSE, VM_PROT_NONE), KERN_SUCCESS);
	return a;
}

/* vm_copy must fail with want and change nothing at all. */
#define COPY_FAILS(t, a, src, size, dst, want)                          \
	do {                                                            \
		vm_size_t p_ = util_page_size();                        \
		struct frozen f_;                                       \
		freeze2(&f_, (t), (a), 4 * p_, (a) + 8 * p_, 8 * p_);   \
		CHECK_KR(vm_copy((t), (src), (size), (dst)), (want));   \
		CHECK_FROZEN(&f_);                                      \
	} while (0)

TEST(data_copy_all_or_nothing)
{
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t a = obstacles(t);

	/* source with a hole (start fine) -> INVALID_ADDRESS, dest untouched */
	COPY_FAILS(t, a, a + 3 * p, 2 * p, a + 12 * p, KERN_INVALID_ADDRESS);
	COPY_FAILS(t, a, a + 3 * p, 2 * p, a + 8 * p + 9, KERN_INVALID_ADDRESS);
	/* source starting in the hole */
	COPY_FAILS(t, a, a + 4 * p + 7, 10, a + 12 * p, KERN_INVALID_ADDRESS);
	/* source reaching an unreadable page later (-w-, ---) */
	COPY_FAILS(t, a, a + 5 * p + 10, p, a + 12 * p, KERN_PROTECTION_FAILURE);
	COPY_FAILS(t, a, a + 5 * p, 3 * p, a + 8 * p, KERN_PROTECTION_FAILURE);
	/* source starting on a --- page */
	COPY_FAILS(t, a, a + 7 * p + 1, 16, a + 12 * p, KERN_PROTECTION_FAILURE);
	/* dest reaching the hole after good pages: nothing of [a, a+4p) written */
	COPY_FAILS(t, a, a + 12 * p, 3 * p, a + 2 * p, KERN_INVALID_ADDRESS);
	/* dest starting in the hole */
	COPY_FAILS(t, a, a + 12 * p, 16, a + 4 * p + 100, KERN_INVALID_ADDRESS);
	/* dest starting on the r-- page, and on the --- page */
	COPY_FAILS(t, a, a + 12 * p, 16, a + 5 * p, KERN_PROTECTION_FAILURE);
	COPY_FAILS(t, a, a + 12 * p, 16, a + 7 * p, KERN_PROTECTION_FAILURE);
	/* dest starting on the writable -w- page and reaching --- */
	COPY_FAILS(t, a, a + 12 * p, p, a + 6 * p + 10, KERN_PROTECTION_FAILURE);
	/* dest running past the end of the map */
	COPY_FAILS(t, a, a + 12 * p, 2 * p, a + 15 * p, KERN_INVALID_ADDRESS);
	/* source running past the end of the map */
	COPY_FAILS(t, a, a + 15 * p, 2 * p, a, KERN_INVALID_ADDRESS);

	/* the -w- and --- pages kept their bytes through all of that */
	CHECK_KR(vm_protect(t, a + 6 * p, 2 * p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	for (vm_size_t i = 6 * p; i < 8 * p; i += 61)
		CHECK_EQ(util_read_byte(t, a + i), pat(a + i, 11));

	/* and a good copy in the same setting works */
	CHECK_KR(vm_copy(t, a + 12 * p + 1, 2 * p, a + 8 * p + 2), KERN_SUCCESS);
	for (vm_size_t i = 0; i < 2 * p; i += 7)
		CHECK_EQ(util_read_byte(t, a + 8 * p + 2 + i), pat(a + 12 * p + 1 + i, 11));
}

TEST(data_copy_failure_fills_no_pages)
{
	/* An untouched destination followed by a read-only page: the failed copy
	 * must not have zero-filled or written the untouched pages. */
	vm_size_t p = util_page_size();
	task_t t = harness_task();
	vm_address_t d = harness_alloc(t, 0x100000, 3 * p);
	CHECK_KR(vm_protect(t, d + 2 * p, p, FALSE, VM_PROT_READ), KERN_SUCCESS);
	vm_address_t s = harness_alloc(t, 0x200000, 4 * p);
	util_fill(t, s, 4 * p, 0x5e);
	struct frozen f;
	freeze(&f, t, d, 0);
	CHECK_KR(vm_copy(t, s, 3 * p, d), KERN_PROTECTION_FAILURE);
	CHECK_FROZEN(&f);
	freeze(&f, t, d, 0);
	CHECK_KR(vm_copy(t, s + 1, 2 * p + 10, d + p / 2), KERN_PROTECTION_FAILURE);
	CHECK_FROZEN(&f);
	CHECK_EQ(util_region(t, d).resident_pages, 0);
	EXPECT_FILL(t, d, 3 * p, 0);
	/* a source hole with an untouched dest */
	CHECK_KR(vm_deallocate(t, s + p, p), KERN_SUCCESS);
	freeze(&f, t, d, 0);
	CHECK_KR(vm_copy(t, s, 2 * p, d), KERN_INVALID_ADDRESS);
	CHECK_FROZEN(&f);
	CHECK_EQ(util_region(t, d).resident_pages, 0);
}

TEST(data_read_write_other_tasks_independent)
{
	/* Data lives per task: the same address in two tasks holds two bytes. */
	vm_size_t p = util_page_size();
	task_t t1 = harness_task(), t2 = harness_task();
	harness_alloc(t1, 0x100000, p);
	harness_alloc(t2, 0x100000, p);
	util_fill(t1, 0x100000, p, 0x01);
	util_fill(t2, 0x100000, p, 0x02);
	EXPECT_FILL(t1, 0x100000, p, 0x01);
	EXPECT_FILL(t2, 0x100000, p, 0x02);
}
