/* A confirmed enrollment waits in the PAM handle until the whole authentication succeeded.
 *
 * pam_sm_authenticate cannot know whether an earlier module of the stack failed: with
 * `auth required pam_unix.so` (not requisite) the stack goes on after a wrong password, and a
 * token written there would let a stranger who knows only the user name enroll their own. An
 * application calls pam_acct_mgmt() and pam_setcred() only after pam_authenticate()
 * succeeded, so the new token is kept here (pam_set_data) and written by the first of the two;
 * it is then removed, so it is written once. Everything the write needs is kept with it (the
 * account line may name another config=: the auth line's config names the store), and what
 * the decision saw of the token (mfa_token_seen), so a reset or enrollment that happened
 * meanwhile, on this host or another, is never overwritten (mfa_policy_claim). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <sodium.h>

#include <security/pam_ext.h>

#include "mfa-build.h"
#include "pam_totp.h"
#include "policy.h"
#include "secret.h"

#define PENDING_DATA "pam_totp_pending_enrollment"

struct pending {
	char pam_user[MFA_USER_NAME_MAX + 1]; /* PAM_USER when it was confirmed */
	char user[MFA_USER_NAME_MAX + 1];     /* NSS's name: whose state is written */
	char *config;		    /* the auth line's config: its store is written */
	struct mfa_token_seen seen; /* no token, or a pending reset of that generation */
	enum mfa_algo algorithm;
	unsigned digits, period, window, recovery_codes;
	int64_t step; /* the confirming step: the new token's last accepted step */
	struct mfa_secret *secret;
};

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	mfa_secret_free(p->secret);
	free(p->config);
	sodium_memzero(p, sizeof(*p));
	free(p);
}

static void pending_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	pending_free(data);
}

bool totp_pending_drop(pam_handle_t *pamh)
{
	const void *p = NULL;
	bool was = pam_get_data(pamh, PENDING_DATA, &p) == PAM_SUCCESS && p;

	/* replacing the entry runs pending_cleanup() on the old one */
	(void)pam_set_data(pamh, PENDING_DATA, NULL, NULL);
	return was;
}

static void log_enroll(struct totp_ctx *ctx, const char *user, int prio, const char *result,
		       const char *reason, int r, long long count)
{
	struct mfa_event ev = totp_event("enroll", user, result, reason);

	ev.error = r;
	ev.count = count;
	totp_log(ctx, prio, &ev);
}

int totp_pending_keep(struct totp_ctx *ctx, const struct mfa_token *t, struct mfa_secret **sec,
		      int64_t step)
{
	const struct mfa_config *c = &ctx->cfg;
	const char *pam_user = NULL;
	struct pending *p;

	if (pam_get_item(ctx->pamh, PAM_USER, (const void **)&pam_user) != PAM_SUCCESS ||
	    !pam_user || strlen(pam_user) > MFA_USER_NAME_MAX)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct pending){.config = strdup(ctx->args.config ? ctx->args.config
								 : MFA_DEFAULT_CONFIG),
			      .seen = mfa_token_seen_of(t),
			      .algorithm = c->totp.algorithm,
			      .digits = c->totp.digits,
			      .period = c->totp.period,
			      .window = c->totp.window,
			      .recovery_codes = c->enrollment.recovery_codes,
			      .step = step};
	strcpy(p->pam_user, pam_user);
	strcpy(p->user, ctx->user); /* validated, so bounded */
	if (!p->config || p->recovery_codes > MFA_RECOVERY_MAX) {
		int r = p->config ? -EINVAL : -ENOMEM;

		pending_free(p);
		return r;
	}
	p->secret = TAKE_PTR(*sec);
	if (pam_set_data(ctx->pamh, PENDING_DATA, p, pending_cleanup) != PAM_SUCCESS) {
		pending_free(p);
		return -ENOMEM;
	}
	log_enroll(ctx, p->user, LOG_NOTICE, "pending",
		   t->status == MFA_TOKEN_RESET ? "reset" : "first", 0, -1);
	return 0;
}

static void codes_freep(char (**codes)[MFA_RECOVERY_CODE_LEN + 1])
{
	if (*codes)
		sodium_free(*codes);
}

/* The store of the config the enrollment was confirmed under, in sub (the save's own
 * context). */
