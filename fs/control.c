/*
 * control.c - the virtual control directory and its stats file (see control.h).
 */
#include "fs/control.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An open stats file: the document as it was at open(2). */
struct fx_ctl_file {
	char *text;
	size_t len;
};

static void fx_ctl_stat(const struct fx_ctl *c, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = c->uid;
	st->st_gid = c->gid;
	st->st_atim = st->st_mtim = st->st_ctim = c->started;
	if (ino == FX_CTL_DIR_INO) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		/* The size is unknown until read: direct_io makes readers read to EOF. */
	}
}

static void fx_ctl_entry(const struct fx_ctl *c, fuse_ino_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 1;
	fx_ctl_stat(c, ino, &e->attr);
	e->attr_timeout = e->entry_timeout = c->timeout;
}

static json_t *fx_latency_json(const uint64_t *hist)
{
	json_t *o = json_object();
	char name[32];

	for (unsigned i = 0; i < FX_LATENCY_BUCKETS; i++) {
		if (!hist[i])
			continue;
		if (i == FX_LATENCY_BUCKETS - 1)
			snprintf(name, sizeof(name), ">=%llu", 1ull << i);
		else
			snprintf(name, sizeof(name), "<%llu", 2ull << i);
		json_object_set_new(o, name, json_integer((json_int_t)hist[i]));
	}
	return o;
}

char *fx_ctl_stats_json(const struct fx_ctl *c)
{
	struct fx_store_stats ss;
	struct fx_reader_stats rs;
	struct timespec now;
	json_t *root, *requests;
	uint64_t issued;
	char *text;

	fx_store_stats(c->cache->store, &ss);
	fx_reader_stats(c->cache->reader, &rs);
	clock_gettime(CLOCK_REALTIME, &now);
	issued = rs.readahead_blocks + rs.predicted_blocks;
	requests = json_object();
	for (int op = 0; op < FX_OP_COUNT; op++) {
		struct fx_backend_op_stats os;

		fx_backend_op_stats(c->backend, (enum fx_backend_op)op, &os);
		json_object_set_new(requests, fx_backend_op_name((enum fx_backend_op)op),
				    json_pack("{s:I, s:I, s:I, s:o, s:I}", "calls", (json_int_t)os.calls,
					      "errors", (json_int_t)os.errors, "bytes",
					      (json_int_t)os.bytes, "latency_us",
					      fx_latency_json(os.hist), "latency_sum_us",
					      (json_int_t)os.latency_us_sum));
	}
	root = json_pack(
		"{s:i, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
		" s:{s:I, s:I, s:I, s:I, s:f}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o}",
		"version", 1, "backend", fx_backend_url(c->backend), "uptime_s",
		(json_int_t)(now.tv_sec - c->started.tv_sec),
		"cache", "blocks", (json_int_t)ss.blocks, "bytes", (json_int_t)ss.bytes, "capacity",
		(json_int_t)ss.capacity, "hits", (json_int_t)ss.hits, "misses", (json_int_t)ss.misses,
		"bytes_from_cache", (json_int_t)ss.hit_bytes, "bytes_to_page_cache",
		(json_int_t)ss.peek_bytes, "hit_ratio",
		ss.hits + ss.misses ? (double)ss.hits / (double)(ss.hits + ss.misses) : 0.0,
		"inserts", (json_int_t)ss.inserts, "evictions", (json_int_t)ss.evictions,
		"checksum_failures", (json_int_t)ss.corrupt, "skipped_inserts", (json_int_t)ss.skipped,
		"stale_dropped", (json_int_t)ss.stale, "adopted_at_mount", (json_int_t)ss.adopted,
		"dropped_at_mount", (json_int_t)ss.dropped,
		"prefetch", "issued", (json_int_t)issued, "used", (json_int_t)ss.prefetch_used,
		"wasted", (json_int_t)ss.prefetch_wasted, "skipped", (json_int_t)rs.prefetch_skipped,
		"accuracy", issued ? (double)ss.prefetch_used / (double)issued : 0.0,
		"fetch", "blocks", (json_int_t)rs.fetches, "bytes_from_backend",
		(json_int_t)rs.fetched_bytes, "coalesced", (json_int_t)rs.coalesced, "errors",
		(json_int_t)rs.fetch_errors, "stale", (json_int_t)rs.stale, "memory_used",
		(json_int_t)rs.memory_used, "memory_peak", (json_int_t)rs.memory_peak, "memory_limit",
		(json_int_t)rs.memory_limit,
		"requests", requests);
	if (root && c->cache->learn) {
		struct fx_learn_stats ls;
		struct fx_headahead_stats hs;

		fx_learn_stats(c->cache->learn, &ls);
		fx_headahead_stats(c->ha, &hs);
		json_object_set_new(
			root, "learn",
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:b, s:I, s:I}",
				  "accesses",
				  (json_int_t)ls.accesses, "predicted", (json_int_t)ls.predicted,
				  "prefetched", (json_int_t)ls.prefetched, "used", (json_int_t)ls.used,
				  "wasted", (json_int_t)ls.wasted, "accuracy", ls.accuracy, "coverage",
				  ls.coverage, "model_bytes", (json_int_t)ls.model_bytes, "synapses",
				  (json_int_t)ls.synapses, "saves", (json_int_t)ls.saves, "model_loaded",
				  ls.model_loaded, "lookups_prefetched", (json_int_t)hs.sent,
				  "lookups_used", (json_int_t)hs.used));
	}
	if (!root)
		return NULL;
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return text;
}

