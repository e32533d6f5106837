/*
 * graph.c - see graph.h.
 *
 * The export's callbacks run with the engine's locks held: they only copy
 * what they are given into arrays (no engine call).  The text is written
 * afterwards, in a fixed order (tasks by id, each followed by its entries
 * by address, then the objects by id), so the same host always gives the
 * same file.
 */
#include "graph.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <machvm/machvm.h>
#include <machvm/persist.h>

struct gobject {
	machvm_object_desc_t d;
	uint64_t pages;         /* resident pages of its own */
	unsigned refs;          /* entries mapping it + objects shadowing it */
	bool     shared;        /* written through by more than one mapping */
	bool     drawn;
};

struct gtask {
	machvm_task_desc_t d;
	size_t first, count;    /* its entries in the entry array */
};

struct gentry {
	task_t              task;
	machvm_entry_desc_t d;
};

struct graph {
	struct gobject *objects;
	size_t          nobjects, capobjects;
	struct gtask   *tasks;
	size_t          ntasks, captasks;
	struct gentry  *entries;
	size_t          nentries, capentries;
	bool            nomem;
};

/* Room for one more element in *v (count *n, capacity *cap). */
static bool
grow(void *vp, size_t *n, size_t *cap, size_t size)
{
	void **v = vp;
	void *p;
	size_t c;

	if (*n < *cap)
		return true;
	c = *cap ? *cap * 2 : 16;
	p = realloc(*v, c * size);
	if (!p)
		return false;
	*v = p;
	*cap = c;
	return true;
}

/* ---- the export's callbacks (engine locks held) ---------------------- */

static int
on_host(void *arg, const machvm_host_desc_t *host)
{
	(void)arg;
	(void)host;
	return 0;
}

static int
on_object(void *arg, const machvm_object_desc_t *object)
{
	struct graph *g = arg;

	if (!grow(&g->objects, &g->nobjects, &g->capobjects, sizeof *g->objects)) {
		g->nomem = true;
		return 1;
	}
	memset(&g->objects[g->nobjects], 0, sizeof g->objects[0]);
	g->objects[g->nobjects++].d = *object;
	return 0;
}

/* Each object's pages follow it at once. */
static int
on_page(void *arg, uint64_t object, uint64_t index, const void *bytes)
{
	struct graph *g = arg;

	(void)index;
	(void)bytes;
	if (g->nobjects && g->objects[g->nobjects - 1].d.id == object)
		g->objects[g->nobjects - 1].pages++;
	return 0;
}

static int
on_task(void *arg, const machvm_task_desc_t *task)
{
	struct graph *g = arg;

	if (!grow(&g->tasks, &g->ntasks, &g->captasks, sizeof *g->tasks)) {
		g->nomem = true;
		return 1;
	}
	g->tasks[g->ntasks].d = *task;
	g->tasks[g->ntasks].first = g->nentries;
	g->tasks[g->ntasks++].count = 0;
	return 0;
}

/* Each task's entries follow it at once. */
static int
on_entry(void *arg, task_t task, const machvm_entry_desc_t *entry)
{
	struct graph *g = arg;

	if (!grow(&g->entries, &g->nentries, &g->capentries, sizeof *g->entries)) {
		g->nomem = true;
		return 1;
	}
	g->entries[g->nentries].task = task;
	g->entries[g->nentries++].d = *entry;
	if (g->ntasks)
		g->tasks[g->ntasks - 1].count++;
	return 0;
}

/* ---- the picture ------------------------------------------------------ */

static int
by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct gobject *)a)->d.id, y = ((const struct gobject *)b)->d.id;

	return x < y ? -1 : x > y;
}

static struct gobject *
find_object(struct graph *g, uint64_t id)
{
	struct gobject key = { .d = { .id = id } };

	if (id == 0 || g->nobjects == 0)
		return NULL;
	return bsearch(&key, g->objects, g->nobjects, sizeof key, by_id);
}

static void
graph_free(struct graph *g)
{
	free(g->objects);
	free(g->tasks);
	free(g->entries);
}

/* Reference counts and sharing, from every task's entries (a task's own
 * picture still tells an object other tasks share). */
static void
count_refs(struct graph *g)
{
	for (size_t i = 0; i < g->nobjects; i++) {
		struct gobject *s = find_object(g, g->objects[i].d.shadow);

		if (s)
			s->refs++;
		if (g->objects[i].d.true_share)
			g->objects[i].shared = true;
	}
	for (size_t i = 0; i < g->nentries; i++) {
		struct gobject *o = find_object(g, g->entries[i].d.object);

		if (o) {
			o->refs++;
			if (g->entries[i].d.is_shared)
				o->shared = true;
		}
	}
}

static void
put_task(struct fs_buf *out, const struct gtask *t)
{
	char parent[24];

	if (t->d.parent)
		snprintf(parent, sizeof parent, "%llu", (unsigned long long)t->d.parent);
	else
		snprintf(parent, sizeof parent, "none");
	fs_buf_printf(out, "\ttask_%llu [shape=box, style=rounded, label=\"task %llu\\nparent %s\\n"
	              "%zu %s\"];\n", (unsigned long long)t->d.id,
	              (unsigned long long)t->d.id, parent, t->count,
	              t->count == 1 ? "entry" : "entries");
}

