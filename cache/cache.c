/*
 * cache.c - [cache] settings and opening the store and reader (see cache.h).
 */
#define FX_LOG_MODULE "cache"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/cache.h"
#include "core/fsutil.h"
#include "core/log.h"


static const char *const fx_prefetch_modes[] = { "off", "seq", "snn", NULL };

const struct fx_conf_key fx_cache_conf_keys[] = {
	{ "cache", "block_size", FX_CONF_SIZE, "1M", FX_STORE_BLOCK_MIN, FX_STORE_BLOCK_MAX, NULL,
	  "block_size", "bytes per cached block (a multiple of 64K)" },
	{ "cache", "min_free", FX_CONF_SIZE, "256M", 0, 1024.0 * 1024 * 1024 * 1024 * 1024, NULL,
	  "cache_min_free", "free space to leave on the cache filesystem" },
	{ "cache", "policy", FX_CONF_STRING, "s3fifo", 1, 0, NULL, "cache_policy",
	  "eviction policy: lru, s3fifo, arc, sieve or snn (learned)" },
	{ "cache", "key_file", FX_CONF_STRING, NULL, 1, 0, NULL, "cache_key_file",
	  "file of 32 random bytes (mode 0600): encrypt cached blocks with it" },
	{ "cache", "prefetch", FX_CONF_ENUM, "seq", 1, 0, fx_prefetch_modes, "prefetch",
	  "prefetch: seq (sequential readahead), snn (learned, and sequential) or off" },
	{ "cache", "readahead_max", FX_CONF_SIZE, "64M", 0, 1024.0 * 1024 * 1024 * 1024, NULL,
	  "readahead_max", "largest sequential readahead window per open file" },
	{ "cache", "memory_limit", FX_CONF_SIZE, "256M", 1024.0 * 1024, 1024.0 * 1024 * 1024 * 1024,
	  NULL, "memory_limit", "bytes of fetch and prefetch buffers at most, for the whole mount" },
	{ "cache", "snn_neurons", FX_CONF_INT, "65536", 1024, 1 << 24, NULL, "snn_neurons",
	  "neurons of the learned access predictor" },
	{ "cache", "snn_window_ms", FX_CONF_INT, "500", 1, 600000, NULL, "snn_window_ms",
	  "the predictor links reads at most this many ms apart" },
	{ "cache", "trace", FX_CONF_STRING, NULL, 1, 0, NULL, "trace",
	  "record every open and read to this file (for rustfx sim)" },
	{ NULL, NULL, 0, NULL, 0, 0, NULL, NULL, NULL },
};

/* @path made absolute against the current directory (the daemon leaves it). */
static int fx_abspath(const char *path, char *out, size_t cap)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/')
		n = snprintf(out, cap, "%s", path);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, cap, "%s/%s", cwd, path);
	else
		return -errno;
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/*
 * The trace file is created when the cache opens: a directory that is not
 * there is a bad option (exit 2, before the mount), not a system error.
 */
static int fx_trace_dir_check(const char *path, struct fx_diag *d)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;
	int err;

	snprintf(dir, sizeof(dir), "%s", path); /* absolute, and fits: fx_abspath said so */
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0'; /* a file in "/" */
	else
		*slash = '\0';
	if (stat(dir, &st) < 0)
		err = errno;
	else if (!S_ISDIR(st.st_mode))
		err = ENOTDIR;
	else
		return 0;
	fx_diag_set(d, -FX_EBADOPT, "give a path in an existing, writable directory",
		    "cannot record a trace to %s (%s: %s)", path, dir, strerror(err));
	return -FX_EBADOPT;
}

int fx_cache_opts_resolve(const struct fx_config *cfg, struct fx_cache_opts *out, struct fx_diag *d)
{
	struct fx_cache_opts o = { 0 };
	const char *policy = fx_config_str(cfg, "cache.policy");
	const char *key_file = fx_config_str(cfg, "cache.key_file");
	uint64_t bs = fx_config_size(cfg, "cache.block_size");

	o.size = fx_config_size(cfg, "cache.size");
	o.min_free = fx_config_size(cfg, "cache.min_free");
	o.memory_limit = fx_config_size(cfg, "cache.memory_limit");
	o.readahead_max = fx_config_size(cfg, "cache.readahead_max");
	o.workers = (unsigned)fx_config_int(cfg, "io.concurrency");
	const char *prefetch = fx_config_str(cfg, "cache.prefetch");
	const char *trace = fx_config_str(cfg, "cache.trace");

	o.prefetch = !strcmp(prefetch, "off") ? FX_PREFETCH_OFF
		     : !strcmp(prefetch, "snn") ? FX_PREFETCH_SNN
						: FX_PREFETCH_SEQ;
	o.snn_neurons = (uint32_t)fx_config_int(cfg, "cache.snn_neurons");
	o.snn_window_ms = (uint32_t)fx_config_int(cfg, "cache.snn_window_ms");
	if (trace && fx_abspath(trace, o.trace, sizeof(o.trace)) < 0) {
		fx_diag_set(d, -FX_EBADOPT, "use a shorter path", "trace path is too long");
		return -FX_EBADOPT;
	}
	if (trace && fx_trace_dir_check(o.trace, d) < 0)
		return -FX_EBADOPT;
	if (bs % FX_STORE_BLOCK_MIN) {
		fx_diag_set(d, -FX_EBADOPT, "use a multiple of 64K, e.g. 1M or 4M",
			    "block_size %llu is not a multiple of 64K", (unsigned long long)bs);
		return -FX_EBADOPT;
	}
	o.block_size = (uint32_t)bs;
	if (!(o.policy = fx_policy_find(policy))) {
		fx_diag_set(d, -FX_EBADOPT, NULL, "unknown cache_policy '%s'", policy);
		snprintf(d->hint, sizeof(d->hint), "use one of: %s", fx_policy_names());
		return -FX_EBADOPT;
	}
	if (key_file && (size_t)snprintf(o.key_file, sizeof(o.key_file), "%s", key_file) >=
				sizeof(o.key_file)) {
		fx_diag_set(d, -FX_EBADOPT, "use a shorter path", "cache_key_file is too long");
		return -FX_EBADOPT;
	}
	/* A window larger than a quarter of the cache would evict itself. */
	if (o.readahead_max > o.size / 4)
		o.readahead_max = o.size / 4;
	*out = o;
	return 0;
}

