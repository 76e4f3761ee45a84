/* Safe opens (no symlinks, owner and mode checked on the fd), bounded reads, atomic durable
 * replacement, and OFD locks with a bounded wait. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"
#include "macro.h"
#include "secret.h"

int mfa_fs_check_stat(const struct stat *st, bool want_dir, bool strict_mode)
{
	if (want_dir && !S_ISDIR(st->st_mode))
		return -ENOTDIR;
	if (!want_dir && !S_ISREG(st->st_mode))
		return -EBADFD;
	if (strict_mode) {
		if (st->st_uid != geteuid() || (st->st_mode & 077) != 0)
			return -EPERM;
	} else if ((st->st_uid != 0 && st->st_uid != geteuid()) || (st->st_mode & 022) != 0) {
		return -EPERM;
	}
	return 0;
}

int mfa_fs_check_fd(int fd, bool want_dir, bool strict_mode)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	return mfa_fs_check_stat(&st, want_dir, strict_mode);
}

/* An ancestor of a directory we trust: owned by root or by us, and nobody else may rename or
 * remove its entries. Group/world write is tolerated only with the sticky bit (/tmp): there
 * others can add entries but not rename or remove ours, and our entry is checked in turn. */
static int check_ancestor(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return -EACCES;
	if ((st.st_mode & 022) != 0 && !(st.st_mode & S_ISVTX))
		return -EACCES;
	return 0;
}

/* One step down from fd (no symlink: a link is replaceable by whoever owns its directory, and
 * "." or ".." would step around the checks), as an O_PATH handle for the next step. */
static int step_down(int fd, const char *name, int *ret_fd)
{
	int nfd, r;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	nfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (nfd < 0)
		return errno == ENOTDIR ? -ELOOP : -errno;
	if ((r = check_ancestor(nfd)) < 0) {
		close(nfd);
		return r;
	}
	*ret_fd = nfd;
	return 0;
}

