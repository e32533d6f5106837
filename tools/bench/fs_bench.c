/*
 * fs_bench.c - the client side of the filesystem benchmarks: times machvmfs
 * against the floor filesystem (fsfloor) and against Linux itself, side by
 * side in one run.  Uses nothing but libc; tools/bench/run mounts the
 * filesystems and calls it once per phase.
 *
 *   fs_bench census --mvfs DIR --floor DIR --mvfs-log F --floor-log F [--csv F]
 *   fs_bench main   --mvfs DIR --floor DIR --mvfs-pid P --floor-pid P [--quick] [--csv F]
 *   fs_bench memory --mvfs DIR --pid PID [--quick] [--csv F]
 *
 * census  both daemons run with -d (their stderr appended to the logs): each
 *         operation is done K times and the requests the daemon saw are
 *         counted from its log, per operation.  Equal counts are the check
 *         that the floor really mirrors machvmfs's options.
 * main    per-operation latency against the floor (stat, cat-like read,
 *         echo-like write, ls and ls -l of regions/, the real ls -l, bash
 *         cat/echo loops); tasks/<id>/maps against /proc/self/maps with the
 *         same number of mappings; fork through tasks/ctl against fork(2),
 *         and the first write after it; ls objects/ with a cat of every
 *         object's chain against the same shape on the floor, and
 *         tasks/<id>/pagemap against /proc/self/smaps (both at the largest N);
 *         four clients against one; latency while another client writes.  The single-client comparisons run
 *         with the client and both daemons pinned to one CPU (see pin()).
 * memory  the daemon's resident memory per region (a fresh daemon: PID).
 * scale   a task of 1,000,000 regions against one of 65,000 (ls, maps, fork,
 *         rmdir per region; the daemon's memory per region) and a host of
 *         100,000 tasks against one of 1,000 (a fresh daemon: PID).
 * setup, load   helpers for profiling by hand (README.md).
 *
 * Every phase prints a Markdown table of its rows and appends them to the
 * CSV (columns in README.md); tools/bench/run merges them into one report.
 * The program exits 0 whether targets are met or not; it fails only when it
 * cannot measure (a call failed, a count came out wrong).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

/* The address machvmfs and the floor put region 0 at; the floor's default. */
#define BASE          0x100000000ULL
#define TOUCH_PAGES   10000        /* the largest M */
#define CHUNK         60000        /* bytes per ctl write: whole lines */
#define LIST_BUF      32768        /* getdents64 buffer, as glibc's readdir */

/* Targets (see README.md). */
#define OP_TARGET      1.2
#define LSL_BIG_TARGET 1.5
#define MAPS_TARGET    1.0
#define MAPS_CHANGED_TARGET 0.5
#define FORK_TARGET    0.5
#define FLAT_FACTOR    1.25
#define SCALE_TARGET   1.6
#define FORK_LOAD_TARGET 0.9
#define FOUR_TARGET    0.95         /* 4 clients: machvmfs / the floor */
#define BYTES_TARGET   200.0
#define INSIDE_TARGET  1.5
#define PAGEMAP_TARGET 1.0
#define GROWTH_TARGET  1.3          /* per item at the big size / at the small one */

static const char *mv_root, *fl_root;
static pid_t mv_pid, fl_pid;
static const char *csv_path;
static int quick;
static size_t page;

static void usage(void) __attribute__((noreturn));

/* ---- results ------------------------------------------------------------ */

enum verdict { V_INFO, V_PASS, V_FAIL, V_NA, V_SAME, V_DIFF };

struct row {
	const char *section;
	char op[112];
	long n, m;              /* < 0: not applicable */
	const char *unit;       /* us, ms, ns, B, ops/s, req */
	double ours, ref;       /* NAN: none */
	const char *ref_is;     /* what ref is: floor, linux, 1 client, unloaded */
	double ratio;           /* NAN: none */
	char target[48];
	enum verdict v;
};

static struct row rows[256];
static int nrows;
static char notes[96][320];
static int nnotes;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	if (nnotes == (int)(sizeof notes / sizeof notes[0]))
		return;
	va_start(ap, fmt);
	vsnprintf(notes[nnotes++], sizeof notes[0], fmt, ap);
	va_end(ap);
	fprintf(stderr, "fs_bench: note: %s\n", notes[nnotes - 1]);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fs_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * Adds a row.  target_max > 0: ratio <= target_max passes; target_min > 0:
 * ratio >= target_min passes; both 0: information only.
 */
static struct row *add(const char *section, const char *op, long n, long m,
                       const char *unit, double ours, double ref, const char *ref_is,
                       double ratio, double target_max, double target_min)
{
	struct row *r;

	if (nrows == (int)(sizeof rows / sizeof rows[0]))
		die("too many rows");
	r = &rows[nrows++];
	r->section = section;
	snprintf(r->op, sizeof r->op, "%s", op);
	r->n = n;
	r->m = m;
	r->unit = unit;
	r->ours = ours;
	r->ref = ref;
	r->ref_is = ref_is;
	r->ratio = ratio;
	r->v = V_INFO;
	r->target[0] = '\0';
	if (target_max > 0) {
		snprintf(r->target, sizeof r->target, "<= %gx", target_max);
		r->v = isnan(ratio) ? V_NA : ratio <= target_max ? V_PASS : V_FAIL;
	} else if (target_min > 0) {
		snprintf(r->target, sizeof r->target, ">= %gx", target_min);
		r->v = isnan(ratio) ? V_NA : ratio >= target_min ? V_PASS : V_FAIL;
	}
	return r;
}

/* A row comparing ours with a reference: ratio ours / ref. */
static struct row *add_cmp(const char *section, const char *op, long n, long m,
                           const char *unit, double ours, double ref, const char *ref_is,
                           double target_max)
{
	double ratio = (isnan(ours) || isnan(ref) || ref <= 0) ? NAN : ours / ref;

	return add(section, op, n, m, unit, ours, ref, ref_is, ratio, target_max, 0);
}

static const char *verdict_name(enum verdict v)
{
	switch (v) {
	case V_PASS: return "pass";
	case V_FAIL: return "FAIL";
	case V_NA:   return "n/a";
	case V_SAME: return "same";
	case V_DIFF: return "DIFFERS";
	default:     return "info";
	}
}

static void fmt_num(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (fabs(v) >= 1000)
		snprintf(buf, len, "%.0f", v);
	else if (fabs(v) >= 10)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.2f", v);
}

static void print_rows(const char *title)
{
	int met = 0, targets = 0;

	printf("## %s\n\n", title);
	printf("| section | operation | N | M | unit | machvmfs | reference | ratio | target | result |\n");
	printf("|---|---|---:|---:|---|---:|---:|---:|---|---|\n");
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		char o[32], f[48], ra[32], n[24], m[24];

		fmt_num(o, sizeof o, r->ours);
		fmt_num(f, sizeof f, r->ref);
		if (!isnan(r->ref) && r->ref_is)
			snprintf(f + strlen(f), sizeof f - strlen(f), " (%s)", r->ref_is);
		if (isnan(r->ratio))
			snprintf(ra, sizeof ra, "-");
		else
			snprintf(ra, sizeof ra, "%.3fx", r->ratio);
		snprintf(n, sizeof n, r->n < 0 ? "-" : "%ld", r->n);
		snprintf(m, sizeof m, r->m < 0 ? "-" : "%ld", r->m);
		printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->section,
		       r->op, n, m, r->unit, o, f, ra, r->target[0] ? r->target : "-",
		       verdict_name(r->v));
		if (r->v == V_PASS || r->v == V_FAIL || r->v == V_NA)
			targets++;
		if (r->v == V_PASS)
			met++;
	}
	printf("\n");
	for (int i = 0; i < nnotes; i++)
		printf("note: %s\n", notes[i]);
	if (nnotes)
		printf("\n");
	printf("%s: %d of %d targets met\n\n", title, met, targets);
}

/*
 * CSV columns: section,operation,n,m,unit,ours,reference,reference_is,ratio,
 * target,result.  Appended, so the phases and the engine bench make one file
 * (tools/bench/run writes the header).
 */
static void write_csv(void)
{
	FILE *f;

	if (!csv_path)
		return;
	f = fopen(csv_path, "a");
	if (!f)
		die("%s: %s", csv_path, strerror(errno));
	for (int i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];

		fprintf(f, "%s,\"%s\",", r->section, r->op);
		if (r->n >= 0)
			fprintf(f, "%ld", r->n);
		fputc(',', f);
		if (r->m >= 0)
			fprintf(f, "%ld", r->m);
		fprintf(f, ",%s,", r->unit);
		if (!isnan(r->ours))
			fprintf(f, "%.3f", r->ours);
		fputc(',', f);
		if (!isnan(r->ref))
			fprintf(f, "%.3f", r->ref);
		fprintf(f, ",%s,", r->ref_is && !isnan(r->ref) ? r->ref_is : "");
		if (!isnan(r->ratio))
			fprintf(f, "%.4f", r->ratio);
		fprintf(f, ",\"%s\",%s\n", r->target, verdict_name(r->v));
	}
	if (fclose(f) != 0)
		die("%s: %s", csv_path, strerror(errno));
}

/* ---- time and samples ---------------------------------------------------- */

struct samples {
	uint64_t *v;
	size_t n, cap;
};

static void push(struct samples *s, uint64_t x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v = realloc(s->v, s->cap * sizeof *s->v);
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = x;
}

/* The p-th percentile (0..100) of s, nearest rank; NAN if empty. */
static double pct(struct samples *s, double p)
{
	size_t k;

	if (s->n == 0)
		return NAN;
	qsort(s->v, s->n, sizeof *s->v, cmp_u64);
	k = (size_t)(p / 100.0 * (double)s->n);
	if ((double)k < p / 100.0 * (double)s->n)
		k++;                    /* nearest rank: the ceiling */
	if (k > 0)
		k--;
	if (k >= s->n)
		k = s->n - 1;
	if (p == 50 && s->n % 2 == 0)
		return ((double)s->v[s->n / 2 - 1] + (double)s->v[s->n / 2]) / 2.0;
	return (double)s->v[k];
}

static void sfree(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}

/*
 * Whether a repetition loop that started at t0 and has done r rounds goes
 * on: always up to min rounds, then while it has used less than its budget
 * of seconds (halved with --quick), never past max.  Fast operations so get
 * many samples and slow ones a few, in bounded time.
 */
static int again(int r, int min, int max, uint64_t t0, double budget)
{
	if (quick)
		budget /= 2;
	if (r < min)
		return 1;
	return r < max && (double)(now_ns() - t0) < budget * 1e9;
}

/* ---- files --------------------------------------------------------------- */

/* Reads a whole small file into buf (NUL-terminated); bytes, or -errno. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len + 1 < cap) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);

		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	return (ssize_t)len;
}

/* A key's number in "key value" (or "Key:  value kB") lines; -1 if missing. */
static long long key_value(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == ':' || p[kl] == '\t')) {
			p += kl;
			while (*p == ' ' || *p == ':' || *p == '\t')
				p++;
			return strtoll(p, NULL, 10);
		}
	}
	return -1;
}

/* ---- machvmfs through its files ------------------------------------------ */