static void
put_entry(struct fs_buf *out, const struct gentry *e)
{
	const machvm_entry_desc_t *d = &e->d;
	char prot[4], max[4], name[64];
	const char *style = d->wired_count ? "bold" : "solid";

	fs_prot_letters((vm_prot_t)d->protection, prot);
	fs_prot_letters((vm_prot_t)d->max_protection, max);
	snprintf(name, sizeof name, "entry_%u_0x%016llx", (unsigned)e->task,
	         (unsigned long long)d->start);
	fs_buf_printf(out, "\t%s [shape=box, style=%s, label=\"0x%llx-0x%llx\\n%s/%s %s",
	              name, style, (unsigned long long)d->start, (unsigned long long)d->end,
	              prot, max, fs_inherit_name((vm_inherit_t)d->inheritance));
	if (d->object)
		fs_buf_printf(out, "\\noffset 0x%llx", (unsigned long long)d->offset);
	else
		fs_buf_printf(out, "\\nno object yet");
	if (d->needs_copy)
		fs_buf_printf(out, "\\nneeds_copy");
	if (d->wired_count)
		fs_buf_printf(out, "\\nwired %llu", (unsigned long long)d->wired_count);
	fs_buf_printf(out, "\"];\n\ttask_%u -> %s;\n", (unsigned)e->task, name);
	if (d->object)
		fs_buf_printf(out, "\t%s -> object_%llu [style=%s%s];\n", name,
		              (unsigned long long)d->object, d->needs_copy ? "dashed" : "solid",
		              d->wired_count ? ", penwidth=3" : "");
}

static void
put_object(struct fs_buf *out, const struct gobject *o)
{
	fs_buf_printf(out, "\tobject_%llu [shape=ellipse, style=%s, label=\"object %llu\\n"
	              "size %llu\\nresident %llu\\nrefs %u\"];\n",
	              (unsigned long long)o->d.id, o->shared ? "filled, fillcolor=lightblue"
	              : "solid", (unsigned long long)o->d.id, (unsigned long long)o->d.size,
	              (unsigned long long)o->pages, o->refs);
	if (o->d.shadow)
		fs_buf_printf(out, "\tobject_%llu -> object_%llu [style=dotted, arrowhead=empty, "
		              "label=\"shadow +0x%llx\"];\n", (unsigned long long)o->d.id,
		              (unsigned long long)o->d.shadow,
		              (unsigned long long)o->d.shadow_offset);
}

/* Marks o and the objects below it drawn. */
static void
mark_chain(struct graph *g, uint64_t id)
{
	struct gobject *o;

	while ((o = find_object(g, id)) && !o->drawn) {
		o->drawn = true;
		id = o->d.shadow;
	}
}

static void
put_graph(struct graph *g, task_t only, struct fs_buf *out)
{
	size_t drawn = 0, total = 0;

	fs_buf_printf(out, "// machvmfs: %s, map entries, memory objects and shadow chains\n"
	              "// styles: shared objects filled, copy-on-write (needs_copy) mappings "
	              "dashed, wired entries bold, shadow links dotted\n"
	              "digraph machvm {\n\trankdir=LR;\n",
	              only ? "one task" : "every task");
	for (size_t t = 0; t < g->ntasks; t++) {
		const struct gtask *task = &g->tasks[t];
		size_t shown = 0;

		if (only && task->d.id != only)
			continue;
		put_task(out, task);
		total += task->count;
		for (size_t k = 0; k < task->count && drawn < FS_GRAPH_MAX_ENTRIES; k++) {
			const struct gentry *e = &g->entries[task->first + k];

			put_entry(out, e);
			mark_chain(g, e->d.object);
			drawn++;
			shown++;
		}
		if (shown < task->count)
			fs_buf_printf(out, "\tmore_%llu [shape=note, label=\"%zu more %s "
			              "not drawn\"];\n\ttask_%llu -> more_%llu [style=dotted];\n",
			              (unsigned long long)task->d.id, task->count - shown,
			              task->count - shown == 1 ? "entry" : "entries",
			              (unsigned long long)task->d.id, (unsigned long long)task->d.id);
	}
	for (size_t i = 0; i < g->nobjects; i++)
		if (g->objects[i].drawn)
			put_object(out, &g->objects[i]);
	if (drawn < total)
		fs_buf_printf(out, "\tlabel=\"truncated: %zu of %zu entries drawn\";\n", drawn,
		              total);
	fs_buf_printf(out, "}\n");
}

int
fs_read_graph(const struct fs_node *n, struct fs_buf *out)
{
	static const struct machvm_export_ops ops = {
		on_host, on_object, on_page, on_task, on_entry,
	};
	struct graph g;
	kern_return_t kr;
	bool found = n->task == TASK_NULL;

	memset(&g, 0, sizeof g);
	kr = machvm_host_export(&ops, &g);
	if (kr == KERN_RESOURCE_SHORTAGE || g.nomem) {
		graph_free(&g);
		return -ENOMEM;
	}
	if (kr != KERN_SUCCESS) {
		graph_free(&g);
		return -EIO;
	}
	if (g.nobjects)         /* qsort and bsearch never get a NULL array */
		qsort(g.objects, g.nobjects, sizeof *g.objects, by_id);
	for (size_t t = 0; t < g.ntasks && !found; t++)
		found = g.tasks[t].d.id == n->task;
	if (!found) {
		graph_free(&g);
		return -ENOENT;
	}
	count_refs(&g);
	put_graph(&g, n->task, out);
	graph_free(&g);
	return fs_buf_status(out);
}
