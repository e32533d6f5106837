/*
 * main.c - machvmfs: mounts a libmachvm host as a filesystem.
 *
 *   machvmfs [-f] [-d] [-s] [-o page_size=N,allow_other,...] MOUNTPOINT
 *   machvmfs --dump-layout | --help | --version
 *
 * Options are checked before anything is mounted, so a bad one exits 1
 * with a message and leaves no mount behind.
 */
#include "ops.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse_opt.h>
#include <machvm/machvm.h>

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

struct options {
	char *page_size;
	char *state;
	char *events;
	int   dump_layout;
	int   bench_config;
};

#define OPT(t, p, v) { t, offsetof(struct options, p), v }

static const struct fuse_opt option_spec[] = {
	OPT("page_size=%s", page_size, 0),
	OPT("state=%s", state, 0),
	OPT("events=%s", events, 0),
	OPT("--dump-layout", dump_layout, 1),
	OPT("--bench-config", bench_config, 1),
	FUSE_OPT_END
};

static void
usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-s] [-o OPTION[,OPTION...]] MOUNTPOINT\n"
	       "       %s --dump-layout | --help | --version\n"
	       "\n"
	       "Mounts a simulated Mach virtual memory host: tasks, their address maps\n"
	       "and memory, as files (see fs_layout.md).  Unmount with fusermount3 -u.\n"
	       "\n"
	       "machvmfs options:\n"
	       "    -o page_size=N         page size: a power of two from 4096 to 65536\n"
	       "                           (default 4096; K suffix allowed, e.g. 16K)\n"
	       "    -o state=FILE          keep the host in FILE: loaded at mount (a missing\n"
	       "                           FILE starts empty), saved at unmount and by\n"
	       "                           writing 'save' to host/save\n"
	       "    -o events=N            host/events and tasks/<id>/events keep the\n"
	       "                           last N events (default %d)\n"
	       "    --dump-layout          print the file and command tables and exit\n"
	       "    --bench-config         print what the kernel is told to cache, as\n"
	       "                           key=value lines, and exit\n"
	       "\n", prog, prog, DEFAULT_EVENTS);
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
	kr = machvm_host_start(ps);
	if (kr != KERN_SUCCESS) {
		fprintf(stderr, "machvmfs: -o page_size=%s: %s (the page size must be a "
		        "power of two from 4096 to 65536)\n", text, kern_return_name(kr));
		exit(1);
	}
	machvm_host_stop();
	return ps;
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
	struct options opt = { NULL, NULL, NULL, 0, 0 };
	uint64_t keep_events = DEFAULT_EVENTS;
	struct fuse_cmdline_opts cmd;
	struct fuse_session *se;
	vm_size_t page_size;
	char *state_path = NULL;
	int ret = 1;

	const char *why;

	if (fs_tree_check(&why) != 0) {
		fprintf(stderr, "machvmfs: internal error in the file table: %s\n", why);
		return 1;
	}
	if (fuse_opt_parse(&args, &opt, option_spec, NULL) != 0)
		return 1;
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
	if (opt.state && (!opt.state[0] || !(state_path = absolute_path(opt.state)))) {
		fprintf(stderr, "machvmfs: -o state=%s: %s\n", opt.state,
		        opt.state[0] ? "cannot make the path absolute" : "a file name is needed");
		goto out_args;
	}
	page_size = check_page_size(opt.page_size);
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

	fs_log_init(cmd.debug);
	machvm_set_panic_hook(panic_hook);

	/* Read before mounting, so a bad file mounts nothing; the host it
	 * starts is carried through fuse_daemonize's fork. */
	if (state_path) {
		char msg[512];
		struct state_progress progress = { load_progress, NULL, load_progress_ms() };

		if (state_load(state_path, page_size, cmd.foreground ? &progress : NULL,
		               msg, sizeof msg) == STATE_ERROR) {
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

	/* Without a state file, started only now: fuse_daemonize forks, and the
	 * host belongs to the process that serves the mount. */
	if (!state_path && machvm_host_start(page_size) != KERN_SUCCESS) {
		fs_error("cannot start the host");
		goto out_unmount;
	}
	(void)host_page_size(mach_host_self(), &page_size);
	if (fs_events_init((size_t)keep_events) != 0) {
		fs_error("no memory for the events log");
		goto out_unmount;
	}
	fs_coherence_init();
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
	fs_coherence_fini();
	if (state_path) {
		char msg[512];

		if (state_save(state_path, msg, sizeof msg) != 0) {
			fs_error("the host was not saved: %s", msg);
			ret = 1;
		}
	}
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
	free(cmd.mountpoint);
out_args:
	free(opt.page_size);
	free(opt.state);
	free(opt.events);
	free(state_path);
	fuse_opt_free_args(&args);
	return ret;
}
