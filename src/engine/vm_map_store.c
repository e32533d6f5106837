/*
 * vm_map_store.c - the entries of one map: an AVL tree keyed by start
 * address, threaded by a sorted doubly-linked list, augmented with free space.
 *
 * Why this shape.  The map layer needs three things fast: "which entry holds
 * this address" (every fault, every read and write), "walk the entries of a
 * range in order" (protect, inherit, wire, region), and "where is the lowest
 * hole of this size" (allocate anywhere, remap).  The tree answers the first
 * in O(log n); the list makes the walk O(1) per step with no tree climbing;
 * the augmentation answers the third in O(log n).
 *
 * The augmentation.  Every entry owns the hole that follows it: `gap` is the
 * distance from its end to the next entry's start (or to the map's max for the
 * last entry).  `max_gap` is the largest `gap` in the entry's subtree, so a
 * search for a hole of `size` bytes can skip any subtree whose max_gap is
 * smaller.  The one hole no entry owns, the space in front of the first entry,
 * is the store's `lead_gap`.  A change to an entry's range, or an insert or
 * remove, changes at most two gaps: the entry's own and its predecessor's.
 * Both are fixed, and then every max_gap from each of them up to the root, so
 * every operation stays O(log n).
 *
 * Rotations recompute height and max_gap of the two nodes they move, child
 * first; subtrees that move whole keep their figures.  Nothing here
 * allocates, prints, or recurses deeper than the tree's height.
 */
#include "vm_map_store.h"

static inline int32_t height_of(const struct vm_map_entry *e)
{
	return e ? e->height : 0;
}

static inline vm_size_t max_gap_of(const struct vm_map_entry *e)
{
	return e ? e->max_gap : 0;
}

/* The end of the hole that follows e: the next entry's start, or max. */
static inline vm_address_t hole_end(const struct vm_map_store *s, const struct vm_map_entry *e)
{
	return e->next ? e->next->start : s->max;
}

/* Recomputes e's height and max_gap from its children, which must be right. */
static void node_fix(struct vm_map_entry *e)
{
	int32_t hl = height_of(e->left), hr = height_of(e->right);
	vm_size_t m = e->gap, ml = max_gap_of(e->left), mr = max_gap_of(e->right);

	e->height = 1 + (hl > hr ? hl : hr);
	if (ml > m)
		m = ml;
	if (mr > m)
		m = mr;
	e->max_gap = m;
}

/* Makes `to` take `from`'s place under parent (or as the root). */
static void replace_child(struct vm_map_store *s, struct vm_map_entry *parent,
                          struct vm_map_entry *from, struct vm_map_entry *to)
{
	if (!parent)
		s->root = to;
	else if (parent->left == from)
		parent->left = to;
	else
		parent->right = to;
}

/* x's right child rises to x's place; returns it. */
static struct vm_map_entry *rotate_left(struct vm_map_store *s, struct vm_map_entry *x)
{
	struct vm_map_entry *y = x->right;

	x->right = y->left;
	if (y->left)
		y->left->parent = x;
	y->parent = x->parent;
	replace_child(s, x->parent, x, y);
	y->left = x;
	x->parent = y;
	node_fix(x);
	node_fix(y);
	return y;
}

/* x's left child rises to x's place; returns it. */
static struct vm_map_entry *rotate_right(struct vm_map_store *s, struct vm_map_entry *x)
{
	struct vm_map_entry *y = x->left;

	x->left = y->right;
	if (y->right)
		y->right->parent = x;
	y->parent = x->parent;
	replace_child(s, x->parent, x, y);
	y->right = x;
	x->parent = y;
	node_fix(x);
	node_fix(y);
	return y;
}

/*
 * Restores balance at e, whose children are balanced and right but may differ
 * in height by two, and fixes its figures.  Returns the subtree's new root.
 */
static struct vm_map_entry *rebalance(struct vm_map_store *s, struct vm_map_entry *e)
{
	int32_t bal = height_of(e->left) - height_of(e->right);

	if (bal > 1) {
		if (height_of(e->left->right) > height_of(e->left->left))
			rotate_left(s, e->left);
		return rotate_right(s, e);
	}
	if (bal < -1) {
		if (height_of(e->right->left) > height_of(e->right->right))
			rotate_right(s, e->right);
		return rotate_left(s, e);
	}
	node_fix(e);
	return e;
}

/*
 * Rebalances and refigures nodes from e upwards.  Once a node needs no
 * rotation and its height and max_gap come out as they were, everything
 * above it still agrees with it, so the walk stops there.
 */
static void fix_up(struct vm_map_store *s, struct vm_map_entry *e)
{
	while (e) {
		int32_t old_height = e->height;
		vm_size_t old_gap = e->max_gap;
		struct vm_map_entry *r = rebalance(s, e);
		if (r == e && e->height == old_height && e->max_gap == old_gap)
			break;
		e = r->parent;
	}
}

