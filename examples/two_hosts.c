/*
 * two_hosts.c - two independent hosts in one program, through libmachvm:
 * one follows Mach with 4 KiB pages, the other XNU with 16 KiB pages.
 * Each has its own task 1; the thread switches between them with
 * machvm_host_use.
 *
 *   gcc -std=c11 examples/two_hosts.c $(pkg-config --cflags --libs machvm) -o two_hosts
 *   ./two_hosts
 */
#include <stdio.h>
#include <string.h>

#include <machvm/machvm.h>

/* Makes task 1 of the current host, with one byte allocated anywhere and
 * written; prints what the host made of it. */
static int make_task(const char *name, char byte)
{
	task_t t;
	vm_address_t a = 0;
	vm_size_t page = 0, n;
	if (task_create(TASK_NULL, FALSE, &t) != KERN_SUCCESS ||
	    vm_allocate(t, &a, 1, TRUE) != KERN_SUCCESS ||
	    vm_write(t, a, &byte, 1, &n) != KERN_SUCCESS ||
	    host_page_size(mach_host_self(), &page) != KERN_SUCCESS)
		return -1;
	vm_address_t r = a;
	vm_region_extended_info_t x;
	if (vm_region_extended(t, &r, &x) != KERN_SUCCESS)
		return -1;
	printf("host %s (%s, page size %lu): task %u, 1 byte allocated at 0x%lx, "
	       "region [0x%lx, 0x%lx) of %lu bytes\n",
	       name, machvm_personality_name(machvm_host_personality()), (unsigned long)page,
	       (unsigned)t, (unsigned long)a, (unsigned long)x.start,
	       (unsigned long)(x.start + x.size), (unsigned long)x.size);
	return (int)a;
}

/* The first byte task 1 of the current host has at a. */
static void show_byte(const char *name, vm_address_t a)
{
	char b = 0;
	vm_size_t n;
	kern_return_t kr = vm_read(1, a, 1, &b, &n);
	if (kr == KERN_SUCCESS)
		printf("host %s: task 1 reads '%c' at 0x%lx\n", name, b, (unsigned long)a);
	else
		printf("host %s: task 1 reads nothing at 0x%lx -> refused (expected: %s, "
		       "another host's task 1 has it)\n", name, (unsigned long)a, kern_return_name(kr));
}

int main(void)
{
	machvm_host_t mach, xnu;
	if (machvm_host_create(&mach) != KERN_SUCCESS || machvm_host_create(&xnu) != KERN_SUCCESS)
		return 1;

	machvm_host_use(mach);
	if (machvm_host_start(4096) != KERN_SUCCESS)
		return 1;
	int am = make_task("A", 'm');

	machvm_host_use(xnu);
	if (machvm_host_set_personality(MACHVM_PERSONALITY_XNU) != KERN_SUCCESS ||
	    machvm_host_start(16384) != KERN_SUCCESS)
		return 1;
	int ax = make_task("B", 'x');
	if (am < 0 || ax < 0)
		return 1;

	/* Task 1 is a different task in each host. */
	machvm_host_use(mach);
	show_byte("A", (vm_address_t)am);
	machvm_host_use(xnu);
	show_byte("B", (vm_address_t)ax);
	show_byte("B", (vm_address_t)am);       /* host A's address: nothing there */

	machvm_host_destroy(mach);
	machvm_host_destroy(xnu);
	printf("shown: two hosts in one process, each with its own task 1, page size and "
	       "personality\n");
	return 0;
}
