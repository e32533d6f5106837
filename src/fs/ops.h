/*
 * ops.h - the FUSE low-level callbacks of machvmfs.
 */
#ifndef MACHVMFS_OPS_H
#define MACHVMFS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <sys/types.h>

/* The mounting user (who may wire, and owns what no task owns). */
void fs_ops_init(uid_t mount_uid, gid_t mount_gid);
/* The session, for the notifications that keep the kernel's caches fresh;
 * set before the session serves requests. */
void fs_ops_session(struct fuse_session *se);
/* What the kernel is told (timeouts, open flags, readdirplus), as the
 * key=value lines of --bench-config: the benchmark's floor mirrors them. */
void fs_ops_bench_config(FILE *out);

extern const struct fuse_lowlevel_ops fs_ops;

#endif
