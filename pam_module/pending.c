/* A confirmed enrollment waits in the PAM handle until the whole authentication succeeded.
 *
 * pam_sm_authenticate cannot know whether an earlier module of the stack failed: with
 * `auth required pam_unix.so` (not requisite) the stack goes on after a wrong password, and a
 * token written there would let a stranger who knows only the user name enroll their own. An
 * application calls pam_acct_mgmt() and pam_setcred() only after pam_authenticate()
 * succeeded, so the new token is kept here (pam_set_data) and written by the first of the two;
 * it is then removed, so it is written once. Everything the write needs is kept with it (the
 * account line may name another config=), and the state it was decided on, so a reset or
 * enrollment that happened meanwhile is never overwritten. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <sodium.h>

#include <security/pam_ext.h>

#include "pam_totp.h"
#include "secret.h"

#define PENDING_DATA "pam_totp_pending_enrollment"

struct pending {
	char pam_user[MFA_USER_NAME_MAX + 1]; /* PAM_USER when it was confirmed */
	char user[MFA_USER_NAME_MAX + 1];     /* NSS's name: whose state is written */
	char *state_dir;
	bool after_reset; /* decided on a pending reset (else: no state at all) */
	uint64_t epoch;	  /* of that reset */
	int64_t reset_at;
	char reset_by[MFA_USER_NAME_MAX + 1];
	enum mfa_algo algorithm;
	unsigned digits, period, recovery_codes;
	int64_t step; /* the confirming step: the new token's last accepted step */
	struct mfa_secret *secret;
};

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	mfa_secret_free(p->secret);
	free(p->state_dir);
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

int totp_pending_keep(struct totp_ctx *ctx, const struct mfa_state *seen, struct mfa_secret **sec,
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
	*p = (struct pending){.state_dir = strdup(c->state_dir),
			      .after_reset = seen != NULL,
			      .algorithm = c->totp.algorithm,
			      .digits = c->totp.digits,
			      .period = c->totp.period,
			      .recovery_codes = c->enrollment.recovery_codes,
			      .step = step};
	strcpy(p->pam_user, pam_user);
	strcpy(p->user, ctx->user); /* validated, so bounded */
	if (seen) {
		p->epoch = seen->epoch;
		p->reset_at = seen->reset_at;
		memcpy(p->reset_by, seen->reset_by, sizeof(p->reset_by));
	}
	if (!p->state_dir) {
		pending_free(p);
		return -ENOMEM;
	}
	p->secret = TAKE_PTR(*sec);
	if (pam_set_data(ctx->pamh, PENDING_DATA, p, pending_cleanup) != PAM_SUCCESS) {
		pending_free(p);
		return -ENOMEM;
	}
	log_enroll(ctx, p->user, LOG_NOTICE, "pending", seen ? "reset" : "first", 0, -1);
	return 0;
}

/* Under the lock: the state must still be what the decision saw (none, or the same reset),
 * so a racing enrollment or reset is never overwritten. */
static int still_same(const struct pending *p, int dir_fd, int lock_fd)
{
	_cleanup_(mfa_state_clearp) struct mfa_state now = {0};
	struct mfa_err err = {0};
	int r;

	r = mfa_state_load(dir_fd, lock_fd, p->user, &now, &err);
	if (!p->after_reset)
		return r == -ENOENT ? 0 : r < 0 ? r : -ESTALE;
	if (r < 0)
		return r;
	if (now.status != MFA_STATUS_RESET || now.epoch != p->epoch)
		return -ESTALE;
	return 0;
}

static void codes_freep(char (**codes)[MFA_RECOVERY_CODE_LEN + 1])
{
	if (*codes)
		sodium_free(*codes);
}

/* Writes the enrolled state, the secret moved into it; the new recovery codes (sodium memory)
 * are handed out to be shown once. */
static int store(struct pending *p, char (**ret_codes)[MFA_RECOVERY_CODE_LEN + 1])
{
	_cleanup_(mfa_state_clearp) struct mfa_state ns = {0};
	_cleanup_(codes_freep) char(*codes)[MFA_RECOVERY_CODE_LEN + 1] = NULL;
	_cleanup_close_ int dir_fd = -1, lock_fd = -1;
	unsigned n = p->recovery_codes;
	int r;

	if ((r = mfa_state_open_dir(p->state_dir, &dir_fd)) < 0)
		return r;
	r = mfa_state_lock(dir_fd, p->user, MFA_STATE_LOCK_TIMEOUT_MS, &lock_fd);
	if (r < 0 || (r = still_same(p, dir_fd, lock_fd)) < 0)
		return r;
	ns = (struct mfa_state){.status = MFA_STATUS_ENROLLED,
				.algorithm = p->algorithm,
				.digits = p->digits,
				.period = p->period,
				.last_step = p->step,
				.enrolled_at = time(NULL),
				.reset_at = p->reset_at,
				.n_recovery = n};
	memcpy(ns.reset_by, p->reset_by, sizeof(ns.reset_by));
	if (n > 0) {
		codes = sodium_malloc(sizeof(*codes) * n);
		if (!codes)
			return -ENOMEM;
		if ((r = mfa_recovery_generate(n, codes, ns.recovery)) < 0)
			return r;
	}
	ns.secret = TAKE_PTR(p->secret);
	if ((r = mfa_state_store(dir_fd, lock_fd, p->user, &ns, 0)) < 0)
		return r;
	*ret_codes = TAKE_PTR(codes);
	return 0;
}

int totp_pending_save(struct totp_ctx *ctx)
{
	_cleanup_(codes_freep) char(*codes)[MFA_RECOVERY_CODE_LEN + 1] = NULL;
	const char *pam_user = NULL;
	struct pending *p = NULL;
	int r;

	if (pam_get_data(ctx->pamh, PENDING_DATA, (const void **)&p) != PAM_SUCCESS || !p)
		return -ENOENT;
	ctx->user = p->user;
	if (mfa_secret_init() < 0)
		r = -EIO;
	else if (pam_get_item(ctx->pamh, PAM_USER, (const void **)&pam_user) != PAM_SUCCESS ||
		 !pam_user || strcmp(pam_user, p->pam_user) != 0)
		r = -EPERM; /* the application switched users after authenticating */
	else
		r = store(p, &codes);
	if (r == 0) {
		log_enroll(ctx, p->user, LOG_NOTICE, "ok", p->after_reset ? "reset" : "first", 0,
			   p->recovery_codes);
		totp_show_codes(ctx, (const char(*)[MFA_RECOVERY_CODE_LEN + 1])codes,
				p->recovery_codes);
	} else if (r == -ESTALE) {
		totp_error(ctx, "The token was changed meanwhile: nothing was saved.");
		log_enroll(ctx, p->user, LOG_NOTICE, "refused", "state-changed", 0, -1);
	} else {
		totp_error(ctx, "The new token could not be saved; contact an administrator.");
		log_enroll(ctx, p->user, LOG_ERR, "error",
			   r == -EPERM ? "user-changed" : "save-failed", r, -1);
	}
	/* written once, or never: a second call finds nothing pending */
	ctx->user = NULL;
	totp_pending_drop(ctx->pamh);
	return r;
}
