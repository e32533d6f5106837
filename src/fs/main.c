/*
 * main.c - machvmfs: mounts a libmachvm host as a filesystem.
 *
 *   machvmfs [-f] [-d] [-s] [-o page_size=N,state=FILE,allow_other,...] [SOURCE] MOUNTPOINT
 *   machvmfs --dump-layout | --help | --version
 *
 * Options are checked before anything is mounted, so a bad one exits 1
 * with a message and leaves no mount behind.  SOURCE is what mount(8)
 * passes first (mount -t fuse.machvmfs SOURCE DIR runs "machvmfs SOURCE DIR
 * -o OPTIONS" through mount.fuse3); it names nothing and is ignored.
 */
#include "ops.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fuse_opt.h>
#include <machvm/machvm.h>

#include "../persist/lock.h"
#include "../persist/state.h"
#include "coherence.h"
#include "events.h"
#include "log.h"
#include "parse.h"
#include "save.h"
#include "taskinfo.h"
#include "tree.h"

#define MACHVMFS_VERSION "0.1"

/* The events host/events and tasks/<id>/events keep (-o events=N). */
#define DEFAULT_EVENTS 4096
#define MAX_EVENTS     1000000

/* -o autosave=SECONDS (0: off) and -o lock_timeout=SECONDS, both at most a day. */
#define DEFAULT_LOCK_TIMEOUT 30
#define MAX_SECONDS          86400

struct options {
	char *page_size;
	char *personality;
	char *state;
	char *events;
	char *max_memory;
	char *task_max_wired;
	char *task_max_mapped;
	char *autosave;
	char *lock_timeout;
	int   dump_layout;
	int   bench_config;
	char *nonopt[2];      /* [SOURCE] MOUNTPOINT, as given */
	int   nonopts;
};

#define OPT(t, p, v) { t, offsetof(struct options, p), v }

static const struct fuse_opt option_spec[] = {
	OPT("page_size=%s", page_size, 0),
	OPT("personality=%s", personality, 0),
	OPT("state=%s", state, 0),
	OPT("events=%s", events, 0),
	OPT("max_memory=%s", max_memory, 0),
	OPT("task_max_wired=%s", task_max_wired, 0),
	OPT("task_max_mapped=%s", task_max_mapped, 0),
	OPT("autosave=%s", autosave, 0),
	OPT("lock_timeout=%s", lock_timeout, 0),
	OPT("--dump-layout", dump_layout, 1),
	OPT("--bench-config", bench_config, 1),
	/* fstab's placeholder, which mount.fuse3 run by hand passes on */
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END
};

/* The words that are not options: [SOURCE] MOUNTPOINT, kept aside (a third
 * is counted, to be refused). */
static int
keep_nonopt(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *opt = data;

	(void)outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (opt->nonopts < 2 && !(opt->nonopt[opt->nonopts] = strdup(arg)))
		return -1;
	opt->nonopts++;
	return 0;
}