/*
 * Refigures max_gap from e up to the root after e's gap changed; the shape
 * and heights are untouched.  Every other node agrees with its children, so
 * once a node's figure comes out unchanged nothing above it can change.
 */
static void propagate_gap(struct vm_map_entry *e)
{
	while (e) {
		vm_size_t old = e->max_gap;

		node_fix(e);
		if (e->max_gap == old)
			break;
		e = e->parent;
	}
}

/* Sets e's gap, or lead_gap when e is NULL, from the current list. */
static void set_gap_after(struct vm_map_store *s, struct vm_map_entry *e)
{
	if (e)
		e->gap = hole_end(s, e) - e->end;
	else
		s->lead_gap = (s->first ? s->first->start : s->max) - s->min;
}

void vm_map_store_init(struct vm_map_store *s, vm_address_t min, vm_address_t max)
{
	s->root = NULL;
	s->first = s->last = NULL;
	s->nentries = 0;
	s->min = min;
	s->max = max;
	s->lead_gap = max - min;
	s->hint = NULL;
}

static void link_leaf(struct vm_map_store *s, struct vm_map_entry *e,
                      struct vm_map_entry *parent, struct vm_map_entry **link,
                      struct vm_map_entry *pred, struct vm_map_entry *succ);

void vm_map_store_insert(struct vm_map_store *s, struct vm_map_entry *e)
{
	struct vm_map_entry *parent = NULL, *pred = NULL, *succ = NULL;
	struct vm_map_entry **link = &s->root;

	while (*link) {
		parent = *link;
		if (e->start < parent->start) {
			succ = parent;
			link = &parent->left;
		} else {
			pred = parent;
			link = &parent->right;
		}
	}
	link_leaf(s, e, parent, link, pred, succ);
}

/*
 * The in-order neighbour's free child slot is where a search from the root
 * would end: the successor of `at` is the leftmost node of at's right
 * subtree, or at itself has no right child.
 */
void vm_map_store_insert_after(struct vm_map_store *s, struct vm_map_entry *at,
                               struct vm_map_entry *e)
{
	if (at->right == NULL) {
		link_leaf(s, e, at, &at->right, at, at->next);
		return;
	}
	struct vm_map_entry *p = at->right;
	while (p->left)
		p = p->left;
	link_leaf(s, e, p, &p->left, at, at->next);
}

void vm_map_store_insert_before(struct vm_map_store *s, struct vm_map_entry *at,
                                struct vm_map_entry *e)
{
	if (at->left == NULL) {
		link_leaf(s, e, at, &at->left, at->prev, at);
		return;
	}
	struct vm_map_entry *p = at->left;
	while (p->right)
		p = p->right;
	link_leaf(s, e, p, &p->right, at->prev, at);
}

static void link_leaf(struct vm_map_store *s, struct vm_map_entry *e,
                      struct vm_map_entry *parent, struct vm_map_entry **link,
                      struct vm_map_entry *pred, struct vm_map_entry *succ)
{
	e->left = e->right = NULL;
	e->parent = parent;
	e->height = 1;
	*link = e;

	e->prev = pred;
	e->next = succ;
	if (pred)
		pred->next = e;
	else
		s->first = e;
	if (succ)
		succ->prev = e;
	else
		s->last = e;
	s->nentries++;

	/*
	 * Both changed gaps are on the path just walked (pred, if any, is an
	 * ancestor of the new leaf), so one pass from the leaf fixes them all.
	 */
	set_gap_after(s, e);
	set_gap_after(s, pred);
	e->max_gap = e->gap;
	fix_up(s, parent);
	/* fix_up may stop below pred, whose gap shrank: refigure it too. */
	propagate_gap(pred);
}

void vm_map_store_remove(struct vm_map_store *s, struct vm_map_entry *e)
{
	struct vm_map_entry *pred = e->prev, *succ = e->next, *from, *moved = NULL;

	if (s->hint == e)
		s->hint = NULL;
	if (e->left && e->right) {
		/* succ is the leftmost node of e's right subtree: it takes e's place. */
		struct vm_map_entry *y = succ;

		if (y->parent == e) {
			from = y;
		} else {
			from = y->parent;
			from->left = y->right;
			if (y->right)
				y->right->parent = from;
			y->right = e->right;
			e->right->parent = y;
		}
		y->left = e->left;
		e->left->parent = y;
		y->parent = e->parent;
		replace_child(s, e->parent, e, y);
		/* Its ancestors counted e's figures: y starts from those, so that
		 * fix_up's "unchanged, stop here" compares against the right ones. */
		y->height = e->height;
		y->max_gap = e->max_gap;
		moved = y;
	} else {
		struct vm_map_entry *child = e->left ? e->left : e->right;

		from = e->parent;
		if (child)
			child->parent = from;
		replace_child(s, from, e, child);
	}

	if (pred)
		pred->next = succ;
	else
		s->first = succ;
	if (succ)
		succ->prev = pred;
	else
		s->last = pred;
	s->nentries--;
	e->left = e->right = e->parent = e->prev = e->next = NULL;

	/*
	 * Reshape first with every gap as it was, then grow the predecessor's
	 * gap: pred need not lie on the reshaped path, so it gets its own pass.
	 */
	fix_up(s, from);
	/* y took e's place with e's children: if fix_up stopped below it, its
	 * own figures (and those above, which counted e's gap) are still old. */
	if (moved)
		fix_up(s, moved);
	set_gap_after(s, pred);
	propagate_gap(pred);
}

