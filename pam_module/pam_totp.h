/* Internal interface of pam_totp.so: module arguments, the per-call context, conversation,
 * logging and the PAM code mapping. Only pam_sm_* leave the module (pam_totp.map). */
#pragma once

#include <security/pam_modules.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "state.h"

#define TOTP_PROMPT	  "Verification code: "
#define TOTP_ANSWER_MAX	  64 /* longer input is refused without looking at it */
#define TOTP_ENROLL_TRIES 3

struct totp_args {
	const char *config; /* NULL: MFA_DEFAULT_CONFIG */
	bool debug;
	bool no_enroll;
	bool silent; /* PAM_SILENT */
};

struct totp_ctx {
	pam_handle_t *pamh;
	struct totp_args args;
	const char *user; /* validated; after an NSS lookup, NSS's own name (canonical) */
	char canonical[MFA_USER_NAME_MAX + 1];
	struct mfa_config cfg;
	int dir_fd;
};

/* args.c: parses argv; unknown arguments are logged and ignored. */
void totp_args_parse(pam_handle_t *pamh, int flags, int argc, const char **argv,
		     struct totp_args *ret);

/* conv.c: one conversation call with n messages; when the last one is a prompt its reply is
 * handed out in *ret_answer (free with totp_answer_free()); every other reply is wiped and
 * freed. -ENOTCONN no conversation function, -EIO the conversation failed. */
int totp_converse(pam_handle_t *pamh, const struct pam_message *msgs, size_t n, char **ret_answer);
/* Asks TOTP_PROMPT with echo off after the info lines in `info` (may be NULL). */
int totp_ask_code(struct totp_ctx *ctx, const char *info, char **ret_answer);
/* One PAM_TEXT_INFO / PAM_ERROR_MSG; nothing under PAM_SILENT. */
void totp_info(struct totp_ctx *ctx, const char *text);
void totp_error(struct totp_ctx *ctx, const char *text);
void totp_answer_free(char *answer);
static inline void totp_answer_freep(char **p)
{
	totp_answer_free(*p);
	*p = NULL;
}
/* "2026-11-23 00:15:00 UTC" (local time zone) into buf. */
void totp_format_time(int64_t t, char *buf, size_t size);

/* An event about user with every optional field unset. */
static inline struct mfa_event totp_event(const char *event, const char *user, const char *result,
					  const char *reason)
{
	struct mfa_event ev = mfa_event_new(event);

	ev.user = user;
	ev.result = result;
	ev.reason = reason;
	return ev;
}

/* pamerr.c */
int totp_pam_code(int r);
void totp_log(struct totp_ctx *ctx, int prio, const struct mfa_event *ev);

/* verify.c: an enrolled user answers the prompt. */
/* st: the decision read; refreshed under the user's lock before the code is checked. */
int totp_verify(struct totp_ctx *ctx, struct mfa_state *st);
/* enroll.c: a new token; st is the unlocked read (NULL: never enrolled). */
int totp_enroll(struct totp_ctx *ctx, const struct mfa_state *st);

/* qr.c: the URI as UTF-8 half-block lines into a sodium_malloc()ed string (free with
 * mfa_secret_free_string()). -ENOTSUP without libqrencode, -E2BIG too big for a terminal. */
int totp_qr_render(const char *uri, char **ret_text);
