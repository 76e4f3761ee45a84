/* mfa-reset: talking to mfa-resetd, and the confirmation on the terminal. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "reset.h"

/* Every read and write, and connect() itself (a daemon whose backlog is full), gives up
 * after c->timeout_s seconds without progress instead of hanging the administrator. */
static int set_timeouts(int fd, unsigned seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

int client_connect(struct client *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int wfd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((r = set_timeouts(fd, c->timeout_s)) < 0)
		return r;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	wfd = dup(fd);
	if (wfd < 0)
		return -errno;
	c->rd = fdopen(fd, "r");
	c->wr = fdopen(wfd, "w");
	if (!c->rd || !c->wr) {
		close(wfd);
		return -ENOMEM;
	}
	c->fd = TAKE_FD(fd);
	return 0;
}

void client_close(struct client *c)
{
	if (c->wr)
		fclose(c->wr);
	if (c->rd)
		fclose(c->rd);
	c->rd = c->wr = NULL;
	c->fd = -1;
}

/* The connection failed with r: say why, in words, once. */
static int lost(struct client *c, int r)
{
	char msg[160];

	if (r == -EAGAIN || r == -EWOULDBLOCK || r == -ETIMEDOUT) {
		snprintf(msg, sizeof(msg), "mfa-resetd did not answer within %u s (--timeout)",
			 c->timeout_s);
		r = -ETIMEDOUT;
	} else if (r == 0) {
		snprintf(msg, sizeof(msg), "mfa-resetd closed the connection");
		r = -EPIPE;
	} else
		snprintf(msg, sizeof(msg), "connection to mfa-resetd lost: %s", strerror(-r));
	fprintf(stderr, "mfa-reset: %s\n", msg);
	client_set_error(c, r == -ETIMEDOUT ? "timeout" : "connection-lost", msg);
	return r;
}

static int read_replies(struct client *c, reply_fn fn, void *userdata)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	struct mfa_reply rep;

	errno = 0;
	while ((len = getline(&line, &cap, c->rd)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (mfa_proto_parse_reply(line, &rep) < 0) {
			client_set_error(c, "protocol", "unreadable reply from mfa-resetd");
			return -EPROTO;
		}
		if (rep.kind == MFA_REPLY_END)
			return 0; /* counted line by line */
		if (rep.kind == MFA_REPLY_DENIED) {
			fprintf(stderr, "mfa-reset: not authorized: %s\n", esc_msg(rep.rest));
			client_set_error(c, rep.code ? rep.code : "not-authorized", rep.rest);
			return -EACCES;
		}
		if (rep.kind == MFA_REPLY_ERROR) {
			fprintf(stderr, "mfa-reset: daemon refused the request: %s (%s)\n",
				esc_msg(rep.rest), rep.code ? esc(rep.code) : "?");
			client_set_error(c, rep.code ? rep.code : "error", rep.rest);
			return -EPROTO;
		}
		c->n_answered++;
		if (fn(c, &rep, userdata) < 0)
			return -ENOMEM;
		errno = 0;
	}
	return lost(c, -errno);
}

int client_request(struct client *c, enum mfa_verb v, char *const *args, size_t n, reply_fn fn,
		   void *userdata)
{
	int r;

	c->n_answered = 0;
	if ((r = mfa_proto_write_request(c->wr, v, args, n)) < 0)
		return r;
	/* SIGPIPE is ignored (main): a daemon that closed first is EPIPE here, not death; what
	 * it said before closing (a refusal of the caller) is still read and shown. */
	if (fflush(c->wr) != 0) {
		int e = -errno;

		if (e != -EPIPE && e != -ECONNRESET)
			return lost(c, e);
		r = read_replies(c, fn, userdata);
		return r == 0 ? lost(c, e) : r;
	}
	return read_replies(c, fn, userdata);
}

int client_request_all(struct client *c, enum mfa_verb v, char *const *args, size_t n,
		       reply_fn fn, void *userdata)
{
	size_t fixed = strlen(MFA_PROTO_MAGIC) + 2 + strlen(mfa_verb_to_string(v));
	size_t i = 0;
	int r;

	do {
		size_t j = i, len = fixed;

		while (j < n && j - i < MFA_PROTO_ARGS_MAX &&
		       len + 1 + strlen(args[j]) <= MFA_PROTO_LINE_MAX)
			len += 1 + strlen(args[j++]);
		if (j == i && n > 0)
			return -E2BIG;
		if ((r = client_request(c, v, args + i, j - i, fn, userdata)) < 0) {
			/* Replies come in request order: the rest of this request may or may not
			 * have been done; the later ones were never sent. */
			if (r != -EACCES && r != -EPROTO)
				c->n_unknown += j - i - c->n_answered;
			c->unknown_from = args + i + c->n_answered;
			c->n_unsent += n - j;
			return r;
		}
		i = j;
	} while (i < n);
	return 0;
}

static int tty_answer(int fd)
{
	char buf[16] = { 0 };
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	if (n <= 0)
		return 0;
	buf[strcspn(buf, "\r\n")] = '\0';
	return strcmp(buf, "y") == 0 || strcmp(buf, "yes") == 0 || strcmp(buf, "Y") == 0 ||
	       strcmp(buf, "YES") == 0;
}

int confirm_reset(char *const *names, size_t n)
{
	_cleanup_close_ int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	_cleanup_fclose_ FILE *f = NULL;
	int tfd;

	if (fd < 0)
		return -ENXIO;
	tfd = dup(fd);
	if (tfd < 0 || !(f = fdopen(tfd, "w"))) {
		if (tfd >= 0)
			close(tfd);
		return -ENXIO;
	}
	fprintf(f, "Reset MFA for %zu user%s: ", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n && i < 5; i++)
		fprintf(f, "%s%s", i ? ", " : "", names[i]);
	fprintf(f, "%s\n", n > 5 ? ", ..." : "");
	fprintf(f, "Their secrets and recovery codes are destroyed; this cannot be undone.\n"
		   "Continue? [y/N] ");
	fflush(f);
	return tty_answer(fd);
}
