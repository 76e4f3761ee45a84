/* One connection of mfa-resetd: peer credentials, config, request lines with a deadline,
 * dispatch. Runs in a child process of its own. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "resetd.h"
#include "state.h"

struct linebuf {
	char *buf; /* MFA_PROTO_LINE_MAX + 2 bytes */
	size_t len;
	size_t consumed; /* bytes of the previous line still at the start of buf */
};

void resetd_log(const struct mfa_event *ev)
{
	char line[1024];

	mfa_log_format(ev, line, sizeof(line));
	syslog(LOG_NOTICE, "%s", line);
}

void resetd_log_request(const struct resetd_ctx *c, const char *event, const char *result,
			const char *reason, long long count)
{
	struct mfa_event ev = {
		.event = event,
		.actor = c->actor,
		.uid = c->uid,
		.result = result,
		.reason = reason,
		.failures = -1,
		.until = -1,
		.count = count,
	};

	resetd_log(&ev);
}

void resetd_log_target(const struct resetd_ctx *c, const char *event, const char *target,
		       const char *result, const char *reason)
{
	struct mfa_event ev = {
		.event = event,
		.actor = c->actor,
		.uid = c->uid,
		.target = target,
		.result = result,
		.reason = reason,
		.failures = -1,
		.until = -1,
		.count = -1,
	};

	resetd_log(&ev);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Next line into *ret_line (NUL-terminated, without the newline) within timeout_ms.
 * 0 line, -EPIPE EOF, -ETIMEDOUT, -EMSGSIZE overlong, other -errno. */
static int read_line(int fd, struct linebuf *lb, char **ret_line, size_t *ret_len)
{
	int64_t deadline = now_ms() + RESETD_READ_TIMEOUT_MS;
	size_t scanned = 0;
	char *nl;

	memmove(lb->buf, lb->buf + lb->consumed, lb->len - lb->consumed);
	lb->len -= lb->consumed;
	lb->consumed = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		nl = memchr(lb->buf + scanned, '\n', lb->len - scanned);
		if (nl)
			break;
		scanned = lb->len;
		if (lb->len > MFA_PROTO_LINE_MAX)
			return -EMSGSIZE;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, lb->buf + lb->len, MFA_PROTO_LINE_MAX + 1 - lb->len);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (n == 0)
			return -EPIPE;
		if (n > 0)
			lb->len += (size_t)n;
	}
	*nl = '\0';
	*ret_line = lb->buf;
	*ret_len = (size_t)(nl - lb->buf);
	lb->consumed = *ret_len + 1;
	return 0;
}

static int dispatch(struct resetd_ctx *c, const struct mfa_request *req)
{
	switch (req->verb) {
	case MFA_VERB_RESET: return resetd_reset(c, req->args, req->n_args);
	case MFA_VERB_RESET_GROUP: return resetd_reset_group(c, req->args, req->n_args);
	case MFA_VERB_PLAN_GROUP: return resetd_plan_group(c, req->args, req->n_args);
	case MFA_VERB_STATUS: return resetd_status(c, req->args, req->n_args);
	case MFA_VERB_LIST: return resetd_list(c);
	case MFA_VERB_UNLOCK: return resetd_unlock(c, req->args, req->n_args);
	default: return -EBADMSG;
	}
}

static const char *parse_error_code(int r)
{
	switch (r) {
	case -EMSGSIZE: return "too-long";
	case -E2BIG: return "too-many";
	case -EPROTONOSUPPORT: return "bad-version";
	case -ENOMEM: return "internal";
	default: return "malformed";
	}
}

/* Answers one line; < 0 ends the connection. */
static int handle_line(struct resetd_ctx *c, const char *line, size_t len)
{
	struct mfa_request req = { 0 };
	struct mfa_err err = { 0 };
	int r;

	r = mfa_proto_parse_request(line, len, &req, &err);
	if (r < 0) {
		resetd_log_request(c, "request", "error", parse_error_code(r), -1);
		fprintf(c->out, "error %s %s\n", parse_error_code(r), err.msg);
		return fflush(c->out) == 0 ? 0 : -EPIPE;
	}
	r = dispatch(c, &req);
	mfa_request_free(&req);
	if (fflush(c->out) != 0)
		return -EPIPE;
	return r;
}

static void serve_lines(struct resetd_ctx *c, int fd)
{
	struct linebuf lb = { .buf = malloc(MFA_PROTO_LINE_MAX + 2) };
	char *line = NULL;
	size_t len = 0;
	int r;

	if (!lb.buf)
		return;
	for (;;) {
		r = read_line(fd, &lb, &line, &len);
		if (r == -EMSGSIZE || r == -ETIMEDOUT) {
			fprintf(c->out, "error %s %s\n", r == -ETIMEDOUT ? "timeout" : "too-long",
				r == -ETIMEDOUT ? "no complete request in time" :
						  "request line too long");
			resetd_log_request(c, "request", "error",
					   r == -ETIMEDOUT ? "timeout" : "too-long", -1);
			fflush(c->out);
		}
		if (r < 0 || handle_line(c, line, len) < 0)
			break;
	}
	free(lb.buf);
}

static int peer_uid(int fd, uid_t *ret_uid)
{
	struct ucred cred;
	socklen_t l = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0)
		return -errno;
	*ret_uid = cred.uid;
	return 0;
}

static int setup(struct resetd_ctx *c, int fd, struct mfa_config *cfg, const char *config_path)
{
	struct mfa_err err = { 0 };
	int r;

	if ((r = peer_uid(fd, &c->uid)) < 0)
		return r;
	if (mfa_user_name_of(c->uid, c->actor, sizeof(c->actor)) < 0)
		snprintf(c->actor, sizeof(c->actor), "%s", c->uid == 0 ? "root" : "unknown");
	if ((r = mfa_config_load(config_path, cfg, &err)) < 0) {
		syslog(LOG_ERR, "config %s: %s", config_path, err.msg[0] ? err.msg : strerror(-r));
		fprintf(c->out, "error config daemon configuration unusable\n");
		return r;
	}
	if ((r = mfa_state_open_dir(cfg->state_dir, &c->dir_fd)) < 0) {
		syslog(LOG_ERR, "state directory %s: %s", cfg->state_dir, strerror(-r));
		fprintf(c->out, "error state-dir state directory unusable\n");
		return r;
	}
	return 0;
}

void resetd_serve(int fd, const char *config_path)
{
	struct mfa_config cfg = { 0 };
	struct resetd_ctx c = { .cfg = &cfg, .dir_fd = -1 };
	_cleanup_close_ int dfd = dup(fd);

	if (dfd < 0 || !(c.out = fdopen(dfd, "w")))
		return;
	dfd = -1;
	if (setup(&c, fd, &cfg, config_path) == 0)
		serve_lines(&c, fd);
	fflush(c.out);
	fclose(c.out);
	if (c.dir_fd >= 0)
		close(c.dir_fd);
	mfa_config_free(&cfg);
}
