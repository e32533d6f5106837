/*
 * save.c - see save.h.
 */
#include "save.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../persist/state.h"
#include "log.h"

static const char *state_path;

void
fs_save_init(const char *path)
{
	state_path = path;
}

/* The privilege check is the verb's owner column (ctl.c). */
kern_return_t
fs_call_save(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
             struct fs_run *r)
{
	char msg[160];

	(void)n;
	(void)ctx;
	(void)c;
	if (state_save(state_path, msg, sizeof msg) != 0) {
		fs_error("host/save: %s", msg);
		snprintf(r->call, sizeof r->call, "saving the host (%s)", msg);
		return KERN_FAILURE;
	}
	fs_debug("host/save: saved to %s", state_path);
	return KERN_SUCCESS;
}

int
fs_read_save(const struct fs_node *n, struct fs_buf *out)
{
	(void)n;
	return fs_usage_text(FS_L_HOST, out);
}

int
fs_write_save(const struct fs_node *n, char *line, struct fs_cmd *c, struct fs_why *why)
{
	(void)n;
	if (strcmp(line, "save") != 0) {
		fs_why_set(why, "the only command is 'save'");
		return -1;
	}
	if (!state_path) {
		fs_why_set(why, "no state file: mount with -o state=FILE");
		return -1;
	}
	c->verb = fs_verb_named(FS_L_HOST, "save");
	return 0;
}
