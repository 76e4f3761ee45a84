/* mfa-resetd: its own listening socket and pidfile (when systemd passes no socket), and their
 * removal on exit. Nothing here follows a link: the socket's mode is set on the socket before
 * bind() creates the file, never by path afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "resetd.h"

static int fill_addr(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* -EADDRINUSE when a live daemon answers on path; 0 when nothing accepts there. */
static int check_not_served(const struct sockaddr_un *sa)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN)
		return -EADDRINUSE; /* accepted, or a full backlog: someone is listening */
	return 0;
}

/* Removes path only if it is a socket that no live daemon serves (a stale one from an earlier
 * run). The directory (/run) is root's, so nobody can swap the file between the checks. */
static int unlink_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if ((r = check_not_served(sa)) < 0)
		return r;
	if (unlink(path) < 0)
		return -errno;
	return 0;
}

int resetd_listen_make(const char *path, struct resetd_owned *own, int *ret_fd)
{
	struct sockaddr_un sa;
	_cleanup_close_ int fd = -1;
	struct stat st;
	mode_t old_umask;
	int r;

	if ((r = fill_addr(path, &sa)) < 0 || (r = unlink_stale(path, &sa)) < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* World-connectable from the moment it exists (authorization is per request, from
	 * SO_PEERCRED): bind() gives the file the socket inode's mode minus the umask. */
	if (fchmod(fd, 0666) < 0)
		return -errno;
	old_umask = umask(0);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old_umask);
	if (r < 0)
		return r;
	if (listen(fd, 64) < 0 || lstat(path, &st) < 0)
		return -errno;
	own->socket = path;
	own->socket_dev = st.st_dev;
	own->socket_ino = st.st_ino;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int resetd_pidfile_write(const char *path, struct resetd_owned *own)
{
	_cleanup_close_ int fd = -1;
	char buf[32];
	int n;

	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n)
		return errno ? -errno : -EIO;
	own->pidfile = path;
	return 0;
}

/* Unlinks path only while it is still the file this process made. */
static void unlink_if_same(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;

	if (path && lstat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		(void)unlink(path);
}

void resetd_owned_remove(const struct resetd_owned *own)
{
	struct stat st;

	unlink_if_same(own->socket, own->socket_dev, own->socket_ino);
	if (own->pidfile && lstat(own->pidfile, &st) == 0 && S_ISREG(st.st_mode))
		(void)unlink(own->pidfile);
}