static void mv_path(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void mv_path(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(buf, cap, "%s/", mv_root);

	va_start(ap, fmt);
	vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
}

/* The last_error text of task (0: tasks/last_error), for messages. */
static const char *mv_last_error(unsigned task)
{
	static char buf[512];
	char path[PATH_MAX];

	if (task)
		mv_path(path, sizeof path, "tasks/%u/last_error", task);
	else
		mv_path(path, sizeof path, "tasks/last_error");
	if (slurp(path, buf, sizeof buf) < 0)
		snprintf(buf, sizeof buf, "(unreadable)");
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

/*
 * Writes cmd to a ctl file and reads the result back on the same open file
 * (fs_layout.md, Results).  Dies with last_error on failure.
 */
static void mv_ctl(const char *path, unsigned task, const char *cmd, char *res, size_t cap)
{
	int fd = open(path, O_RDWR);
	size_t len = strlen(cmd);
	ssize_t r;

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	if (write(fd, cmd, len) != (ssize_t)len)
		die("'%.*s' > %s: %s (%s)", (int)strcspn(cmd, "\n"), cmd, path, strerror(errno),
		    mv_last_error(task));
	if (res) {
		r = read(fd, res, cap - 1);
		if (r < 0)
			die("reading the result of %s: %s", path, strerror(errno));
		res[r] = '\0';
	}
	close(fd);
}

static unsigned mv_create(void)
{
	char path[PATH_MAX], res[64];

	mv_path(path, sizeof path, "tasks/ctl");
	mv_ctl(path, 0, "create\n", res, sizeof res);
	return (unsigned)strtoul(res, NULL, 10);
}

static void mv_rmdir(unsigned task)
{
	char path[PATH_MAX];

	mv_path(path, sizeof path, "tasks/%u", task);
	if (rmdir(path) != 0)
		die("rmdir %s: %s", path, strerror(errno));
}

/* Runs the lines of text through the ctl file path, in writes of whole
 * lines; a failure says task's last_error (0: tasks/last_error). */
static void run_lines(const char *path, unsigned task, const char *text)
{
	size_t len = strlen(text), off = 0;
	int fd = open(path, O_WRONLY);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	while (off < len) {
		size_t n = len - off;
		ssize_t w;

		if (n > CHUNK) {
			n = CHUNK;
			while (n > 0 && text[off + n - 1] != '\n')
				n--;
			if (n == 0)
				die("a ctl line longer than %d bytes", CHUNK);
		}
		w = write(fd, text + off, n);
		if (w != (ssize_t)n)
			die("writing %zu bytes of commands to %s: %s (%s)", n, path,
			    w < 0 ? strerror(errno) : "short write", mv_last_error(task));
		off += n;
	}
	close(fd);
}

/* Runs the lines of text through tasks/<task>/ctl. */
static void mv_run_lines(unsigned task, const char *text)
{
	char path[PATH_MAX];

	mv_path(path, sizeof path, "tasks/%u/ctl", task);
	run_lines(path, task, text);
}

static long long mv_status(unsigned task, const char *key)
{
	char path[PATH_MAX], buf[1024];

	mv_path(path, sizeof path, "tasks/%u/status", task);
	if (slurp(path, buf, sizeof buf) < 0)
		die("reading %s: %s", path, strerror(errno));
	return key_value(buf, key);
}

/*
 * A task with n regions of one page each at BASE: n pages allocated, every
 * other page (the odd ones) protected read-only in one run of lines.
 */
static unsigned mv_task_with_regions(long n)
{
	unsigned t = mv_create();
	size_t cap = (size_t)n * 48 + 128, len = 0;
	char *text = malloc(cap);
	long long got;

	if (!text)
		die("out of memory");
	if (n > 0) {
		len += (size_t)snprintf(text + len, cap - len, "allocate 0x%llx %llu\n",
		                        BASE, (unsigned long long)n * page);
		for (long i = 1; i < n; i += 2)
			len += (size_t)snprintf(text + len, cap - len, "protect 0x%llx %zu r--\n",
			                        BASE + (unsigned long long)i * page, page);
		mv_run_lines(t, text);
	}
	free(text);
	got = mv_status(t, "regions");
	if (got != n)
		die("task %u has %lld regions, expected %ld", t, got, n);
	return t;
}

/* tasks/<t>/regions/<addr>/protection, on root. */
static void prot_path(char *buf, size_t cap, const char *root, unsigned t,
                      unsigned long long addr)
{
	snprintf(buf, cap, "%s/tasks/%u/regions/0x%016llx/protection", root, t, addr);
}

static void regions_dir(char *buf, size_t cap, const char *root, unsigned t)
{
	snprintf(buf, cap, "%s/tasks/%u/regions", root, t);
}

/* ---- the floor ------------------------------------------------------------- */

/* Floor task t gets n regions (its tasks/ctl takes "T N"). */
static void fl_set_regions(unsigned t, long n)
{
	char path[PATH_MAX], cmd[64];

	snprintf(path, sizeof path, "%s/tasks/ctl", fl_root);
	snprintf(cmd, sizeof cmd, "%u %ld\n", t, n);
	mv_ctl(path, 0, cmd, NULL, 0);
}

/* ---- CPU pinning ------------------------------------------------------------ */

/*
 * Puts this process and every thread of the two daemons on one CPU (cpu >=
 * 0), or lets them all run anywhere again (cpu < 0).  On one CPU a request
 * is two context switches, the same for both daemons; unpinned, where the
 * scheduler happens to wake a daemon thread (this CPU or the other, through
 * an interprocessor interrupt that is dear on a VM) changes a round trip by
 * more than the daemons' own work, and differently from run to run.  Threads
 * a daemon makes later inherit the setting.  Returns 0, or -1 (with a note)
 * if a daemon could not be pinned.
 */
static int pin(int cpu)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t pids[2] = { mv_pid, fl_pid };
	cpu_set_t set;
	int rc = 0;

	CPU_ZERO(&set);
	for (long c = 0; c < ncpu && c < CPU_SETSIZE; c++)
		if (cpu < 0 || c == cpu)
			CPU_SET((int)c, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		rc = -1;
	for (int i = 0; i < 2; i++) {
		char dir[64];
		DIR *d;
		struct dirent *e;

		if (pids[i] <= 0) {
			rc = -1;
			continue;
		}
		snprintf(dir, sizeof dir, "/proc/%d/task", (int)pids[i]);
		d = opendir(dir);
		if (!d) {
			rc = -1;
			continue;
		}
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.' &&
			    sched_setaffinity((pid_t)atoi(e->d_name), sizeof set, &set) != 0)
				rc = -1;
		closedir(d);
	}
	if (rc)
		note("could not %s the client and both daemons (--mvfs-pid/--floor-pid)",
		     cpu < 0 ? "unpin" : "pin");
	return rc;
}

/* ---- the operations ----------------------------------------------------- */

static int op_stat(const char *path, long i)
{
	struct stat st;

	(void)i;
	return stat(path, &st) == 0 ? 0 : -errno;
}

/* cat: open, read to EOF, close; -EIO if nothing came. */
static int op_read(const char *path, long i)
{
	char buf[4096];
	size_t total = 0;
	int fd = open(path, O_RDONLY);

	(void)i;
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);

		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		total += (size_t)r;
	}
	close(fd);
	return total ? 0 : -EIO;
}

/* echo VALUE >: open O_TRUNC, one write, close; rwx and rw- by turns, so
 * every write on machvmfs changes the region (and never merges it). */
static int op_write(const char *path, long i)
{
	const char *v = (i & 1) ? "rw-\n" : "rwx\n";
	int fd = open(path, O_WRONLY | O_TRUNC);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, v, 4);
	if (w != 4) {
		int e = w < 0 ? errno : EIO;
		close(fd);
		return -e;
	}
	return close(fd) == 0 ? 0 : -errno;
}

typedef int (*op_fn)(const char *path, long i);

/*
 * Times fn on both paths, side by side: rounds of per_round calls, the
 * floor first in even rounds and machvmfs first in odd ones, after a
 * warm-up.  Every call is one sample.
 */
static void time_pair(op_fn fn, const char *what, const char *mvp, const char *flp,
                      int rounds, int per_round, struct samples *mv, struct samples *fl)
{
	for (int i = 0; i < 20; i++)
		if (fn(mvp, i) != 0 || fn(flp, i) != 0)
			die("%s on %s or %s: %s", what, mvp, flp, strerror(errno));
	for (int r = 0; r < rounds; r++) {
		for (int side = 0; side < 2; side++) {
			int is_mv = (side == 0) == (r % 2 == 1);
			const char *p = is_mv ? mvp : flp;
			struct samples *s = is_mv ? mv : fl;

			for (long i = 0; i < per_round; i++) {
				uint64_t t0 = now_ns();
				int rc = fn(p, i);

				push(s, now_ns() - t0);
				if (rc != 0)
					die("%s %s: %s", what, p, strerror(-rc));
			}
		}
	}
}

/* ---- listing -------------------------------------------------------------- */

/*
 * Lists dir with getdents64 (what readdir does), with an fstatat of every
 * entry when with_stat (what ls -l does), and when cat is not NULL a cat
 * (open, read to EOF, close) of dir/<entry>/cat.  Returns the number of
 * entries besides . and ..; dies on an error.
 */
static long walk_dir(const char *dir, int with_stat, const char *cat)
{
	static char buf[LIST_BUF];
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	long count = 0;

	if (fd < 0)
		die("open %s: %s", dir, strerror(errno));
	for (;;) {
		ssize_t n = getdents64(fd, buf, sizeof buf);

		if (n < 0)
			die("getdents64 %s: %s", dir, strerror(errno));
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);

			off += d->d_reclen;
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			count++;
			if (with_stat) {
				struct stat st;

				if (fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
					die("stat %s/%s: %s", dir, d->d_name, strerror(errno));
			}
			if (cat) {
				char path[PATH_MAX];
				int rc;

				if (snprintf(path, sizeof path, "%s/%s/%s", dir, d->d_name, cat) >=
				    (int)sizeof path)
					die("%s/%s/%s: path too long", dir, d->d_name, cat);
				if ((rc = op_read(path, 0)) != 0)
					die("cat %s: %s", path, strerror(-rc));
			}
		}
	}
	close(fd);
	return count;
}

static long list_dir(const char *dir, int with_stat)
{
	return walk_dir(dir, with_stat, NULL);
}