void vm_map_store_update(struct vm_map_store *s, struct vm_map_entry *e)
{
	set_gap_after(s, e);
	set_gap_after(s, e->prev);
	propagate_gap(e);
	propagate_gap(e->prev);
}

struct vm_map_entry *vm_map_store_lookup(struct vm_map_store *s, vm_address_t addr)
{
	struct vm_map_entry *h = s->hint;

	/* Calls look up the same place several times, and walks go forward. */
	if (h && addr >= h->start) {
		if (addr < h->end)
			return h;
		struct vm_map_entry *n = h->next;
		if (n == NULL || addr < n->start)
			return NULL;
		if (addr < n->end) {
			s->hint = n;
			return n;
		}
	}
	struct vm_map_entry *n = s->root;
	while (n) {
		if (addr < n->start)
			n = n->left;
		else if (addr >= n->end)
			n = n->right;
		else
			return s->hint = n;
	}
	return NULL;
}

struct vm_map_entry *vm_map_store_lookup_ge(struct vm_map_store *s, vm_address_t addr)
{
	struct vm_map_entry *h = s->hint;

	if (h && addr >= h->start) {
		if (addr < h->end)
			return h;
		if (h->next == NULL || addr < h->next->end)
			return h->next;
	}
	struct vm_map_entry *n = s->root, *best = NULL;

