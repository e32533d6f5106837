/*
 * base64.h - standard base64 (RFC 4648 alphabet, '=' padding), with a
 * strict decoder: the state file's pages are read back only if they are
 * exactly what the encoder writes.
 */
#ifndef MACHVMFS_BASE64_H
#define MACHVMFS_BASE64_H

#include <stddef.h>

/* The length of the encoding of n bytes (without a terminating NUL). */
size_t base64_encoded_len(size_t n);

/* Encodes in[0..n) into out, which has room for base64_encoded_len(n) + 1
 * bytes; NUL terminates it.  Returns the length written (without the NUL). */
size_t base64_encode(const unsigned char *in, size_t n, char *out);

/*
 * Decodes text[0..len) into out (room for cap bytes).  Refuses (-1) any
 * text the encoder would not have written: a length that is not a multiple
 * of 4, a character outside the alphabet, white space, '=' anywhere but as
 * the last one or two characters, non-zero bits left over before the
 * padding, or more than cap bytes.  Returns the number of bytes decoded.
 */
long base64_decode(const char *text, size_t len, unsigned char *out, size_t cap);

#endif