/* Runs argv (stdout to /dev/null), returns the ns it took; dies on failure. */
static uint64_t run_cmd(char *const argv[])
{
	uint64_t t0 = now_ns();
	pid_t pid = fork();
	int status;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		setenv("LC_ALL", "C", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("%s %s ... failed (status 0x%x)", argv[0], argv[1] ? argv[1] : "", status);
	return now_ns() - t0;
}

/* ---- Linux: a process with n mappings -------------------------------------- */


/* len bytes with an unmapped page on each side, so they never merge. */
static char *map_isolated(size_t len)
{
	char *r = mmap(NULL, len + 2 * page, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (r == MAP_FAILED)
		die("mmap of %zu bytes: %s", len, strerror(errno));
	if (munmap(r, page) != 0 || munmap(r + page + len, page) != 0)
		die("munmap: %s", strerror(errno));
	madvise(r + page, len, MADV_NOHUGEPAGE);
	return r + page;
}

/* n one-page VMAs in this process, as the machvmfs task has regions. */
static char *lx_make_vmas(long n)
{
	long before = count_lines("/proc/self/maps"), made;
	char *map = map_isolated((size_t)n * page);

	for (long i = 1; i < n; i += 2)
		if (mprotect(map + (size_t)i * page, page, PROT_READ) != 0)
			die("mprotect while making %ld VMAs: %s", n, strerror(errno));
	made = count_lines("/proc/self/maps") - before;
	if (made != n)
		note("linux N=%ld: /proc/self/maps grew by %ld lines, expected %ld", n, made, n);
	return map;
}

/* Reads a whole file with 1 MiB reads: ns, and *bytes, *lines. */
static uint64_t read_whole(const char *path, size_t *bytes, long *lines)
{
	static char buf[1 << 20];
	uint64_t t0 = now_ns();
	int fd = open(path, O_RDONLY);
	size_t total = 0;
	ssize_t r;

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	while ((r = read(fd, buf, sizeof buf)) > 0)
		total += (size_t)r;
	if (r < 0)
		die("read %s: %s", path, strerror(errno));
	close(fd);
	t0 = now_ns() - t0;
	if (lines) {
		/* Counted after the clock stops; only the last buffer is left,
		 * so count by reading again outside the timing. */
		*lines = count_lines(path);
	}
	*bytes = total;
	return t0;
}

/* fork(2) in this process: *parent_ns until fork returns here, the whole
 * fork + _exit + waitpid as the return value. */
static uint64_t lx_fork(uint64_t *parent_ns)
{
	uint64_t t0 = now_ns(), t1;
	pid_t pid = fork();
	int status;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(0);
	t1 = now_ns();
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid: %s", strerror(errno));
	*parent_ns = t1 - t0;
	return now_ns() - t0;
}

/* The child of a fork writes one byte into each of k pages of touch: ns per page. */
static double lx_cow(char *touch, long k)
{
	int fds[2], status;
	uint64_t ns = 0;
	pid_t pid;

	pid = fork_piped(fds);
	if (pid == 0) {
		volatile char *p = touch;
		uint64_t t0 = now_ns();

		for (long i = 0; i < k; i++)
			p[(size_t)i * page] = 2;
		ns = now_ns() - t0;
		_exit(write(fds[1], &ns, sizeof ns) == (ssize_t)sizeof ns ? 0 : 1);
	}
	if (read(fds[0], &ns, sizeof ns) != (ssize_t)sizeof ns)
		die("no timing from the copy-on-write child");
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die("copy-on-write child failed");
	return (double)ns / (double)k;
}

/* ---- census: requests per operation from the daemons' -d logs -------------- */

#define MAX_OPCODES 64

struct census {
	char name[MAX_OPCODES][24];
	long count[MAX_OPCODES];
	int n;
	long total;     /* without FORGET / BATCH_FORGET / INTERRUPT */
};

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Counts the "opcode: NAME (NUM)" lines of log after offset from. */
static void census_read(const char *log, off_t from, struct census *c)
{
	FILE *f = fopen(log, "r");
	char line[1024];

	memset(c, 0, sizeof *c);
	if (!f)
		die("open %s: %s", log, strerror(errno));
	if (fseeko(f, from, SEEK_SET) != 0)
		die("seek %s: %s", log, strerror(errno));
	while (fgets(line, sizeof line, f)) {
		char *p = strstr(line, "opcode: "), name[24];
		int num = -1, i;

		if (!p)
			continue;
		if (sscanf(p, "opcode: %23s (%d)", name, &num) != 2)
			continue;
		if (strcmp(name, "???") == 0)
			snprintf(name, sizeof name, num == 52 ? "STATX" : "OP%d", num);
		if (strcmp(name, "FORGET") == 0 || strcmp(name, "BATCH_FORGET") == 0 ||
		    strcmp(name, "INTERRUPT") == 0)
			continue;
		for (i = 0; i < c->n; i++)
			if (strcmp(c->name[i], name) == 0)
				break;
		if (i == c->n) {
			if (c->n == MAX_OPCODES)
				continue;
			snprintf(c->name[c->n++], sizeof c->name[0], "%s", name);
		}
		c->count[i]++;
		c->total++;
	}
	fclose(f);
}

static void census_text(const struct census *c, double per, char *buf, size_t cap)
{
	size_t len = 0;

	snprintf(buf, cap, "none");
	for (int i = 0; i < c->n && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s %.3g", i ? ", " : "",
		                        c->name[i], (double)c->count[i] / per);
}

/* ---- the phases -------------------------------------------------------------- */

struct census_ctx {
	const char *mv_log, *fl_log;
};

typedef void (*census_fn)(const char *root, unsigned task, int reps);

static unsigned census_mv_task;

static void cs_stat(const char *root, unsigned t, int reps)
{
	char p[PATH_MAX];

	prot_path(p, sizeof p, root, t, BASE + 500 * page);
	for (int i = 0; i < reps; i++)
		if (op_stat(p, i) != 0)
			die("stat %s: %s", p, strerror(errno));
}

static void cs_read(const char *root, unsigned t, int reps)
{
	char p[PATH_MAX];

	prot_path(p, sizeof p, root, t, BASE + 500 * page);
	for (int i = 0; i < reps; i++)
		if (op_read(p, i) != 0)
			die("read %s failed", p);
}

static void cs_write(const char *root, unsigned t, int reps)
{
	char p[PATH_MAX];

	prot_path(p, sizeof p, root, t, BASE + 500 * page);
	for (int i = 0; i < reps; i++)
		if (op_write(p, i) != 0)
			die("write %s failed", p);
}

static void cs_ls(const char *root, unsigned t, int reps)
{
	char d[PATH_MAX];

	regions_dir(d, sizeof d, root, t);
	for (int i = 0; i < reps; i++)
		list_dir(d, 0);
}

static void cs_lsl(const char *root, unsigned t, int reps)
{
	char d[PATH_MAX];

	regions_dir(d, sizeof d, root, t);
	for (int i = 0; i < reps; i++)
		list_dir(d, 1);
}

static void cs_real_lsl(const char *root, unsigned t, int reps)
{
	char d[PATH_MAX];
	char *argv[] = { "ls", "-l", d, NULL };

	regions_dir(d, sizeof d, root, t);
	for (int i = 0; i < reps; i++)
		run_cmd(argv);
}

static void cs_echo(const char *root, unsigned t, int reps)
{
	char p[PATH_MAX], script[256], n[16];

	prot_path(p, sizeof p, root, t, BASE + 500 * page);
	snprintf(n, sizeof n, "%d", (reps + 1) / 2);
	snprintf(script, sizeof script,
	         "set -e; for ((i=0;i<$2;i++)); do echo rwx > \"$1\"; echo rw- > \"$1\"; done");
	char *argv[] = { "bash", "-c", script, "bash", p, n, NULL };
	run_cmd(argv);
}

static void phase_census(const struct census_ctx *cx)
{
	static const struct {
		const char *name;
		census_fn fn;
		int reps;
		double per;     /* divide the counts by this: operations done */
	} ops[] = {
		{ "stat", cs_stat, 20, 20 },
		{ "open+read+close (cat)", cs_read, 20, 20 },
		{ "open+O_TRUNC+write+close (echo)", cs_write, 20, 20 },
		{ "bash echo >", cs_echo, 20, 20 },
		{ "ls regions/ (per listing of 1000)", cs_ls, 4, 4 },
		{ "ls -l regions/ (per entry)", cs_lsl, 2, 2000 },
		{ "real ls -l regions/ (per entry)", cs_real_lsl, 1, 1000 },
	};
	const long n = 1000;
	int differ = 0;

	census_mv_task = mv_task_with_regions(n);
	fl_set_regions(1, n);
	usleep(200000);         /* let the set-up's last requests reach the logs */
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		struct census cm, cf;
		char tm[256], tf[256], op[112];
		off_t m0, f0;

		/* Once first, not counted: the steady state is what is compared
		 * (a first access also looks up what a cache then holds). */
		ops[i].fn(mv_root, census_mv_task, 1);
		ops[i].fn(fl_root, 1, 1);
		usleep(200000);
		m0 = file_size(cx->mv_log);
		f0 = file_size(cx->fl_log);
		ops[i].fn(mv_root, census_mv_task, ops[i].reps);
		ops[i].fn(fl_root, 1, ops[i].reps);
		usleep(200000);
		census_read(cx->mv_log, m0, &cm);
		census_read(cx->fl_log, f0, &cf);
		census_text(&cm, ops[i].per, tm, sizeof tm);
		census_text(&cf, ops[i].per, tf, sizeof tf);
		snprintf(op, sizeof op, "requests per %s", ops[i].name);
		struct row *r = add_cmp("requests", op, n, -1, "req",
		                        (double)cm.total / ops[i].per,
		                        (double)cf.total / ops[i].per, "floor", 0);
		/* Equal within 0.1 request or 5 %: a stray FORGET-time lookup or
		 * attribute refresh is not a different configuration. */
		double big = r->ours > r->ref ? r->ours : r->ref;

		r->v = fabs(r->ours - r->ref) <= (big > 2 ? 0.05 * big : 0.1) ? V_SAME : V_DIFF;
		snprintf(r->target, sizeof r->target, "= floor");
		note("requests per %s: machvmfs %s | floor %s", ops[i].name, tm, tf);
		if (r->v == V_DIFF)
			differ = 1;
	}
	/* machvmfs only: what the bulk files and fork cost in requests. */
	{
		char p[PATH_MAX], res[64], cmd[64], tm[256];
		struct census c;
		off_t m0 = file_size(cx->mv_log);
		size_t bytes;
		unsigned child;

		mv_path(p, sizeof p, "tasks/%u/maps", census_mv_task);
		read_whole(p, &bytes, NULL);
		usleep(200000);
		census_read(cx->mv_log, m0, &c);
		census_text(&c, 1, tm, sizeof tm);
		add("requests", "requests per read of tasks/<id>/maps (1 MiB reads; machvmfs only)",
		    n, -1, "req", (double)c.total, NAN, NULL, NAN, 0, 0);
		note("requests per maps read (%zu bytes): machvmfs %s", bytes, tm);

		m0 = file_size(cx->mv_log);
		mv_path(p, sizeof p, "tasks/ctl");
		snprintf(cmd, sizeof cmd, "fork %u\n", census_mv_task);
		mv_ctl(p, 0, cmd, res, sizeof res);
		usleep(200000);
		census_read(cx->mv_log, m0, &c);
		census_text(&c, 1, tm, sizeof tm);
		add("requests", "requests per fork through tasks/ctl (machvmfs only)", n, -1, "req",
		    (double)c.total, NAN, NULL, NAN, 0, 0);
		note("requests per fork through tasks/ctl: machvmfs %s", tm);
		child = (unsigned)strtoul(res, NULL, 10);
		mv_rmdir(child);
	}
	mv_rmdir(census_mv_task);
	if (differ)
		note("the floor does NOT send the same requests as machvmfs for every operation"
		     " (rows marked DIFFERS): its options do not mirror machvmfs's, so the"
		     " ratios against it are not like for like");
}

/* -- main phase pieces -- */

static void ops_rows(long n, unsigned mvt, int rounds, int per_round, int unpinned)
{
	static const struct { const char *name; op_fn fn; } ops[] = {
		{ "stat protection", op_stat },
		{ "open+read+close protection (cat)", op_read },
		{ "open+O_TRUNC+write+close protection (echo; vm_protect)", op_write },
	};
	char mvp[PATH_MAX], flp[PATH_MAX], buf[64];
	/* An even (read-write) region in the middle. */
	unsigned long long addr = BASE + (unsigned long long)((n / 2) & ~1L) * page;

	prot_path(mvp, sizeof mvp, mv_root, mvt, addr);
	prot_path(flp, sizeof flp, fl_root, 1, addr);

	/* Coherence: a write shows in the next read. */
	if (op_write(mvp, 0) != 0 || slurp(mvp, buf, sizeof buf) < 0 || strcmp(buf, "rwx\n"))
		note("N=%ld: after writing rwx, %s reads '%.*s'", n, mvp, (int)strcspn(buf, "\n"), buf);
	if (op_write(mvp, 1) != 0 || slurp(mvp, buf, sizeof buf) < 0 || strcmp(buf, "rw-\n"))
		note("N=%ld: after writing rw-, %s reads '%.*s'", n, mvp, (int)strcspn(buf, "\n"), buf);

	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		struct samples sm = { 0 }, sf = { 0 };
		char op[112];

		time_pair(ops[i].fn, ops[i].name, mvp, flp, rounds, per_round, &sm, &sf);
		if (unpinned) {
			snprintf(op, sizeof op, "%s, unpinned (context)", ops[i].name);
			add_cmp("ops", op, n, -1, "us", pct(&sm, 50) / 1e3, pct(&sf, 50) / 1e3,
			        "floor", 0);
		} else {
			add_cmp("ops", ops[i].name, n, -1, "us", pct(&sm, 50) / 1e3,
			        pct(&sf, 50) / 1e3, "floor", OP_TARGET);
			snprintf(op, sizeof op, "%s, p99", ops[i].name);
			add_cmp("ops", op, n, -1, "us", pct(&sm, 99) / 1e3, pct(&sf, 99) / 1e3,
			        "floor", 0);
		}
		sfree(&sm);
		sfree(&sf);
	}
	if (mv_status(mvt, "regions") != n)
		note("N=%ld: the region count changed during the writes (%lld)", n,
		     mv_status(mvt, "regions"));
}