static int open_store(struct totp_ctx *sub, const struct pending *p)
{
	struct mfa_err err = {0};
	int r;

	if ((r = mfa_config_load(p->config, &sub->cfg, &err)) < 0)
		return r;
	r = mfa_store_open(&sub->cfg, MFA_STORE_ROLE_HOST, &sub->store, &err);
	if (r < 0) {
		if (sub->cfg.store == MFA_STORE_LDAP)
			(void)totp_store_failed(sub, "enroll", err.msg, r);
		return r;
	}
	mfa_policy_init(&sub->pol, &sub->cfg, sub->store);
	return 0;
}

/* The new codes' hashes on the stack, wiped on every path out of store(). */
struct hashes {
	char h[MFA_RECOVERY_MAX][MFA_RECOVERY_HASH_LEN];
};

static void hashes_wipe(struct hashes *x)
{
	sodium_memzero(x, sizeof(*x));
}

/* Saves the token if it is still what the decision saw; the new recovery codes (sodium
 * memory) are handed out to be shown once. */
static int store(struct totp_ctx *sub, struct pending *p,
		 char (**ret_codes)[MFA_RECOVERY_CODE_LEN + 1])
{
	_cleanup_(codes_freep) char(*codes)[MFA_RECOVERY_CODE_LEN + 1] = NULL;
	_cleanup_(hashes_wipe) struct hashes hashes = {0};
	struct mfa_store_enroll e = {.secret = p->secret,
				     .algorithm = p->algorithm,
				     .digits = p->digits,
				     .period = p->period,
				     .window = p->window,
				     .step = p->step,
				     .now = time(NULL),
				     .recovery = (const char(*)[MFA_RECOVERY_HASH_LEN])hashes.h,
				     .n_recovery = p->recovery_codes};
	int r;

	if ((r = open_store(sub, p)) < 0)
		return r;
	if (e.n_recovery > 0) {
		codes = mfa_sodium_malloc(sizeof(*codes) * e.n_recovery);
		if (!codes)
			return -ENOMEM;
		if ((r = mfa_recovery_generate(e.n_recovery, codes, hashes.h)) < 0)
			return r;
	}
	r = mfa_policy_claim(&sub->pol, p->user, &p->seen, &e);
	if (r < 0 && r != -ESTALE && sub->cfg.store == MFA_STORE_LDAP)
		(void)totp_store_failed(sub, "enroll", mfa_store_error(sub->store), r);
	if (r < 0)
		return r;
	*ret_codes = TAKE_PTR(codes);
	return 0;
}

int totp_pending_save(struct totp_ctx *ctx)
{
	_cleanup_(codes_freep) char(*codes)[MFA_RECOVERY_CODE_LEN + 1] = NULL;
	const char *pam_user = NULL;
	struct pending *p = NULL;
	struct totp_ctx sub = {.pamh = ctx->pamh, .args = ctx->args};
	bool after_reset;
	int r;

	if (pam_get_data(ctx->pamh, PENDING_DATA, (const void **)&p) != PAM_SUCCESS || !p)
		return -ENOENT;
	ctx->user = sub.user = p->user;
	after_reset = p->seen.status == MFA_TOKEN_RESET;
	if (pam_get_item(ctx->pamh, PAM_USER, (const void **)&pam_user) != PAM_SUCCESS ||
	    !pam_user || strcmp(pam_user, p->pam_user) != 0)
		r = -EPERM; /* the application switched users after authenticating */
	else
		r = store(&sub, p, &codes);
	if (r == 0) {
		log_enroll(ctx, p->user, LOG_NOTICE, "ok", after_reset ? "reset" : "first", 0,
			   p->recovery_codes);
		totp_show_codes(ctx, (const char(*)[MFA_RECOVERY_CODE_LEN + 1])codes,
				p->recovery_codes);
	} else if (r == -ESTALE) {
		totp_error(ctx, "The token was changed meanwhile: nothing was saved.");
		log_enroll(ctx, p->user, LOG_NOTICE, "refused", "state-changed", 0, -1);
	} else {
		/* with the directory, totp_store_failed() already told why */
		if (sub.cfg.store != MFA_STORE_LDAP)
			totp_error(ctx, "The new token could not be saved; contact an "
					"administrator.");
		log_enroll(ctx, p->user, LOG_ERR, "error",
			   r == -EPERM ? "user-changed" : "save-failed", r, -1);
	}
	/* written once, or never: a second call finds nothing pending */
	ctx->user = NULL;
	totp_ctx_done(&sub);
	totp_pending_drop(ctx->pamh);
	return r;
}
