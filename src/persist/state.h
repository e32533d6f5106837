/*
 * state.h - the whole host kept in a JSON file (machvmfs -o state=FILE).
 *
 * The file holds everything the engine's export gives (persist.h): page
 * size, next ids, counters, every memory object with its pages in base64,
 * every task with its map entries.  fs_layout.md describes the format.
 * A file is input from outside: loading checks every field and the engine
 * checks the whole, and a file that fails is refused with a message that
 * names it and says what is wrong.
 */
#ifndef MACHVMFS_STATE_H
#define MACHVMFS_STATE_H

#include <stddef.h>
#include <stdint.h>

enum state_load_result {
	STATE_LOADED,           /* the host (started) is the file's */
	STATE_MISSING,          /* no such file: an empty host was started */
	STATE_ERROR,            /* msg says why; the host is stopped */
};

/*
 * How a long load is going.  fn is told how many of the file's regions
 * (map entries, all tasks together) the engine has been given (from 0, once
 * the file is parsed): first once the load has run for interval_ms, then at
 * most every interval_ms, and last with done == total if it was told
 * anything before.  A quick load never calls it.  fn runs on the loading
 * thread and may print.
 */
struct state_progress {
	void (*fn)(void *arg, const char *path, uint64_t done, uint64_t total);
	void *arg;
	uint64_t interval_ms;
};

/*
 * Starts the host (which must be stopped) from the file at path.
 * page_size is the size asked for on the command line, 0 if none: a file
 * holding another page size is an error; a missing file starts an empty
 * host with it (0: the default).  personality likewise (a
 * machvm_personality_t, -1 if none asked for): a file holding another is
 * an error (a file without the field holds a mach host); a missing file
 * starts the host with it (-1: mach).  Either way the file's folder must let a
 * later save write there.  A path that is a symbolic link or not a regular
 * file (a FIFO is never waited on) is refused.  The file is read whole, then
 * parsed, then handed to the engine's import, which refuses a host that
 * breaks any of its invariants.  progress may be NULL.  msg (cap bytes) gets
 * the reason on STATE_ERROR.  The file is only read, never changed.  The
 * caller holds the file's lock (lock.h).
 */
enum state_load_result state_load(const char *path, uint64_t page_size, int personality,
                                  const struct state_progress *progress,
                                  char *msg, size_t cap);

/*
 * Writes the running host to path: to a new file beside it first (named
 * path.tmp. and 8 random letters, created with O_EXCL|O_NOFOLLOW, mode
 * 0600), synced, then renamed over path, so path always holds a whole
 * host, old or new.  A path that is a symbolic link or not a regular file
 * is refused, never written through.  Saves are serialised.  0, or -1
 * with the reason in msg.
 */
int state_save(const char *path, char *msg, size_t cap);

#endif