static void list_rows(long n, unsigned mvt, int reps, int real_ls)
{
	char mvd[PATH_MAX], fld[PATH_MAX];

	regions_dir(mvd, sizeof mvd, mv_root, mvt);
	regions_dir(fld, sizeof fld, fl_root, 1);
	for (int with_stat = 0; with_stat < 2; with_stat++) {
		struct samples sm = { 0 }, sf = { 0 };
		const char *name = with_stat ? "ls -l regions/ (getdents64 + fstatat each)"
		                             : "ls regions/ (getdents64)";
		uint64_t start;

		list_dir(mvd, with_stat);   /* warm-up */
		list_dir(fld, with_stat);
		start = now_ns();
		for (int r = 0; again(r, reps, 61, start, 2.0); r++) {
			for (int side = 0; side < 2; side++) {
				int is_mv = (side == 0) == (r % 2 == 1);
				uint64_t t0 = now_ns();
				long got = list_dir(is_mv ? mvd : fld, with_stat);

				push(is_mv ? &sm : &sf, now_ns() - t0);
				if (got != n)
					die("%s of %s: %ld entries, expected %ld", name,
					    is_mv ? mvd : fld, got, n);
			}
		}
		add_cmp("ops", name, n, -1, "ms", pct(&sm, 50) / 1e6, pct(&sf, 50) / 1e6, "floor",
		        with_stat && n >= 65000 ? LSL_BIG_TARGET : OP_TARGET);
		sfree(&sm);
		sfree(&sf);
	}
	if (real_ls > 0) {
		char *am[] = { "ls", "-l", mvd, NULL }, *af[] = { "ls", "-l", fld, NULL };
		struct samples sm = { 0 }, sf = { 0 };
		char op[112];

		for (int r = 0; r < real_ls; r++) {
			if (r % 2) {
				push(&sm, run_cmd(am));
				push(&sf, run_cmd(af));
			} else {
				push(&sf, run_cmd(af));
				push(&sm, run_cmd(am));
			}
		}
		snprintf(op, sizeof op, "real ls -l regions/ (LC_ALL=C, median of %d)", real_ls);
		add_cmp("ops", op, n, -1, "ms", pct(&sm, 50) / 1e6, pct(&sf, 50) / 1e6, "floor", 0);
		sfree(&sm);
		sfree(&sf);
	}
}

/* bash loops of `iters` cat (a process each) and `iters` echo > (builtin). */
static void shell_rows(long n, unsigned mvt, int iters, int reps)
{
	static const char cat_loop[] =
		"set -e; for ((i=0;i<$2;i++)); do cat \"$1\" >/dev/null; done";
	static const char echo_loop[] =
		"set -e; for ((i=0;i<$2;i+=2)); do echo rwx > \"$1\"; echo rw- > \"$1\"; done";
	char mvp[PATH_MAX], flp[PATH_MAX], count[16];
	unsigned long long addr = BASE + (unsigned long long)((n / 2) & ~1L) * page;

	prot_path(mvp, sizeof mvp, mv_root, mvt, addr);
	prot_path(flp, sizeof flp, fl_root, 1, addr);
	snprintf(count, sizeof count, "%d", iters);
	for (int k = 0; k < 2; k++) {
		const char *script = k ? echo_loop : cat_loop;
		char *am[] = { "bash", "-c", (char *)script, "bash", mvp, count, NULL };
		char *af[] = { "bash", "-c", (char *)script, "bash", flp, count, NULL };
		struct samples sm = { 0 }, sf = { 0 };
		char op[112];

		for (int r = 0; r < (k ? 3 * reps : reps); r++) {   /* echo loops are short */
			if (r % 2) {
				push(&sm, run_cmd(am));
				push(&sf, run_cmd(af));
			} else {
				push(&sf, run_cmd(af));
				push(&sm, run_cmd(am));
			}
		}
		snprintf(op, sizeof op, "bash loop of %d `%s` (per iteration)", iters,
		         k ? "echo rwx|rw- > protection" : "cat protection");
		add_cmp("ops", op, n, -1, "us", pct(&sm, 50) / 1e3 / iters,
		        pct(&sf, 50) / 1e3 / iters, "floor", OP_TARGET);
		sfree(&sm);
		sfree(&sf);
	}
}

/* The page in the middle of task t's n regions (an odd, read-only one):
 * made read-write (it merges with both neighbours) and read-only again (the
 * three regions are back), in one write to ctl. */
static void mv_change_one(unsigned t, long n)
{
	char cmd[160];
	unsigned long long a = BASE + (unsigned long long)(n / 2 | 1) * page;

	snprintf(cmd, sizeof cmd, "protect 0x%llx %zu rw-\nprotect 0x%llx %zu r--\n", a, page,
	         a, page);
	mv_run_lines(t, cmd);
}

/* The same in this process's n VMAs at map (lx_make_vmas). */
static void lx_change_one(char *map, long n)
{
	char *a = map + (size_t)(n / 2 | 1) * page;

	if (mprotect(a, page, PROT_READ | PROT_WRITE) != 0 || mprotect(a, page, PROT_READ) != 0)
		die("mprotect: %s", strerror(errno));
}

/* tasks/<id>/maps against /proc/self/maps with n mappings (lx made at
 * lx): unchanged, and right after one region changed. */
static void maps_rows(long n, unsigned mvt, char *lx, int reps)
{
	struct samples sm = { 0 }, sl = { 0 };
	char p[PATH_MAX];
	size_t bm = 0, bl = 0;
	long lm = 0, ll = 0, own = count_lines("/proc/self/maps") - n;
	uint64_t start;

	mv_path(p, sizeof p, "tasks/%u/maps", mvt);
	read_whole(p, &bm, &lm);
	read_whole("/proc/self/maps", &bl, &ll);
	if (lm != n)
		die("%s has %ld lines, expected %ld", p, lm, n);
	start = now_ns();
	for (int r = 0; again(r, reps, 101, start, 1.0); r++) {
		if (r % 2) {
			push(&sm, read_whole(p, &bm, NULL));
			push(&sl, read_whole("/proc/self/maps", &bl, NULL));
		} else {
			push(&sl, read_whole("/proc/self/maps", &bl, NULL));
			push(&sm, read_whole(p, &bm, NULL));
		}
	}
	add_cmp("maps", "read tasks/<id>/maps vs /proc/self/maps (open, 1 MiB reads, close)",
	        n, -1, "ms", pct(&sm, 50) / 1e6, pct(&sl, 50) / 1e6, "linux", MAPS_TARGET);
	note("maps N=%ld: machvmfs %zu bytes in %ld lines; /proc/self/maps %zu bytes"
	     " (%ld lines of them the process's own)", n, bm, lm, bl, own);
	sfree(&sm);
	sfree(&sl);

	/* The same right after one region changed: a page in the middle
	 * protected and back (one write to ctl, not timed), on both sides. */
	start = now_ns();
	for (int r = 0; again(r, reps, 101, start, 1.0); r++) {
		for (int side = 0; side < 2; side++) {
			if ((side == 0) == (r % 2 == 1)) {
				mv_change_one(mvt, n);
				push(&sm, read_whole(p, &bm, NULL));
			} else {
				lx_change_one(lx, n);
				push(&sl, read_whole("/proc/self/maps", &bl, NULL));
			}
		}
	}
	add_cmp("maps", "  the same right after one region changed (protect and back)",
	        n, -1, "ms", pct(&sm, 50) / 1e6, pct(&sl, 50) / 1e6, "linux", MAPS_CHANGED_TARGET);
	read_whole(p, &bm, &lm);
	if (lm != n)
		die("%s has %ld lines after the changes, expected %ld", p, lm, n);
	sfree(&sm);
	sfree(&sl);
}

/*
 * `ls DIR/` and then a cat (open, read to EOF, close) of DIR/<entry>/FILE
 * for every entry: what a user looking through objects/ does.  Returns the
 * ns it took; *count is the number of entries.
 */
static uint64_t list_and_cat(const char *dir, const char *file, long *count)
{
	uint64_t t0 = now_ns();

	*count = walk_dir(dir, 0, file);
	return now_ns() - t0;
}

/*
 * The looking-inside files of a task of n one-page regions (alternating
 * rw- and rwx), each with one written page (so one object per region, and
 * a pagemap line per region):
 *
 *   objects: `ls objects/` and a cat of every objects/<id>/chain, against
 *            the floor's `ls regions/` and a cat of every
 *            regions/<r>/protection (the same requests: a listing, then
 *            per entry two lookups, open, read, release);
 *   pagemap: a whole read of tasks/<id>/pagemap, against /proc/self/smaps
 *            of this process with n one-page VMAs (written, then every
 *            other one made read-only), each page written (the
 *            Linux text that says, per mapping, which pages are there).
 *
 * Run before the size's other rows make objects of their own, so objects/
 * holds this task's objects only.
 */
#define INSIDE_OBJECTS 1
#define INSIDE_PAGEMAP 2