static void
usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-s] [-o OPTION[,OPTION...]] [SOURCE] MOUNTPOINT\n"
	       "       %s --dump-layout | --help | --version\n"
	       "\n"
	       "Mounts a simulated Mach virtual memory host: tasks, their address maps\n"
	       "and memory, as files (see fs_layout.md).  Unmount with fusermount3 -u.\n"
	       "SOURCE, which mount(8) passes, is ignored: as root,\n"
	       "    mount -t fuse.machvmfs machvmfs DIR -o page_size=16K\n"
	       "or the same in /etc/fstab (machvmfs DIR fuse.machvmfs OPTIONS 0 0) works\n"
	       "when machvmfs is in /usr/local/bin, /usr/bin or /bin.\n"
	       "\n"
	       "machvmfs options:\n"
	       "    -o page_size=N         page size: a power of two from 4096 to 65536\n"
	       "                           (default 4096; K suffix allowed, e.g. 16K)\n"
	       "    -o personality=NAME    whose rules the calls follow where Mach kernels\n"
	       "                           differ: mach (default), gnu (GNU Mach) or xnu\n"
	       "                           (XNU); host/personality shows it\n"
	       "    -o state=FILE          keep the host in FILE: loaded at mount (a missing\n"
	       "                           FILE starts empty), saved at unmount and by\n"
	       "                           writing 'save' to host/save; FILE.lock keeps a\n"
	       "                           second daemon off FILE until this one is done\n"
	       "    -o autosave=SECONDS    with state=: also save every SECONDS when the\n"
	       "                           host has changed (default 0: only at unmount)\n"
	       "    -o lock_timeout=SECONDS  with state=: how long to wait for another\n"
	       "                           daemon to let go of FILE (default %d; 0: not\n"
	       "                           at all) before giving up with exit status 1\n"
	       "    -o events=N            host/events and tasks/<id>/events keep the\n"
	       "                           last N events (default %d)\n"
	       "    -o max_memory=SIZE     the most memory the host may hold (pages, objects,\n"
	       "                           entries, tasks; K, M or G suffix; at least 1M;\n"
	       "                           0: no limit); default a quarter of the\n"
	       "                           machine's memory.  Past it calls fail: ENOMEM\n"
	       "    -o task_max_wired=SIZE  the most one task may have wired, like\n"
	       "                           RLIMIT_MEMLOCK (default 0: no limit)\n"
	       "    -o task_max_mapped=SIZE  the most one task may map, like RLIMIT_AS\n"
	       "                           (default 0: no limit).  Past them: ENOMEM\n"
	       "    --dump-layout          print the file and command tables and exit\n"
	       "    --bench-config         print what the kernel is told to cache, as\n"
	       "                           key=value lines, and exit\n"
	       "\n", prog, prog, DEFAULT_LOCK_TIMEOUT, DEFAULT_EVENTS);
}

/* Engine panics go to the log before the engine aborts. */
static void
panic_hook(const char *message)
{
	fs_error("engine panic: %s", message);
}

/*
 * A load of -o state=FILE that runs for more than a second says how far it
 * got, in the foreground only (a daemon keeps quiet).  MACHVMFS_PROGRESS_MS
 * in the environment sets the second (0: at every region).
 */
#define LOAD_PROGRESS_MS     1000
#define LOAD_PROGRESS_MAX_MS 86400000ull     /* a day: never, in effect */

static void
load_progress(void *arg, const char *path, uint64_t done, uint64_t total)
{
	(void)arg;
	fprintf(stderr, "machvmfs: loading %s: %llu of %llu regions\n", path,
	        (unsigned long long)done, (unsigned long long)total);
}

static uint64_t
load_progress_ms(void)
{
	const char *v = getenv("MACHVMFS_PROGRESS_MS");
	char *end;
	unsigned long long ms;

	if (!v || !*v)
		return LOAD_PROGRESS_MS;
	ms = strtoull(v, &end, 10);
	if (*end || v[0] == '-')
		return LOAD_PROGRESS_MS;
	return ms < LOAD_PROGRESS_MAX_MS ? ms : LOAD_PROGRESS_MAX_MS;
}

/* The page size option as a number, checked by starting (and stopping) a
 * host with it; exits 1 with a message if it is bad. */
static vm_size_t
check_page_size(const char *text)
{
	struct fs_why why;
	uint64_t ps = 0;
	kern_return_t kr;

	if (text && fs_parse_size("page_size", text, &ps, &why) != 0) {
		fprintf(stderr, "machvmfs: -o page_size=%s: %s\n", text, why.text);
		exit(1);
	}
	/* 0 would ask the engine for its default: given, it is a mistake. */
	if (text && ps == 0) {
		fprintf(stderr, "machvmfs: -o page_size=%s: the page size must be a power of "
		        "two from 4096 to 65536\n", text);
		exit(1);
	}
	kr = machvm_host_start(ps);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "machvmfs: -o page_size=%s: %s (the page size must be a "
		        "power of two from 4096 to 65536)\n", text, kern_return_name(kr));
		exit(1);
	}
	machvm_host_stop();
	return ps;
}

/*
 * The -o max_memory limit in bytes: SIZE (at least 1 MiB; 0 for none), or by
 * default a quarter of the machine's memory.  Exits 1 with a message if bad.
 */
static uint64_t
memory_limit(const char *text)
{
	struct fs_why why;
	uint64_t v;

	if (!text) {
		long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

		return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 4 : 0;
	}
	if (fs_parse_size("max_memory", text, &v, &why) != 0) {
		fprintf(stderr, "machvmfs: -o max_memory=%s: %s\n", text, why.text);
		exit(1);
	}
	if (v != 0 && v < ((uint64_t)1 << 20)) {
		fprintf(stderr, "machvmfs: -o max_memory=%s: the limit must be at least 1M "
		        "(or 0 for none)\n", text);
		exit(1);
	}
	return v;
}

