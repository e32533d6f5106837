/*
 * fsfloor.c - the floor for the filesystem benchmarks: the least a libfuse3
 * low-level filesystem can do for the requests machvmfs answers.
 *
 *   fsfloor [-f] [-d] [-s] [-o OPTION[,OPTION...]] MOUNTPOINT
 *
 * It shows the same path shape as machvmfs, at the same depth:
 *
 *   tasks/ctl                                  "T N" sets task T's region count
 *   tasks/<T>/regions/<0x%016llx>/protection    reads "rw-\n", accepts any write
 *
 * for tasks 1..tasks, each with `regions` region directories named
 * base + i * page (i < the task's count), the names machvmfs gives regions
 * made by allocating pages at base and protecting every other page.  Every
 * answer is a constant or a computation on the inode number: no table, no
 * lock, no allocation per request.  The difference between machvmfs and this
 * is what machvmfs's own work costs.
 *
 * For the comparison to mean anything the kernel must send both the same
 * requests, so every choice machvmfs makes that changes what the kernel sends
 * is an option here (tools/bench/run passes what `machvmfs --bench-config`
 * prints, and checks the request counts; tools/bench/README.md).  Defaults
 * in brackets:
 *
 *   entry_timeout=S, attr_timeout=S    seconds the kernel may trust a lookup /
 *                                      attributes [0, 0]
 *   negative_timeout=S                 how long a failed lookup is cached [0]
 *   direct_io=0|1, keep_cache=0|1,     what open sets in fuse_file_info
 *   noflush=0|1                        [1, 0, 1]
 *   readdirplus=0|1                    offer READDIRPLUS (libfuse's auto mode,
 *                                      as for any readdirplus handler) [0]
 *   atomic_o_trunc=0|1                 O_TRUNC inside OPEN [1]
 *   text_size=0|1                      st_size of text files: 0 (procfs style)
 *                                      or the text's length [0]
 *   tasks=T, regions=N, base=A, page=P the tree [8, 1000, 0x100000000, 4096]
 *
 * plus libfuse's own (-s, -o clone_fd, max_threads=, max_idle_threads=),
 * with the same loop set-up as machvmfs's main.c.  Options are parsed before
 * anything is mounted; a bad one exits 1.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <fuse_opt.h>

#define MAX_TASKS     64
#define MAX_REGIONS   (1L << 30)

/* ---- options ------------------------------------------------------------ */

struct options {
	double entry_timeout, attr_timeout, negative_timeout;
	int direct_io, keep_cache, noflush, readdirplus, atomic_o_trunc, text_size;
	int tasks;
	long regions;
	char *base, *page;
};

static struct options opt = {
	.entry_timeout = 0.0, .attr_timeout = 0.0, .negative_timeout = 0.0,
	.direct_io = 1, .keep_cache = 0, .noflush = 1, .readdirplus = 0,
	.atomic_o_trunc = 1, .text_size = 0, .tasks = 8, .regions = 1000,
	.base = NULL, .page = NULL,
};

#define OPT(t, p) { t, offsetof(struct options, p), 0 }

static const struct fuse_opt option_spec[] = {
	OPT("entry_timeout=%lf", entry_timeout),
	OPT("attr_timeout=%lf", attr_timeout),
	OPT("negative_timeout=%lf", negative_timeout),
	OPT("direct_io=%d", direct_io),
	OPT("keep_cache=%d", keep_cache),
	OPT("noflush=%d", noflush),
	OPT("readdirplus=%d", readdirplus),
	OPT("atomic_o_trunc=%d", atomic_o_trunc),
	OPT("text_size=%d", text_size),
	OPT("tasks=%d", tasks),
	OPT("regions=%ld", regions),
	OPT("base=%s", base),
	OPT("page=%s", page),
	FUSE_OPT_END
};

static uint64_t base_addr = 0x100000000ULL;
static uint64_t page_size = 4096;
static unsigned page_shift = 12;

/* Region counts per task (index 1..tasks); changed through tasks/ctl. */
static volatile long nregions[MAX_TASKS + 1];

static struct timespec mount_time;
static uid_t mount_uid;
static gid_t mount_gid;

static const char protection_text[] = "rw-\n";
static const char ctl_text[] = "T N\n";

/* ---- inode numbers -------------------------------------------------------- */

/*
 * ino = task << 40 | index << 4 | kind.  The root must be 1 (FUSE_ROOT_ID),
 * so the root is kind 1 with task 0 and index 0.
 */
