/*
 * vm_map_store.c - the entries of one map: a balanced (weak AVL) tree keyed
 * by start address, threaded by a sorted doubly-linked list, augmented with
 * free space.
 *
 * Why this shape.  The map layer needs three things fast: "which entry holds
 * this address" (every fault, every read and write), "walk the entries of a
 * range in order" (protect, inherit, wire, region), and "where is the lowest
 * hole of this size" (allocate anywhere, remap).  The tree answers the first
 * in O(log n); the list makes the walk O(1) per step with no tree climbing;
 * the augmentation answers the third in O(log n).
 *
 * The augmentation.  Every entry owns the hole that follows it: its gap is
 * the distance from its end to the next entry's start (or to the map's max
 * for the last entry), read off the list when needed (a stored copy cost
 * every entry 8 bytes).  `max_gap` is the largest `gap` in the entry's subtree, so a
 * search for a hole of `size` bytes can skip any subtree whose max_gap is
 * smaller.  The one hole no entry owns, the space in front of the first entry,
 * is the store's `lead_gap`.  A change to an entry's range, or an insert or
 * remove, changes at most two gaps: the entry's own and its predecessor's.
 * Both are fixed, and then every max_gap from each of them up to the root, so
 * every operation stays O(log n).
 *
 * Rotations recompute max_gap of the two nodes they move, child first;
 * subtrees that move whole keep their figures; the balance (below) sets
 * the ranks.  Nothing here
 * allocates, prints, or recurses deeper than the tree's height.
 */
#include "vm_map_store.h"

/* A node's rank; a missing child's is -1. */
static inline int rank_of(const struct vm_map_entry *e)
{
	return e ? e->rank : -1;
}

static inline vm_size_t max_gap_of(const struct vm_map_entry *e)
{
	return e ? e->max_gap : 0;
}

/* Recomputes e's max_gap from its children, which must be right. */
static void node_fix(const struct vm_map_store *s, struct vm_map_entry *e)
{
	vm_size_t m = vm_map_entry_gap(s, e), ml = max_gap_of(e->left), mr = max_gap_of(e->right);

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
	node_fix(s, x);
	node_fix(s, y);
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
	node_fix(s, x);
	node_fix(s, y);
	return y;
}

/*
 * The balance: a weak AVL tree (Haeupler, Sen and Tarjan, "Rank-balanced
 * trees").  Every node has a rank; a child's rank difference (its parent's
 * rank minus its own, a missing child counting -1) is 1 or 2, and a leaf
 * has rank 0.  An AVL tree is one with rank = height - 1, so the tree is
 * at most as deep as an AVL tree's 1.45 log2(n) after inserts alone and 2
 * log2(n) in any case.  What it buys: an insert or a remove changes ranks
 * on O(1) nodes amortized, where AVL heights change all the way to the
 * root when one place is split and merged back over and over (which is
 * what vm_inherit, vm_wire and vm_protect of one page and back do).
 */

/* After a leaf x was linked: while x is a 0-child (its parent's rank
 * equals its own), promote or rotate. */
static void rebalance_insert(struct vm_map_store *s, struct vm_map_entry *x)
{
	struct vm_map_entry *p = x->parent;

	while (p && p->rank == x->rank) {
		bool x_left = p->left == x;
		struct vm_map_entry *sib = x_left ? p->right : p->left;

		if (p->rank - rank_of(sib) == 1) {      /* (0,1): promote, go on up */
			p->rank++;
			x = p;
			p = p->parent;
			continue;
		}
		/* (0,2): x was promoted, so its children are a 1-child and a
		 * 2-child.  The outer one the 1-child: x rises; else x's inner
		 * child z rises over both. */
		struct vm_map_entry *z = x_left ? x->right : x->left;
		if (x->rank - rank_of(z) == 2) {
			if (x_left)
				rotate_right(s, p);
			else
				rotate_left(s, p);
			p->rank--;
		} else {
			if (x_left) {
				rotate_left(s, x);
				rotate_right(s, p);
			} else {
				rotate_right(s, x);
				rotate_left(s, p);
			}
			z->rank++;
			x->rank--;
			p->rank--;
		}
		return;
	}
}

/* After a node was unlinked from below p, on p's left side if x_left: a
 * (2,2) leaf is demoted, and a 3-child is mended by demotions going up or
 * by one or two rotations. */
static void rebalance_remove(struct vm_map_store *s, struct vm_map_entry *p, bool x_left)
{
	if (p && !p->left && !p->right && p->rank == 1) {
		p->rank = 0;                            /* a (2,2) leaf */
		x_left = p->parent && p->parent->left == p;
		p = p->parent;
	}
	while (p) {
		struct vm_map_entry *x = x_left ? p->left : p->right;
		if (p->rank - rank_of(x) != 3)
			return;
		/* x's sibling ranks at least x's + 1: it exists. */
		struct vm_map_entry *y = x_left ? p->right : p->left;
		if (p->rank - y->rank == 2) {
			p->rank--;
		} else if (y->rank - rank_of(y->left) == 2 && y->rank - rank_of(y->right) == 2) {
			p->rank--;
			y->rank--;
		} else {
			struct vm_map_entry *z = x_left ? y->right : y->left;   /* outer */
			if (y->rank - rank_of(z) == 1) {
				if (x_left)
					rotate_left(s, p);
				else
					rotate_right(s, p);
				y->rank++;
				p->rank--;
				if (!p->left && !p->right)
					p->rank--;          /* a leaf has rank 0 */
			} else {
				struct vm_map_entry *w = x_left ? y->left : y->right;   /* inner */
				if (x_left) {
					rotate_right(s, y);
					rotate_left(s, p);
				} else {
					rotate_left(s, y);
					rotate_right(s, p);
				}
				w->rank += 2;
				y->rank--;
				p->rank -= 2;
			}
			return;
		}
		x_left = p->parent && p->parent->left == p;
		p = p->parent;
	}
}

