/*
 * say.h - the messages of src/persist: printf into a caller's buffer.
 */
#ifndef MACHVM_PERSIST_SAY_H
#define MACHVM_PERSIST_SAY_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Formats into msg (cap bytes, always terminated; cut if longer). */
static inline void __attribute__((format(printf, 3, 4)))
say(char *msg, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, cap, fmt, ap);
	va_end(ap);
}

#endif