enum kind {
	K_ROOT = 1,     /* "/": tasks */
	K_TASKS,        /* tasks/: ctl, 1..T */
	K_CTL,          /* tasks/ctl */
	K_TASK,         /* tasks/<T>/: regions */
	K_REGIONS,      /* tasks/<T>/regions/: one dir per region */
	K_REGION,       /* tasks/<T>/regions/<addr>/: protection */
	K_PROT,         /* tasks/<T>/regions/<addr>/protection */
};

static fuse_ino_t mk_ino(unsigned task, uint64_t index, enum kind k)
{
	return ((uint64_t)task << 40) | (index << 4) | (uint64_t)k;
}

static enum kind ino_kind(fuse_ino_t ino) { return (enum kind)(ino & 15); }
static unsigned ino_task(fuse_ino_t ino) { return (unsigned)(ino >> 40); }
static uint64_t ino_index(fuse_ino_t ino) { return (ino >> 4) & ((1ULL << 36) - 1); }

static int is_dir_kind(enum kind k)
{
	return k != K_CTL && k != K_PROT;
}

/* Whether ino names something that exists now. */
static int ino_valid(fuse_ino_t ino)
{
	enum kind k = ino_kind(ino);
	unsigned t = ino_task(ino);

	if (k < K_ROOT || k > K_PROT)
		return 0;
	if (k <= K_CTL)
		return t == 0 && ino_index(ino) == 0;
	if (t < 1 || t > (unsigned)opt.tasks)
		return 0;
	if (k == K_REGION || k == K_PROT)
		return ino_index(ino) < (uint64_t)nregions[t];
	return ino_index(ino) == 0;
}

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	enum kind k = ino_kind(ino);

	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	if (is_dir_kind(k)) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		if (opt.text_size)
			st->st_size = k == K_PROT ? (off_t)(sizeof protection_text - 1)
			                          : (off_t)(sizeof ctl_text - 1);
	}
	st->st_uid = mount_uid;
	st->st_gid = mount_gid;
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = mount_time;
}

/* A region name as machvmfs lists it: "0x" and 16 lower-case hex digits. */
static void region_name(uint64_t addr, char out[19])
{
	static const char hex[] = "0123456789abcdef";

	out[0] = '0';
	out[1] = 'x';
	for (int i = 0; i < 16; i++)
		out[2 + i] = hex[(addr >> (60 - 4 * i)) & 15];
	out[18] = '\0';
}

/* The region index a name stands for in task t, or -1. */
static long region_index(unsigned t, const char *name)
{
	uint64_t a = 0;
	const char *p = name;

	if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X') || !p[2])
		return -1;
	for (p += 2; *p; p++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return -1;
		if (a >> 60)
			return -1;
		a = a << 4 | (uint64_t)d;
	}
	if (a < base_addr || (a - base_addr) & (page_size - 1))
		return -1;
	a = (a - base_addr) >> page_shift;
	return a < (uint64_t)nregions[t] ? (long)a : -1;
}

/* The child called name in directory parent: its inode, or 0. */
static fuse_ino_t child_of(fuse_ino_t parent, const char *name)
{
	unsigned t = ino_task(parent);
	char *end;
	long i;

	switch (ino_kind(parent)) {
	case K_ROOT:
		return strcmp(name, "tasks") == 0 ? mk_ino(0, 0, K_TASKS) : 0;
	case K_TASKS:
		if (strcmp(name, "ctl") == 0)
			return mk_ino(0, 0, K_CTL);
		i = strtol(name, &end, 10);
		if (name[0] < '1' || name[0] > '9' || *end || i < 1 || i > opt.tasks)
			return 0;
		return mk_ino((unsigned)i, 0, K_TASK);
	case K_TASK:
		return strcmp(name, "regions") == 0 ? mk_ino(t, 0, K_REGIONS) : 0;
	case K_REGIONS:
		i = region_index(t, name);
		return i < 0 ? 0 : mk_ino(t, (uint64_t)i, K_REGION);
	case K_REGION:
		return strcmp(name, "protection") == 0 ?
		       mk_ino(t, ino_index(parent), K_PROT) : 0;
	default:
		return 0;
	}
}

/* ---- requests ---------------------------------------------------------- */

static void fl_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (opt.atomic_o_trunc && (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC))
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	if (!opt.atomic_o_trunc)
		conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (!opt.readdirplus)
		conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
}

