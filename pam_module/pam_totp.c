/* pam_totp.so entry points: the user, the config and the store, then the policy's decision
 * (SPEC §4, mfa_policy_decide): not enforced and no token -> ignore; locked out -> refuse;
 * enrolled -> verification; reset or enforced without a token -> enrollment. The decision
 * read takes no lock; every write the policy makes is a compare-and-swap against it. */
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
	mfa_store_closep(&ctx->store);
	mfa_config_free(&ctx->cfg);
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
	/* the store is opened by read_token(), once */
	mfa_policy_init(&ctx->pol, &ctx->cfg, NULL);
	return PAM_SUCCESS;
}

static int refuse_locked(struct totp_ctx *ctx, int64_t locked_until)
{
	struct mfa_event ev = totp_event("verify", ctx->user, "refused", "locked-out");
	char when[64], msg[160];

	totp_format_time(locked_until, when, sizeof(when));
	snprintf(msg, sizeof(msg), "Too many wrong codes: locked until %s.", when);
	totp_error(ctx, msg);
	ev.until = locked_until;
	totp_log(ctx, LOG_NOTICE, &ev);
	return PAM_AUTH_ERR;
}

/* An enrollment the policy refuses (why: "reset-expired", "no-directory-entry"). */
static int refuse_enroll(struct totp_ctx *ctx, const char *why)
{
	struct mfa_event ev = totp_event("enroll", ctx->user, "refused", why);

	totp_error(ctx, strcmp(why, "reset-expired") == 0
				? "The request for a new authenticator token has expired; contact "
				  "an administrator."
				: "An authenticator must be set up for this account, which cannot "
				  "be done here; contact an administrator.");
	totp_log(ctx, LOG_NOTICE, &ev);
	return PAM_AUTH_ERR;
}

/* Decides with the unlocked read t; enforced < 0: not looked up (an enrolled user, verified
 * whatever the policy). */
static int decide(struct totp_ctx *ctx, int enforced, struct mfa_token *t)
{
	struct mfa_event ev = totp_event("auth", ctx->user, "decided", NULL);

	switch (mfa_policy_decide(&ctx->pol, t, enforced, time(NULL))) {
	case MFA_DECIDE_IGNORE:
		ev.result = "ignore";
		ev.reason = "not-enforced";
		totp_log(ctx, LOG_DEBUG, &ev);
		return PAM_IGNORE;
	case MFA_DECIDE_LOCKED:
		return refuse_locked(ctx, mfa_policy_locked_until(&ctx->pol, t));
	case MFA_DECIDE_ENROLL:
		ev.reason = t->status == MFA_TOKEN_RESET ? "enroll-after-reset" : "enroll-first";
		totp_log(ctx, LOG_DEBUG, &ev);
		return totp_enroll(ctx, t);
	case MFA_DECIDE_RESET_EXPIRED:
		return refuse_enroll(ctx, "reset-expired");
	case MFA_DECIDE_NO_ENTRY:
		/* ldap: the directory has no entry for this person, so no token could be saved */
		return refuse_enroll(ctx, "no-directory-entry");
	case MFA_DECIDE_VERIFY:
		break;
	}
	ev.reason = enforced == 0 ? "verify-not-enforced" : "verify";
	totp_log(ctx, LOG_DEBUG, &ev);
	return totp_verify(ctx, t);
}

/* The unlocked decision read: 0 and *t loaded (status NONE when the user has no token);
 * *store_r < 0 the store could not be opened (files: -ENOENT no state directory, then *t is
 * NONE); other < 0 an unreadable, unsafe or corrupt token, or the directory failed. */
static int read_token(struct totp_ctx *ctx, struct mfa_token *t, int *store_r,
		      struct mfa_err *err)
{
	mfa_token_clear(t);
	*t = (struct mfa_token){ .status = MFA_TOKEN_NONE, .last_step = -1 };
	if (!ctx->store) {
		*store_r = mfa_store_open(&ctx->cfg, MFA_STORE_ROLE_HOST, &ctx->store, err);
		if (*store_r < 0)
			return *store_r;
		ctx->pol.store = ctx->store;
	}
	return mfa_store_load(ctx->store, ctx->user, t, err);
}

/* From here on the user is NSS's own name for them: where NSS also answers for another
 * spelling (a case-insensitive directory), "ALICE" must reach alice's token, never enroll a
 * second one. The state is read again under that name. 0, or -ENOENT unknown user, other < 0
 * lookup failure. */
