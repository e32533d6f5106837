/*
 * parse.c - the daemon's only text parser.
 *
 * Numbers are parsed by hand rather than with strtoull: strtoull accepts a
 * sign, leading spaces and "0" octal, and reports overflow through errno,
 * all of which would make "-1" or " 12" valid sizes.  Here a number is
 * nothing but digits (after an optional 0x), and every step that could
 * overflow 64 bits is checked before it is taken.
 */
#include "parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <machvm/vm_types.h>

void
fs_why_set(struct fs_why *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why->text, sizeof why->text, fmt, ap);
	va_end(ap);
}

/* Parses digits of base 10 or 16 from s up to end; -1 on overflow, no digit, or another character. */
static int
digits(const char *s, const char *end, unsigned base, uint64_t *out)
{
	uint64_t v = 0;

	if (s == end)
		return -1;
	for (; s < end; s++) {
		unsigned d;
		int c = (unsigned char)*s;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		if (v > (UINT64_MAX - d) / base)
			return -1;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

/* True if s is "0x" / "0X" followed by something. */
static bool
hex_prefix(const char *s)
{
	return s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

/* A number from s to end, decimal or 0x hex; -1 if that is not what it is. */
static int
number_span(const char *s, const char *end, uint64_t *out)
{
	if (end - s >= 2 && hex_prefix(s))
		return digits(s + 2, end, 16, out);
	return digits(s, end, 10, out);
}

/* What kind of mistake s holds, for the message: "too large" or "not a number". */
static const char *
number_problem(const char *s, const char *end)
{
	const char *p = s;
	unsigned base = 10;

	if (end - s >= 2 && hex_prefix(s)) {
		p += 2;
		base = 16;
	}
	if (p == end)
		return "is not a number";
	for (; p < end; p++)
		if (!(isdigit((unsigned char)*p) || (base == 16 && isxdigit((unsigned char)*p))))
			return "is not a number (decimal, or hex with 0x)";
	return "is too large for 64 bits";
}

int
fs_parse_number(const char *what, const char *s, uint64_t *out, struct fs_why *why)
{
	const char *end = s + strlen(s);

	if (number_span(s, end, out) == 0)
		return 0;
	fs_why_set(why, "%s '%s' %s", what, s, number_problem(s, end));
	return -1;
}

int
fs_parse_size(const char *what, const char *s, uint64_t *out, struct fs_why *why)
{
	const char *end = s + strlen(s);
	unsigned shift = 0;
	uint64_t v;

	/* K, M and G are not hex digits, so a suffix is never mistaken for
	 * part of a 0x number ("0x10K" is 16 KiB). */
	if (end > s) {
		switch (end[-1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		}
	}
	if (number_span(s, end - (shift ? 1 : 0), &v) != 0) {
		fs_why_set(why, "%s '%s' %s", what, s,
		           shift ? "is not a size (a number with an optional K, M or G)"
		                 : number_problem(s, end));
		return -1;
	}
	if (shift && v > (UINT64_MAX >> shift)) {
		fs_why_set(why, "%s '%s' is too large for 64 bits", what, s);
		return -1;
	}
	*out = v << shift;
	return 0;
}

int
fs_parse_task(const char *what, const char *s, task_t *out, struct fs_why *why)
{
	uint64_t v;

	if (fs_parse_number(what, s, &v, why) != 0)
		return -1;
	if (v == 0 || v > UINT32_MAX) {
		fs_why_set(why, "%s '%s' is not a task id (1 to 4294967295)", what, s);
		return -1;
	}
	*out = (task_t)v;
	return 0;
}

/* One VM_PROT_* name (without spaces); -1 if it is none. */
static int
prot_name(const char *s, size_t len, vm_prot_t *out)
{
	static const struct { const char *name; vm_prot_t v; } names[] = {
		{ "VM_PROT_NONE", VM_PROT_NONE },
		{ "VM_PROT_READ", VM_PROT_READ },
		{ "VM_PROT_WRITE", VM_PROT_WRITE },
		{ "VM_PROT_EXECUTE", VM_PROT_EXECUTE },
		{ "VM_PROT_DEFAULT", VM_PROT_DEFAULT },
		{ "VM_PROT_ALL", VM_PROT_ALL },
		/* The bit 0x10 one personality each takes (the engine decides). */
		{ "VM_PROT_NOTIFY", VM_PROT_NOTIFY },
		{ "VM_PROT_COPY", VM_PROT_COPY },
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i].name) == len && strncasecmp(s, names[i].name, len) == 0) {
			*out = names[i].v;
			return 0;
		}
	return -1;
}

/* "VM_PROT_READ|VM_PROT_WRITE", spaces allowed around '|'. */
static int
prot_names(const char *s, vm_prot_t *out)
{
	vm_prot_t v = 0;

	for (;;) {
		const char *bar = strchr(s, '|');
		const char *end = bar ? bar : s + strlen(s);
		vm_prot_t one;

		while (s < end && isspace((unsigned char)*s))
			s++;
		while (end > s && isspace((unsigned char)end[-1]))
			end--;
		if (prot_name(s, (size_t)(end - s), &one) != 0)
			return -1;
		v |= one;
		if (!bar)
			break;
		s = bar + 1;
	}
	*out = v;
	return 0;
}

/* "rwx" letters in that order with '-' for absent ones, 1 to 3 characters. */
static int
prot_letters(const char *s, vm_prot_t *out)
{
	static const char order[] = "rwx";
	size_t len = strlen(s);
	int next = 0;           /* index in order[] the next letter may take */
	vm_prot_t v = 0;

	if (len == 0 || len > 3)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int c = tolower((unsigned char)s[i]);
		const char *at;

		if (c == '-')
			continue;
		at = c ? strchr(order, c) : NULL;
		if (!at || at - order < next)
			return -1;
		next = (int)(at - order) + 1;
		v |= (vm_prot_t)1 << (at - order);
	}
	*out = v;
	return 0;
}

int
fs_parse_prot(const char *s, vm_prot_t *out, struct fs_why *why)
{
	if (strcasecmp(s, "none") == 0) {
		*out = VM_PROT_NONE;
		return 0;
	}
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0') {
		*out = s[0] - '0';
		return 0;
	}
	if (prot_letters(s, out) == 0 || prot_names(s, out) == 0)
		return 0;
	fs_why_set(why, "protection '%s' is not rwx letters with '-', none, "
	           "an octal digit or VM_PROT_* names joined by '|'", s);
	return -1;
}