static void fl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	fuse_ino_t ino = ino_valid(parent) ? child_of(parent, name) : 0;

	memset(&e, 0, sizeof e);
	if (!ino) {
		if (opt.negative_timeout > 0) {
			e.entry_timeout = opt.negative_timeout;
			fuse_reply_entry(req, &e);
		} else {
			fuse_reply_err(req, ENOENT);
		}
		return;
	}
	e.ino = ino;
	e.attr_timeout = opt.attr_timeout;
	e.entry_timeout = opt.entry_timeout;
	fill_attr(ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fl_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void fl_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	(void)count;
	(void)f;
	fuse_reply_none(req);
}

static void fl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (!ino_valid(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, opt.attr_timeout);
}

/* Truncation to 0 and time stamps are accepted, as machvmfs does. */
static void fl_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (!ino_valid(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, opt.attr_timeout);
}

static void fl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!ino_valid(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (is_dir_kind(ino_kind(ino))) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->fh = 0;
	fi->direct_io = opt.direct_io ? 1 : 0;
	fi->keep_cache = opt.keep_cache ? 1 : 0;
	fi->noflush = opt.noflush ? 1 : 0;
	fuse_reply_open(req, fi);
}

static void fl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
	const char *text = ino_kind(ino) == K_PROT ? protection_text : ctl_text;
	size_t len = strlen(text);

	(void)fi;
	if (off < 0 || (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	len -= (size_t)off;
	fuse_reply_buf(req, text + off, len < size ? len : size);
}

/* tasks/ctl: "T N" lines set task T's region count to N. */
static int ctl_write(const char *buf, size_t size)
{
	char line[64];
	size_t i = 0;

	while (i < size) {
		size_t j = i, n;
		long t, r;

		while (j < size && buf[j] != '\n')
			j++;
		n = j - i < sizeof line - 1 ? j - i : sizeof line - 1;
		memcpy(line, buf + i, n);
		line[n] = '\0';
		i = j + 1;
		if (strspn(line, " \t") == n)
			continue;
		if (sscanf(line, "%ld %ld", &t, &r) != 2 || t < 1 || t > opt.tasks ||
		    r < 0 || r > MAX_REGIONS)
			return -EINVAL;
		nregions[t] = r;
	}
	return 0;
}

static void fl_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
                     off_t off, struct fuse_file_info *fi)
{
	int rc = 0;

	(void)off;
	(void)fi;
	if (ino_kind(ino) == K_CTL)
		rc = ctl_write(buf, size);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

static void fl_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void fl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!ino_valid(ino)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!is_dir_kind(ino_kind(ino))) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fuse_reply_open(req, fi);
}

static void fl_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

/*
 * Child number pos of directory dir (after "." and ".."), its name and
 * inode; 0 when there is none.  Directory offsets are pos + 3.
 */
