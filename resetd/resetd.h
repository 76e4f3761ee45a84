/* mfa-resetd internals: one connection's context and the request handlers. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "log.h"
#include "protocol.h"
#include "user.h"

#define RESETD_READ_TIMEOUT_MS 5000
#define RESETD_MAX_CONNECTIONS 32

struct resetd_ctx {
	const struct mfa_config *cfg;
	int dir_fd;
	uid_t uid;
	char actor[MFA_USER_NAME_MAX + 1];
	FILE *out; /* buffered writes to the client */
};

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

/* 1 if the actor is an administrator now; otherwise writes "denied", logs, returns 0. */
int resetd_require_admin(struct resetd_ctx *c, const char *event, long long count);

/* Members of groups, deduplicated, into *all; an unknown group is an "err" line and counts
 * in *ret_bad. */
int resetd_expand_groups(struct resetd_ctx *c, char *const *groups, size_t n,
			 struct mfa_strlist *all, size_t *ret_bad);

/* Request handlers: each writes its reply lines and the final line to c->out. */
int resetd_reset(struct resetd_ctx *c, char *const *targets, size_t n);
int resetd_reset_group(struct resetd_ctx *c, char *const *groups, size_t n);
int resetd_plan_group(struct resetd_ctx *c, char *const *groups, size_t n);
int resetd_unlock(struct resetd_ctx *c, char *const *targets, size_t n);
int resetd_status(struct resetd_ctx *c, char *const *targets, size_t n);
int resetd_list(struct resetd_ctx *c);
