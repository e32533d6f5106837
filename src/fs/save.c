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

/* Only root and the mounting user may make the daemon write its file. */
static int
run_save(const struct fs_node *n, const struct fs_ctx *ctx, struct fs_cmd *c,
         struct fs_run *r)
{
	char msg[160];

	(void)n;
	(void)c;
	if (!ctx->privileged) {
		snprintf(r->why, sizeof r->why, "only the user who mounted may save the host");
		return -EACCES;
	}
	if (state_save(state_path, msg, sizeof msg) != 0) {
		fs_error("host/save: %s", msg);
		snprintf(r->call, sizeof r->call, "saving the host (%s)", msg);
		r->kr = KERN_FAILURE;
		return -EIO;
	}
	fs_debug("host/save: saved to %s", state_path);
	snprintf(r->result, sizeof r->result, "ok\n");
	return 0;
}

/* Not in the ctl files' command table: host/save has no other verb. */
static const struct fs_verb save_verb = {
	FS_L_HOST, "save", "", NULL, run_save, "state_save"
};

int
fs_read_save(const struct fs_node *n, struct fs_buf *out)
{
	(void)n;
	fs_buf_printf(out, "save\n");
	return fs_buf_status(out);
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
	c->verb = &save_verb;
	return 0;
}