static int use_canonical_name(struct totp_ctx *ctx, struct mfa_token *t, int *store_r,
			      int *load_r, struct mfa_err *err)
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
	*load_r = read_token(ctx, t, store_r, err);
	return 0;
}

/* An enrolled user: verified whatever the policy says (enforced not looked up). */
static int enrolled(int *ret_enforced)
{
	*ret_enforced = -1;
	return PAM_SUCCESS;
}

/* With store = "ldap" a failed read fails the login at once, before any NSS lookup: whether
 * the person is enrolled is unknown, and nothing falls back to the files. */
static bool directory_failed(const struct totp_ctx *ctx, int r)
{
	return r < 0 && ctx->cfg.store == MFA_STORE_LDAP;
}

static int directory_fail(struct totp_ctx *ctx, const struct mfa_err *err, int r)
{
	return totp_store_failed(ctx, "auth", err->msg[0] ? err->msg : mfa_store_error(ctx->store),
				 r);
}

int totp_lookup(struct totp_ctx *ctx, struct mfa_token *t, int *ret_enforced)
{
	struct mfa_err err = {0};
	int enforced, canon_r, store_r = 0, r;

	if ((r = get_user(ctx)) != PAM_SUCCESS)
		return r;
	/* No mfa_secret_init(): a login that verifies a code does not need libsodium's
	 * initialisation, which costs more than the rest of the verification (common/locked.c);
	 * what needs it initialises it. */
	if (mfa_totp_init() < 0)
		return fail(ctx, "init", -EIO);
	if ((r = load_config(ctx)) != PAM_SUCCESS)
		return r;
	/* An enrolled user is asked for a code whatever the policy says, and only a name NSS
	 * knew as its own can have enrolled (use_canonical_name), so ordinary logins skip the
	 * NSS lookup: with a large directory it is the costliest step of a login
	 * (bench/RESULTS.md). */
	r = read_token(ctx, t, &store_r, &err);
	if (directory_failed(ctx, r))
		return directory_fail(ctx, &err, r);
	if (r == 0 && t->status == MFA_TOKEN_ENROLLED)
		return enrolled(ret_enforced);
	canon_r = use_canonical_name(ctx, t, &store_r, &r, &err);
	if (directory_failed(ctx, r))
		return directory_fail(ctx, &err, r);
	if (canon_r == 0 && r == 0 && t->status == MFA_TOKEN_ENROLLED)
		return enrolled(ret_enforced);
	enforced = canon_r < 0 ? canon_r : mfa_user_is_enforced(&ctx->cfg, ctx->user);
	if (enforced == -ENOENT) {
		struct mfa_event ev = totp_event("auth", NULL, "refused", "unknown-user");

		totp_log(ctx, LOG_NOTICE, &ev);
		return PAM_USER_UNKNOWN;
	}
	if (enforced < 0)
		return fail(ctx, "group-lookup", enforced);
	*ret_enforced = enforced;
	if (store_r == -ENOENT && !enforced)
		return PAM_SUCCESS; /* no state directory: nobody enrolled */
	if (store_r < 0)
		return fail(ctx, "state-dir", store_r);
	if (r < 0) {
		struct mfa_event ev = totp_event("auth", ctx->user, "error", "state");
		char line[32];

		/* err.msg is not logged: a parser message may quote the secret's line */
		snprintf(line, sizeof(line), "line=%u", err.line);
		ev.error = r;
		totp_log_extra(ctx, LOG_ERR, &ev, line);
		return totp_pam_code(r);
	}
	return PAM_SUCCESS;
}

PAM_EXTERN TOTP_PUBLIC int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
					       const char **argv)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = {0};
	struct totp_ctx ctx = {.pamh = pamh};
	int enforced = -1, r;
	bool dropped;

	/* what an earlier call on this handle confirmed or checked no longer counts */
	dropped = totp_pending_drop(pamh);
	totp_checked_clear(pamh);
	totp_args_parse(pamh, flags, argc, argv, &ctx.args);
	r = totp_lookup(&ctx, &t, &enforced);
	if (r == PAM_SUCCESS)
		r = decide(&ctx, enforced, &t);
	/* a verified code or a user MFA does not concern: pam_sm_setcred need not look again;
	 * unless an enrollment was just dropped, which an earlier pam_totp line of this same
	 * stack (another config=) may have confirmed: pam_sm_setcred must then look, or that
	 * user would pass on a token that was never saved */
	if (!dropped && (r == PAM_IGNORE || (r == PAM_SUCCESS && t.status == MFA_TOKEN_ENROLLED)))
		totp_checked_set(pamh);
	totp_ctx_done(&ctx);
	return r;
}