static void inside_rows(long n, int reps, int which)   /* reps: timed objects passes */
{
	struct samples om = { 0 }, of = { 0 }, pm = { 0 }, pl = { 0 };
	char objs[PATH_MAX], flr[PATH_MAX], pmap[PATH_MAX], mem[PATH_MAX];
	unsigned t = mv_create();
	size_t cap = (size_t)n * 48 + 128, len = 0, bm = 0, bl = 0;
	char *text = malloc(cap), *lx;
	long cm = 0, cf = 0, ln;
	int fd;

	/* Every other page rwx rather than r--: N regions, every one writable. */
	if (!text)
		die("out of memory");
	len += (size_t)snprintf(text + len, cap - len, "allocate 0x%llx %llu\n",
	                        BASE, (unsigned long long)n * page);
	for (long i = 1; i < n; i += 2)
		len += (size_t)snprintf(text + len, cap - len, "protect 0x%llx %zu rwx\n",
		                        BASE + (unsigned long long)i * page, page);
	mv_run_lines(t, text);
	free(text);
	if (mv_status(t, "regions") != n)
		die("task %u has %lld regions, expected %ld", t, mv_status(t, "regions"), n);
	mv_path(mem, sizeof mem, "tasks/%u/mem", t);
	fd = open(mem, O_WRONLY);
	if (fd < 0)
		die("open %s: %s", mem, strerror(errno));
	for (long i = 0; i < n; i++)
		if (pwrite(fd, "x", 1, (off_t)(BASE + (unsigned long long)i * page)) != 1)
			die("writing a page of %s: %s", mem, strerror(errno));
	close(fd);
	fl_set_regions(1, n);
	snprintf(objs, sizeof objs, "%s/objects", mv_root);
	regions_dir(flr, sizeof flr, fl_root, 1);
	mv_path(pmap, sizeof pmap, "tasks/%u/pagemap", t);

	if (!(which & INSIDE_OBJECTS))
		goto pagemap;
	/* A first pass each, untimed: the kernel then holds the names, as it
	 * would after a user's first look. */
	list_and_cat(objs, "chain", &cm);
	list_and_cat(flr, "protection", &cf);
	if (cm < n || cf != n)
		die("objects/ lists %ld objects, the floor's regions/ %ld entries; expected %ld",
		    cm, cf, n);
	for (int r = 0; r < reps; r++) {
		if (r % 2) {
			push(&om, list_and_cat(objs, "chain", &cm));
			push(&of, list_and_cat(flr, "protection", &cf));
		} else {
			push(&of, list_and_cat(flr, "protection", &cf));
			push(&om, list_and_cat(objs, "chain", &cm));
		}
	}
	add_cmp("inside", "ls objects/ + cat of every objects/<id>/chain vs the same on the floor",
	        n, -1, "ms", pct(&om, 50) / 1e6, pct(&of, 50) / 1e6, "floor", INSIDE_TARGET);
	note("objects N=%ld: %ld objects listed and read, the floor %ld files", n, cm, cf);

pagemap:
	if (!(which & INSIDE_PAGEMAP))
		goto out;
	ln = fit_map_count(n + 2);
	if (ln != n + 2)
		die("no room for %ld VMAs (vm.max_map_count)", n);
	/* Written first, then every other page made read-only: N VMAs. */
	lx = map_isolated((size_t)n * page);
	for (long i = 0; i < n; i++)
		lx[(size_t)i * page] = 'x';
	for (long i = 1; i < n; i += 2)
		if (mprotect(lx + (size_t)i * page, page, PROT_READ) != 0)
			die("mprotect while making %ld VMAs: %s", n, strerror(errno));
	read_whole(pmap, &bm, NULL);
	read_whole("/proc/self/smaps", &bl, NULL);
	for (int r = 0; r < 7; r++) {
		if (r % 2) {
			push(&pm, read_whole(pmap, &bm, NULL));
			push(&pl, read_whole("/proc/self/smaps", &bl, NULL));
		} else {
			push(&pl, read_whole("/proc/self/smaps", &bl, NULL));
			push(&pm, read_whole(pmap, &bm, NULL));
		}
	}
	munmap(lx, (size_t)n * page);
	restore_map_count();
	add_cmp("inside", "read tasks/<id>/pagemap vs /proc/self/smaps (open, 1 MiB reads, close)",
	        n, -1, "ms", pct(&pm, 50) / 1e6, pct(&pl, 50) / 1e6, "linux", PAGEMAP_TARGET);
	note("pagemap N=%ld: machvmfs %zu bytes (a line per written page);"
	     " /proc/self/smaps %zu bytes", n, bm, bl);
out:
	sfree(&om);
	sfree(&of);
	sfree(&pm);
	sfree(&pl);
	mv_rmdir(t);
}

static const long touch_steps[] = { 0, 1000, 10000 };
#define NSTEPS (sizeof touch_steps / sizeof touch_steps[0])

struct fork_fig {
	double fork[NSTEPS], cycle[NSTEPS], cow[NSTEPS], rewrite[NSTEPS];
};

/* Linux: fork with n VMAs (already made) and M touched pages of a separate
 * mapping; first write per page in the child. */
static void lx_fork_side(int reps, struct fork_fig *f)
{
	char *touch = map_isolated(TOUCH_PAGES * page);
	long touched = 0;

	for (size_t s = 0; s < NSTEPS; s++) {
		struct samples sp = { 0 }, sc = { 0 }, sw = { 0 };
		long m = touch_steps[s];
		uint64_t start;

		for (; touched < m; touched++)
			touch[(size_t)touched * page] = 1;
		start = now_ns();
		for (int r = -2; r < 0 || again(r, reps, 61, start, 0.8); r++) {  /* two warm-ups */
			uint64_t parent;

			if (r < 0) {
				lx_fork(&parent);
				continue;
			}

			push(&sc, lx_fork(&parent));
			push(&sp, parent);
		}
		f->fork[s] = pct(&sp, 50);
		f->cycle[s] = pct(&sc, 50);
		f->cow[s] = NAN;
		f->rewrite[s] = NAN;
		if (m > 0) {
			long k = m < 1000 ? m : 1000;

			for (int r = 0; r < 5; r++)
				push(&sw, (uint64_t)lx_cow(touch, k));
			f->cow[s] = pct(&sw, 50);
		}
		sfree(&sp);
		sfree(&sc);
		sfree(&sw);
	}
	munmap(touch, TOUCH_PAGES * page);
}

/* Gives task t (n regions) a separate touch region with its first m pages
 * written through mem. */
static void mv_touch(long n, unsigned t, long m)
{
	unsigned long long touch = BASE + (unsigned long long)n * page + (1u << 20);
	char mem[PATH_MAX], cmd[96];
	size_t len = (size_t)m * page;
	char *ones;
	int fd;

	snprintf(cmd, sizeof cmd, "allocate 0x%llx %llu\n", touch,
	         (unsigned long long)TOUCH_PAGES * page);
	mv_run_lines(t, cmd);
	if (m == 0)
		return;
	mv_path(mem, sizeof mem, "tasks/%u/mem", t);
	fd = open(mem, O_RDWR);
	ones = malloc(len);
	if (fd < 0 || !ones)
		die("open %s: %s", mem, strerror(errno));
	memset(ones, 1, len);
	if (pwrite(fd, ones, len, (off_t)touch) != (ssize_t)len)
		die("touching pages through %s: %s (%s)", mem, strerror(errno), mv_last_error(t));
	free(ones);
	close(fd);
	if (mv_status(t, "resident_pages") != m)
		note("N=%ld: task %u has %lld resident pages after touching %ld", n, t,
		     mv_status(t, "resident_pages"), m);
}

/* fork through tasks/ctl: the child's id; *ns the time it took. */
static unsigned mv_fork(unsigned parent, uint64_t *ns)
{
	char ctl[PATH_MAX], cmd[64], res[64];
	uint64_t t0 = now_ns();
	unsigned child;

	mv_path(ctl, sizeof ctl, "tasks/ctl");
	snprintf(cmd, sizeof cmd, "fork %u\n", parent);
	mv_ctl(ctl, 0, cmd, res, sizeof res);
	*ns = now_ns() - t0;
	child = (unsigned)strtoul(res, NULL, 10);
	if (child == 0)
		die("fork %u returned '%s'", parent, res);
	return child;
}

/*
 * machvmfs: one parent per M (t itself for M = 0, two more tasks with the
 * same n regions), each with a touch region whose first M pages are
 * written and its regions/ listed once, forked in turn so that load from
 * outside falls on every M alike (as engine_bench does).  After some forks the child's first writes, one
 * byte into each of k touched pages through mem, and the same writes again.
 */
static void mv_fork_side(long n, unsigned t, int reps, struct fork_fig *f)
{
	unsigned long long touch = BASE + (unsigned long long)n * page + (1u << 20);
	struct samples sp[NSTEPS] = { { 0 } }, sc[NSTEPS] = { { 0 } };
	struct samples sw[NSTEPS] = { { 0 } }, sr[NSTEPS] = { { 0 } };
	unsigned parent[NSTEPS];

	for (size_t s = 0; s < NSTEPS; s++) {
		uint64_t ns;

		char d[PATH_MAX];

		parent[s] = s == 0 ? t : mv_task_with_regions(n);
		mv_touch(n, parent[s], touch_steps[s]);
		/* Every parent listed once, as a user would have: what the
		 * kernel holds of a task can change what a fork costs. */
		regions_dir(d, sizeof d, mv_root, parent[s]);
		list_dir(d, 1);
		for (int w = 0; w < 2; w++)     /* warm-up */
			mv_rmdir(mv_fork(parent[s], &ns));
	}
	uint64_t start = now_ns();

	for (int r = 0; again(r, reps, 61, start, 2.4); r++) {
		for (size_t j = 0; j < NSTEPS; j++) {
			size_t s = (j + (size_t)r) % NSTEPS;    /* each M in each place in turn */
			long m = touch_steps[s];
			uint64_t fork_ns, t2;
			unsigned child = mv_fork(parent[s], &fork_ns);

			if (m > 0 && r < 5) {
				long k = m < 200 ? m : 200;
				char cmem[PATH_MAX];
				int cfd;
				uint64_t w0, w1, w2;

				mv_path(cmem, sizeof cmem, "tasks/%u/mem", child);
				cfd = open(cmem, O_RDWR);
				if (cfd < 0)
					die("open %s: %s", cmem, strerror(errno));
				w0 = now_ns();
				for (long i = 0; i < k; i++)
					if (pwrite(cfd, "\2", 1, (off_t)(touch + (unsigned long long)i * page)) != 1)
						die("first write through %s: %s", cmem, strerror(errno));
				w1 = now_ns();
				for (long i = 0; i < k; i++)
					if (pwrite(cfd, "\3", 1, (off_t)(touch + (unsigned long long)i * page)) != 1)
						die("second write through %s: %s", cmem, strerror(errno));
				w2 = now_ns();
				close(cfd);
				push(&sw[s], (w1 - w0) / (uint64_t)k);
				push(&sr[s], (w2 - w1) / (uint64_t)k);
			}
			t2 = now_ns();
			mv_rmdir(child);
			push(&sp[s], fork_ns);
			push(&sc[s], fork_ns + (now_ns() - t2));
		}
	}
	for (size_t s = 0; s < NSTEPS; s++) {
		f->fork[s] = pct(&sp[s], 50);
		f->cycle[s] = pct(&sc[s], 50);
		f->cow[s] = pct(&sw[s], 50);
		f->rewrite[s] = pct(&sr[s], 50);
		sfree(&sp[s]);
		sfree(&sc[s]);
		sfree(&sw[s]);
		sfree(&sr[s]);
		if (s > 0)
			mv_rmdir(parent[s]);
	}
}

static void fork_rows(long n, const struct fork_fig *mv, const struct fork_fig *lx)
{
	double worst = mv->fork[0];

	for (size_t s = 0; s < NSTEPS; s++) {
		long m = touch_steps[s];

		add_cmp("fork", "fork: `fork <id>` > tasks/ctl (+read id) vs fork(2) in the parent",
		        n, m, "us", mv->fork[s] / 1e3, lx->fork[s] / 1e3, "linux", FORK_TARGET);
		add_cmp("fork", "fork+rmdir vs fork+_exit+waitpid", n, m, "us", mv->cycle[s] / 1e3,
		        lx->cycle[s] / 1e3, "linux", 0);
		if (mv->fork[s] > worst)
			worst = mv->fork[s];
	}
	add("fork", "fork growth with M: slowest M vs M=0 (machvmfs)", n,
	    touch_steps[NSTEPS - 1], "us", worst / 1e3, mv->fork[0] / 1e3, "M=0",
	    worst / mv->fork[0], FLAT_FACTOR, 0);
	for (size_t s = 0; s < NSTEPS; s++) {
		if (touch_steps[s] == 0)
			continue;
		add_cmp("fork", "first write after fork, per page (1-byte pwrite to mem vs store)",
		        n, touch_steps[s], "us", mv->cow[s] / 1e3, lx->cow[s] / 1e3, "linux", 0);
		add_cmp("fork", "  same pwrite again (no copy left), per page", n, touch_steps[s],
		        "us", mv->rewrite[s] / 1e3, NAN, NULL, 0);
	}
}

/* -- concurrency -- */

/* Loops op_write on path from start to end; the number of completed writes. */
static long write_loop(const char *path, uint64_t start, uint64_t end)
{
	long done = 0;

	sleep_until(start);
	while (now_ns() < end) {
		if (op_write(path, done) != 0)
			die("write %s: %s", path, strerror(errno));
		done++;
	}
	return done;
}