/* A keyword table entry: a name and the value it stands for. */
struct keyword {
	const char *name;
	int value;
};

static int
keyword(const struct keyword *k, size_t n, const char *s, int *out)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s, k[i].name) == 0) {
			*out = k[i].value;
			return 0;
		}
	return -1;
}

int
fs_parse_inherit(const char *s, vm_inherit_t *out, struct fs_why *why)
{
	static const struct keyword k[] = {
		{ "share", VM_INHERIT_SHARE }, { "copy", VM_INHERIT_COPY },
		{ "none", VM_INHERIT_NONE },
		{ "VM_INHERIT_SHARE", VM_INHERIT_SHARE }, { "VM_INHERIT_COPY", VM_INHERIT_COPY },
		{ "VM_INHERIT_NONE", VM_INHERIT_NONE }, { "VM_INHERIT_DEFAULT", VM_INHERIT_DEFAULT },
		{ "0", VM_INHERIT_SHARE }, { "1", VM_INHERIT_COPY }, { "2", VM_INHERIT_NONE },
	};
	int v;

	if (keyword(k, sizeof k / sizeof k[0], s, &v) == 0) {
		*out = (vm_inherit_t)v;
		return 0;
	}
	fs_why_set(why, "inheritance '%s' is not share, copy, none, "
	           "VM_INHERIT_* or 0, 1, 2", s);
	return -1;
}

