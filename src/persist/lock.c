/*
 * lock.c - see lock.h.
 */
#include "lock.h"
#include "say.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How often a waiting daemon tries the lock again. */
#define LOCK_POLL_NS (20 * 1000 * 1000L)

/*
 * Opens (creating if needed) the lock file and checks that writing into it
 * can only reach a file of ours: O_NOFOLLOW refuses a symbolic link,
 * O_NONBLOCK keeps a FIFO from hanging the open, and the checks after it
 * refuse anything but a regular file of our user whose one link is the
 * name we opened (not a hard link to a file elsewhere).  The fd or -1.
 */
static int
open_lock_file(const char *lock_path, char *msg, size_t cap)
{
	struct stat st, named;
	int fd;

	fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == ELOOP)
			say(msg, cap, "%s: is a symbolic link: refused (the lock file must be a "
			    "regular file; remove it)", lock_path);
		else if (errno == EISDIR)
			say(msg, cap, "%s: not a regular file: refused (remove it)", lock_path);
		else
			say(msg, cap, "%s: cannot create the lock file (%s): its folder is missing or "
			    "not writable", lock_path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		say(msg, cap, "%s: cannot stat the lock file: %s", lock_path, strerror(errno));
		goto refuse;
	}
	if (!S_ISREG(st.st_mode)) {
		say(msg, cap, "%s: not a regular file: refused (remove it)", lock_path);
		goto refuse;
	}
	if (st.st_uid != geteuid()) {
		say(msg, cap, "%s: belongs to uid %u, not to uid %u that runs machvmfs: refused "
		    "(remove it)", lock_path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto refuse;
	}
	if (st.st_nlink != 1 || lstat(lock_path, &named) != 0 ||
	    named.st_dev != st.st_dev || named.st_ino != st.st_ino) {
		say(msg, cap, "%s: has other links, or changed while it was opened: refused "
		    "(remove it)", lock_path);
		goto refuse;
	}
	return fd;
refuse:
	close(fd);
	return -1;
}

/* The pid the lock file names, 0 if it names none. */
static pid_t
holder_of(int fd)
{
	char text[24];
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	text[n] = '\0';
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno || end == text || (*end != '\n' && *end != '\0') || pid <= 0 || pid > INT_MAX)
		return 0;
	return (pid_t)pid;
}

void
state_lock_owner(int fd)
{
	char text[24];
	int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());

	/* Only a hint for waiting daemons: a failure changes nothing else. */
	if (pwrite(fd, text, (size_t)n, 0) == n)
		(void)ftruncate(fd, n);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
state_lock(const char *path, unsigned timeout, state_lock_wait_fn *waiting,
           char *msg, size_t cap)
{
	char lock_path[PATH_MAX];
	bool told = false;
	double deadline = now() + timeout;
	int fd;

	if (snprintf(lock_path, sizeof lock_path, "%s.lock", path) >= (int)sizeof lock_path) {
		say(msg, cap, "%s: the path is too long", path);
		return -1;
	}
	fd = open_lock_file(lock_path, msg, cap);
	if (fd < 0)
		return -1;
	for (;;) {
		struct timespec pause = { 0, LOCK_POLL_NS };
		pid_t holder;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			say(msg, cap, "%s: cannot lock: %s", lock_path, strerror(errno));
			close(fd);
			return -1;
		}
		holder = holder_of(fd);
		if (now() >= deadline) {
			if (holder)
				say(msg, cap, "%s: in use by machvmfs pid %ld (it holds %s); gave up "
				    "after %u s (-o lock_timeout)", path, (long)holder, lock_path, timeout);
			else
				say(msg, cap, "%s: in use by another process (it holds %s); gave up "
				    "after %u s (-o lock_timeout)", path, lock_path, timeout);
			close(fd);
			return -1;
		}
		if (!told && waiting)
			waiting(lock_path, holder, timeout);
		told = true;
		nanosleep(&pause, NULL);
	}
	state_lock_owner(fd);
	return fd;
}

void
state_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
