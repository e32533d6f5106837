/*
 * log.c - see log.h.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static bool debugging;

void
fs_log_init(bool debug)
{
	debugging = debug;
	/* Connects at the first message, so a daemon that logs none never
	 * opens /dev/log. */
	openlog("machvmfs", LOG_PID, LOG_DAEMON);
}

bool
fs_log_debugging(void)
{
	return debugging;
}

/* Formats the whole line first so that one fputs writes it; to syslog too
 * (without the "machvmfs: " that syslog's own tag replaces) if asked. */
static void
emit(const char *level, bool to_syslog, const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "machvmfs: %s", level);

	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	flockfile(stderr);
	fputs(line, stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
	if (to_syslog)
		syslog(LOG_ERR, "%s", line + strlen("machvmfs: "));
}

void
fs_debug(const char *fmt, ...)
{
	va_list ap;

	if (!debugging)
		return;
	va_start(ap, fmt);
	emit("", false, fmt, ap);
	va_end(ap);
}

void
fs_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("error: ", false, fmt, ap);
	va_end(ap);
}

void
fs_error_syslog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("error: ", true, fmt, ap);
	va_end(ap);
}