	/* Entries are disjoint and sorted, so ends are sorted too: find the first end > addr. */
	while (n) {
		if (addr < n->end) {
			if (addr >= n->start)
				return s->hint = n;
			best = n;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

/*
 * The smallest x' >= x with (x' & mask) == 0 in *x; false if there is none
 * below 2^64.  Any value between x and the next multiple of 2^b above it still
 * has the highest offending bit b set, so that whole stretch is skipped; the
 * bits below b become zero, so every round moves to a higher bit.
 */
static bool align_up(vm_address_t *x, vm_address_t mask)
{
	vm_address_t v = *x;

	while (v & mask) {
		int b = 63 - __builtin_clzll(v & mask);
		vm_address_t hi = v >> b;

		if (hi == (UINT64_MAX >> b))
			return false;
		v = (hi + 1) << b;
	}
	*x = v;
	return true;
}

/* Places [a, a + size) in the hole [hs, he) at or above lo; true with *out set on success. */
static bool fit_hole(vm_address_t hs, vm_address_t he, vm_address_t lo,
                     vm_size_t size, vm_address_t mask, vm_address_t *out)
{
	vm_address_t a = hs > lo ? hs : lo;

	if (a >= he || !align_up(&a, mask) || a >= he || he - a < size)
		return false;
	*out = a;
	return true;
}

bool vm_map_store_find_space(const struct vm_map_store *s, vm_address_t lo,
                             vm_size_t size, vm_address_t mask, vm_address_t *out)
{
	struct vm_map_entry *n = s->root;

	if (size == 0)
		return false;
	if (fit_hole(s->min, s->first ? s->first->start : s->max, lo, size, mask, out))
		return true;
	if (!n || n->max_gap < size)
		return false;

	/*
	 * In-order walk over the holes that follow entries, skipping subtrees
	 * whose largest hole is too small and left subtrees whose holes all end
	 * at or below lo (they end by the parent's start).  Every subtree entered
	 * either spans lo (those lie on one root-to-leaf path) or lies wholly
	 * above it with a big-enough hole, which with mask 0 must fit; so with
	 * mask 0 this visits O(log n) nodes.
	 */
	for (;;) {
		while (n->left && n->left->max_gap >= size && n->start > lo)
			n = n->left;
		for (;;) {
			if (n->gap >= size && fit_hole(n->end, n->end + n->gap, lo, size, mask, out))
				return true;
			if (n->right && n->right->max_gap >= size) {
				n = n->right;
				break;
			}
			/* Climb to the first ancestor reached from its left side. */
			for (;;) {
				struct vm_map_entry *p = n->parent;

				if (!p)
					return false;
				if (p->left == n) {
					n = p;
					break;
				}
				n = p;
			}
		}
	}
}

/*
 * Builds a balanced subtree from the next count entries of the list at *cur,
 * advancing *cur past them.  Sizes of the two halves differ by at most one at
 * every node, so heights do too; recursion depth is log2(count) + 1.
 */
static struct vm_map_entry *build_subtree(struct vm_map_entry **cur, size_t count,
                                          struct vm_map_entry *parent)
{
	struct vm_map_entry *left, *root;
	size_t nleft;

	if (count == 0)
		return NULL;
	nleft = (count - 1) / 2;
	left = build_subtree(cur, nleft, NULL);
	root = *cur;
	*cur = root->next;
	root->parent = parent;
	root->left = left;
	if (left)
		left->parent = root;
	root->right = build_subtree(cur, count - 1 - nleft, root);
	node_fix(root);
	return root;
}

void vm_map_store_build(struct vm_map_store *s, struct vm_map_entry *head, size_t n)
{
	struct vm_map_entry *e = head, *prev = NULL, *cur = head;

	/* Thread the list first so that every gap can be read off it. */
	for (size_t i = 0; i < n; i++) {
		e->prev = prev;
		prev = e;
		e = e->next;
	}
	if (prev)
		prev->next = NULL;
	s->first = n ? head : NULL;
	s->last = prev;
	s->nentries = n;
	for (e = s->first; e; e = e->next)
		set_gap_after(s, e);
	set_gap_after(s, NULL);
	s->root = build_subtree(&cur, n, NULL);
	s->hint = NULL;
}

const char *vm_map_store_check(const struct vm_map_store *s)
{
	const struct vm_map_entry *n = s->root, *want = s->first, *prev = NULL;
	size_t count = 0;

	if (s->min > s->max)
		return "store bounds: min above max";
	if (s->lead_gap != (s->first ? s->first->start : s->max) - s->min)
		return "lead_gap is not the space in front of the first entry";
	if (!s->root) {
		if (s->first || s->last || s->nentries)
			return "empty tree but first/last/nentries say otherwise";
		return NULL;
	}
	if (s->root->parent)
		return "parent links: root has a parent";
	if (!s->first || !s->last)
		return "first/last: NULL in a non-empty store";
	if (s->first->prev)
		return "list: first entry has a prev";
	if (s->last->next)
		return "list: last entry has a next";

	/*
	 * Iterative in-order walk.  A child is entered only if its parent link
	 * points back, so each node is entered at most once and the walk ends
	 * even on a broken tree.  Each node is checked against its children's
	 * stored figures, which by induction checks them all.
	 */
	while (n->left) {
		if (n->left->parent != n)
			return "parent links: left child does not point back";
		n = n->left;
	}
	for (;;) {
		int32_t hl = height_of(n->left), hr = height_of(n->right);
		vm_size_t mg = n->gap;

		if (++count > s->nentries)
			return "nentries: more entries in the tree than counted";
		if (n != want)
			return "list order differs from in-order walk";
		if (n->start >= n->end)
			return "entry is empty or reversed (start >= end)";
		if (n->start < s->min || n->end > s->max)
			return "entry outside [min, max)";
		if (prev && prev->start >= n->start)
			return "BST order: in-order starts not increasing";
		if (prev && prev->end > n->start)
			return "entries overlap (not disjoint)";
		if (n->prev != prev)
			return "list: prev link is wrong";
		if (n->gap != hole_end(s, n) - n->end)
			return "gap is not the space up to the next entry";
		if (hl - hr > 1 || hr - hl > 1)
			return "AVL balance: child heights differ by more than one";
		if (n->height != 1 + (hl > hr ? hl : hr))
			return "height is wrong";
		if (max_gap_of(n->left) > mg)
			mg = n->left->max_gap;
		if (max_gap_of(n->right) > mg)
			mg = n->right->max_gap;
		if (n->max_gap != mg)
			return "max_gap is not the largest gap in the subtree";
		prev = n;
		want = n->next;

		if (n->right) {
			if (n->right->parent != n)
				return "parent links: right child does not point back";
			n = n->right;
			while (n->left) {
				if (n->left->parent != n)
					return "parent links: left child does not point back";
				n = n->left;
			}
			continue;
		}
		for (;;) {
			const struct vm_map_entry *p = n->parent;

			if (!p) {
				n = NULL;
				break;
			}
			if (p->left == n) {
				n = p;
				break;
			}
			n = p;
		}
		if (!n)
			break;
	}
	if (want)
		return "list has entries the tree does not";
	if (prev != s->last)
		return "last is not the highest entry";
	if (count != s->nentries)
		return "nentries: fewer entries in the tree than counted";
	return NULL;
}
