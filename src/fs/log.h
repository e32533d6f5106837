/*
 * log.h - the daemon's log: stderr, one line per message.
 *
 * Errors are always written; debug lines only when the daemon runs with -d.
 * Each message is written with one call, so lines of concurrent threads do
 * not interleave.
 */
#ifndef MACHVMFS_LOG_H
#define MACHVMFS_LOG_H

#include <stdbool.h>

void fs_log_init(bool debug);
bool fs_log_debugging(void);

void fs_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fs_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
