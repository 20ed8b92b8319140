/*
 * options.h - mount options: the [mount] settings and the -o string.
 *
 * Owns: the schema of [mount] (ro, allow_other, uid, umask, timeouts, ...),
 * splitting and applying "-o a=b,c,no_d" onto a configuration (fstab noise
 * such as defaults,_netdev,nofail,noauto,user is accepted and ignored), and
 * resolving the typed options the filesystem runs with.
 * Does not own: other layers' settings; -o names that map to them (cache_dir,
 * log_level, ...) are looked up through the configuration schema.
 */
#ifndef FX_FS_OPTIONS_H
#define FX_FS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"

extern const struct fx_conf_key fx_fs_conf_keys[];

/** Options the filesystem runs with, resolved and validated. */
struct fx_fs_options {
	bool ro, allow_other, default_permissions;
	uid_t uid;
	gid_t gid;
	mode_t umask;
	double attr_timeout, entry_timeout, negative_timeout; /* the kernel's caches */
	double stat_ttl, dir_ttl, negative_ttl;		      /* rustfx's own caches */
	uint64_t kernel_readahead;   /* bytes; 0 keeps the kernel's default */
	bool kernel_readahead_given; /* not the default (which prefetch=off drops) */
	unsigned concurrency;	     /* [io] concurrency: parallel backend requests */
	bool stats;		     /* serve the control directory */
	bool dir_meta_head;	     /* HEAD every listed object for its metadata (s3fs) */
	char control_dir[256];	     /* its name below the root */
	char metrics[64];	     /* [HOST:]PORT serving Prometheus metrics; "" for none */
};

/**
 * Apply a mount option string ("ro,uid=1000,cache_dir=/var/cache/x") to @cfg
 * as flags. Commas inside a value are escaped as "\,".
 * @return 0 or -FX_EBADOPT with @d naming the option and a "did you mean".
 */
int fx_options_apply(struct fx_config *cfg, const char *opts, struct fx_diag *d);

/** True for fstab-only words rustfx accepts and ignores (defaults, _netdev, ...). */
bool fx_options_is_noise(const char *opt);

/**
 * Resolve typed options from @cfg: uid/gid accept numbers or names, umask is
 * octal. @return 0 or -FX_EBADOPT with @d.
 */
int fx_options_resolve(const struct fx_config *cfg, struct fx_fs_options *out, struct fx_diag *d);

#endif
