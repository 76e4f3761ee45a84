/* One connection of mfa-resetd: peer credentials, config, request lines with a deadline,
 * dispatch. Runs in a child process of its own. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "macro.h"
#include "resetd.h"

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
		.actor = c->actor[0] ? c->actor : NULL,
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
		.actor = c->actor[0] ? c->actor : NULL,
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

void resetd_log_refusal(const struct resetd_ctx *c, const char *event, const char *reason)
{
	if (resetd_limit_take())
		resetd_log_request(c, event, "refused", reason, -1);
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
	case MFA_VERB_PLAN: return resetd_plan(c, req->args, req->n_args);
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
		resetd_log_refusal(c, "request", parse_error_code(r));
		fprintf(c->out, "error %s %s\n", parse_error_code(r), err.msg);
		if (fflush(c->out) != 0)
			return -EPIPE;
		/* Answered at once, bad lines cost no waiting: only an administrator keeps the
		 * connection after one, or a user could hold a slot with a stream of them. */
		return mfa_user_is_admin(c->cfg, c->uid, c->actor) > 0 ? 0 : -EACCES;
	}
	r = dispatch(c, &req);
	mfa_request_free(&req);
	if (fflush(c->out) != 0)
		return -EPIPE;
	/* A refused caller is disconnected: it cannot keep a slot by asking again. */
	return c->refused ? -EACCES : r;
}

static void serve_lines(struct resetd_ctx *c)
{
	struct resetd_linebuf lb = { .buf = malloc(MFA_PROTO_LINE_MAX + 2) };
	char *line = NULL;
	size_t len = 0;
	int r;

	if (!lb.buf)
		return;
	for (;;) {
		r = resetd_read_line(c, &lb, &line, &len);
		if (r == -EMSGSIZE || r == -ETIMEDOUT) {
			fprintf(c->out, "error %s %s\n", r == -ETIMEDOUT ? "timeout" : "too-long",
				r == -ETIMEDOUT ? "no complete request in time" :
						  "request line too long");
			resetd_log_refusal(c, "request", r == -ETIMEDOUT ? "timeout" : "too-long");
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
	/* Authorization is by name (NSS groups): a uid without one is nobody we can check, and
	 * must never stand for an account of some other name. Root is root by uid. */
	r = mfa_user_name_of(c->uid, c->actor, sizeof(c->actor));
	if (r < 0 && c->uid != 0) {
		c->actor[0] = '\0';
		resetd_log_refusal(c, "connect", r == -ENOENT ? "unknown-uid" : "lookup-failed");
		fprintf(c->out, "denied unknown-caller your uid %u has no user name here (NSS %s)\n",
			(unsigned)c->uid, r == -ENOENT ? "does not know it" : "lookup failed");
		return -EACCES;
	}
	if (r < 0)
		snprintf(c->actor, sizeof(c->actor), "root");
	if ((r = mfa_config_load(config_path, cfg, &err)) < 0) {
		syslog(LOG_ERR, "event=config result=error file='%s' line=%u error='%s'",
		       config_path, err.line, err.msg[0] ? err.msg : strerror(-r));
		fprintf(c->out, "error config daemon configuration unusable\n");
		return r;
	}
	/* The directory is bound to only for an administrator's request (resetd_store_get):
	 * a connection alone makes no bind, and a directory that is down still lets the
	 * daemon refuse whom it must. The state directory is opened now, as it always was. */
	if (cfg->store != MFA_STORE_FILES)
		return 0;
	if ((r = mfa_store_open(cfg, MFA_STORE_ROLE_RESET, &c->store, &err)) < 0) {
		syslog(LOG_ERR, "event=state-dir result=error dir='%s' error='%s'", cfg->state_dir,
		       strerror(-r));
		fprintf(c->out, "error state-dir state directory unusable\n");
		c->store = NULL;
		return r;
	}
	mfa_policy_init(&c->pol, cfg, c->store);
	return 0;
}

void resetd_serve(int fd, const char *config_path)
{
	struct mfa_config cfg = { 0 };
	struct resetd_ctx c = { .cfg = &cfg };

	if (resetd_io_open(&c, fd) < 0)
		return;
	if (setup(&c, fd, &cfg, config_path) == 0)
		serve_lines(&c);
	fflush(c.out);
	if (c.io_left <= 0)
		resetd_log_refusal(&c, "connection", "deadline");
	fclose(c.out);
	resetd_store_close(&c);
	mfa_config_free(&cfg);
}
