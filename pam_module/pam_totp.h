/* Internal interface of pam_totp.so: module arguments, the per-call context, conversation,
 * logging and the PAM code mapping. Only pam_sm_* leave the module (pam_totp.map). */
#pragma once

#include <security/pam_modules.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "secret.h"
#include "log.h"
#include "policy.h"
#include "store.h"

#define TOTP_PROMPT	  "Verification code: "
#define TOTP_ACK_PROMPT	  "Press Enter to continue: "
#define TOTP_ENROLL_TRIES 3

/* The build hides every symbol; pam_sm_* are the module's interface (and pam_totp.map keeps
 * everything else, libmfa included, local). */
#define TOTP_PUBLIC __attribute__((visibility("default")))

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
	struct mfa_storage *store; /* opened by totp_lookup; NULL before, or no state directory */
	struct mfa_policy pol;     /* over store */
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
/* text, then a prompt to press Enter: for what must be read after the last code prompt.
 * sshd (OpenSSH 9.2 of Debian 12, auth-pam.c sshpam_query) drains text sent after the last
 * prompt of a successful authentication into loginmsg, which is sent as a banner and printed
 * again by the session of an interactive login; a prompt is shown once. Nothing under
 * PAM_SILENT. */
void totp_acknowledge(struct totp_ctx *ctx, const char *text);
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

/* pam_totp.c: what every entry point needs: the user (validated, then NSS's name), the
 * config, the store and the user's token (*t, status NONE when none) and, unless the user is
 * enrolled (-1), whether MFA is enforced. PAM_SUCCESS, or the PAM code to return (logged). */
int totp_lookup(struct totp_ctx *ctx, struct mfa_token *t, int *ret_enforced);
void totp_ctx_done(struct totp_ctx *ctx);
/* The store failed with r (not a decision: unreadable, unreachable): logged with why, the
 * person told when it is the directory, and the PAM code to return. With store = "ldap"
 * every such failure is PAM_AUTHINFO_UNAVAIL (fail closed, never a fallback to files). */
int totp_store_failed(struct totp_ctx *ctx, const char *event, const char *detail, int r);

/* account.c: a mark that pam_sm_authenticate found nothing to save for PAM_USER (a verified
 * code, or a user MFA does not concern), so pam_sm_setcred need not look again. */
void totp_checked_set(pam_handle_t *pamh);
void totp_checked_clear(pam_handle_t *pamh);

/* pamerr.c */
int totp_pam_code(int r);
void totp_log(struct totp_ctx *ctx, int prio, const struct mfa_event *ev);
/* the same, then extra (text of the module's own, never a name or anything a user chose) */
void totp_log_extra(struct totp_ctx *ctx, int prio, const struct mfa_event *ev,
		    const char *extra);

/* verify.c: an enrolled user answers the prompt. t: the decision read; every write the
 * policy makes is checked against the store, and t is re-read when it moved. */
int totp_verify(struct totp_ctx *ctx, struct mfa_token *t);
/* enroll.c: a new token; t is the decision read (status NONE or RESET). */
int totp_enroll(struct totp_ctx *ctx, const struct mfa_token *t);

/* enroll.c: the recovery codes, once, after the token was written; a failure is logged. */
void totp_show_codes(struct totp_ctx *ctx, const char (*codes)[MFA_RECOVERY_CODE_LEN + 1],
		     unsigned n);

/* pending.c: a confirmed enrollment kept in the handle until pam_acct_mgmt or pam_setcred
 * (written only when the whole authentication succeeded). keep: the secret is moved in; t
 * the token it was decided on; any earlier pending one is replaced. save: 0 written (codes
 * shown), -ENOENT nothing pending, -ESTALE the token changed meanwhile, other < 0 not
 * written; logged and told either way, and nothing is pending afterwards. */
int totp_pending_keep(struct totp_ctx *ctx, const struct mfa_token *t, struct mfa_secret **sec,
		      int64_t step);
int totp_pending_save(struct totp_ctx *ctx);
/* true when something was pending (and is now dropped) */
bool totp_pending_drop(pam_handle_t *pamh);

/* qr.c: the URI as UTF-8 half-block lines into a sodium_malloc()ed string (free with
 * mfa_secret_free_string()). -ENOTSUP without libqrencode, -E2BIG too big for a terminal. */
int totp_qr_render(const char *uri, char **ret_text);
