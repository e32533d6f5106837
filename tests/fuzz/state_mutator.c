/*
 * state_mutator.c - libFuzzer's custom mutator for fuzz_state_json: one
 * structured change to a parsed state file per mutation, so inputs stay
 * JSON that the checks of state.c read deep into (a byte-level mutation of
 * a state file mostly breaks the JSON and stops at the parser).
 *
 * A change picks one value of the tree and replaces it (a boundary number,
 * another type, a string mutated by libFuzzer, a copy of another value in
 * the tree), or removes it, or duplicates or swaps array elements.  An
 * input that is not JSON gets libFuzzer's own mutation.  Only in the
 * libFuzzer build (it calls LLVMFuzzerMutate).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed);

#define MAX_NODES 4096

/* A value of the tree and where it hangs: its container and key or index. */
struct place {
	json_t *value, *parent;
	const char *key;
	size_t index;
};

struct walk {
	struct place p[MAX_NODES];
	size_t n;
};

static void
collect(struct walk *w, json_t *v, json_t *parent, const char *key, size_t index)
{
	const char *k;
	json_t *child;
	size_t i;

	if (w->n == MAX_NODES)
		return;
	w->p[w->n++] = (struct place){ v, parent, key, index };
	if (json_is_object(v)) {
		json_object_foreach(v, k, child)
			collect(w, child, v, k, 0);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			collect(w, child, v, NULL, i);
	}
}

/* Numbers where the checks' edges are. */
static const long long edges[] = {
	0, 1, 2, 3, 4, 7, 8, -1, 4095, 4096, 4097, 8192, 16384, 65536, 65537,
	0x10000, 0x7fffffff, 0x80000000LL, 0xffffffffLL, 0x100000000LL,
	(1LL << 22), (1LL << 47), (1LL << 52), (1LL << 53) + 1, 0x7fffffffffffffffLL,
	-0x7fffffffffffffffLL - 1,
};

static const char *const strings[] = {
	"", "0x0", "0x1000", "0x10000", "0xffffffffffffffff", "0x10000000000000000",
	"0x7ffffffff000", "r--", "rwx", "---", "share", "copy", "none", "on", "off",
	"AAAA", "machvmfs-state", "0", "1", "18446744073709551615",
};

static json_t *
new_value(struct walk *w, unsigned *seed, json_t *old)
{
	switch (rand_r(seed) % 7) {
	case 0:
		return json_integer(edges[rand_r(seed) % (sizeof edges / sizeof edges[0])]);
	case 1:
		if (json_is_integer(old))
			return json_integer((long long)((unsigned long long)json_integer_value(old) +
			                                (unsigned long long)(rand_r(seed) % 9) - 4));
		return json_integer(rand_r(seed) % 4);
	case 2:
		return json_string(strings[rand_r(seed) % (sizeof strings / sizeof strings[0])]);
	case 3: {
		/* libFuzzer's mutation of the string (or of the number's text). */
		char buf[256];
		size_t len = 0;

		if (json_is_string(old)) {
			len = json_string_length(old);
			if (len > 128)
				len = 128;
			memcpy(buf, json_string_value(old), len);
		}
		len = LLVMFuzzerMutate((uint8_t *)buf, len, sizeof buf - 1);
		return json_stringn(buf, len);
	}
	case 4:
		switch (rand_r(seed) % 5) {
		case 0: return json_null();
		case 1: return json_true();
		case 2: return json_false();
		case 3: return json_object();
		default: return json_array();
		}
	case 5:
		return json_real(1.5);
	default:
		/* Another value of the tree, copied. */
		return json_deep_copy(w->p[rand_r(seed) % w->n].value);
	}
}

static void
mutate(struct walk *w, unsigned *seed)
{
	struct place *at = &w->p[rand_r(seed) % w->n];
	json_t *v;

	if (!at->parent)
		return;
	switch (rand_r(seed) % 4) {
	case 0:         /* remove it */
		if (at->key)
			json_object_del(at->parent, at->key);
		else
			json_array_remove(at->parent, at->index);
		return;
	case 1:         /* an array element twice, or two swapped */
		if (!at->key) {
			size_t n = json_array_size(at->parent), other = rand_r(seed) % n;

			if (rand_r(seed) % 2) {
				json_array_insert_new(at->parent, other, json_deep_copy(at->value));
			} else {
				json_t *a = json_incref(json_array_get(at->parent, at->index));
				json_t *b = json_incref(json_array_get(at->parent, other));

				json_array_set_new(at->parent, at->index, b);
				json_array_set_new(at->parent, other, a);
			}
			return;
		}
		/* fall through */
	default:        /* replace it */
		v = new_value(w, seed, at->value);
		if (!v)
			return;
		if (at->key)
			json_object_set_new(at->parent, at->key, v);
		else
			json_array_set_new(at->parent, at->index, v);
		return;
	}
}

size_t
LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	static struct walk w;
	json_t *root = json_loadb((const char *)data, size, 0, NULL);
	size_t out;
	char *text;

	if (!root || rand_r(&seed) % 16 == 0) {
		json_decref(root);
		return LLVMFuzzerMutate(data, size, max_size);
	}
	/* Collect again after each change: a removal frees what it held. */
	for (unsigned i = 0, changes = 1 + rand_r(&seed) % 3; i < changes; i++) {
		w.n = 0;
		collect(&w, root, NULL, NULL, 0);
		mutate(&w, &seed);
	}
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text || (out = strlen(text)) > max_size) {
		free(text);
		return LLVMFuzzerMutate(data, size, max_size);
	}
	memcpy(data, text, out);
	free(text);
	return out;
}
