/*
 * save.c - see save.h.
 */
#include "save.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <machvm/machvm.h>

#include "../persist/state.h"
#include "coherence.h"
#include "ctl.h"
#include "log.h"

static const char *state_path;

void
fs_save_init(const char *path)
{
	state_path = path;
}

/* The privilege check is the verb's owner column (ctl.c). */
kern_return_t
fs_call_save(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
             struct fs_run *r)
{
	char msg[160];

	(void)n;
	(void)ctx;
	(void)c;
	if (state_save(state_path, msg, sizeof msg) != 0) {
		fs_error("host/save: %s", msg);
		snprintf(r->call, sizeof r->call, "saving the host (%s)", msg);
		return KERN_FAILURE;
	}
	fs_debug("host/save: saved to %s", state_path);
	return KERN_SUCCESS;
}

int
fs_read_save(const struct fs_node *n, struct fs_buf *out)
{
	(void)n;
	return fs_usage_text(FS_L_HOST, out);
}

int
fs_write_save(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	(void)n;
	if (strcmp(line, "save") != 0) {
		fs_why_set(why, "the only command is 'save'");
		return -1;
	}
	if (!state_path) {
		fs_why_set(why, "no state file: mount with -o state=FILE");
		return -1;
	}
	c->verb = fs_verb_named(FS_L_HOST, "save");
	return 0;
}

/* ---- autosave ---------------------------------------------------------- */

/* What a save would write has changed since the last picture when a call
 * has reported (every change to a map, a byte or a task reports) or a read
 * has faulted (fault counters are saved). */
struct picture {
	uint64_t gen;
	uint64_t faults;
};

static struct picture
picture_now(void)
{
	machvm_host_stats_t st;
	struct picture p = { fs_coherence_content_gen(), 0 };

	if (machvm_host_stats(&st) == KERN_SUCCESS)
		p.faults = st.faults;
	return p;
}

/*
 * Lock legend: autosave.lock guards stop (and orders the thread's sleep
 * against fs_autosave_stop's wake-up).  The rest belongs to the thread.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t  wake;
	pthread_t       thread;
	bool            running;
	bool            stop;
	unsigned        seconds;
	struct picture  first;  /* the host as loaded, taken before serving */
} autosave = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *
autosave_main(void *arg)
{
	/* Not taken here: the thread may first run after the first changes. */
	struct picture saved = autosave.first;
	char failed[512] = "";
	struct timespec until, now;

	(void)arg;
	pthread_mutex_lock(&autosave.lock);
	clock_gettime(CLOCK_MONOTONIC, &until);
	for (;;) {
		struct picture pic;
		char msg[512];

		/* A save longer than the period is followed by the next one
		 * period after it ends, not by a burst of the rounds it missed. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (until.tv_sec < now.tv_sec)
			until = now;
		until.tv_sec += autosave.seconds;
		while (!autosave.stop &&
		       pthread_cond_timedwait(&autosave.wake, &autosave.lock, &until) != ETIMEDOUT)
			;
		if (autosave.stop)
			break;
		pthread_mutex_unlock(&autosave.lock);
		/* Taken before the export: a change made during it moves the
		 * picture again, so it is saved by the next round. */
		pic = picture_now();
		if (pic.gen != saved.gen || pic.faults != saved.faults) {
			/* Never a batch half done: its tasks are held exclusively. */
			fs_batch_shared_lock();
			int bad = state_save(state_path, msg, sizeof msg);
			fs_batch_shared_unlock();
			if (bad == 0) {
				saved = pic;
				failed[0] = '\0';
				fs_debug("autosave: saved to %s", state_path);
			} else if (strcmp(msg, failed) != 0) {
				/* Once per reason, not once per period. */
				fs_error_syslog("autosave failed, trying again every %u s: %s",
				                autosave.seconds, msg);
				snprintf(failed, sizeof failed, "%s", msg);
			}
		}
		pthread_mutex_lock(&autosave.lock);
	}
	pthread_mutex_unlock(&autosave.lock);
	return NULL;
}

int
fs_autosave_start(unsigned seconds)
{
	pthread_condattr_t attr;
	sigset_t all, old;
	int rc;

	if (seconds == 0 || !state_path)
		return 0;
	if (pthread_condattr_init(&attr) != 0)
		return -1;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&autosave.wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return -1;
	autosave.seconds = seconds;
	autosave.stop = false;
	autosave.first = picture_now();
	/* Signals stay with the threads libfuse expects them on. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&autosave.thread, NULL, autosave_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&autosave.wake);
		return -1;
	}
	autosave.running = true;
	return 0;
}

void
fs_autosave_stop(void)
{
	if (!autosave.running)
		return;
	pthread_mutex_lock(&autosave.lock);
	autosave.stop = true;
	pthread_cond_signal(&autosave.wake);
	pthread_mutex_unlock(&autosave.lock);
	pthread_join(autosave.thread, NULL);
	pthread_cond_destroy(&autosave.wake);
	autosave.running = false;
}
