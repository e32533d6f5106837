/*
 * state_bench.c - times loading a state file against saving the same host.
 *
 *   state_bench [--quick] [--csv FILE] [--regions N] [--dir DIR]
 *
 * Builds a host of N regions (default 65536; --quick: 16384), half in a
 * task and half in its fork: the task allocates N/2 pages, every other page
 * is made read-only (so each page is a region of its own), and every 16th
 * page gets a byte written (an object and a resident page each); the fork
 * then maps every written region copy-on-write.  That host is saved with
 * state_save and loaded back with state_load -- the code behind
 * machvmfs -o state=FILE, fsync and rename included -- in ROUNDS rounds of
 * save then load, each load into a stopped host.  Each load must give back
 * N regions, else the program fails (it cannot measure).
 *
 * The figure is the median load time over the median save time of the
 * same file in the same run (CLOCK_MONOTONIC, ms); target: load <= 2x save.
 * Output: a Markdown table and notes on stdout; with --csv, the row in the
 * columns of tools/bench/run's report.  Exit status 0 whether or not the
 * target is met.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <machvm/machvm.h>

#include "../../src/persist/state.h"

#define DEFAULT_REGIONS 65536
#define QUICK_REGIONS   16384
#define ROUNDS          3
#define QUICK_ROUNDS    1
#define TOUCH_EVERY     16           /* pages: one written in this many */
#define LOAD_TARGET     2.0          /* load <= this x save */
#define BASE            0x100000000ull

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "state_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t host_entries(void)
{
	machvm_host_stats_t hs;

	if (machvm_host_stats(&hs) != KERN_SUCCESS)
		die("machvm_host_stats failed");
	return hs.entries;
}

/* The host described above; returns its resident page count. */
static uint64_t build_host(long n)
{
	vm_size_t pages = (vm_size_t)n / 2, written = 0;
	vm_address_t a = BASE;
	task_t t, child;
	kern_return_t kr;

	if ((kr = machvm_host_start(4096)) != KERN_SUCCESS)
		die("machvm_host_start: %s", kern_return_name(kr));
	if ((kr = task_create(TASK_NULL, FALSE, &t)) != KERN_SUCCESS ||
	    (kr = vm_allocate(t, &a, pages * 4096, FALSE)) != KERN_SUCCESS)
		die("setting up the task: %s", kern_return_name(kr));
	for (vm_size_t i = 0; i < pages; i++) {
		vm_address_t p = BASE + i * 4096;

		if (i % 2) {
			kr = vm_protect(t, p, 4096, FALSE, VM_PROT_READ);
		} else if (i % TOUCH_EVERY == 0) {
			vm_size_t done = 0;

			kr = vm_write(t, p, "s", 1, &done);
			written++;
		}
		if (kr != KERN_SUCCESS)
			die("page %zu: %s", (size_t)i, kern_return_name(kr));
	}
	if ((kr = task_create(t, TRUE, &child)) != KERN_SUCCESS)
		die("fork: %s", kern_return_name(kr));
	if (host_entries() != (uint64_t)n)
		die("the host has %llu regions, not %ld", (unsigned long long)host_entries(), n);
	return written;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fprintf(stderr, "usage: state_bench [--quick] [--csv FILE] [--regions N] [--dir DIR]\n"
	                "  --quick    %d regions, one round (default: %d regions, %d rounds)\n"
	                "  --csv      also write the row to FILE in the report's columns\n"
	                "  --regions  another host size (an even number from 2 to 4000000),\n"
	                "             with --quick too\n"
	                "  --dir      where the state file goes (default: /tmp)\n",
	        QUICK_REGIONS, DEFAULT_REGIONS, ROUNDS);
	exit(2);
}

int main(int argc, char **argv)
{
	long n = 0;             /* 0: the default for the run */
	int rounds = ROUNDS, quick = 0;
	const char *csv = NULL, *dir = "/tmp";
	char path[4096], msg[512];
	double save_ms[ROUNDS], load_ms[ROUNDS];
	struct stat st;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			quick = 1;
		} else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
			csv = argv[++i];
		} else if (strcmp(argv[i], "--regions") == 0 && i + 1 < argc) {
			char *end;

			n = strtol(argv[++i], &end, 10);
			if (*end || n < 2 || n > 4000000 || n % 2)
				usage();
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else {
			usage();
		}
	}
	if (quick)
		rounds = QUICK_ROUNDS;
	if (n == 0)
		n = quick ? QUICK_REGIONS : DEFAULT_REGIONS;
	snprintf(path, sizeof path, "%s/state_bench.%d.json", dir, (int)getpid());

	uint64_t written = build_host(n);
	for (int r = 0; r < rounds; r++) {
		uint64_t t0 = now_ns();

		if (state_save(path, msg, sizeof msg) != 0)
			die("save: %s", msg);
		uint64_t t1 = now_ns();

		machvm_host_stop();
		uint64_t t2 = now_ns();
		if (state_load(path, 0, -1, NULL, msg, sizeof msg) != STATE_LOADED)
			die("load: %s", msg);
		uint64_t t3 = now_ns();

		if (host_entries() != (uint64_t)n)
			die("the loaded host has %llu regions, not %ld",
			    (unsigned long long)host_entries(), n);
		save_ms[r] = (double)(t1 - t0) / 1e6;
		load_ms[r] = (double)(t3 - t2) / 1e6;
	}
	if (stat(path, &st) != 0)
		die("%s: %s", path, strerror(errno));
	unlink(path);
	machvm_host_stop();

	double save = median(save_ms, rounds), load = median(load_ms, rounds);
	double ratio = load / save;
	const char *result = ratio <= LOAD_TARGET ? "pass" : "FAIL";

	printf("# state_bench: load vs save of one state file\n\n");
	printf("| operation | regions | save ms | load ms | ratio | target | result |\n");
	printf("|---|---:|---:|---:|---:|---|---|\n");
	printf("| load vs save | %ld | %.1f | %.1f | %.3fx | <= %.0fx | %s |\n\n",
	       n, save, load, ratio, LOAD_TARGET, result);
	printf("note: state file of %ld regions (%llu written pages, 2 tasks): %.1f MB; "
	       "median of %d round%s of save then load\n", n, (unsigned long long)written,
	       (double)st.st_size / 1e6, rounds, rounds == 1 ? "" : "s");
	printf("note: per region: save %.1f us, load %.1f us\n",
	       save * 1000 / (double)n, load * 1000 / (double)n);
	if (csv) {
		FILE *f = fopen(csv, "w");

		if (!f)
			die("%s: %s", csv, strerror(errno));
		fprintf(f, "state,\"load vs save\",%ld,,ms,%.1f,%.1f,save,%.4f,\"<= %.0fx\",%s\n",
		        n, load, save, ratio, LOAD_TARGET, result);
		if (fclose(f) != 0)
			die("%s: %s", csv, strerror(errno));
	}
	return 0;
}