/* Read the 32-byte key into sodium memory. @return it, or NULL with @d. */
static unsigned char *fx_read_key(const char *path, struct fx_diag *d)
{
	static const char hint[] = "create one with: head -c 32 /dev/urandom >KEYFILE && chmod 600 KEYFILE";
	unsigned char *key = sodium_malloc(FX_STORE_KEY_LEN + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ssize_t n;

	if (!key || fd < 0) {
		int err = key ? -errno : -ENOMEM;

		fx_diag_set(d, err, hint, "cannot read cache_key_file %s (%s)", path, fx_strerror(err));
		goto fail;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		fx_diag_set(d, -FX_EBADOPT, "chmod 600 the key file",
			    "cache_key_file %s must be a regular file readable by its owner only", path);
		goto fail;
	}
	n = read(fd, key, FX_STORE_KEY_LEN + 1);
	if (n != FX_STORE_KEY_LEN) {
		fx_diag_set(d, -FX_EBADOPT, hint, "cache_key_file %s must hold exactly 32 bytes", path);
		goto fail;
	}
	close(fd);
	return key;
fail:
	if (fd >= 0)
		close(fd);
	sodium_free(key);
	return NULL;
}

int fx_cache_open(struct fx_backend *b, const char *dir, const struct fx_cache_opts *o,
		  struct fx_cache **out, struct fx_diag *d)
{
	struct fx_cache *c = calloc(1, sizeof(*c));
	unsigned char *key = NULL;
	struct fx_policy_env env = { .capacity = o->size };
	struct fx_store_opts so = { .dir = dir, .capacity = o->size, .min_free = o->min_free,
				    .block_size = o->block_size, .policy = o->policy,
				    .policy_env = &env };
	struct fx_learn_opts lo = { .dir = dir, .predict = o->prefetch == FX_PREFETCH_SNN,
				    .score = !strcmp(o->policy->name, "snn"),
				    .neurons = o->snn_neurons, .window_ms = o->snn_window_ms,
				    .block_size = o->block_size,
				    .trace_path = o->trace[0] ? o->trace : NULL };
	struct fx_reader_opts ro = { .backend = b, .workers = o->workers,
				     .memory_limit = o->memory_limit,
				     .readahead_max = o->prefetch == FX_PREFETCH_OFF ? 0 : o->readahead_max };
	int ret;

	if (!c || sodium_init() < 0) {
		free(c);
		return -ENOMEM;
	}
	c->opt = *o;
	if (o->key_file[0]) {
		if (!(key = fx_read_key(o->key_file, d))) {
			free(c);
			return d->err ? d->err : -FX_EBADOPT;
		}
		so.key = key;
	}
	if (lo.predict || lo.score || lo.trace_path) {
		char index[PATH_MAX];

		snprintf(index, sizeof(index), "%s/index.mdb", dir);
		lo.seasoned = access(index, F_OK) == 0;
		if ((ret = fx_mkdirs(dir, 0700)) < 0 || (ret = fx_learn_open(&lo, &c->learn, d)) < 0) {
			if (!d->err)
				fx_diag_set(d, ret, NULL, "cannot create %s (%s)", dir, fx_strerror(ret));
			sodium_free(key);
			free(c);
			return ret;
		}
		fx_learn_policy_env(c->learn, &env);
	}
	ret = fx_store_open(&so, &c->store, d);
	sodium_free(key); /* the store keeps its own copy */
	if (ret < 0) {
		fx_learn_close(c->learn);
		free(c);
		return ret;
	}
	if (lo.trace_path && (ret = fx_learn_open_trace(c->learn, lo.trace_path, d)) < 0) {
		fx_cache_close(c);
		return ret;
	}
	ro.store = c->store;
	if ((ret = fx_reader_new(&ro, &c->reader)) < 0) {
		fx_diag_set(d, ret, NULL, "cannot start the cache's readers (%s)", fx_strerror(ret));
		fx_cache_close(c);
		return ret;
	}
	*out = c;
	return 0;
}

int fx_cache_start(struct fx_cache *c)
{
	int ret = fx_store_start(c->store);

	if (ret == 0)
		ret = fx_reader_start(c->reader);
	if (ret == 0 && c->learn)
		ret = fx_learn_start(c->learn, c->reader, c->store);
	return ret;
}

void fx_cache_close(struct fx_cache *c)
{
	if (!c)
		return;
	fx_reader_free(c->reader);
	fx_learn_close(c->learn); /* saves the model with the store's counters */
	fx_store_close(c->store);
	free(c);
}
