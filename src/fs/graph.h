/*
 * graph.h - host/graph.dot and tasks/<id>/graph.dot: the tasks, their map
 * entries, the memory objects behind them and their shadow chains, as a
 * Graphviz digraph (fs_layout.md, "graph.dot", gives the names and styles).
 *
 * Both are rendered at open from one machvm_host_export walk, so a picture
 * is one consistent instant of the whole host (the walk locks every task,
 * as host/save does).  They return 0, -ENOENT when the task is gone, or
 * -ENOMEM.
 */
#ifndef MACHVMFS_GRAPH_H
#define MACHVMFS_GRAPH_H

#include "render.h"
#include "tree.h"

/* At most this many map entries are drawn in one file; the rest of each
 * task's entries are one "more" node, and the graph says it is truncated. */
#define FS_GRAPH_MAX_ENTRIES 2000

/* host/graph.dot (every task) and tasks/<id>/graph.dot (the node's task). */
int fs_read_graph(const struct fs_node *n, struct fs_buf *out);

#endif
