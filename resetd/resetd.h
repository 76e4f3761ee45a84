/* mfa-resetd internals: one connection's context and the request handlers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "protocol.h"
#include "store.h"
#include "user.h"

/* The limits that keep one local user from freezing the service (see mfa-resetd(8)). */
#define RESETD_READ_TIMEOUT_MS 5000  /* for one complete request line */
#define RESETD_IO_BUDGET_MS 20000    /* all waiting on one client, reads and writes */
#define RESETD_MAX_CONNECTIONS 32    /* connection children at once */
#define RESETD_MAX_PER_UID 4         /* of which one uid other than root may hold */
#define RESETD_LOG_INTERVAL_S 10     /* refusal log lines: at most RESETD_LOG_BURST */
#define RESETD_LOG_BURST 20          /* refusals per interval, then a count */
#define RESETD_LOG_TARGETS_MAX 8     /* targets named in a refusal, then more=N */

struct resetd_ctx {
	const struct mfa_config *cfg;
	int fd;
	/* The token store, as the reset service (mfa_store_open, MFA_STORE_ROLE_RESET): the
	 * files store from the connection's start, the ldap store from the first request of an
	 * administrator that needs it (resetd_store_get), so nobody else makes us bind. */
	struct mfa_storage *store;
	struct mfa_policy pol;
	/* < 0: the directory failed during this request (that error): the targets left are
	 * answered with it, not tried one timeout each. */
	int down;
	uid_t uid;
	char actor[MFA_USER_NAME_MAX + 1];
	FILE *out;        /* buffered writes to the client, through write_out() */
	int64_t io_left;  /* ms the connection may still wait on its client */
	bool io_dead;     /* the budget ran out or the client went away: no more writes */
	bool refused;     /* the caller was refused: disconnect after the refusal line */
};

/* What the daemon created and removes on exit. */
struct resetd_owned {
	const char *socket;
	dev_t socket_dev;
	ino_t socket_ino;
	const char *pidfile;
};

/* Creates, binds and listens on path (mode 0666 set before bind, no link followed); a stale
 * socket is replaced, a live one (another daemon answers) is -EADDRINUSE, anything else at
 * path -EEXIST. */
int resetd_listen_make(const char *path, struct resetd_owned *own, int *ret_fd);
int resetd_pidfile_write(const char *path, struct resetd_owned *own);
void resetd_owned_remove(const struct resetd_owned *own);

/* The refusal rate limit (resetd-limit.c): init once before forking; take() is true when a
 * refusal may be logged; flush() reports a finished interval's suppressed count. */
int resetd_limit_init(void);
bool resetd_limit_take(void);
void resetd_limit_flush(void);

/* A connection's input: lines of at most MFA_PROTO_LINE_MAX bytes. */
struct resetd_linebuf {
	char *buf; /* MFA_PROTO_LINE_MAX + 2 bytes */
	size_t len;
	size_t consumed; /* bytes of the previous line still at the start of buf */
};

int64_t resetd_now_ms(void);
/* Makes fd (non-blocking reads and writes) the connection of c, c->out its buffered writer. */
int resetd_io_open(struct resetd_ctx *c, int fd);
/* Next line into *ret_line (NUL-terminated, without the newline) within
 * RESETD_READ_TIMEOUT_MS and the connection's budget. 0 line, -EPIPE EOF, -ETIMEDOUT,
 * -EMSGSIZE overlong, other -errno. */
int resetd_read_line(struct resetd_ctx *c, struct resetd_linebuf *lb, char **ret_line,
		     size_t *ret_len);

/* Formats ev with mfa_log_format() and sends it to syslog (LOG_AUTHPRIV, opened by main). */
void resetd_log(const struct mfa_event *ev);
/* The request line (count: targets, -1 none) and one target's line; target NULL when the
 * name must not be logged (unknown user: it may be a mistyped password). */
void resetd_log_request(const struct resetd_ctx *c, const char *event, const char *result,
			const char *reason, long long count);
void resetd_log_target(const struct resetd_ctx *c, const char *event, const char *target,
		       const char *result, const char *reason);

/* Serves one accepted connection until EOF, timeout or error; config re-read here. */
void resetd_serve(int fd, const char *config_path);

/* 1 if the actor is an administrator now; otherwise writes "denied" (naming the groups that
 * would authorize), logs the refusal with each of the n targets (groups if is_group; at most
 * RESETD_LOG_TARGETS_MAX, then more=N; rate-limited), marks c refused and returns 0. */
int resetd_require_admin(struct resetd_ctx *c, const char *event, char *const *targets,
			 size_t n, bool is_group);
/* Logs a refusal of the caller (not of one target) if the rate limit allows. */
void resetd_log_refusal(const struct resetd_ctx *c, const char *event, const char *reason);

/* Members of groups, deduplicated, into *all; an unknown group is an "err" line and counts
 * in *ret_bad. */
int resetd_expand_groups(struct resetd_ctx *c, char *const *groups, size_t n,
			 struct mfa_strlist *all, size_t *ret_bad);

/* The store (resetd-store.c). get: 0 and c->store ready (opened now if need be), or < 0:
 * it cannot be opened (logged once, with the directory's words). */
int resetd_store_get(struct resetd_ctx *c);
/* Before one target's operation: a fresh directory deadline. */
void resetd_store_rearm(struct resetd_ctx *c);
/* After an operation that returned r: a failure of the directory itself (not of this
 * user's token) is logged, marks the request down and drops the connection (the next
 * request connects again). Returns r. */
int resetd_store_failed(struct resetd_ctx *c, int r);
/* Why a reset or unlock of name found nothing (-ENOENT): -ENXIO (ldap) the directory has no
 * such person (a wrong person_base or person_filter shows here), else -ENOENT no token. */
int resetd_store_why_none(struct resetd_ctx *c, const char *name);
/* A store error as a protocol code and message: the files store's codes as they always were;
 * ldap: "directory" ("cannot reach the MFA directory") for the directory failing, and the
 * user's own (not-enrolled, no-entry, busy, corrupt-state). NULL code for 0. */
struct resetd_outcome {
	const char *code; /* NULL: success */
	const char *msg;
	bool hide_name;   /* do not log the target name */
	bool error;       /* logged as result=error (the service failed), not refused */
};
struct resetd_outcome resetd_store_outcome(const struct resetd_ctx *c, int r);
void resetd_store_close(struct resetd_ctx *c);

/* Request handlers: each writes its reply lines and the final line to c->out. */
int resetd_reset(struct resetd_ctx *c, char *const *targets, size_t n);
int resetd_reset_group(struct resetd_ctx *c, char *const *groups, size_t n);
int resetd_plan_group(struct resetd_ctx *c, char *const *groups, size_t n);
int resetd_unlock(struct resetd_ctx *c, char *const *targets, size_t n);
/* The dry run: the reset verdict per target ("ok USER would-reset" or its err line). */
int resetd_plan(struct resetd_ctx *c, char *const *targets, size_t n);
int resetd_status(struct resetd_ctx *c, char *const *targets, size_t n);
int resetd_list(struct resetd_ctx *c);
