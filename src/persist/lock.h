/*
 * lock.h - one daemon at a time on a state file.
 *
 * The lock is an exclusive flock(2) on FILE.lock beside FILE, taken before
 * FILE is read and held until the last save has been renamed into place
 * (the process's exit drops it too, even after a kill -9).  A daemon that
 * finds it taken waits for it, so a machvmfs started just after another
 * one's unmount loads what that one saved instead of reading a file it is
 * still writing.
 *
 * FILE.lock is never removed.  It holds the pid of the daemon that locked
 * it last, in decimal, so a waiting daemon can say whom it waits for.
 * Since the daemon writes into it, it is only used if it is safe to: a
 * regular file, not reached through a symbolic link, owned by the user the
 * daemon runs as, with exactly one link, the one beside FILE.  Anything
 * else (planted by someone who can write FILE's folder) is refused.
 */
#ifndef MACHVMFS_LOCK_H
#define MACHVMFS_LOCK_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Called once if the lock is taken when first tried, before waiting:
 * lock_path is FILE.lock, holder the pid written in it (0 if none could
 * be read), timeout the seconds the caller will wait.
 */
typedef void state_lock_wait_fn(const char *lock_path, pid_t holder, unsigned timeout);

/*
 * Takes the lock of the state file at path (absolute), creating path.lock
 * (mode 0600) if needed, waiting up to timeout seconds (0: not at all) for
 * another holder to let go, and calling waiting first if it must wait.
 * Writes the caller's pid into the lock file.  Returns the lock's file
 * descriptor (close-on-exec), or -1 with the reason in msg (cap bytes),
 * naming the file and, on a timeout, the holder's pid.
 */
int state_lock(const char *path, unsigned timeout, state_lock_wait_fn *waiting,
               char *msg, size_t cap);

/* Writes the caller's pid into the lock file again: for the process that
 * goes on holding the lock after a fork (fuse_daemonize). */
void state_lock_owner(int fd);

/* Lets go of the lock (fd from state_lock; -1 does nothing). */
void state_unlock(int fd);

#endif