/* k processes, each writing its own paths[i] for dur ns: writes per second. */
static double clients(char paths[][PATH_MAX], int k, uint64_t dur)
{
	uint64_t start = now_ns() + 50000000ULL, end = start + dur;
	int fds[2];
	pid_t pids[8];
	long total = 0;

	if (pipe(fds) != 0)
		die("pipe: %s", strerror(errno));
	for (int i = 0; i < k; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			long done;

			close(fds[0]);
			done = write_loop(paths[i], start, end);
			_exit(write(fds[1], &done, sizeof done) == (ssize_t)sizeof done ? 0 : 1);
		}
	}
	close(fds[1]);
	for (int i = 0; i < k; i++) {
		long done;
		int status;

		if (read(fds[0], &done, sizeof done) != (ssize_t)sizeof done)
			die("a client died");
		total += done;
		(void)status;
	}
	close(fds[0]);
	for (int i = 0; i < k; i++) {
		int status;

		if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			die("a client failed");
	}
	return (double)total / ((double)dur / 1e9);
}

/*
 * stat and read latency of path for dur ns, optionally while a child writes
 * hammer (another region of the same task) the whole time.
 */
static void latency(const char *path, const char *hammer, uint64_t dur,
                    struct samples *st, struct samples *rd)
{
	uint64_t start = now_ns() + 50000000ULL, end = start + dur;
	pid_t pid = -1;
	int status;

	if (hammer) {
		pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			write_loop(hammer, start - 20000000ULL, end + 20000000ULL);
			_exit(0);
		}
	}
	sleep_until(start);
	for (long i = 0; now_ns() < end; i++) {
		uint64_t t0 = now_ns(), t1, t2;

		if (op_stat(path, i) != 0)
			die("stat %s: %s", path, strerror(errno));
		t1 = now_ns();
		if (op_read(path, i) != 0)
			die("read %s failed", path);
		t2 = now_ns();
		push(st, t1 - t0);
		push(rd, t2 - t1);
	}
	if (pid > 0 && (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	                WEXITSTATUS(status)))
		die("the hammering client failed");
}

/*
 * How much CPU two busy processes get right now, out of 2: each spins for
 * 300 ms of wall time and counts the CPU time it was given.  Other work on
 * the machine shows up as less than 2, and limits what more clients can
 * gain.
 */
static double cpu_available(void)
{
	int fds[2];
	double total = 0;
	pid_t pids[2];

	if (pipe(fds) != 0)
		die("pipe: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			struct timespec c;
			uint64_t end = now_ns() + 300000000ULL;
			double share;

			close(fds[0]);
			while (now_ns() < end)
				;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c);
			share = ((double)c.tv_sec * 1e9 + (double)c.tv_nsec) / 300e6;
			_exit(write(fds[1], &share, sizeof share) == (ssize_t)sizeof share ? 0 : 1);
		}
	}
	close(fds[1]);
	for (int i = 0; i < 2; i++) {
		double share;

		if (read(fds[0], &share, sizeof share) == (ssize_t)sizeof share)
			total += share;
		waitpid(pids[i], NULL, 0);
	}
	close(fds[0]);
	return total;
}

/*
 * Four clients against one, on machvmfs and on the floor, in slices of dur
 * ns taken in turn (so load from outside falls on every configuration
 * alike); the median slice of each.  Then stat / read latency of one region
 * with and without another client writing another region of the same task,
 * again in alternating slices.
 */
static void concurrency_rows(uint64_t dur, int rounds)
{
	char mvp[4][PATH_MAX], flp[4][PATH_MAX];
	unsigned mvt[4], lt;
	struct samples th[4] = { { 0 } };       /* floor 1, machvmfs 1, machvmfs 4, floor 4 */
	double m1, m4, f1, f4, cpus;

	for (int i = 0; i < 4; i++) {
		mvt[i] = mv_task_with_regions(16);
		fl_set_regions(2 + (unsigned)i, 16);
		prot_path(mvp[i], sizeof mvp[i], mv_root, mvt[i], BASE + 8 * page);
		prot_path(flp[i], sizeof flp[i], fl_root, 2 + (unsigned)i, BASE + 8 * page);
	}
	cpus = cpu_available();
	note("concurrency: two busy processes got %.2f of %ld CPUs just before the"
	     " throughput test (less than 2: other work on the machine)", cpus,
	     sysconf(_SC_NPROCESSORS_ONLN));
	for (int r = 0; r < rounds; r++) {
		for (int j = 0; j < 4; j++) {
			int c = (j + r) % 4;

			push(&th[c], (uint64_t)clients(c == 1 || c == 2 ? mvp : flp,
			                               c == 1 || c == 0 ? 1 : 4, dur));
		}
	}
	f1 = pct(&th[0], 50);
	m1 = pct(&th[1], 50);
	m4 = pct(&th[2], 50);
	f4 = pct(&th[3], 50);
	for (int c = 0; c < 4; c++)
		sfree(&th[c]);
	add("concurrency", "4 clients vs 1, open+O_TRUNC+write+close on own task (throughput)",
	    -1, -1, "ops/s", m4, m1, "1 client", m4 / m1, 0, SCALE_TARGET);
	add("concurrency", "  the same on the floor (context)", -1, -1, "ops/s", f4, f1,
	    "1 client", f4 / f1, 0, 0);
	add("concurrency", "machvmfs 4 clients vs floor 4 clients (throughput)", -1, -1,
	    "ops/s", m4, f4, "floor", f4 > 0 ? m4 / f4 : NAN, 0, FOUR_TARGET);
	add_cmp("concurrency", "  machvmfs 1 client vs floor 1 client (throughput)", -1, -1,
	        "ops/s", m1, f1, "floor", 0);
	for (int i = 0; i < 4; i++)
		mv_rmdir(mvt[i]);

	lt = mv_task_with_regions(16);
	fl_set_regions(6, 16);
	for (int side = 0; side < 2; side++) {
		const char *root = side ? fl_root : mv_root;
		unsigned t = side ? 6 : lt;
		char p[PATH_MAX], h[PATH_MAX];
		struct samples su = { 0 }, ru = { 0 }, sl = { 0 }, rl = { 0 };
		const char *who = side ? "floor" : "machvmfs";
		char op[112];

		prot_path(p, sizeof p, root, t, BASE);
		prot_path(h, sizeof h, root, t, BASE + 8 * page);
		for (int r = 0; r < rounds; r++) {
			if (r % 2) {
				latency(p, h, dur, &sl, &rl);
				latency(p, NULL, dur, &su, &ru);
			} else {
				latency(p, NULL, dur, &su, &ru);
				latency(p, h, dur, &sl, &rl);
			}
		}
		snprintf(op, sizeof op, "%s stat p50, another client writing the task", who);
		add_cmp("latency", op, -1, -1, "us", pct(&sl, 50) / 1e3, pct(&su, 50) / 1e3,
		        "unloaded", 0);
		snprintf(op, sizeof op, "%s stat p99, another client writing the task", who);
		add_cmp("latency", op, -1, -1, "us", pct(&sl, 99) / 1e3, pct(&su, 99) / 1e3,
		        "unloaded", 0);
		snprintf(op, sizeof op, "%s read p50, another client writing the task", who);
		add_cmp("latency", op, -1, -1, "us", pct(&rl, 50) / 1e3, pct(&ru, 50) / 1e3,
		        "unloaded", 0);
		snprintf(op, sizeof op, "%s read p99, another client writing the task", who);
		add_cmp("latency", op, -1, -1, "us", pct(&rl, 99) / 1e3, pct(&ru, 99) / 1e3,
		        "unloaded", 0);
		sfree(&su);
		sfree(&ru);
		sfree(&sl);
		sfree(&rl);
	}
	mv_rmdir(lt);
}

/* What runs beside the stat + cat loop (statcat_rate). */
enum beside { BESIDE_NOTHING, BESIDE_FORKS, BESIDE_SPIN, BESIDE_LINUX_FORKS, BESIDE_KINDS };

/*
 * stat + cat of one region's protection in a loop, on a small task, for
 * dur ns, with beside it nothing, another process that forks task
 * `parent` through tasks/ctl and removes the child over and over (adding
 * the forks it made to *forks), a process that only keeps one CPU busy,
 * or a Linux process of as many mappings (lx, made by the caller) that
 * forks itself over and over.  Pairs per second.
 */
static double statcat_rate(const char *path, enum beside what, unsigned parent, uint64_t dur,
                           long *forks)
{
	uint64_t start = now_ns() + 50000000ULL, end = start + dur;
	int fds[2];
	pid_t pid = -1;
	long done = 0;

	if (what != BESIDE_NOTHING) {
		pid = fork_piped(fds);
		if (pid == 0) {
			long n = 0;
			uint64_t ns;

			sleep_until(start - 20000000ULL);
			while (now_ns() < end + 20000000ULL) {
				if (what == BESIDE_FORKS) {
					mv_rmdir(mv_fork(parent, &ns));
					n++;
				} else if (what == BESIDE_LINUX_FORKS) {
					(void)lx_fork(&ns);
				}
			}
			_exit(write(fds[1], &n, sizeof n) == (ssize_t)sizeof n ? 0 : 1);
		}
	}
	sleep_until(start);
	while (now_ns() < end) {
		if (op_stat(path, done) != 0 || op_read(path, done) != 0)
			die("stat + cat %s: %s", path, strerror(errno));
		done++;
	}
	if (pid > 0) {
		int status;
		long n = 0;

		if (read(fds[0], &n, sizeof n) != (ssize_t)sizeof n)
			die("the client beside died");
		close(fds[0]);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			die("the client beside failed");
		*forks += n;
	}
	return (double)done / ((double)dur / 1e9);
}

/*
 * Does a fork of a big task hold up calls on another task?  stat + cat
 * throughput on a task of 16 regions while a task of n regions forks and
 * its child is removed in a loop, against the same with nothing beside, in
 * rotating slices; the medians.  Two loads for context: a process that
 * only spins (one CPU kept busy, all the time), and a Linux process with
 * as many mappings forking itself in a loop (work like the daemon's fork,
 * in the kernel, sharing no lock with the daemon): what any fork loop
 * costs the reader on this machine.
 */
static void fork_load_rows(long n, uint64_t dur, int rounds)
{
	unsigned big = mv_task_with_regions(n), small = mv_task_with_regions(16);
	struct samples s[BESIDE_KINDS] = { { 0 } };
	char p[PATH_MAX], *lx;
	long forks = 0;
	double cpus = cpu_available(), none, fk, spin, lxf;

	if (fit_map_count(n + 2) != n + 2)
		die("no room for %ld VMAs (vm.max_map_count)", n);
	lx = lx_make_vmas(n);   /* the Linux forker's mappings: its children inherit them */

	prot_path(p, sizeof p, mv_root, small, BASE + 8 * page);
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < BESIDE_KINDS; k++) {
			enum beside what = (enum beside)((k + r) % BESIDE_KINDS);

			push(&s[what], (uint64_t)statcat_rate(p, what, big, dur, &forks));
		}
	munmap(lx, (size_t)n * page);
	restore_map_count();
	none = pct(&s[BESIDE_NOTHING], 50);
	fk = pct(&s[BESIDE_FORKS], 50);
	spin = pct(&s[BESIDE_SPIN], 50);
	lxf = pct(&s[BESIDE_LINUX_FORKS], 50);
	add("concurrency", "stat + cat protection on a small task, another task forking"
	    " and terminating in a loop (throughput)", n, -1, "ops/s", fk, none, "unloaded",
	    fk / none, 0, FORK_LOAD_TARGET);
	add("concurrency", "  the same beside a process that only keeps one CPU busy (context)",
	    n, -1, "ops/s", spin, none, "unloaded", spin / none, 0, 0);
	add("concurrency", "  the same beside a Linux process of N mappings forking (context)",
	    n, -1, "ops/s", lxf, none, "unloaded", lxf / none, 0, 0);
	add_cmp("concurrency", "  machvmfs forking beside vs Linux forking beside", n, -1,
	        "ops/s", fk, lxf, "linux forks", 0);
	note("fork load N=%ld: %ld forks and terminations in %d slices of %.0f ms;"
	     " two busy processes got %.2f of %ld CPUs before", n, forks, rounds,
	     (double)dur / 1e6, cpus, sysconf(_SC_NPROCESSORS_ONLN));
	for (int k = 0; k < BESIDE_KINDS; k++)
		sfree(&s[k]);
	mv_rmdir(small);
	mv_rmdir(big);
}