bool fx_ctl_lookup(const struct fx_ctl *c, fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (!c->enabled)
		return false;
	if (parent == FUSE_ROOT_ID && !strcmp(name, c->name)) {
		fx_ctl_entry(c, FX_CTL_DIR_INO, &e);
		fuse_reply_entry(req, &e);
		return true;
	}
	if (parent != FX_CTL_DIR_INO)
		return false;
	if (strcmp(name, "stats")) {
		fuse_reply_err(req, ENOENT);
		return true;
	}
	fx_ctl_entry(c, FX_CTL_STATS_INO, &e);
	fuse_reply_entry(req, &e);
	return true;
}

void fx_ctl_getattr(const struct fx_ctl *c, fuse_req_t req, fuse_ino_t ino)
{
	struct stat st;

	fx_ctl_stat(c, ino, &st);
	fuse_reply_attr(req, &st, c->timeout);
}

void fx_ctl_open(const struct fx_ctl *c, fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fx_ctl_file *f;

	if (ino != FX_CTL_STATS_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (!(f = calloc(1, sizeof(*f))) || !(f->text = fx_ctl_stats_json(c))) {
		free(f);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f->len = strlen(f->text);
	fi->fh = (uintptr_t)f;
	fi->direct_io = 1;
	if (fuse_reply_open(req, fi) < 0) {
		free(f->text);
		free(f);
	}
}

void fx_ctl_read(fuse_req_t req, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fx_ctl_file *f = (struct fx_ctl_file *)(uintptr_t)fi->fh;
	size_t n = (size_t)off >= f->len ? 0 : f->len - (size_t)off < size ? f->len - (size_t)off : size;
	/* The reply goes from a copy: once the reader has its bytes it may
	 * close the file, and the release (another thread) frees f->text
	 * while writev is still returning (a ThreadSanitizer report). */
	char *copy = n ? malloc(n) : NULL;

	if (n && !copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (n)
		memcpy(copy, f->text + off, n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

void fx_ctl_release(fuse_req_t req, struct fuse_file_info *fi)
{
	struct fx_ctl_file *f = (struct fx_ctl_file *)(uintptr_t)fi->fh;

	if (f) {
		free(f->text);
		free(f);
	}
	fuse_reply_err(req, 0);
}

void fx_ctl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FX_CTL_DIR_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->fh = 0;
	fuse_reply_open(req, fi);
}

void fx_ctl_readdir(const struct fx_ctl *c, fuse_req_t req, size_t size, off_t off, bool plus)
{
	static const char *const names[] = { ".", "..", "stats" };
	const fuse_ino_t inos[] = { FX_CTL_DIR_INO, FUSE_ROOT_ID, FX_CTL_STATS_INO };
	char *buf = malloc(size ? size : 1);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t i = off; i < 3; i++) {
		struct fuse_entry_param e;
		size_t n;

		fx_ctl_entry(c, inos[i], &e);
		if (plus) {
			if (i < 2) /* no lookup count for . and .. */
				e = (struct fuse_entry_param){ .attr = e.attr };
			n = fuse_add_direntry_plus(req, buf + used, size - used, names[i], &e, i + 1);
		} else {
			n = fuse_add_direntry(req, buf + used, size - used, names[i], &e.attr, i + 1);
		}
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}
