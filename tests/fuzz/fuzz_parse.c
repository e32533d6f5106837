/*
 * fuzz_parse.c - fuzzes every parser of text the daemon accepts (parse.h)
 * and the -o page_size= option, checking each against what parse.h
 * promises, not only for crashes.
 *
 * Input: byte 0 picks the parser, the rest is the text (an input holding a
 * NUL is skipped: fs_ctl_write refuses those before any parser sees them).
 * Checked for every parser: a failure leaves the output untouched and says
 * why; numbers and sizes agree with an independent reading of the grammar;
 * directory names accept exactly the canonical spelling; the words of a
 * split are non-empty and hold no white space.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>

#include "../../src/fs/parse.h"

#include "fuzz.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aull
#define MAX_TEXT 4096

/* The grammar of a number, read independently of parse.c: digits, or 0x and
 * hex digits, the value below 2^64.  true and *out, or false. */
static bool
ref_number(const char *s, size_t len, uint64_t *out)
{
	unsigned base = 10;
	unsigned __int128 v = 0;

	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		len -= 2;
	}
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && isxdigit(c))
			d = (unsigned)(tolower(c) - 'a' + 10);
		else
			return false;
		v = v * base + d;
		if (v > UINT64_MAX)
			return false;
	}
	*out = (uint64_t)v;
	return true;
}

