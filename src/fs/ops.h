/*
 * ops.h - the FUSE low-level callbacks of machvmfs.
 */
#ifndef MACHVMFS_OPS_H
#define MACHVMFS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/types.h>

/* The mounting user (who may wire, and owns what no task owns). */
void fs_ops_init(uid_t mount_uid, gid_t mount_gid);

extern const struct fuse_lowlevel_ops fs_ops;

#endif
