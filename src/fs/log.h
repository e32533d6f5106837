/*
 * log.h - the daemon's log: stderr, one line per message.
 *
 * Errors are always written; debug lines only when the daemon runs with -d.
 * Each message is written with one call, so lines of concurrent threads do
 * not interleave.  A daemon that detached writes its stderr to /dev/null,
 * so what its user must hear of (a save that failed) also goes to syslog.
 */
#ifndef MACHVMFS_LOG_H
#define MACHVMFS_LOG_H

#include <stdbool.h>

void fs_log_init(bool debug);
bool fs_log_debugging(void);

void fs_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fs_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* fs_error, and the same text to syslog(3) as "machvmfs[pid]: ..." with
 * LOG_DAEMON | LOG_ERR, so it reaches the journal from a background daemon. */
void fs_error_syslog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
