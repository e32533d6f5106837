/*
 * base64.c - see base64.h.
 */
#include "base64.h"

#include <stdint.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t
base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* The 6-bit value of c, or -1 if c is not in the alphabet. */
static int
value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
base64_decode(const char *text, size_t len, unsigned char *out, size_t cap)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int last = i + 4 == len;
		int pad = 0, v[4];

		for (int k = 0; k < 4; k++) {
			char c = text[i + k];

			if (c == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)            /* a character after '=' */
				return -1;
			v[k] = value_of(c);
			if (v[k] < 0)
				return -1;
		}
		/* Here pad is 0, or the group ended "x=" / "==". */
		uint32_t bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		                (uint32_t)v[2] << 6 | (uint32_t)v[3];
		size_t nbytes = 3 - (size_t)pad;

		if ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff)))
			return -1;      /* leftover bits: not what the encoder writes */
		if (o + nbytes > cap)
			return -1;
		out[o++] = (unsigned char)(bits >> 16);
		if (nbytes > 1)
			out[o++] = (unsigned char)(bits >> 8);
		if (nbytes > 2)
			out[o++] = (unsigned char)bits;
	}
	return (long)o;
}
