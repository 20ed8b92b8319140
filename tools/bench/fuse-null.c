/*
 * fuse-null - a FUSE filesystem that does no work: the most small reads that
 * reach a FUSE daemon can be answered on this machine.
 *
 * It serves one read-only file, "big", of SIZE bytes whose reads return
 * zeros from a static buffer: no lookup of its own, no I/O, no copy but the
 * reply, on one thread, which the kernel wakes for every request with no
 * hand-over between threads (a pool of threads answered a serial reader at
 * three quarters of this rate or less here). A read through it costs what
 * FUSE itself costs (the request, two context switches, the reply into the
 * page cache), so the benchmarks read their own mount's small reads against
 * it (tools/bench/cache).
 * Built by the benchmark that uses it, not by the project:
 *   cc -O2 -o fuse-null fuse-null.c $(pkg-config --cflags --libs fuse3)
 *
 * Usage: fuse-null SIZE MOUNTPOINT  (stays in the foreground; umount ends it)
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_INO 2
#define FOREVER 1e9 /* seconds: nothing here ever changes */

static char zeros[1 << 20];
static off_t file_size;

static void null_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = file_size;
	}
}

static void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { .ino = FILE_INO, .attr_timeout = FOREVER,
				      .entry_timeout = FOREVER };

	if (parent != FUSE_ROOT_ID || strcmp(name, "big")) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	null_stat(FILE_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void null_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	null_stat(ino, &st);
	fuse_reply_attr(req, &st, FOREVER);
}

static void null_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fi->keep_cache = 1; /* as rustfx keeps an unchanged object's pages */
	fuse_reply_open(req, fi);
}

static void null_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	if (off >= file_size)
		size = 0;
	else if ((off_t)size > file_size - off)
		size = (size_t)(file_size - off);
	fuse_reply_buf(req, zeros, size < sizeof(zeros) ? size : sizeof(zeros));
}

static const struct fuse_lowlevel_ops null_ops = {
	.lookup = null_lookup,
	.getattr = null_getattr,
	.open = null_open,
	.read = null_read,
};

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_session *se;
	char *end;
	int ret;

	if (argc != 3 || (file_size = strtoll(argv[1], &end, 10)) <= 0 || *end) {
		fprintf(stderr, "usage: fuse-null SIZE MOUNTPOINT\n"
				"hint: SIZE is the file's size in bytes, e.g. 1073741824\n");
		return 2;
	}
	se = fuse_session_new(&args, &null_ops, sizeof(null_ops), NULL);
	if (!se || fuse_session_mount(se, argv[2]) != 0) {
		fprintf(stderr, "fuse-null: cannot mount %s\n", argv[2]);
		return 70;
	}
	ret = fuse_session_loop(se);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return ret == 0 ? 0 : 70;
}
