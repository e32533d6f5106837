/*
 * test_host.c - host_page_size, machvm_host_start, and the name tables
 * (kern_return_name, machvm_share_mode_name).
 */
#include "harness.h"
#include "util.h"

/* A port value that is neither host port. */
static host_t bogus_host(void)
{
	host_t h = 12345;
	while (h == mach_host_self() || h == host_priv_self())
		h++;
	return h;
}

TEST(page_size_default_4096)
{
	vm_size_t p = 0;
	CHECK_KR(host_page_size(mach_host_self(), &p), KERN_SUCCESS);
	CHECK_EQ(p, 4096);
}

TEST(page_size_privileged_port_too)
{
	vm_size_t p = 0;
	CHECK(host_priv_self() != mach_host_self());
	CHECK_KR(host_page_size(host_priv_self(), &p), KERN_SUCCESS);
	CHECK_EQ(p, 4096);
}

TEST(page_size_after_restart_65536)
{
	vm_size_t p = 0;
	harness_restart(65536);
	CHECK_KR(host_page_size(mach_host_self(), &p), KERN_SUCCESS);
	CHECK_EQ(p, 65536);
	/* The page size is really used: an allocation of one byte is one 64K page. */
	task_t t = harness_task();
	vm_address_t a = 0;
	CHECK_KR(vm_allocate(t, &a, 1, TRUE), KERN_SUCCESS);
	CHECK_EQ(a, 65536);
	CHECK_REGION(t, 65536, 65536, VM_PROT_DEFAULT, VM_PROT_ALL);
	machvm_host_stats_t hs = util_host_stats();
	CHECK_EQ(hs.page_size, 65536);
}

TEST(page_size_every_valid_size)
{
	for (vm_size_t want = 4096; want <= 65536; want *= 2) {
		vm_size_t p = 0;
		harness_restart(want);
		CHECK_KR(host_page_size(mach_host_self(), &p), KERN_SUCCESS);
		CHECK_EQ(p, want);
	}
}

TEST(page_size_zero_means_4096)
{
	vm_size_t p = 0;
	harness_restart(0);
	CHECK_KR(host_page_size(mach_host_self(), &p), KERN_SUCCESS);
	CHECK_EQ(p, 4096);
}

TEST(page_size_bogus_host)
{
	vm_size_t p = 777;
	CHECK_KR(host_page_size(bogus_host(), &p), KERN_INVALID_HOST);
	if (mach_host_self() != MACH_PORT_NULL && host_priv_self() != MACH_PORT_NULL)
		CHECK_KR(host_page_size(MACH_PORT_NULL, &p), KERN_INVALID_HOST);
	/* A task port is not a host port either (task ids start at 1). */
	task_t t = harness_task();
	if (t != mach_host_self() && t != host_priv_self())
		CHECK_KR(host_page_size(t, &p), KERN_INVALID_HOST);
}

TEST(host_start_bad_sizes)
{
	static const vm_size_t bad[] = {
		0x3000, 2048, 131072, 1, 4095, 4097, 12288, 65535, 65537, (vm_size_t)1 << 40,
	};
	machvm_host_stop();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_KR(machvm_host_start(bad[i]), KERN_INVALID_ARGUMENT);
	/* A refused start leaves the host startable. */
	CHECK_KR(machvm_host_start(8192), KERN_SUCCESS);
	CHECK_EQ(util_page_size(), 8192);
}

TEST(host_start_already_running)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 0x2000);
	CHECK_KR(machvm_host_start(4096), KERN_FAILURE);
	CHECK_KR(machvm_host_start(65536), KERN_FAILURE);
	CHECK_KR(machvm_host_start(0), KERN_FAILURE);
	/* The running host is untouched: same page size, the task and its memory still there. */
	CHECK_EQ(util_page_size(), 4096);
	CHECK(machvm_task_alive(t));
	CHECK_REGION(t, 0x10000, 0x2000, VM_PROT_DEFAULT, VM_PROT_ALL);
}