int
fs_parse_attr(const char *s, vm_machine_attribute_t *out, struct fs_why *why)
{
	static const struct keyword k[] = {
		{ "cache", MATTR_CACHE }, { "migrate", MATTR_MIGRATE },
		{ "replicate", MATTR_REPLICATE },
		{ "MATTR_CACHE", MATTR_CACHE }, { "MATTR_MIGRATE", MATTR_MIGRATE },
		{ "MATTR_REPLICATE", MATTR_REPLICATE },
		{ "1", MATTR_CACHE }, { "2", MATTR_MIGRATE }, { "4", MATTR_REPLICATE },
	};
	int v;

	if (keyword(k, sizeof k / sizeof k[0], s, &v) == 0) {
		*out = (vm_machine_attribute_t)v;
		return 0;
	}
	fs_why_set(why, "attribute '%s' is not cache, migrate, replicate or MATTR_*", s);
	return -1;
}

int
fs_parse_attr_value(const char *s, vm_machine_attribute_val_t *out, struct fs_why *why)
{
	static const struct keyword k[] = {
		{ "off", MATTR_VAL_OFF }, { "on", MATTR_VAL_ON }, { "get", MATTR_VAL_GET },
		{ "flush", MATTR_VAL_CACHE_FLUSH }, { "cache_flush", MATTR_VAL_CACHE_FLUSH },
		{ "dcache_flush", MATTR_VAL_DCACHE_FLUSH },
		{ "icache_flush", MATTR_VAL_ICACHE_FLUSH },
		{ "MATTR_VAL_OFF", MATTR_VAL_OFF }, { "MATTR_VAL_ON", MATTR_VAL_ON },
		{ "MATTR_VAL_GET", MATTR_VAL_GET },
		{ "MATTR_VAL_CACHE_FLUSH", MATTR_VAL_CACHE_FLUSH },
		{ "MATTR_VAL_DCACHE_FLUSH", MATTR_VAL_DCACHE_FLUSH },
		{ "MATTR_VAL_ICACHE_FLUSH", MATTR_VAL_ICACHE_FLUSH },
		{ "0", MATTR_VAL_OFF }, { "1", MATTR_VAL_ON }, { "2", MATTR_VAL_GET },
		{ "6", MATTR_VAL_CACHE_FLUSH }, { "7", MATTR_VAL_DCACHE_FLUSH },
		{ "8", MATTR_VAL_ICACHE_FLUSH },
	};
	int v;

	if (keyword(k, sizeof k / sizeof k[0], s, &v) == 0) {
		*out = v;
		return 0;
	}
	fs_why_set(why, "value '%s' is not on, off, get, flush, dcache_flush, "
	           "icache_flush or MATTR_VAL_*", s);
	return -1;
}

int
fs_parse_task_name(const char *s, task_t *out)
{
	uint64_t v;

	if (s[0] < '1' || s[0] > '9')
		return -1;
	if (digits(s, s + strlen(s), 10, &v) != 0 || v > UINT32_MAX)
		return -1;
	*out = (task_t)v;
	return 0;
}

int
fs_parse_region_name(const char *s, vm_address_t *out, bool *canonical)
{
	const char *p = hex_prefix(s) ? s + 2 : s;
	uint64_t v;

	if (digits(p, p + strlen(p), 16, &v) != 0)
		return -1;
	*out = v;
	if (canonical) {
		char want[24];

		snprintf(want, sizeof want, "0x%016llx", (unsigned long long)v);
		*canonical = strcmp(s, want) == 0;
	}
	return 0;
}

char *
fs_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