static fuse_ino_t nth_child(fuse_ino_t dir, uint64_t pos, char name[24])
{
	unsigned t = ino_task(dir);

	switch (ino_kind(dir)) {
	case K_ROOT:
		if (pos != 0)
			return 0;
		strcpy(name, "tasks");
		return mk_ino(0, 0, K_TASKS);
	case K_TASKS:
		if (pos == 0) {
			strcpy(name, "ctl");
			return mk_ino(0, 0, K_CTL);
		}
		if (pos > (uint64_t)opt.tasks)
			return 0;
		snprintf(name, 24, "%u", (unsigned)pos);
		return mk_ino((unsigned)pos, 0, K_TASK);
	case K_TASK:
		if (pos != 0)
			return 0;
		strcpy(name, "regions");
		return mk_ino(t, 0, K_REGIONS);
	case K_REGIONS:
		if (pos >= (uint64_t)nregions[t])
			return 0;
		region_name(base_addr + (pos << page_shift), name);
		return mk_ino(t, pos, K_REGION);
	case K_REGION:
		if (pos != 0)
			return 0;
		strcpy(name, "protection");
		return mk_ino(t, ino_index(dir), K_PROT);
	default:
		return 0;
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	char *buf = malloc(size);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (!ino_valid(ino)) {
		free(buf);
		fuse_reply_err(req, ENOENT);
		return;
	}
	for (;;) {
		struct fuse_entry_param e;
		char name[24];
		fuse_ino_t child;
		size_t want;

		memset(&e, 0, sizeof e);
		if (off < 2) {
			child = ino;     /* "." and ".." only need a type */
			strcpy(name, off == 0 ? "." : "..");
		} else {
			child = nth_child(ino, (uint64_t)off - 2, name);
			if (!child)
				break;
		}
		e.ino = child;
		fill_attr(child, &e.attr);
		if (plus) {
			if (off < 2) {
				e.ino = 0;        /* no lookup count taken for . and .. */
			} else {
				e.attr_timeout = opt.attr_timeout;
				e.entry_timeout = opt.entry_timeout;
			}
			want = fuse_add_direntry_plus(req, buf + used, size - used, name,
			                              &e, off + 1);
		} else {
			want = fuse_add_direntry(req, buf + used, size - used, name,
			                         &e.attr, off + 1);
		}
		if (want > size - used)
			break;
		used += want;
		off++;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void fl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static struct fuse_lowlevel_ops fl_ops = {
	.init        = fl_init,
	.lookup      = fl_lookup,
	.forget      = fl_forget,
	.forget_multi = fl_forget_multi,
	.getattr     = fl_getattr,
	.setattr     = fl_setattr,
	.open        = fl_open,
	.read        = fl_read,
	.write       = fl_write,
	.release     = fl_release,
	.opendir     = fl_opendir,
	.readdir     = fl_readdir,
	.releasedir  = fl_releasedir,
};

/* ---- main ----------------------------------------------------------------- */

static int parse_u64(const char *what, const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "fsfloor: -o %s=%s: not a number\n", what, s);
		return -1;
	}
	*out = v;
	return 0;
}

static void usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-s] [-o OPTION[,OPTION...]] MOUNTPOINT\n"
	       "\n"
	       "The floor filesystem of the machvmfs benchmarks (see tools/bench/README.md).\n"
	       "\n"
	       "fsfloor options:\n"
	       "    -o entry_timeout=S,attr_timeout=S,negative_timeout=S   (default 0)\n"
	       "    -o direct_io=0|1,keep_cache=0|1,noflush=0|1             (1, 0, 1)\n"
	       "    -o readdirplus=0|1,atomic_o_trunc=0|1,text_size=0|1     (0, 1, 0)\n"
	       "    -o tasks=T,regions=N,base=ADDR,page=P    (8, 1000, 0x100000000, 4096)\n"
	       "\n", prog);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct fuse_session *se;
	int ret = 1;

	if (fuse_opt_parse(&args, &opt, option_spec, NULL) != 0)
		return 1;
	if ((opt.base && parse_u64("base", opt.base, &base_addr) != 0) ||
	    (opt.page && parse_u64("page", opt.page, &page_size) != 0))
		goto out_args;
	if (page_size < 4096 || page_size > 65536 || (page_size & (page_size - 1)) ||
	    (base_addr & (page_size - 1))) {
		fprintf(stderr, "fsfloor: page must be a power of two from 4096 to 65536 "
		        "and base a multiple of it\n");
		goto out_args;
	}
	if (opt.tasks < 1 || opt.tasks > MAX_TASKS || opt.regions < 0 ||
	    opt.regions > MAX_REGIONS) {
		fprintf(stderr, "fsfloor: tasks must be 1..%d and regions 0..%ld\n",
		        MAX_TASKS, MAX_REGIONS);
		goto out_args;
	}
	while ((1ULL << page_shift) < page_size)
		page_shift++;
	for (int t = 1; t <= opt.tasks; t++)
		nregions[t] = opt.regions;
	if (!opt.readdirplus)
		fl_ops.readdirplus = NULL;
	else
		fl_ops.readdirplus = fl_readdirplus;

	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (cmd.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_cmd;
	}
	if (cmd.show_version) {
		fuse_lowlevel_version();
		ret = 0;
		goto out_cmd;
	}
	if (!cmd.mountpoint) {
		fprintf(stderr, "fsfloor: no mount point given\n");
		goto out_cmd;
	}
	clock_gettime(CLOCK_REALTIME, &mount_time);
	mount_uid = getuid();
	mount_gid = getgid();

	se = fuse_session_new(&args, &fl_ops, sizeof fl_ops, NULL);
	if (!se)
		goto out_cmd;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(cmd.foreground);
	/* The same loop as machvmfs's main.c. */
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		if (cfg) {
			fuse_loop_cfg_set_clone_fd(cfg, (unsigned)cmd.clone_fd);
			if (cmd.max_idle_threads != UINT_MAX)
				fuse_loop_cfg_set_idle_threads(cfg, cmd.max_idle_threads);
			if (cmd.max_threads != UINT_MAX)
				fuse_loop_cfg_set_max_threads(cfg, cmd.max_threads);
			ret = fuse_session_loop_mt(se, cfg);
			fuse_loop_cfg_destroy(cfg);
		}
	}
	ret = ret < 0 ? 1 : 0;
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_cmd:
	free(cmd.mountpoint);
out_args:
	free(opt.base);
	free(opt.page);
	fuse_opt_free_args(&args);
	return ret;
}
