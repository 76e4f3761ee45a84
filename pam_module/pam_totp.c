/* pam_totp.so entry points and the decision order of SPEC §4: not enforced and no state ->
 * ignore; locked out -> refuse; reset or enforced without state -> enrollment; enrolled ->
 * verification. The decision read takes no lock; verify.c and enroll.c re-check under it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "mfa-build.h"
#include "pam_totp.h"
#include "secret.h"
#include "totp.h"
#include "user.h"

void totp_ctx_done(struct totp_ctx *ctx)
{
	mfa_config_free(&ctx->cfg);
	closep(&ctx->dir_fd);
}

static int fail(struct totp_ctx *ctx, const char *reason, int r)
{
	struct mfa_event ev = totp_event("auth", ctx->user, "error", reason);

	ev.error = r;
	totp_log(ctx, LOG_ERR, &ev);
	return totp_pam_code(r);
}

/* The user's name from PAM, validated; invalid names are not logged (they may be a password
 * typed into the login prompt). Whether NSS knows it is decided in authenticate(). */
static int get_user(struct totp_ctx *ctx)
{
	const char *user = NULL;
	int r;

	r = pam_get_user(ctx->pamh, &user, NULL);
	if (r != PAM_SUCCESS || !user) {
		pam_syslog(ctx->pamh, LOG_ERR, "event=auth result=error reason=no-user");
		return r == PAM_SUCCESS ? PAM_USER_UNKNOWN : r;
	}
	if (mfa_user_validate(user) < 0) {
		struct mfa_event ev = totp_event("auth", NULL, "refused", "invalid-name");

		totp_log(ctx, LOG_NOTICE, &ev);
		return PAM_USER_UNKNOWN;
	}
	ctx->user = user;
	return PAM_SUCCESS;
}

static int load_config(struct totp_ctx *ctx)
{
	const char *path = ctx->args.config ? ctx->args.config : MFA_DEFAULT_CONFIG;
	struct mfa_err err = {0};
	int r;

	r = mfa_config_load(path, &ctx->cfg, &err);
	if (r < 0) {
		pam_syslog(ctx->pamh, LOG_ERR,
			   "event=config result=error reason=%s line=%u detail='%s'",
			   r == -ENOENT ? "missing" : "invalid", err.line, err.msg);
		return PAM_AUTHINFO_UNAVAIL;
	}
	return PAM_SUCCESS;
}

static int refuse_locked(struct totp_ctx *ctx, const struct mfa_state *st)
{
	struct mfa_event ev = totp_event("verify", ctx->user, "refused", "locked-out");
	char when[64], msg[160];

	totp_format_time(st->locked_until, when, sizeof(when));
	snprintf(msg, sizeof(msg), "Too many wrong codes: locked until %s.", when);
	totp_error(ctx, msg);
	ev.until = st->locked_until;
	totp_log(ctx, LOG_NOTICE, &ev);
	return PAM_AUTH_ERR;
}

/* Decides with the unlocked read st (NULL: no state); enforced < 0: not looked up (an
 * enrolled user, verified whatever the policy). */
static int decide(struct totp_ctx *ctx, int enforced, struct mfa_state *st)
{
	struct mfa_event ev = totp_event("auth", ctx->user, "decided", NULL);
	time_t now = time(NULL);

	if (!st && !enforced) {
		ev.result = "ignore";
		ev.reason = "not-enforced";
		totp_log(ctx, LOG_DEBUG, &ev);
		return PAM_IGNORE;
	}
	if (st && st->locked_until > now)
		return refuse_locked(ctx, st);
	if (!st || st->status == MFA_STATUS_RESET) {
		ev.reason = st ? "enroll-after-reset" : "enroll-first";
		totp_log(ctx, LOG_DEBUG, &ev);
		return totp_enroll(ctx, st);
	}
	ev.reason = enforced == 0 ? "verify-not-enforced" : "verify";
	totp_log(ctx, LOG_DEBUG, &ev);
	return totp_verify(ctx, st);
}

/* The unlocked decision read: 0 and *st loaded, -ENOENT no state (or no state directory),
 * other < 0 an unsafe directory (*dir_r) or an unreadable, unsafe or corrupt state file. */
static int read_state(struct totp_ctx *ctx, struct mfa_state *st, int *dir_r,
		      struct mfa_err *err)
{
	if (ctx->dir_fd < 0)
		*dir_r = mfa_state_open_dir(ctx->cfg.state_dir, &ctx->dir_fd);
	if (*dir_r < 0)
		return *dir_r;
	return mfa_state_load(ctx->dir_fd, -1, ctx->user, st, err);
}

/* From here on the user is NSS's own name for them: where NSS also answers for another
 * spelling (a case-insensitive directory), "ALICE" must reach alice's token, never enroll a
 * second one. The state is read again under that name. 0, or -ENOENT unknown user, other < 0
 * lookup failure. */