size_t
fs_split_words(char *s, char **words, size_t max)
{
	size_t n = 0;

	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			return n;
		if (n < max)
			words[n] = s;
		n++;
		while (*s && !isspace((unsigned char)*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
}

/* ---- vm_remap's arguments ----------------------------------------- */

/* Bits of fs_parse_remap's "seen" set, so a key given twice is refused. */
enum { SEEN_SRC = 1, SEEN_SIZE = 2, SEEN_PLACE = 4, SEEN_MASK = 8, SEEN_MODE = 16,
       SEEN_INHERIT = 32 };

/* Parses "<task>:<addr>". */
static int
remap_src(const char *v, struct fs_remap_args *out, struct fs_why *why)
{
	const char *colon = strchr(v, ':');
	char task[24];
	size_t tlen;

	if (!colon) {
		fs_why_set(why, "src '%s' is not <task>:<addr>", v);
		return -1;
	}
	tlen = (size_t)(colon - v);
	if (tlen == 0 || tlen >= sizeof task) {
		fs_why_set(why, "src '%s' does not start with a task id", v);
		return -1;
	}
	memcpy(task, v, tlen);
	task[tlen] = '\0';
	if (fs_parse_task("src task", task, &out->src_task, why) != 0)
		return -1;
	return fs_parse_number("src address", colon + 1, &out->src_addr, why);
}

/* Handles one word; *seen collects which keys were given. */
static int
remap_word(char *w, unsigned *seen, struct fs_remap_args *out, struct fs_why *why)
{
	char *eq = strchr(w, '=');
	const char *key = w, *val = NULL;
	unsigned bit;

	if (eq) {
		*eq = '\0';
		val = eq + 1;
	}
	if (strcasecmp(key, "src") == 0 && val)
		bit = SEEN_SRC;
	else if (strcasecmp(key, "size") == 0 && val)
		bit = SEEN_SIZE;
	else if ((strcasecmp(key, "at") == 0 && val) || strcasecmp(key, "anywhere") == 0)
		bit = SEEN_PLACE;
	else if (strcasecmp(key, "mask") == 0 && val)
		bit = SEEN_MASK;
	else if ((strcasecmp(key, "copy") == 0 || strcasecmp(key, "share") == 0) && !val)
		bit = SEEN_MODE;
	else if (strcasecmp(key, "inherit") == 0 && val)
		bit = SEEN_INHERIT;
	else {
		if (eq)
			*eq = '=';
		fs_why_set(why, "'%s' is not one of src=<task>:<addr> size=<n> at=<addr> "
		           "anywhere[=<hint>] mask=<m> copy share inherit=<inheritance>", w);
		return -1;
	}
	if (*seen & bit) {
		fs_why_set(why, "'%s' repeats or contradicts an earlier argument", key);
		return -1;
	}
	*seen |= bit;

	switch (bit) {
	case SEEN_SRC:
		return remap_src(val, out, why);
	case SEEN_SIZE:
		return fs_parse_size("size", val, &out->size, why);
	case SEEN_PLACE:
		out->anywhere = strcasecmp(key, "anywhere") == 0;
		if (!val) {
			out->address = 0;
			return 0;
		}
		return fs_parse_number(out->anywhere ? "anywhere hint" : "at", val,
		                       &out->address, why);
	case SEEN_MASK:
		return fs_parse_number("mask", val, &out->mask, why);
	case SEEN_MODE:
		out->copy = strcasecmp(key, "copy") == 0;
		return 0;
	default:
		return fs_parse_inherit(val, &out->inherit, why);
	}
}

int
fs_parse_remap(char *const *words, size_t n, struct fs_remap_args *out,
               struct fs_why *why)
{
	struct fs_remap_args a = {
		.anywhere = true, .copy = false, .inherit = VM_INHERIT_COPY,
	};
	unsigned seen = 0;

	for (size_t i = 0; i < n; i++)
		if (remap_word(words[i], &seen, &a, why) != 0)
			return -1;
	if (!(seen & SEEN_SRC)) {
		fs_why_set(why, "src=<task>:<addr> is missing");
		return -1;
	}
	if (!(seen & SEEN_SIZE)) {
		fs_why_set(why, "size=<n> is missing");
		return -1;
	}
	*out = a;
	return 0;
}
