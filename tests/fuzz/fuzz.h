/*
 * fuzz.h - what the fuzzing harnesses share.
 *
 * Each harness defines libFuzzer's entry points.  Built with clang and
 * -fsanitize=fuzzer (scons fuzz) libFuzzer drives them; built with gcc in
 * the ordinary variants, replay.c's main() runs them once per file named
 * on the command line, so the seed corpora and the crash reproducers are
 * replayed by scons check without clang.
 */
#ifndef MACHVM_FUZZ_H
#define MACHVM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the harness checks does not hold: report it as a crash. */
#define fuzz_fail(...) do { \
	fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
	fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); \
	abort(); \
} while (0)

/* The engine's panics (a broken invariant) say what broke before the
 * abort that libFuzzer reports. */
static inline void
fuzz_panic_hook(const char *message)
{
	fprintf(stderr, "engine panic: %s\n", message);
}

#endif