int mfa_fs_open_dir(const char *path, int *ret_fd)
{
	char buf[PATH_MAX], *p, *next;
	_cleanup_close_ int fd = -1;
	int r;

	if (path[0] != '/' || strlen(path) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, path);
	if ((fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if ((r = check_ancestor(fd)) < 0)
		return r;
	/* Every component but the last, each opened from the one above (no path resolved twice). */
	for (p = buf; *p == '/'; p++)
		;
	while ((next = strchr(p, '/'))) {
		int nfd = -1;

		*next++ = '\0';
		while (*next == '/')
			next++;
		if (!*next)
			break; /* a trailing slash: p is the last component */
		if ((r = step_down(fd, p, &nfd)) < 0)
			return r;
		close(fd);
		fd = nfd;
		p = next;
	}
	if (!*p || strcmp(p, ".") == 0 || strcmp(p, "..") == 0)
		return -EINVAL;
	return mfa_fs_open_subdir(fd, p, false, ret_fd);
}

int mfa_fs_open_subdir(int dir_fd, const char *name, bool create, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int r;

	/* Open first: the directory exists on every call but the first. */
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return errno == ENOTDIR ? -ELOOP : -errno;
	if ((r = mfa_fs_check_fd(fd, true, true)) < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int mfa_fs_open_regular(int dir_fd, const char *name, int flags, mode_t mode, int *ret_fd)
{
	/* O_NONBLOCK: a FIFO in place of a state or lock file would block open() for good; it is
	 * refused below instead (O_NONBLOCK changes nothing for a regular file). */
	_cleanup_close_ int fd =
		openat(dir_fd, name, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
	int r;

	if (fd < 0)
		return -errno;
	if ((r = mfa_fs_check_fd(fd, false, true)) < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int mfa_fs_read_fd(int fd, char *buf, size_t size, size_t *ret_len)
{
	size_t len = 0;

	if (size < 2)
		return -EINVAL;
	for (;;) {
		ssize_t n;

		if (len >= size - 1)
			return -EFBIG;
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret_len = len;
	return 0;
}

unsigned mfa_fs_nul_line(const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);
	unsigned line = 1;

	if (!nul)
		return 0;
	for (const char *p = text; p < nul; p++)
		line += *p == '\n';
	return line;
}

int mfa_fs_text_buffer_size(int fd, size_t max, size_t *ret_size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EIO;
	if (st.st_size < 0 || (uint64_t)st.st_size > max)
		return -EFBIG;
	*ret_size = (size_t)st.st_size + 2;
	return 0;
}

int mfa_fs_read_text(int fd, char *buf, size_t size, size_t *ret_len, unsigned *ret_line)
{
	struct stat st;
	size_t len;
	int r;

	*ret_line = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((r = mfa_fs_read_fd(fd, buf, size, &len)) < 0)
		return r;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != len)
		return -EIO;
	if ((*ret_line = mfa_fs_nul_line(buf, len)) != 0)
		return -EBADMSG;
	*ret_len = len;
	return 0;
}

int mfa_fs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_temp(int dir_fd, const char *tmp, const void *buf, size_t len, unsigned flags)
{
	_cleanup_close_ int fd = openat(dir_fd, tmp,
					O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r;

	if (fd < 0)
		return -errno;
	if ((r = mfa_fs_write_all(fd, buf, len)) < 0)
		return r;
	if (!(flags & MFA_FS_NOSYNC) && fsync(fd) < 0)
		return -errno;
	if (close(TAKE_FD(fd)) < 0)
		return -errno;
	return 0;
}

/* The temp file name for name: fixed under MFA_FS_LOCKED, random otherwise. */
static int temp_name(const char *name, unsigned flags, char *buf, size_t size)
{
	unsigned char rnd[6];
	char hex[sizeof(rnd) * 2 + 1];
	int n;

	if (flags & MFA_FS_LOCKED) {
		n = snprintf(buf, size, MFA_FS_TEMP_PREFIX "%s", name);
	} else {
		if (mfa_sodium_ready() < 0)
			return -EIO;
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
		n = snprintf(buf, size, ".tmp-%s-%s", name, hex);
	}
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int mfa_fs_write_atomic(int dir_fd, const char *name, const void *buf, size_t len, unsigned flags)
{
	char tmp[512];
	int r;

	if ((r = temp_name(name, flags, tmp, sizeof(tmp))) < 0)
		return r;
	/* Under the lock a temp file of this name is a dead writer's: never reused, unlinked. */
	if ((flags & MFA_FS_LOCKED) && unlinkat(dir_fd, tmp, 0) < 0 && errno != ENOENT)
		return -errno;
	r = write_temp(dir_fd, tmp, buf, len, flags);
	if (r == 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dir_fd, tmp, 0); /* the old file stays as it was */
		return r;
	}
	if (!(flags & MFA_FS_NOSYNC) && fsync(dir_fd) < 0)
		return -errno;
	return 0;
}

int mfa_fs_lock(int fd, unsigned timeout_ms)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	long waited_us = 0, delay_us = 200;

	for (;;) {
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -errno;
		if (waited_us >= (long)timeout_ms * 1000)
			return -ETIMEDOUT;
		struct timespec ts = { 0, delay_us * 1000 };
		nanosleep(&ts, NULL);
		waited_us += delay_us;
		delay_us = delay_us * 2 > 20000 ? 20000 : delay_us * 2;
	}
}

void mfa_fs_file_id_of(const struct stat *sb, struct mfa_fs_file_id *ret)
{
	*ret = (struct mfa_fs_file_id){
		.ino = (uint64_t)sb->st_ino,
		.ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec,
		.size = (int64_t)sb->st_size,
	};
}

bool mfa_fs_file_id_equal(const struct mfa_fs_file_id *a, const struct mfa_fs_file_id *b)
{
	return a->ino == b->ino && a->ctime_ns == b->ctime_ns && a->size == b->size;
}
