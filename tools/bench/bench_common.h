/*
 * bench_common.h - what the benchmark programs share: a monotonic clock,
 * sorting samples, and room for N mappings under vm.max_map_count.
 *
 * fit_map_count raises vm.max_map_count when a Linux-side measurement needs
 * more mappings than it allows (we run as root), and puts the old value back
 * at exit or when a signal stops the program.  The including program
 * defines note(), which records a line for the report, and die(), which
 * reports an error and exits.
 */
#ifndef MACHVM_BENCH_COMMON_H
#define MACHVM_BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_MAP_COUNT "/proc/sys/vm/max_map_count"
#define MAP_MARGIN    64        /* mappings kept free besides the N asked for */

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* fork() with a pipe from the child: the child (0 returned) keeps fds[1]
 * to write, the parent fds[0] to read, each end closed where it is not
 * used.  Dies if the pipe or the process cannot be made. */
static inline pid_t fork_piped(int fds[2])
{
	if (pipe(fds) != 0)
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	close(fds[pid == 0 ? 0 : 1]);
	return pid;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps until CLOCK_MONOTONIC reads t (ns), whatever signals come. */
static inline void sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000u), (long)(t % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The number at the start of a file, or -1. */
static inline long read_long(const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY);
	ssize_t r = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);

	if (fd >= 0)
		close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	return strtol(buf, NULL, 10);
}

/* The number of lines of a file (of /proc/self/maps: this process's VMAs), or -1. */
static inline long count_lines(const char *path)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY);
	long lines = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while ((r = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < r; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

static inline int write_long(const char *path, long v)
{
	char s[32];
	int fd = open(path, O_WRONLY), n = snprintf(s, sizeof s, "%ld\n", v);
	int ok = fd >= 0 && write(fd, s, (size_t)n) == n;

	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static long original_max_map_count = -1;   /* >= 0 once we raised it */

/* Puts vm.max_map_count back; only async-signal-safe calls when quiet. */
static inline int put_back_map_count(void)
{
	long v = original_max_map_count;

	if (v < 0)
		return 0;
	original_max_map_count = -1;
	return write_long(MAX_MAP_COUNT, v) == 0 ? 0 : -1;
}

static inline void restore_map_count(void)
{
	long v = original_max_map_count;

	if (v < 0)
		return;
	if (put_back_map_count() == 0)
		note("vm.max_map_count restored to %ld", v);
	else
		note("could not restore vm.max_map_count to %ld", v);
}

static inline void map_count_on_signal(int sig)
{
	(void)put_back_map_count();
	signal(sig, SIG_DFL);
	raise(sig);
}

static inline void map_count_at_exit(void)
{
	restore_map_count();
}

/*
 * Makes room for n more VMAs, raising the limit if needed, and returns the n
 * that fits: n itself, or a smaller one if the limit could not be raised.
 */
static inline long fit_map_count(long n)
{
	long limit = read_long(MAX_MAP_COUNT), have = count_lines("/proc/self/maps");
	long need = n + have + MAP_MARGIN;

	if (limit < 0 || have < 0) {
		note("could not read %s or /proc/self/maps; N=%ld used as is", MAX_MAP_COUNT, n);
		return n;
	}
	if (need <= limit)
		return n;
	if (write_long(MAX_MAP_COUNT, need) == 0 && read_long(MAX_MAP_COUNT) >= need) {
		if (original_max_map_count < 0) {
			original_max_map_count = limit;
			atexit(map_count_at_exit);
			signal(SIGTERM, map_count_on_signal);
			signal(SIGINT, map_count_on_signal);
			signal(SIGHUP, map_count_on_signal);
		}
		note("vm.max_map_count raised from %ld to %ld for N=%ld (restored at exit)",
		     limit, need, n);
		return n;
	}
	note("vm.max_map_count is %ld and could not be raised: N=%ld capped to %ld",
	     limit, n, limit - have - MAP_MARGIN);
	return limit - have - MAP_MARGIN;
}

#endif
