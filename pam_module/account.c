/* pam_sm_acct_mgmt and pam_sm_setcred: where a confirmed enrollment is written (pending.c),
 * because an application calls them only after the whole authentication succeeded.
 *
 * OpenSSH runs pam_authenticate() for keyboard-interactive in a child process and calls
 * pam_acct_mgmt() in that child right after it (auth-pam.c: sshpam_thread ->
 * do_pam_account), but pam_setcred() later in another process, which never sees the child's
 * pam_set_data(). sshd therefore needs `account required pam_totp.so`. A stack without it
 * must not log people in on a token that was never saved: pam_sm_setcred refuses an enforced
 * user who, after authenticating, still has no token (or a pending reset). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "pam_totp.h"

#define CHECKED_DATA "pam_totp_checked_user"

static void free_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	free(data);
}

void totp_checked_set(pam_handle_t *pamh)
{
	const char *user = NULL;
	char *copy;

	if (pam_get_item(pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS || !user)
		return;
	copy = strdup(user);
	if (copy && pam_set_data(pamh, CHECKED_DATA, copy, free_cleanup) != PAM_SUCCESS)
		free(copy);
}

void totp_checked_clear(pam_handle_t *pamh)
{
	(void)pam_set_data(pamh, CHECKED_DATA, NULL, NULL);
}

/* 1 when pam_sm_authenticate on this handle found nothing to save for today's PAM_USER. */
static int checked(pam_handle_t *pamh)
{
	const char *user = NULL, *seen = NULL;

	if (pam_get_data(pamh, CHECKED_DATA, (const void **)&seen) != PAM_SUCCESS || !seen)
		return 0;
	if (pam_get_item(pamh, PAM_USER, (const void **)&user) != PAM_SUCCESS || !user)
		return 0;
	return strcmp(user, seen) == 0;
}

/* cron and atd (Debian's /etc/pam.d/cron and atd include common-auth) establish credentials
 * for a job with no conversation function and no pam_authenticate: nobody was asked for a
 * code, so no enrollment can have been confirmed and lost, and refusing would stop the jobs of
 * every enforced user who has not enrolled yet or whose token was just reset. An application
 * that authenticates a person has a conversation (sshd sets one before pam_setcred). */
static bool has_conversation(pam_handle_t *pamh)
{
	const struct pam_conv *conv = NULL;

	return pam_get_item(pamh, PAM_CONV, (const void **)&conv) == PAM_SUCCESS && conv &&
	       conv->conv;
}

/* Nothing pending at pam_setcred: an enforced user without a token, or with a pending reset,
 * authenticated without a token being saved (the enrollment happened in another process, as
 * under sshd without the account line, or pam_totp's auth line was skipped). */
static int check_saved(struct totp_ctx *ctx)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = {0};
	int enforced = -1, r;
	struct mfa_event ev;

	if (checked(ctx->pamh) || !has_conversation(ctx->pamh))
		return PAM_SUCCESS;
	r = totp_lookup(ctx, &t, &enforced);
	if (r == PAM_USER_UNKNOWN)
		return r;
	if (r != PAM_SUCCESS)
		return PAM_CRED_ERR;
	if (t.status == MFA_TOKEN_ENROLLED || (t.status == MFA_TOKEN_NONE && !enforced))
		return PAM_SUCCESS;
	totp_error(ctx, "No authenticator token was saved for this account; contact an "
			"administrator.");
	ev = totp_event("setcred", ctx->user, "refused", "enrollment-not-saved");
	totp_log_extra(ctx, LOG_ERR, &ev,
		       "hint='the service needs \"account required pam_totp.so\"'");
	return PAM_CRED_ERR;
}

/* Nothing pending: PAM_IGNORE, the convention for a module with nothing to say about the
 * account (the other account modules decide; a stack of pam_totp alone is refused by
 * libpam). A pending enrollment that cannot be written denies. */
PAM_EXTERN TOTP_PUBLIC int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc,
					    const char **argv)
{
	struct totp_ctx ctx = {.pamh = pamh};
	int r;

	totp_args_parse(pamh, flags, argc, argv, &ctx.args);
	r = totp_pending_save(&ctx);
	if (r == -ENOENT)
		return PAM_IGNORE;
	return r == 0 ? PAM_SUCCESS : PAM_PERM_DENIED;
}

PAM_EXTERN TOTP_PUBLIC int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc,
					  const char **argv)
{
	int op = flags & (PAM_ESTABLISH_CRED | PAM_DELETE_CRED | PAM_REINITIALIZE_CRED |
			  PAM_REFRESH_CRED);
	struct totp_ctx ctx = {.pamh = pamh};
	int r;

	/* deleting or refreshing credentials ends or extends a session: nothing to write */
	if (op != 0 && !(op & (PAM_ESTABLISH_CRED | PAM_REINITIALIZE_CRED)))
		return PAM_SUCCESS;
	totp_args_parse(pamh, flags, argc, argv, &ctx.args);
	r = totp_pending_save(&ctx);
	/* only establishing credentials ends a login; sudo reinitializes them for the target
	 * user (sudo -u), which is nobody's enrollment */
	if (r == -ENOENT)
		r = (op & PAM_ESTABLISH_CRED) || op == 0 ? check_saved(&ctx) : PAM_SUCCESS;
	else
		r = r == 0 ? PAM_SUCCESS : PAM_CRED_ERR;
	totp_ctx_done(&ctx);
	return r;
}