static void phase_main(void)
{
	static const long full_sizes[] = { 1000, 10000, 65000 };
	static const long quick_sizes[] = { 1000, 10000 };
	const long *sizes = quick ? quick_sizes : full_sizes;
	int nsizes = quick ? 2 : 3;
	long cpu = sysconf(_SC_NPROCESSORS_ONLN) - 1;
	uint64_t t0 = now_ns();

	/* Every single-client comparison runs on one CPU (see pin()). */
	if (pin((int)cpu) == 0)
		note("single-client figures: the client and both daemons pinned to CPU %ld;"
		     " concurrency and latency rows unpinned", cpu);
	for (int i = 0; i < nsizes; i++) {
		long n = sizes[i], ln;
		int small = n <= 1000, big = n >= 65000;
		int do_ops = small || big || quick;
		struct fork_fig fm, fl;
		unsigned t;
		char *lx;

		fprintf(stderr, "fs_bench: N=%ld ...\n", n);
		t = mv_task_with_regions(n);
		fl_set_regions(1, n);
		if (do_ops) {
			ops_rows(n, t, quick ? 12 : 30, 25, 0);
			list_rows(n, t, 3, big ? 1 : 3);
		}
		if (small)
			shell_rows(n, t, quick ? 200 : 1000, quick ? 2 : 3);
		if (small) {
			/* The same calls unpinned, for context. */
			pin(-1);
			ops_rows(n, t, quick ? 6 : 12, 25, 1);
			pin((int)cpu);
		}

		ln = fit_map_count(n + 2);
		if (ln != n + 2)
			die("no room for %ld VMAs (vm.max_map_count)", n);
		lx = lx_make_vmas(n);
		maps_rows(n, t, lx, 9);
		lx_fork_side(quick ? 7 : 11, &fl);
		munmap(lx, (size_t)n * page);
		restore_map_count();

		mv_fork_side(n, t, quick ? 7 : 11, &fm);
		fork_rows(n, &fm, &fl);
		mv_rmdir(t);
	}
	/* After the other rows, which they would disturb (a task of N objects
	 * made and freed in the daemon, N pages touched here). */
	fprintf(stderr, "fs_bench: objects and pagemap ...\n");
	inside_rows(sizes[nsizes - 1], 3, INSIDE_OBJECTS);
	inside_rows(sizes[nsizes - 1], 3, INSIDE_PAGEMAP);
	pin(-1);
	fprintf(stderr, "fs_bench: concurrency ...\n");
	concurrency_rows(400000000ULL, quick ? 3 : 6);
	fprintf(stderr, "fs_bench: fork load ...\n");
	fork_load_rows(sizes[nsizes - 1], 500000000ULL, quick ? 4 : 8);
	note("main phase run time %.1f s", (double)(now_ns() - t0) / 1e9);
}

/* -- memory -- */

static long long proc_kb(pid_t pid, const char *file, const char *key)
{
	char path[64], buf[8192];

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	if (slurp(path, buf, sizeof buf) < 0)
		die("reading %s: %s", path, strerror(errno));
	return key_value(buf, key);
}

static void phase_memory(pid_t pid)
{
	long n = quick ? 10000 : 65000;
	long long rss0, pss0, rss1, pss1, rss_mid;
	char d[PATH_MAX], spaces[CHUNK + 1];
	unsigned t;
	size_t cap = (size_t)n * 48 + 128, len = 0;
	char *text = malloc(cap);

	if (!text)
		die("out of memory");
	/* Warm the daemon's request buffers and threads: white-space writes as
	 * big as the set-up's, and listings of an empty regions/. */
	t = mv_create();
	memset(spaces, ' ', CHUNK);
	spaces[CHUNK - 1] = '\n';
	spaces[CHUNK] = '\0';
	for (int i = 0; i < 8; i++)
		mv_run_lines(t, spaces);
	regions_dir(d, sizeof d, mv_root, t);
	list_dir(d, 1);
	usleep(200000);
	rss0 = proc_kb(pid, "status", "VmRSS");
	pss0 = proc_kb(pid, "smaps_rollup", "Pss");

	len += (size_t)snprintf(text + len, cap - len, "allocate 0x%llx %llu\n", BASE,
	                        (unsigned long long)n * page);
	for (long i = 1; i < n; i += 2)
		len += (size_t)snprintf(text + len, cap - len, "protect 0x%llx %zu r--\n",
		                        BASE + (unsigned long long)i * page, page);
	mv_run_lines(t, text);
	free(text);
	if (mv_status(t, "regions") != n)
		die("the task has %lld regions, expected %ld", mv_status(t, "regions"), n);
	rss_mid = proc_kb(pid, "status", "VmRSS");
	if (list_dir(d, 1) != n)
		die("ls -l of %s: wrong count", d);
	usleep(200000);
	rss1 = proc_kb(pid, "status", "VmRSS");
	pss1 = proc_kb(pid, "smaps_rollup", "Pss");
	if (mv_status(t, "resident_pages") != 0)
		note("memory: the task has resident pages; they are counted in the figure");

	add("memory", "daemon VmRSS growth per region (after ls -l of all)", n, -1, "B",
	    (double)(rss1 - rss0) * 1024.0 / (double)n, NAN, NULL, NAN, 0, 0);
	struct row *r = &rows[nrows - 1];
	snprintf(r->target, sizeof r->target, "<= %.0f B", BYTES_TARGET);
	r->v = r->ours <= BYTES_TARGET ? V_PASS : V_FAIL;
	add("memory", "daemon Pss growth per region (smaps_rollup)", n, -1, "B",
	    (double)(pss1 - pss0) * 1024.0 / (double)n, NAN, NULL, NAN, 0, 0);
	add("memory", "  of which before the ls -l (regions made only)", n, -1, "B",
	    (double)(rss_mid - rss0) * 1024.0 / (double)n, NAN, NULL, NAN, 0, 0);
	note("memory: daemon pid %d VmRSS %lld kB with 0 regions, %lld kB with %ld regions"
	     " (%lld kB before the ls -l); Pss %lld -> %lld kB",
	     (int)pid, rss0, rss1, n, rss_mid, pss0, pss1);
	mv_rmdir(t);
}

/* -- scale -- */

/*
 * A row "per item at big / per item at small": ours and ref are ns per
 * item (region or task), the ratio their quotient.
 */
static void add_growth(const char *op, long big, long small, double per_big, double per_small)
{
	static char ref_is[8][24];
	static int k;
	char *r = ref_is[k++ % 8];

	snprintf(r, sizeof ref_is[0], "N=%ld", small);
	add_cmp("scale", op, big, -1, "ns", per_big, per_small, r, GROWTH_TARGET);
}


static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* The ids listed in tasks/ (ascending); their count. */
static long task_ids(unsigned **ids)
{
	char d[PATH_MAX];
	DIR *dir;
	struct dirent *e;
	long n = 0, cap = 1024;

	*ids = malloc((size_t)cap * sizeof **ids);
	mv_path(d, sizeof d, "tasks");
	dir = opendir(d);
	if (!dir || !*ids)
		die("listing %s: %s", d, strerror(errno));
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		if (n == cap) {
			cap *= 2;
			*ids = realloc(*ids, (size_t)cap * sizeof **ids);
			if (!*ids)
				die("out of memory");
		}
		(*ids)[n++] = (unsigned)strtoul(e->d_name, NULL, 10);
	}
	closedir(dir);
	qsort(*ids, (size_t)n, sizeof **ids, cmp_unsigned);
	return n;
}

/*
 * k tasks made through tasks/ctl (`create` lines, thousands a write), tasks/
 * listed, and the same tasks terminated (`terminate <id>` lines): ns per
 * task for each, the listing the median of reps.  The host must hold no
 * other task.
 */
static void tasks_round(long k, int reps, double *create, double *list, double *term)
{
	char ctl[PATH_MAX], tdir[PATH_MAX];
	size_t cap = (size_t)k * 24 + 64, len = 0;
	char *text = malloc(cap);
	struct samples sl = { 0 };
	unsigned *ids;
	uint64_t t0;
	long got;

	if (!text)
		die("out of memory");
	mv_path(ctl, sizeof ctl, "tasks/ctl");
	mv_path(tdir, sizeof tdir, "tasks");
	for (long i = 0; i < k; i++)
		len += (size_t)snprintf(text + len, cap - len, "create\n");
	t0 = now_ns();
	run_lines(ctl, 0, text);
	*create = (double)(now_ns() - t0) / (double)k;
	for (int r = 0; r < reps; r++) {
		t0 = now_ns();
		got = list_dir(tdir, 0);
		push(&sl, now_ns() - t0);
		if (got != k + 2)       /* the tasks, ctl and last_error */
			die("tasks/ lists %ld names, expected %ld", got, k + 2);
	}
	*list = pct(&sl, 50) / (double)k;
	sfree(&sl);
	got = task_ids(&ids);
	if (got != k)
		die("tasks/ lists %ld tasks, expected %ld", got, k);
	len = 0;
	for (long i = 0; i < k; i++)
		len += (size_t)snprintf(text + len, cap - len, "terminate %u\n", ids[i]);
	t0 = now_ns();
	run_lines(ctl, 0, text);
	*term = (double)(now_ns() - t0) / (double)k;
	free(ids);
	free(text);
	if (task_ids(&ids) != 0)
		die("tasks left after terminating them all");
	free(ids);
}

/*
 * The scale step (a fresh daemon with max_memory=0): a task of `big`
 * regions against one of `small`, per region, side by side (each rep
 * measures both); the daemon's memory per region of the big task; a host
 * of `tbig` tasks against one of `tsmall`, per task.
 */
