/* pam_totp benchmark: the fake population and the state files of the two reference modules
 * (pam_google_authenticator, pam_oath), written by the setup step. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <liboath/oath.h>

#include "bench.h"

static FILE *
open_out(const char *dir, const char *name)
{
	char path[PATH_MAX];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	f = fopen(path, "we");
	if (!f)
		fprintf(stderr, "bench: %s: %m\n", path);
	return f;
}

static int
close_out(FILE *f)
{
	int r = 0;

	if (ferror(f))
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

int
bench_write_nss(const char *dir, unsigned n)
{
	char name[BENCH_NAME_MAX];
	FILE *f;
	unsigned i;

	if (!(f = open_out(dir, "passwd")))
		return -errno;
	fprintf(f, "root:x:0:0:root:/root:/bin/sh\n");
	for (i = 0; i < n; i++) {
		bench_user_name(i, name);
		fprintf(f, "%s:x:%u:%u:bench user:/nonexistent:/bin/false\n", name,
			BENCH_UID_BASE + i, BENCH_GID);
	}
	if (close_out(f) < 0)
		return -EIO;
	if (!(f = open_out(dir, "group")))
		return -errno;
	fprintf(f, "root:x:0:\nbench:x:%u:\n", BENCH_GID);
	return close_out(f);
}

static int
write_ga_file(int dir_fd, unsigned i)
{
	unsigned char secret[BENCH_SECRET_LEN];
	char name[BENCH_NAME_MAX], buf[256], *b32 = NULL;
	size_t b32len = 0;
	int fd, len, r = 0;

	bench_user_name(i, name);
	bench_user_secret(i, secret);
	if (oath_base32_encode((const char *)secret, sizeof(secret), &b32, &b32len) != OATH_OK)
		return -EIO;
	b32len = strcspn(b32, "=");
	len = snprintf(buf, sizeof(buf), "%.*s\n\" RATE_LIMIT 3 30\n\" DISALLOW_REUSE\n"
			"\" TOTP_AUTH\n", (int)b32len, b32);
	free(b32);
	fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len)
		r = -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int
bench_write_ga(const char *dir, unsigned n)
{
	char path[PATH_MAX];
	unsigned i;
	int dir_fd, r = 0;

	snprintf(path, sizeof(path), "%s/ga", dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	dir_fd = open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dir_fd < 0)
		return -errno;
	for (i = 0; i < n && r == 0; i++)
		r = write_ga_file(dir_fd, i);
	if (r == 0 && syncfs(dir_fd) < 0)
		r = -errno;
	close(dir_fd);
	return r;
}

int
bench_write_oath(const char *dir, unsigned n)
{
	unsigned char secret[BENCH_SECRET_LEN];
	char name[BENCH_NAME_MAX];
	unsigned i, k;
	FILE *f;

	if (!(f = open_out(dir, "oath.users")))
		return -errno;
	for (i = 0; i < n; i++) {
		bench_user_name(i, name);
		bench_user_secret(i, secret);
		fprintf(f, "HOTP/T30 %s - ", name);
		for (k = 0; k < sizeof(secret); k++)
			fprintf(f, "%02x", secret[k]);
		fputc('\n', f);
	}
	if (fchmod(fileno(f), 0600) < 0) {
		fclose(f);
		return -errno;
	}
	return close_out(f);
}