TEST(host_stop_then_start_is_fresh)
{
	task_t t = harness_task();
	harness_alloc(t, 0x10000, 0x1000);
	util_write_byte(t, 0x10000, 7);
	machvm_host_stop();
	CHECK_KR(machvm_host_start(16384), KERN_SUCCESS);
	CHECK_EQ(util_page_size(), 16384);
	CHECK(!machvm_task_alive(t));
	machvm_host_stats_t hs = util_host_stats();
	CHECK_EQ(hs.tasks, 0);
	CHECK_EQ(hs.objects, 0);
	CHECK_EQ(hs.resident_pages, 0);
	CHECK_EQ(hs.virtual_size, 0);
}

TEST(kern_return_names)
{
	static const struct { kern_return_t kr; const char *name; } names[] = {
		{ KERN_SUCCESS, "KERN_SUCCESS" },
		{ KERN_INVALID_ADDRESS, "KERN_INVALID_ADDRESS" },
		{ KERN_PROTECTION_FAILURE, "KERN_PROTECTION_FAILURE" },
		{ KERN_NO_SPACE, "KERN_NO_SPACE" },
		{ KERN_INVALID_ARGUMENT, "KERN_INVALID_ARGUMENT" },
		{ KERN_FAILURE, "KERN_FAILURE" },
		{ KERN_RESOURCE_SHORTAGE, "KERN_RESOURCE_SHORTAGE" },
		{ KERN_NO_ACCESS, "KERN_NO_ACCESS" },
		{ KERN_INVALID_NAME, "KERN_INVALID_NAME" },
		{ KERN_INVALID_TASK, "KERN_INVALID_TASK" },
		{ KERN_INVALID_VALUE, "KERN_INVALID_VALUE" },
		{ KERN_INVALID_HOST, "KERN_INVALID_HOST" },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *got = kern_return_name(names[i].kr);
		CHECK(got != NULL);
		if (strcmp(got, names[i].name) != 0)
			harness_fail(__FILE__, __LINE__, "kern_return_name(%d) = \"%s\", want \"%s\"",
			             names[i].kr, got, names[i].name);
	}
	/* The numeric values are Mach's. */
	CHECK_EQ(KERN_INVALID_ADDRESS, 1);
	CHECK_EQ(KERN_NO_SPACE, 3);
	CHECK_EQ(KERN_INVALID_HOST, 22);
	static const kern_return_t unknown[] = { -1, 7, 9, 10, 14, 17, 19, 21, 23, 100, 0x7fffffff };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		const char *got = kern_return_name(unknown[i]);
		CHECK(got != NULL);
		if (strcmp(got, "KERN_UNKNOWN") != 0)
			harness_fail(__FILE__, __LINE__, "kern_return_name(%d) = \"%s\", want KERN_UNKNOWN",
			             unknown[i], got);
	}
}

TEST(share_mode_names)
{
	static const struct { unsigned int sm; const char *name; } names[] = {
		{ SM_COW, "cow" },
		{ SM_PRIVATE, "private" },
		{ SM_EMPTY, "empty" },
		{ SM_SHARED, "shared" },
		{ SM_TRUESHARED, "trueshared" },
		{ SM_PRIVATE_ALIASED, "private_aliased" },
		{ SM_SHARED_ALIASED, "shared_aliased" },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *got = machvm_share_mode_name(names[i].sm);
		CHECK(got != NULL);
		if (strcmp(got, names[i].name) != 0)
			harness_fail(__FILE__, __LINE__, "machvm_share_mode_name(%u) = \"%s\", want \"%s\"",
			             names[i].sm, got, names[i].name);
	}
	static const unsigned int unknown[] = { 0, 8, 9, 100, 0xffffffffu };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		const char *got = machvm_share_mode_name(unknown[i]);
		CHECK(got != NULL);
		if (strcmp(got, "unknown") != 0)
			harness_fail(__FILE__, __LINE__, "machvm_share_mode_name(%u) = \"%s\", want unknown",
			             unknown[i], got);
	}
}