static void phase_scale(pid_t pid)
{
	long small = 65000, big = quick ? 250000 : 1000000;
	long tsmall = 1000, tbig = quick ? 20000 : 100000;
	int reps = quick ? 2 : 3;
	long sizes[2] = { small, big };
	unsigned t[2];
	struct samples ls[2] = { { 0 } }, mp[2] = { { 0 } }, fk[2] = { { 0 } }, rm[2] = { { 0 } };
	long long rss0, rss1, mem0, mem1;
	char d[PATH_MAX], mp_path[2][PATH_MAX], stats[PATH_MAX], buf[4096];
	uint64_t t0 = now_ns(), t1;

	/* A warm daemon first (buffers, threads), then the memory baseline. */
	t[0] = mv_task_with_regions(16);
	regions_dir(d, sizeof d, mv_root, t[0]);
	list_dir(d, 1);
	mv_rmdir(t[0]);
	usleep(200000);
	mv_path(stats, sizeof stats, "host/stats");
	if (slurp(stats, buf, sizeof buf) < 0)
		die("reading %s", stats);
	mem0 = key_value(buf, "memory_used");
	rss0 = proc_kb(pid, "status", "VmRSS");

	fprintf(stderr, "fs_bench: scale: a task of %ld regions ...\n", big);
	t1 = now_ns();
	t[1] = mv_task_with_regions(big);
	note("scale: %ld regions made in %.1f s", big, (double)(now_ns() - t1) / 1e9);
	regions_dir(d, sizeof d, mv_root, t[1]);
	t1 = now_ns();
	if (list_dir(d, 0) != big)
		die("ls %s: wrong count", d);
	usleep(200000);
	rss1 = proc_kb(pid, "status", "VmRSS");
	if (slurp(stats, buf, sizeof buf) < 0)
		die("reading %s", stats);
	mem1 = key_value(buf, "memory_used");
	add("scale", "daemon VmRSS growth per region, one big task (after ls regions/)", big, -1,
	    "B", (double)(rss1 - rss0) * 1024.0 / (double)big, NAN, NULL, NAN, 0, 0);
	{
		struct row *r = &rows[nrows - 1];

		snprintf(r->target, sizeof r->target, "<= %.0f B", BYTES_TARGET);
		r->v = r->ours <= BYTES_TARGET ? V_PASS : V_FAIL;
	}
	add("scale", "  of which the engine's memory account (host/stats memory_used)", big, -1,
	    "B", (double)(mem1 - mem0) / (double)big, NAN, NULL, NAN, 0, 0);
	note("scale: daemon pid %d VmRSS %lld kB before, %lld kB with %ld regions (listed once)",
	     (int)pid, rss0, rss1, big);

	t[0] = mv_task_with_regions(small);
	for (int i = 0; i < 2; i++)
		mv_path(mp_path[i], sizeof mp_path[i], "tasks/%u/maps", t[i]);
	for (int r = 0; r < reps; r++) {
		for (int i = 0; i < 2; i++) {
			long n = sizes[i];
			size_t bytes;
			long lines = 0;
			uint64_t ns;
			unsigned child;

			fprintf(stderr, "fs_bench: scale: N=%ld, round %d ...\n", n, r + 1);
			regions_dir(d, sizeof d, mv_root, t[i]);
			t1 = now_ns();
			if (list_dir(d, 0) != n)
				die("ls %s: wrong count", d);
			push(&ls[i], now_ns() - t1);
			mv_change_one(t[i], n);
			push(&mp[i], read_whole(mp_path[i], &bytes, r == 0 ? &lines : NULL));
			if (r == 0 && lines != n)
				die("%s has %ld lines, expected %ld", mp_path[i], lines, n);
			child = mv_fork(t[i], &ns);
			push(&fk[i], ns);
			t1 = now_ns();
			mv_rmdir(child);
			push(&rm[i], now_ns() - t1);
		}
	}
	add_growth("ls regions/ (getdents64), per region", big, small,
	           pct(&ls[1], 50) / big, pct(&ls[0], 50) / small);
	add_growth("read maps right after one region changed, per region", big, small,
	           pct(&mp[1], 50) / big, pct(&mp[0], 50) / small);
	add_growth("fork <id> through tasks/ctl, per region", big, small,
	           pct(&fk[1], 50) / big, pct(&fk[0], 50) / small);
	add_growth("rmdir of the forked child, per region", big, small,
	           pct(&rm[1], 50) / big, pct(&rm[0], 50) / small);
	note("scale: medians at N=%ld / N=%ld: ls %.1f / %.1f ms, maps %.1f / %.1f ms,"
	     " fork %.1f / %.1f ms, rmdir %.1f / %.1f ms", big, small,
	     pct(&ls[1], 50) / 1e6, pct(&ls[0], 50) / 1e6, pct(&mp[1], 50) / 1e6,
	     pct(&mp[0], 50) / 1e6, pct(&fk[1], 50) / 1e6, pct(&fk[0], 50) / 1e6,
	     pct(&rm[1], 50) / 1e6, pct(&rm[0], 50) / 1e6);
	for (int i = 0; i < 2; i++) {
		sfree(&ls[i]);
		sfree(&mp[i]);
		sfree(&fk[i]);
		sfree(&rm[i]);
		mv_rmdir(t[i]);
	}

	/* Many tasks: rounds of tsmall and tbig taking turns (small, big,
	 * small, big, small, small); each figure is the median of its side's
	 * rounds, so that a drift in the machine's load falls on both. */
	fprintf(stderr, "fs_bench: scale: %ld tasks and %ld in turn ...\n", tsmall, tbig);
	{
		struct samples sc = { 0 }, sls = { 0 }, sx = { 0 };
		struct samples bc = { 0 }, bls = { 0 }, bx = { 0 };
		double c, l, x, c1, l1, x1;

		for (int r = 0; r < 6; r++) {
			int is_big = r == 1 || r == 3;

			tasks_round(is_big ? tbig : tsmall, is_big ? reps : 5, &c, &l, &x);
			push(is_big ? &bc : &sc, (uint64_t)c);
			push(is_big ? &bls : &sls, (uint64_t)l);
			push(is_big ? &bx : &sx, (uint64_t)x);
		}
		c1 = pct(&bc, 50);
		l1 = pct(&bls, 50);
		x1 = pct(&bx, 50);
		sfree(&bc);
		sfree(&bls);
		sfree(&bx);
		add_growth("create a task (tasks/ctl, 8000 lines a write), per task", tbig, tsmall,
		           c1, pct(&sc, 50));
		add_growth("ls tasks/ (getdents64), per task", tbig, tsmall, l1, pct(&sls, 50));
		add_growth("terminate a task (tasks/ctl lines), per task", tbig, tsmall, x1,
		           pct(&sx, 50));
		note("scale: %ld tasks: create %.0f ms, ls %.1f ms, terminate %.0f ms (per task %.1f,"
		     " %.2f, %.1f us; at %ld: %.1f, %.2f, %.1f us)", tbig, c1 * tbig / 1e6,
		     l1 * tbig / 1e6, x1 * tbig / 1e6, c1 / 1e3, l1 / 1e3, x1 / 1e3, tsmall,
		     pct(&sc, 50) / 1e3, pct(&sls, 50) / 1e3, pct(&sx, 50) / 1e3);
		sfree(&sc);
		sfree(&sls);
		sfree(&sx);
	}
	note("scale phase run time %.1f s", (double)(now_ns() - t0) / 1e9);
}

/* ---- helpers for profiling by hand (README.md) ------------------------------- */

/* A task with n regions; prints its id. */
static void phase_setup(long n)
{
	printf("%u\n", mv_task_with_regions(n));
}

/*
 * Runs op on path for secs seconds in k processes at once and prints the
 * operations per second: stat, read, write (a region file), ls, lsl (a
 * directory), maps (any file, read whole).
 */
static void phase_load(const char *op, const char *path, double secs, int k)
{
	uint64_t start = now_ns() + 20000000ULL, end = start + (uint64_t)(secs * 1e9);
	long total = 0;
	pid_t pids[16];
	int fds[2];

	if (k < 1 || k > 16 || pipe(fds) != 0)
		usage();
	for (int i = 0; i < k; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			long done = 0;

			sleep_until(start);
			for (; now_ns() < end; done++) {
				size_t b;
				int rc = 0;

				if (strcmp(op, "stat") == 0)
					rc = op_stat(path, done);
				else if (strcmp(op, "read") == 0)
					rc = op_read(path, done);
				else if (strcmp(op, "write") == 0)
					rc = op_write(path, done);
				else if (strcmp(op, "ls") == 0 || strcmp(op, "lsl") == 0)
					list_dir(path, op[2] == 'l');
				else if (strcmp(op, "maps") == 0)
					read_whole(path, &b, NULL);
				else
					_exit(2);
				if (rc)
					die("%s %s: %s", op, path, strerror(-rc));
			}
			_exit(write(fds[1], &done, sizeof done) == (ssize_t)sizeof done ? 0 : 1);
		}
	}
	close(fds[1]);
	for (int i = 0; i < k; i++) {
		long done;

		if (read(fds[0], &done, sizeof done) != (ssize_t)sizeof done)
			die("a load process failed");
		total += done;
		waitpid(pids[i], NULL, 0);
	}
	printf("%s %s: %.0f per second (%d processes, %.1f s)\n", op, path,
	       (double)total / secs, k, secs);
}

/* ---- main ----------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
	        "usage: fs_bench census --mvfs DIR --floor DIR --mvfs-log F --floor-log F [--csv F]\n"
	        "       fs_bench main   --mvfs DIR --floor DIR --mvfs-pid PID --floor-pid PID\n"
	        "                       [--quick] [--csv F]\n"
	        "       fs_bench memory --mvfs DIR --pid PID [--quick] [--csv F]\n"
	        "       fs_bench scale  --mvfs DIR --pid PID [--quick] [--csv F]\n"
	        "       fs_bench forkload --mvfs DIR N        (only the fork load row, at N regions)\n"
	        "       fs_bench setup  --mvfs DIR N          (a task with N regions; prints its id)\n"
	        "       fs_bench load   --mvfs DIR OP PATH SECONDS [PROCESSES]\n"
	        "                       OP: stat read write ls lsl maps\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct census_ctx cx = { NULL, NULL };
	const char *phase, *pos[4] = { NULL, NULL, NULL, NULL };
	int npos = 0;
	pid_t pid = 0;
	char buf[64], path[PATH_MAX];

	if (argc < 2)
		usage();
	phase = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--quick") == 0)
			quick = 1;
		else if (a[0] != '-' && npos < 4)
			pos[npos++] = a;
		else if (i + 1 >= argc)
			usage();
		else if (strcmp(a, "--mvfs") == 0)
			mv_root = argv[++i];
		else if (strcmp(a, "--floor") == 0)
			fl_root = argv[++i];
		else if (strcmp(a, "--mvfs-log") == 0)
			cx.mv_log = argv[++i];
		else if (strcmp(a, "--floor-log") == 0)
			cx.fl_log = argv[++i];
		else if (strcmp(a, "--csv") == 0)
			csv_path = argv[++i];
		else if (strcmp(a, "--pid") == 0 || strcmp(a, "--mvfs-pid") == 0)
			pid = mv_pid = (pid_t)atoi(argv[++i]);
		else if (strcmp(a, "--floor-pid") == 0)
			fl_pid = (pid_t)atoi(argv[++i]);
		else
			usage();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	page = (size_t)sysconf(_SC_PAGESIZE);
	if (!mv_root)
		usage();
	mv_path(path, sizeof path, "host/page_size");
	if (slurp(path, buf, sizeof buf) < 0 || strtoul(buf, NULL, 10) != page)
		die("%s must say %zu (the host's page size)", path, page);

	if (strcmp(phase, "census") == 0) {
		if (!fl_root || !cx.mv_log || !cx.fl_log)
			usage();
		phase_census(&cx);
		print_rows("requests per operation (daemons run with -d)");
	} else if (strcmp(phase, "main") == 0) {
		if (!fl_root)
			usage();
		phase_main();
		print_rows("machvmfs vs the floor and vs Linux");
	} else if (strcmp(phase, "memory") == 0) {
		if (pid <= 0)
			usage();
		phase_memory(pid);
		print_rows("daemon memory");
	} else if (strcmp(phase, "scale") == 0) {
		if (pid <= 0)
			usage();
		phase_scale(pid);
		print_rows("scale: a big task and many tasks");
	} else if (strcmp(phase, "forkload") == 0 && npos == 1) {
		fork_load_rows(atol(pos[0]), 500000000ULL, quick ? 4 : 8);
		print_rows("fork load");
	} else if (strcmp(phase, "setup") == 0 && npos == 1) {
		phase_setup(atol(pos[0]));
		return 0;
	} else if (strcmp(phase, "load") == 0 && npos >= 3) {
		phase_load(pos[0], pos[1], atof(pos[2]), npos > 3 ? atoi(pos[3]) : 1);
		return 0;
	} else {
		usage();
	}
	write_csv();
	return 0;
}
