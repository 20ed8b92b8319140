/*
 * fsutil.c - small local file-system helpers (see fsutil.h).
 */
#include "core/fsutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int fx_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Undo mountinfo's octal escapes ("\040" for a space) in place. */
static void fx_unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++, w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w = *r;
		}
	}
	*w = '\0';
}

int fx_mount_dev(const char *mountinfo, const char *mountpoint, const char *fstype, unsigned *major,
		 unsigned *minor)
{
	char line[PATH_MAX + 512], mp[PATH_MAX], type[256];
	unsigned ma, mi;
	int ret = -ENOENT;
	FILE *f = fopen(mountinfo, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* "36 25 0:53 / /mnt/point rw,... shared:1 - fuse.rustfx src rw,..." */
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi, mp) != 3 ||
		    sscanf(sep + 3, "%255s", type) != 1)
			continue;
		fx_unescape(mp);
		if (strcmp(mp, mountpoint) == 0 && strcmp(type, fstype) == 0) {
			*major = ma;
			*minor = mi;
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}
