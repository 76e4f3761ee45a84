/* mfa-resetd: the privileged half of MFA resets. Accepts connections on a Unix socket (passed
 * by systemd or its own), forks one child per connection up to a cap, and leaves every
 * decision to resetd-conn.c and resetd-ops.c. */
#include <errno.h>
#include <poll.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "mfa-build.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "config.h"
#include "macro.h"
#include "resetd.h"
#include "secret.h"

struct options {
	const char *config;
	const char *socket;
	bool foreground;
	bool log_stderr;
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: mfa-resetd [--config PATH] [--socket PATH] [--foreground] "
		   "[--log-stderr]\n"
		   "The MFA reset daemon; see mfa-resetd(8).\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-stderr", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:s:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 's': o->socket = optarg; break;
		case 'f': o->foreground = true; break;
		case 'L': o->log_stderr = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("mfa-resetd %s\n", PACKAGE_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* Removes path only if it is a socket (a stale one from an earlier run). */
static int unlink_stale(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (unlink(path) < 0)
		return -errno;
	return 0;
}

static int make_socket(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	mode_t old_umask;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	if ((r = unlink_stale(path)) < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* World-connectable from the moment it exists: authorization is per request, from
	 * SO_PEERCRED. */
	old_umask = umask(0111);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old_umask);
	if (r < 0)
		return r;
	if (chmod(path, 0666) < 0 || listen(fd, 64) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int get_listen_fd(const struct options *o, int *ret_fd)
{
	struct mfa_config cfg = { 0 };
	struct mfa_err err = { 0 };
	const char *path = o->socket;
	int r;

#if HAVE_SYSTEMD
	r = sd_listen_fds(1);
	if (r > 1)
		return -E2BIG;
	if (r == 1) {
		*ret_fd = SD_LISTEN_FDS_START;
		return 0;
	}
#endif
	if (!path) {
		if ((r = mfa_config_load(o->config, &cfg, &err)) < 0) {
			fprintf(stderr, "mfa-resetd: %s: %s\n", o->config,
				err.msg[0] ? err.msg : strerror(-r));
			return r;
		}
		path = cfg.reset.socket;
	}
	r = make_socket(path, ret_fd);
	if (r < 0)
		fprintf(stderr, "mfa-resetd: socket %s: %s\n", path, strerror(-r));
	mfa_config_free(&cfg);
	return r;
}

static void harden(void)
{
	struct rlimit rl = { 0, 0 };

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
	signal(SIGPIPE, SIG_IGN);
}

/* Reaps finished children; with block, waits for at least one. */
static void reap(unsigned *n_children, bool block)
{
	pid_t p;

	while (*n_children > 0 && (p = waitpid(-1, NULL, block ? 0 : WNOHANG)) > 0) {
		(*n_children)--;
		block = false;
	}
}

static void serve_forever(int lfd, const char *config)
{
	unsigned n_children = 0;

	for (;;) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int fd;
		pid_t pid;

		reap(&n_children, n_children >= RESETD_MAX_CONNECTIONS);
		/* Wake at least once a second so finished connections are reaped promptly. */
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				syslog(LOG_ERR, "accept: %m");
			continue;
		}
		pid = fork();
		if (pid == 0) {
			close(lfd);
			resetd_serve(fd, config);
			_exit(0);
		}
		if (pid < 0)
			syslog(LOG_ERR, "fork: %m");
		else
			n_children++;
		close(fd);
	}
}

int main(int argc, char **argv)
{
	struct options o = { .config = MFA_DEFAULT_CONFIG };
	int lfd = -1;

	harden();
	if (mfa_secret_init() < 0) {
		fprintf(stderr, "mfa-resetd: cannot initialise libsodium\n");
		return 1;
	}
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	if (get_listen_fd(&o, &lfd) < 0)
		return 1;
	openlog("mfa-resetd", LOG_PID | (o.log_stderr ? LOG_PERROR : 0), LOG_AUTHPRIV);
	if (!o.foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "mfa-resetd: daemon: %s\n", strerror(errno));
		return 1;
	}
	syslog(LOG_INFO, "listening");
	serve_forever(lfd, o.config);
	return 0;
}
