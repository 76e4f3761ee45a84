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

#define RESETD_PIDFILE "/run/mfa-resetd.pid"

struct options {
	const char *config;
	const char *socket;
	const char *pidfile;
	bool foreground;
	bool log_stderr;
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: mfa-resetd [--config PATH] [--socket PATH] [--foreground] "
		   "[--pidfile PATH] [--log-stderr]\n"
		   "The MFA reset daemon; see mfa-resetd(8).\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pidfile", required_argument, NULL, 'p' },
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
		case 'p': o->pidfile = optarg; break;
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

/* The config is checked once at start, so a broken one stops the daemon with its line
 * instead of failing every request later. */
static int load_config(const char *path, struct mfa_config *cfg)
{
	struct mfa_err err = { 0 };
	int r = mfa_config_load(path, cfg, &err);

	const char *msg = err.msg[0] ? err.msg : strerror(-r);
	struct stat st;
	char rule[512];

	if (r >= 0)
		return 0;
	/* An unsafe file: say which rule it breaks. */
	if ((r == -EPERM || r == -EBADFD || r == -ELOOP) && lstat(path, &st) == 0 &&
	    mfa_config_file_rules(&st, rule, sizeof(rule)) > 0)
		msg = rule;
	fprintf(stderr, "mfa-resetd: %s:%u: %s; not starting\n", path, err.line, msg);
	syslog(LOG_ERR, "event=start result=error reason=config file='%s' line=%u error='%s'",
	       path, err.line, msg);
	return r;
}

static int get_listen_fd(const struct options *o, const struct mfa_config *cfg,
			 struct resetd_owned *own, int *ret_fd)
{
	const char *path = o->socket ? o->socket : cfg->reset.socket;
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
	r = resetd_listen_make(path, own, ret_fd);
	if (r == -EADDRINUSE)
		fprintf(stderr, "mfa-resetd: socket %s: another mfa-resetd is serving it; not "
				"starting\n", path);
	else if (r < 0)
		fprintf(stderr, "mfa-resetd: socket %s: %s\n", path, strerror(-r));
	return r;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void harden(void)
{
	struct rlimit rl = { 0, 0 };
	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: poll() wakes */

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &rl);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

struct slots {
	pid_t pid[RESETD_MAX_CONNECTIONS];
	uid_t uid[RESETD_MAX_CONNECTIONS];
	unsigned used;
};

static void reap(struct slots *s)
{
	pid_t p;

	while (s->used > 0 && (p = waitpid(-1, NULL, WNOHANG)) > 0)
		for (unsigned i = 0; i < RESETD_MAX_CONNECTIONS; i++)
			if (s->pid[i] == p) {
				s->pid[i] = 0;
				s->used--;
				break;
			}
}

static unsigned held_by(const struct slots *s, uid_t uid)
{
	unsigned n = 0;

	for (unsigned i = 0; i < RESETD_MAX_CONNECTIONS; i++)
		n += s->pid[i] > 0 && s->uid[i] == uid;
	return n;
}

/* One uid (root excepted) holds at most RESETD_MAX_PER_UID slots, so whoever fills its own
 * cap still leaves room for administrators. The over-cap caller is told and dropped. */
static bool over_cap(const struct slots *s, int fd, uid_t uid)
{
	static const char msg[] = "error busy too many connections from your user; "
				  "try again later\n";

	if (uid == 0 || held_by(s, uid) < RESETD_MAX_PER_UID)
		return false;
	(void)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (resetd_limit_take())
		syslog(LOG_NOTICE, "event=connect uid=%u result=refused reason=too-many-connections "
				   "limit=%d", (unsigned)uid, RESETD_MAX_PER_UID);
	return true;
}

static void start_child(struct slots *s, int lfd, int fd, uid_t uid, const char *config)
{
	unsigned i = 0;
	pid_t pid;

	while (s->pid[i] > 0)
		i++;
	pid = fork();
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		close(lfd);
		resetd_serve(fd, config);
		_exit(0);
	}
	if (pid < 0) {
		syslog(LOG_ERR, "event=fork result=error error='%m'");
		return;
	}
	s->pid[i] = pid;
	s->uid[i] = uid;
	s->used++;
}

static void accept_one(struct slots *s, int lfd, const char *config)
{
	_cleanup_close_ int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	struct ucred cred;
	socklen_t l = sizeof(cred);

	if (fd < 0) {
		if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
			syslog(LOG_ERR, "event=accept result=error error='%m'");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0 || over_cap(s, fd, cred.uid))
		return;
	start_child(s, lfd, fd, cred.uid, config);
}

/* While every slot is taken, new connections wait in the listen backlog (they are not
 * refused): each slot frees within the connection deadline. */
static void serve(int lfd, const char *config)
{
	struct slots s = { .used = 0 };

	while (!stop_signal) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		bool full = s.used >= RESETD_MAX_CONNECTIONS;

		reap(&s);
		resetd_limit_flush();
		/* Wake a few times a second so finished connections free their slot promptly. */
		if (poll(&pfd, full ? 0 : 1, 250) <= 0)
			continue;
		accept_one(&s, lfd, config);
	}
}

int main(int argc, char **argv)
{
	struct options o = { .config = MFA_DEFAULT_CONFIG, .pidfile = RESETD_PIDFILE };
	struct resetd_owned own = { 0 };
	struct mfa_config cfg = { 0 };
	int lfd = -1, r;

	harden();
	if (mfa_secret_init() < 0) {
		fprintf(stderr, "mfa-resetd: cannot initialise libsodium\n");
		return 1;
	}
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	openlog("mfa-resetd", LOG_PID | (o.log_stderr ? LOG_PERROR : 0), LOG_AUTHPRIV);
	if (load_config(o.config, &cfg) < 0 || resetd_limit_init() < 0)
		return 1;
	r = get_listen_fd(&o, &cfg, &own, &lfd);
	mfa_config_free(&cfg);
	if (r < 0)
		return 1;
	if (!o.foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "mfa-resetd: daemon: %s\n", strerror(errno));
		resetd_owned_remove(&own);
		return 1;
	}
	if (!o.foreground && (r = resetd_pidfile_write(o.pidfile, &own)) < 0)
		syslog(LOG_ERR, "event=pidfile result=error file='%s' error='%s'", o.pidfile,
		       strerror(-r));
	syslog(LOG_INFO, "event=start result=ok socket='%s' pid=%ld", own.socket ? own.socket :
	       "(systemd)", (long)getpid());
	serve(lfd, o.config);
	resetd_owned_remove(&own);
	syslog(LOG_INFO, "event=stop result=ok signal=%d", (int)stop_signal);
	return 0;
}