/* A limit per task, -o name=text: a size (0: none); exits 1 with a
 * message if bad. */
static uint64_t
task_limit(const char *name, const char *text)
{
	struct fs_why why;
	uint64_t v;

	if (!text)
		return 0;
	if (fs_parse_size(name, text, &v, &why) != 0) {
		fprintf(stderr, "machvmfs: -o %s=%s: %s\n", name, text, why.text);
		exit(1);
	}
	return v;
}

/* The value of -o name=text, a number of seconds up to MAX_SECONDS, in
 * *out; 0, or -1 after a message. */
static int
seconds_option(const char *name, const char *text, unsigned *out)
{
	struct fs_why why;
	uint64_t v;

	if (fs_parse_number(name, text, &v, &why) != 0) {
		fprintf(stderr, "machvmfs: -o %s=%s: %s\n", name, text, why.text);
		return -1;
	}
	if (v > MAX_SECONDS) {
		fprintf(stderr, "machvmfs: -o %s=%s: at most %d seconds (a day)\n", name, text,
		        MAX_SECONDS);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* Said once by a daemon that must wait for another one's lock. */
static void
lock_waiting(const char *lock_path, pid_t holder, unsigned timeout)
{
	if (holder)
		fprintf(stderr, "machvmfs: %s is held by machvmfs pid %ld: waiting up to %u s "
		        "for it to finish saving\n", lock_path, (long)holder, timeout);
	else
		fprintf(stderr, "machvmfs: %s is held by another process: waiting up to %u s "
		        "for it to finish\n", lock_path, timeout);
}

/* 1 if the filesystem of device dev is a machvmfs mount (its type in
 * /proc/self/mountinfo is fuse.machvmfs), else 0. */
static int
machvmfs_device(dev_t dev)
{
	char line[4096], want[64];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 0;

	if (!f)
		return 0;
	snprintf(want, sizeof want, "%u:%u", major(dev), minor(dev));
	/* id parent major:minor root mountpoint options [optional...] - type ... */
	while (!found && fgets(line, sizeof line, f)) {
		char *field[3], *sep, *save = NULL, *tok;
		int n = 0;

		for (tok = strtok_r(line, " ", &save); tok && n < 3; tok = strtok_r(NULL, " ", &save))
			field[n++] = tok;
		if (n < 3 || strcmp(field[2], want) != 0 || !save ||
		    !(sep = strstr(save, " - ")))
			continue;
		found = strncmp(sep + 3, "fuse.machvmfs ", 14) == 0;
	}
	fclose(f);
	return found;
}

/* Refuses (exit 1, with a message) a mount point that cannot hold a
 * machvmfs: one that is not there, not a directory, or already a machvmfs
 * mount or inside one.  The kernel would mount on a file, or on top of
 * another machvmfs, and every access would then fail. */
static int
check_mountpoint(const char *path)
{
	struct stat st, up;
	char *parent;
	int top;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "machvmfs: mount point %s: %s%s\n", path, strerror(errno),
		        errno == ENOTCONN ? " (a FUSE mount whose daemon is gone: "
		        "fusermount3 -u it first)" : "");
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "machvmfs: mount point %s: not a directory\n", path);
		return -1;
	}
	if (machvmfs_device(st.st_dev)) {
		if (asprintf(&parent, "%s/..", path) < 0)
			return -1;
		top = stat(parent, &up) != 0 || up.st_dev != st.st_dev;
		free(parent);
		fprintf(stderr, "machvmfs: mount point %s: %s\n", path,
		        top ? "already holds a machvmfs mount (fusermount3 -u it first)"
		            : "is inside a machvmfs mount");
		return -1;
	}
	return 0;
}

/* path made absolute (fuse_daemonize moves to "/"); NULL if it cannot be. */
static char *
absolute_path(const char *path)
{
	char cwd[PATH_MAX], *out;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof cwd) || asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