static bool
ref_size(const char *s, size_t len, uint64_t *out)
{
	unsigned shift = 0;
	uint64_t v;

	if (len > 0) {
		switch (tolower((unsigned char)s[len - 1])) {
		case 'k': shift = 10; break;
		case 'm': shift = 20; break;
		case 'g': shift = 30; break;
		}
	}
	if (!ref_number(s, len - (shift ? 1 : 0), &v))
		return false;
	if (shift && v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/* A failed parse must say why and leave the output alone. */
static void
check_failure(const char *parser, const char *s, const struct fs_why *why,
              uint64_t out)
{
	if (why->text[0] == '\0')
		fuzz_fail("%s('%s') failed without a reason", parser, s);
	if (out != SENTINEL)
		fuzz_fail("%s('%s') failed but changed its output", parser, s);
}

static void
parse_number(const char *s, size_t len)
{
	struct fs_why why = { "" };
	uint64_t v = SENTINEL, want = 0;
	bool ok = fs_parse_number("n", s, &v, &why) == 0;

	if (ok != ref_number(s, len, &want) || (ok && v != want))
		fuzz_fail("fs_parse_number('%s'): %s %llu, expected %s %llu", s,
		          ok ? "ok" : "failed", (unsigned long long)v,
		          ref_number(s, len, &want) ? "ok" : "failure", (unsigned long long)want);
	if (!ok)
		check_failure("fs_parse_number", s, &why, v);
}

static void
parse_size(const char *s, size_t len)
{
	struct fs_why why = { "" };
	uint64_t v = SENTINEL, want = 0;
	bool ok = fs_parse_size("size", s, &v, &why) == 0;
	bool ref = ref_size(s, len, &want);

	if (ok != ref || (ok && v != want))
		fuzz_fail("fs_parse_size('%s'): %s %llu, expected %s %llu", s,
		          ok ? "ok" : "failed", (unsigned long long)v,
		          ref ? "ok" : "failure", (unsigned long long)want);
	if (!ok)
		check_failure("fs_parse_size", s, &why, v);
}

static void
parse_task(const char *s, size_t len)
{
	struct fs_why why = { "" };
	task_t t = (task_t)SENTINEL;
	uint64_t want = 0;
	bool ok = fs_parse_task("task", s, &t, &why) == 0;
	bool ref = ref_number(s, len, &want) && want >= 1 && want <= UINT32_MAX;

	if (ok != ref || (ok && t != want))
		fuzz_fail("fs_parse_task('%s'): %s %u", s, ok ? "ok" : "failed", (unsigned)t);
	if (!ok && (why.text[0] == '\0' || t != (task_t)SENTINEL))
		fuzz_fail("fs_parse_task('%s') failed badly", s);
}

static void
parse_prot(const char *s)
{
	struct fs_why why = { "" };
	vm_prot_t p = (vm_prot_t)SENTINEL;

	if (fs_parse_prot(s, &p, &why) == 0) {
		/* The bit 0x10 only by its names, VM_PROT_NOTIFY or VM_PROT_COPY. */
		vm_prot_t bits = VM_PROT_ALL;
		if (strcasestr(s, "VM_PROT_NOTIFY") || strcasestr(s, "VM_PROT_COPY"))
			bits |= VM_PROT_NOTIFY;
		if (p & ~bits)
			fuzz_fail("fs_parse_prot('%s') = %#x, not rwx bits", s, (unsigned)p);
	} else if (why.text[0] == '\0' || p != (vm_prot_t)SENTINEL) {
		fuzz_fail("fs_parse_prot('%s') failed badly", s);
	}
}

static void
parse_inherit(const char *s)
{
	struct fs_why why = { "" };
	vm_inherit_t v = (vm_inherit_t)SENTINEL;

	if (fs_parse_inherit(s, &v, &why) == 0) {
		if (v != VM_INHERIT_SHARE && v != VM_INHERIT_COPY && v != VM_INHERIT_NONE &&
		    v != VM_INHERIT_DEFAULT)
			fuzz_fail("fs_parse_inherit('%s') = %u", s, (unsigned)v);
	} else if (why.text[0] == '\0' || v != (vm_inherit_t)SENTINEL) {
		fuzz_fail("fs_parse_inherit('%s') failed badly", s);
	}
}

static void
parse_attr(const char *s)
{
	struct fs_why why = { "" };
	vm_machine_attribute_t a = (vm_machine_attribute_t)SENTINEL;
	vm_machine_attribute_val_t v = (vm_machine_attribute_val_t)SENTINEL;

	if (fs_parse_attr(s, &a, &why) == 0) {
		if (a != MATTR_CACHE && a != MATTR_MIGRATE && a != MATTR_REPLICATE)
			fuzz_fail("fs_parse_attr('%s') = %u", s, (unsigned)a);
	} else if (why.text[0] == '\0' || a != (vm_machine_attribute_t)SENTINEL) {
		fuzz_fail("fs_parse_attr('%s') failed badly", s);
	}
	why.text[0] = '\0';
	if (fs_parse_attr_value(s, &v, &why) == 0) {
		if (v != MATTR_VAL_OFF && v != MATTR_VAL_ON && v != MATTR_VAL_GET &&
		    v != MATTR_VAL_CACHE_FLUSH && v != MATTR_VAL_DCACHE_FLUSH &&
		    v != MATTR_VAL_ICACHE_FLUSH)
			fuzz_fail("fs_parse_attr_value('%s') = %d", s, (int)v);
	} else if (why.text[0] == '\0' || v != (vm_machine_attribute_val_t)SENTINEL) {
		fuzz_fail("fs_parse_attr_value('%s') failed badly", s);
	}
}

/* Directory names: exactly the canonical spellings (parse.h). */
static void
parse_names(const char *s, size_t len)
{
	char want[32];
	task_t t;
	vm_address_t a;
	uint64_t v;
	bool canonical;

	if (fs_parse_task_name(s, &t) == 0) {
		snprintf(want, sizeof want, "%u", (unsigned)t);
		if (strcmp(want, s) != 0)
			fuzz_fail("fs_parse_task_name('%s') took a non-canonical name", s);
	} else if (ref_number(s, len, &v) && v >= 1 && v <= UINT32_MAX) {
		snprintf(want, sizeof want, "%llu", (unsigned long long)v);
		if (strcmp(want, s) == 0)
			fuzz_fail("fs_parse_task_name('%s') refused a canonical name", s);
	}
	if (fs_parse_region_name(s, &a, &canonical) == 0) {
		snprintf(want, sizeof want, "0x%016llx", (unsigned long long)a);
		if (canonical != (strcmp(want, s) == 0))
			fuzz_fail("fs_parse_region_name('%s'): canonical %d", s, canonical);
	}
}

/* Trimming and splitting, then vm_remap's arguments from the words. */
static void
parse_words(char *s)
{
	char *words[16];
	char *t = fs_trim(s);
	size_t n, len = strlen(t);
	struct fs_remap_args args, before;
	struct fs_why why = { "" };

	if (len && (isspace((unsigned char)t[0]) || isspace((unsigned char)t[len - 1])))
		fuzz_fail("fs_trim left white space: '%s'", t);
	n = fs_split_words(t, words, 16);
	for (size_t i = 0; i < n && i < 16; i++) {
		if (words[i][0] == '\0')
			fuzz_fail("fs_split_words gave an empty word");
		for (const char *p = words[i]; *p; p++)
			if (isspace((unsigned char)*p))
				fuzz_fail("fs_split_words gave a word with a space: '%s'", words[i]);
	}
	if (n > 16)
		return;
	memset(&args, 0xa5, sizeof args);
	before = args;
	if (fs_parse_remap(words, n, &args, &why) == 0) {
		if (args.src_task == 0)
			fuzz_fail("fs_parse_remap took task 0");
	} else if (why.text[0] == '\0' || memcmp(&args, &before, sizeof args) != 0) {
		fuzz_fail("fs_parse_remap failed badly");
	}
}

/* -o page_size=N as main.c checks it: parsed as a size, then a host is
 * started with it; only powers of two from 4096 to 65536 may start. */
static void
page_size_option(const char *s)
{
	struct fs_why why = { "" };
	uint64_t ps = 0;
	kern_return_t kr;

	if (fs_parse_size("page_size", s, &ps, &why) != 0)
		return;
	kr = machvm_host_start(ps);
	if (kr == KERN_SUCCESS) {
		vm_size_t got = 0;

		(void)host_page_size(mach_host_self(), &got);
		machvm_host_stop();
		if (ps != 0 && (got != ps || ps < 4096 || ps > 65536 || (ps & (ps - 1))))
			fuzz_fail("page_size=%s started a host with %llu-byte pages", s,
			          (unsigned long long)got);
	} else if (ps >= 4096 && ps <= 65536 && (ps & (ps - 1)) == 0) {
		fuzz_fail("page_size=%s was refused: %s", s, kern_return_name(kr));
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	machvm_set_panic_hook(fuzz_panic_hook);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[MAX_TEXT + 1];
	size_t len;

	if (size < 1 || size - 1 > MAX_TEXT || memchr(data + 1, '\0', size - 1))
		return 0;
	len = size - 1;
	memcpy(text, data + 1, len);
	text[len] = '\0';
	switch (data[0] % 9) {
	case 0: parse_number(text, len); break;
	case 1: parse_size(text, len); break;
	case 2: parse_task(text, len); break;
	case 3: parse_prot(text); break;
	case 4: parse_inherit(text); break;
	case 5: parse_attr(text); break;
	case 6: parse_names(text, len); break;
	case 7: parse_words(text); break;
	case 8: page_size_option(text); break;
	}
	return 0;
}
