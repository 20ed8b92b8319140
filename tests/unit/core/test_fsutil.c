/*
 * test_fsutil.c - fx_mount_dev on mountinfo tables: the matching line's
 * device numbers whatever follows it, the last of several mounts at one
 * place, escaped mount points, and the file-system type checked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsutil.h"

static char path[64];

/* A mountinfo table of @text in a new file under /tmp (removed by drop). */
static void table(const char *text)
{
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/rustfx-mountinfo-test.XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	cr_assert(fputs(text, f) >= 0);
	cr_assert_eq(fclose(f), 0);
}

static void drop(void)
{
	unlink(path);
}

/* Another mount made after ours comes later in the table: it is not ours
 * (our read_ahead_kb once went to the last line's device). */
Test(mount_dev, the_matching_line_not_the_last, .fini = drop)
{
	unsigned ma = 0, mi = 0;

	table("22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
	      "90 22 0:53 / /tmp/t/mnt rw,nosuid,nodev,relatime shared:60 - fuse.rustfx rustfx rw\n"
	      "91 22 0:54 / /tmp/u/mnt rw,nosuid,nodev,relatime shared:61 - fuse.rustfx rustfx rw\n"
	      "92 22 0:55 / /tmp/u/ramfs rw,relatime shared:62 - ramfs ramfs rw\n");
	cr_assert_eq(fx_mount_dev(path, "/tmp/t/mnt", "fuse.rustfx", &ma, &mi), 0);
	cr_assert_eq(ma, 0);
	cr_assert_eq(mi, 53);
}

Test(mount_dev, the_last_of_stacked_mounts, .fini = drop)
{
	unsigned ma = 0, mi = 0;

	table("90 22 0:53 / /m rw - fuse.rustfx a rw\n"
	      "95 90 0:57 / /m rw - fuse.rustfx b rw\n"
	      "96 22 0:58 / /n rw - fuse.rustfx c rw\n");
	cr_assert_eq(fx_mount_dev(path, "/m", "fuse.rustfx", &ma, &mi), 0);
	cr_assert_eq(mi, 57);
}

Test(mount_dev, escapes_and_types, .fini = drop)
{
	unsigned ma = 0, mi = 0;

	table("90 22 0:60 / /tmp/a\\040b rw shared:3 - fuse.rustfx x rw\n"
	      "91 22 0:61 / /tmp/c rw - tmpfs tmpfs rw\n");
	cr_assert_eq(fx_mount_dev(path, "/tmp/a b", "fuse.rustfx", &ma, &mi), 0);
	cr_assert_eq(mi, 60);
	cr_assert_eq(fx_mount_dev(path, "/tmp/c", "fuse.rustfx", &ma, &mi), -ENOENT);
	cr_assert_eq(fx_mount_dev(path, "/tmp/none", "fuse.rustfx", &ma, &mi), -ENOENT);
	cr_assert_eq(fx_mount_dev("/nonexistent/mountinfo", "/", "ext4", &ma, &mi), -ENOENT);
}