int
main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options opt = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, { NULL, NULL }, 0 };
	machvm_personality_t personality = MACHVM_PERSONALITY_MACH;
	uint64_t keep_events = DEFAULT_EVENTS;
	struct fuse_cmdline_opts cmd;
	struct fuse_session *se;
	vm_size_t page_size;
	uint64_t max_memory;
	machvm_task_limits_t task_limits;
	char *state_path = NULL;
	unsigned autosave = 0, lock_timeout = DEFAULT_LOCK_TIMEOUT;
	int lock_fd = -1, ret = 1;

	const char *why;

	if (fs_tree_check(&why) != 0) {
		fprintf(stderr, "machvmfs: internal error in the file table: %s\n", why);
		return 1;
	}
	if (fuse_opt_parse(&args, &opt, option_spec, keep_nonopt) != 0)
		goto out_args;
	if (opt.dump_layout) {
		fs_dump_layout(stdout);
		ret = fflush(stdout) == 0 ? 0 : 1;
		goto out_args;
	}
	if (opt.bench_config) {
		fs_ops_bench_config(stdout);
		ret = fflush(stdout) == 0 ? 0 : 1;
		goto out_args;
	}
	/* Our own options first: a bad one must be reported as itself even when
	 * the mount point is bad too. */
	if (opt.state && (!opt.state[0] || opt.state[strlen(opt.state) - 1] == '/' ||
	                  !(state_path = absolute_path(opt.state)))) {
		fprintf(stderr, "machvmfs: -o state=%s: %s\n", opt.state,
		        !opt.state[0] || opt.state[strlen(opt.state) - 1] == '/' ?
		        "a file name is needed" : "cannot make the path absolute");
		goto out_args;
	}
	page_size = check_page_size(opt.page_size);
	max_memory = memory_limit(opt.max_memory);
	task_limits.max_wired = task_limit("task_max_wired", opt.task_max_wired);
	task_limits.max_mapped = task_limit("task_max_mapped", opt.task_max_mapped);
	if (opt.personality &&
	    machvm_personality_parse(opt.personality, &personality) != KERN_SUCCESS) {
		fprintf(stderr, "machvmfs: -o personality=%s: the personality must be mach, gnu "
		        "or xnu\n", opt.personality);
		goto out_args;
	}
	if (opt.events) {
		struct fs_why why;

		if (fs_parse_number("events", opt.events, &keep_events, &why) != 0 ||
		    keep_events == 0 || keep_events > MAX_EVENTS) {
			fprintf(stderr, "machvmfs: -o events=%s: %s\n", opt.events,
			        keep_events == 0 || keep_events > MAX_EVENTS ?
			        "the events kept must be a number from 1 to 1000000" : why.text);
			goto out_args;
		}
	}
	if (opt.autosave && seconds_option("autosave", opt.autosave, &autosave) != 0)
		goto out_args;
	if (opt.lock_timeout && seconds_option("lock_timeout", opt.lock_timeout,
	                                       &lock_timeout) != 0)
		goto out_args;
	if ((opt.autosave || opt.lock_timeout) && !opt.state) {
		fprintf(stderr, "machvmfs: -o %s: only with -o state=FILE\n",
		        opt.autosave ? "autosave" : "lock_timeout");
		goto out_args;
	}
	/* [SOURCE] MOUNTPOINT: the mount point, the last word, goes back for
	 * libfuse to find; the source is dropped. */
	if (opt.nonopts > 2) {
		fprintf(stderr, "machvmfs: too many arguments: only [SOURCE] MOUNTPOINT\n");
		goto out_args;
	}
	if (opt.nonopts > 0 && fuse_opt_add_arg(&args, opt.nonopt[opt.nonopts - 1]) != 0)
		goto out_args;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (cmd.show_help) {
		usage(argv[0]);
		printf("FUSE options:\n");
		fflush(stdout);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_cmd;
	}
	if (cmd.show_version) {
		printf("machvmfs version %s\n", MACHVMFS_VERSION);
		fflush(stdout);
		fuse_lowlevel_version();
		ret = 0;
		goto out_cmd;
	}
	if (!cmd.mountpoint) {
		fprintf(stderr, "machvmfs: no mount point given\n");
		usage(argv[0]);
		goto out_cmd;
	}
	if (check_mountpoint(cmd.mountpoint) != 0)
		goto out_cmd;

	fs_log_init(cmd.debug);
	machvm_set_panic_hook(panic_hook);

	/* Read before mounting, so a bad file mounts nothing; the host it
	 * starts is carried through fuse_daemonize's fork.  Read under the
	 * file's lock, held until the final save is in place: a daemon still
	 * saving it is waited for. */
	if (state_path) {
		char msg[512];
		struct state_progress progress = { load_progress, NULL, load_progress_ms() };

		lock_fd = state_lock(state_path, lock_timeout, lock_waiting, msg, sizeof msg);
		if (lock_fd < 0) {
			fprintf(stderr, "machvmfs: %s\n", msg);
			goto out_cmd;
		}
		if (state_load(state_path, page_size, opt.personality ? (int)personality : -1,
		               cmd.foreground ? &progress : NULL, msg, sizeof msg) == STATE_ERROR) {
			fprintf(stderr, "machvmfs: %s\n", msg);   /* msg names the file */
			goto out_cmd;
		}
		fs_save_init(state_path);
	}

	fs_taskinfo_init(getuid(), getgid());
	fs_ops_init(getuid(), getgid());

	se = fuse_session_new(&args, &fs_ops, sizeof fs_ops, NULL);
	if (!se)
		goto out_cmd;
	fs_ops_session(se);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(cmd.foreground);
	if (lock_fd >= 0)
		state_lock_owner(lock_fd);     /* the pid that serves, after the fork */

	/* Without a state file, started only now: fuse_daemonize forks, and the
	 * host belongs to the process that serves the mount. */
	if (!state_path && (machvm_host_start(page_size) != KERN_SUCCESS ||
	                    machvm_host_set_personality(personality) != KERN_SUCCESS)) {
		fs_error("cannot start the host");
		goto out_unmount;
	}
	(void)host_page_size(mach_host_self(), &page_size);
	/* After the load: a state file holding more still loads, and the host
	 * then only refuses to grow. */
	(void)machvm_host_set_memory_limit(max_memory);
	(void)machvm_host_set_task_limits(&task_limits);
	if (fs_events_init((size_t)keep_events) != 0) {
		fs_error("no memory for the events log");
		goto out_unmount;
	}
	fs_coherence_init();
	if (fs_autosave_start(autosave) != 0)
		fs_error("cannot start the autosave thread: saving only at unmount");
	fs_debug("serving %s, page size %llu, %s", cmd.mountpoint,
	         (unsigned long long)page_size,
	         cmd.singlethread ? "single-threaded" : "multithreaded");
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		if (!cfg) {
			fs_error("out of memory");
		} else {
			fuse_loop_cfg_set_clone_fd(cfg, (unsigned)cmd.clone_fd);
			/* UINT_MAX: not given, keep libfuse's default. */
			if (cmd.max_idle_threads != UINT_MAX)
				fuse_loop_cfg_set_idle_threads(cfg, cmd.max_idle_threads);
			if (cmd.max_threads != UINT_MAX)
				fuse_loop_cfg_set_max_threads(cfg, cmd.max_threads);
			ret = fuse_session_loop_mt(se, cfg);
			fuse_loop_cfg_destroy(cfg);
		}
	}
	/* A signal ends the loop with its number: a clean stop too. */
	ret = ret < 0 ? 1 : 0;
	fs_autosave_stop();
	fs_coherence_fini();
	if (state_path) {
		char msg[512];

		/* The daemon's stderr is /dev/null once detached: syslog too. */
		if (state_save(state_path, msg, sizeof msg) != 0) {
			fs_error_syslog("the host was not saved: %s", msg);
			ret = 1;
		}
	}
	state_unlock(lock_fd);          /* the next daemon may load it now */
	lock_fd = -1;
	machvm_host_stop();
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
	fs_events_fini();
	fs_taskinfo_fini();
out_cmd:
	state_unlock(lock_fd);
	free(cmd.mountpoint);
out_args:
	free(opt.page_size);
	free(opt.personality);
	free(opt.state);
	free(opt.events);
	free(opt.max_memory);
	free(opt.task_max_wired);
	free(opt.task_max_mapped);
	free(opt.autosave);
	free(opt.lock_timeout);
	free(opt.nonopt[0]);
	free(opt.nonopt[1]);
	free(state_path);
	fuse_opt_free_args(&args);
	return ret;
}