static int use_canonical_name(struct totp_ctx *ctx, struct mfa_state *st, int *dir_r,
			      int *state_r, struct mfa_err *err)
{
	struct mfa_event ev;
	int r;

	r = mfa_user_canonical(ctx->user, ctx->canonical, sizeof(ctx->canonical));
	if (r < 0)
		return r == -EINVAL ? -ENOENT : r;
	if (strcmp(ctx->canonical, ctx->user) == 0)
		return 0;
	ctx->user = ctx->canonical;
	ev = totp_event("auth", ctx->user, "decided", "nss-name");
	totp_log(ctx, LOG_DEBUG, &ev);
	mfa_state_clear(st);
	*state_r = read_state(ctx, st, dir_r, err);
	return 0;
}

/* An enrolled user: verified whatever the policy says (enforced not looked up). */
static int enrolled(bool *ret_have, int *ret_enforced)
{
	*ret_have = true;
	*ret_enforced = -1;
	return PAM_SUCCESS;
}

int totp_lookup(struct totp_ctx *ctx, struct mfa_state *st, bool *ret_have, int *ret_enforced)
{
	struct mfa_err err = {0};
	int enforced, canon_r, dir_r = 0, r;

	if ((r = get_user(ctx)) != PAM_SUCCESS)
		return r;
	if (mfa_secret_init() < 0 || mfa_totp_init() < 0)
		return fail(ctx, "init", -EIO);
	if ((r = load_config(ctx)) != PAM_SUCCESS)
		return r;
	*ret_have = false;
	/* An enrolled user is asked for a code whatever the policy says, and only a name NSS
	 * knew as its own can have enrolled (use_canonical_name), so ordinary logins skip the
	 * NSS lookup: with a large directory it is the costliest step of a login
	 * (bench/RESULTS.md). */
	r = read_state(ctx, st, &dir_r, &err);
	if (r == 0 && st->status == MFA_STATUS_ENROLLED)
		return enrolled(ret_have, ret_enforced);
	canon_r = use_canonical_name(ctx, st, &dir_r, &r, &err);
	if (canon_r == 0 && r == 0 && st->status == MFA_STATUS_ENROLLED)
		return enrolled(ret_have, ret_enforced);
	enforced = canon_r < 0 ? canon_r : mfa_user_is_enforced(&ctx->cfg, ctx->user);
	if (enforced == -ENOENT) {
		struct mfa_event ev = totp_event("auth", NULL, "refused", "unknown-user");

		totp_log(ctx, LOG_NOTICE, &ev);
		return PAM_USER_UNKNOWN;
	}
	if (enforced < 0)
		return fail(ctx, "group-lookup", enforced);
	*ret_enforced = enforced;
	if ((dir_r == -ENOENT && !enforced) || (dir_r == 0 && r == -ENOENT))
		return PAM_SUCCESS;
	if (dir_r < 0)
		return fail(ctx, "state-dir", dir_r);
	if (r < 0) {
		struct mfa_event ev = totp_event("auth", ctx->user, "error", "state");
		char line[32];

		/* err.msg is not logged: a parser message may quote the secret's line */
		snprintf(line, sizeof(line), "line=%u", err.line);
		ev.error = r;
		totp_log_extra(ctx, LOG_ERR, &ev, line);
		return totp_pam_code(r);
	}
	*ret_have = true;
	return PAM_SUCCESS;
}

PAM_EXTERN TOTP_PUBLIC int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
					       const char **argv)
{
	_cleanup_(mfa_state_clearp) struct mfa_state st = {0};
	struct totp_ctx ctx = {.pamh = pamh, .dir_fd = -1};
	int enforced = -1, r;
	bool have = false, dropped;

	/* what an earlier call on this handle confirmed or checked no longer counts */
	dropped = totp_pending_drop(pamh);
	totp_checked_clear(pamh);
	totp_args_parse(pamh, flags, argc, argv, &ctx.args);
	r = totp_lookup(&ctx, &st, &have, &enforced);
	if (r == PAM_SUCCESS)
		r = decide(&ctx, enforced, have ? &st : NULL);
	/* a verified code or a user MFA does not concern: pam_sm_setcred need not look again;
	 * unless an enrollment was just dropped, which an earlier pam_totp line of this same
	 * stack (another config=) may have confirmed: pam_sm_setcred must then look, or that
	 * user would pass on a token that was never saved */
	if (!dropped &&
	    (r == PAM_IGNORE || (r == PAM_SUCCESS && have && st.status == MFA_STATUS_ENROLLED)))
		totp_checked_set(pamh);
	totp_ctx_done(&ctx);
	return r;
}