/*
 * Refigures max_gap from e up to the root after e's gap or children changed;
 * the shape is untouched.  Every other node agrees with its children, so
 * once a node's figure comes out unchanged nothing above it can change.
 */
static void propagate_gap(const struct vm_map_store *s, struct vm_map_entry *e)
{
	while (e) {
		vm_size_t old = e->max_gap;

		node_fix(s, e);
		if (e->max_gap == old)
			break;
		e = e->parent;
	}
}

/* Sets lead_gap from the current list (an entry's gap is read off the list). */
static void set_lead_gap(struct vm_map_store *s)
{
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
	e->rank = 0;
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
	 * The figures first, with the shape as it is: from the new leaf up,
	 * and from pred, whose gap shrank (the first pass may stop below it).
	 * The rotations that follow refigure what they move.
	 */
	if (!pred)
		set_lead_gap(s);
	e->max_gap = vm_map_entry_gap(s, e);
	propagate_gap(s, parent);
	propagate_gap(s, pred);
	rebalance_insert(s, e);
}

/* Unlinks e; grow, if not NULL, is e's predecessor and takes e's range
 * before any figure is refigured. */
static void remove_entry(struct vm_map_store *s, struct vm_map_entry *e,
                         struct vm_map_entry *grow)
{
	struct vm_map_entry *pred = e->prev, *succ = e->next, *from, *moved = NULL;

	if (s->hint == e)
		s->hint = NULL;
	bool from_left;                 /* which side of `from` lost a node */
	if (e->left && e->right) {
		/* succ is the leftmost node of e's right subtree: it takes e's place. */
		struct vm_map_entry *y = succ;

		if (y->parent == e) {
			from = y;
			from_left = false;
		} else {
			from = y->parent;
			from_left = true;
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
		 * propagate_gap's "unchanged, stop here" compares against the
		 * right ones. */
		y->rank = e->rank;
		y->max_gap = e->max_gap;
		moved = y;
	} else {
		struct vm_map_entry *child = e->left ? e->left : e->right;

		from = e->parent;
		from_left = from && from->left == e;
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
	if (grow)
		grow->end = e->end;

	/*
	 * The figures first, with the shape as it is now: from where a node
	 * left, then from y (which took e's place with e's children: if the
	 * first pass stopped below it, its own figures and those above, which
	 * counted e's gap, are still old), then from the predecessor, whose
	 * gap grew and which need not lie on either path.  Then the ranks;
	 * the rotations refigure what they move.
	 */
	propagate_gap(s, from);
	if (moved)
		propagate_gap(s, moved);
	if (!pred)
		set_lead_gap(s);
	propagate_gap(s, pred);
	rebalance_remove(s, from, from_left);
}

void vm_map_store_remove(struct vm_map_store *s, struct vm_map_entry *e)
{
	remove_entry(s, e, NULL);
}

void vm_map_store_absorb_next(struct vm_map_store *s, struct vm_map_entry *e)
{
	remove_entry(s, e->next, e);
}

void vm_map_store_update(struct vm_map_store *s, struct vm_map_entry *e)
{
	if (!e->prev)
		set_lead_gap(s);
	propagate_gap(s, e);
	propagate_gap(s, e->prev);
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
			vm_size_t gap = vm_map_entry_gap(s, n);
			if (gap >= size && fit_hole(n->end, n->end + gap, lo, size, mask, out))
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
static struct vm_map_entry *build_subtree(const struct vm_map_store *s,
                                          struct vm_map_entry **cur, size_t count,
                                          struct vm_map_entry *parent)
{
	struct vm_map_entry *left, *root;
	size_t nleft;

	if (count == 0)
		return NULL;
	nleft = (count - 1) / 2;
	left = build_subtree(s, cur, nleft, NULL);
	root = *cur;
	*cur = root->next;
	root->parent = parent;
	root->left = left;
	if (left)
		left->parent = root;
	root->right = build_subtree(s, cur, count - 1 - nleft, root);
	/* Height - 1: an AVL tree, so a weak AVL one. */
	int rl = rank_of(root->left), rr = rank_of(root->right);
	root->rank = (uint8_t)(1 + (rl > rr ? rl : rr));
	node_fix(s, root);
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
	set_lead_gap(s);
	s->root = build_subtree(s, &cur, n, NULL);
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
		int rl = rank_of(n->left), rr = rank_of(n->right);
		vm_size_t mg = vm_map_entry_gap(s, n);

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
		if (n->rank - rl < 1 || n->rank - rl > 2 || n->rank - rr < 1 || n->rank - rr > 2)
			return "rank rule: a child's rank difference is not 1 or 2";
		if (!n->left && !n->right && n->rank != 0)
			return "rank rule: a leaf's rank is not 0";
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
