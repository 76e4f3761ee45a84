/* Verification of an enrolled user: ask, then let the policy check the answer and store its
 * fate (mfa_policy_verify: window, strictly increasing step, failures, lockout, recovery
 * codes used once); here only what the person reads and what the log says. Nothing is locked
 * while the user types. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "pam_totp.h"
#include "policy.h"

static const char *reason_of(const struct mfa_verify_outcome *o)
{
	switch (o->result) {
	case MFA_VERIFY_OK_CODE:
		return "code";
	case MFA_VERIFY_OK_RECOVERY:
		return "recovery-code";
	case MFA_VERIFY_WRONG:
		return o->recovery ? "wrong-recovery-code" : "wrong-code";
	case MFA_VERIFY_REPLAY:
		return "replay";
	case MFA_VERIFY_MALFORMED:
		return "malformed";
	case MFA_VERIFY_LOCKED:
		return "locked-out";
	case MFA_VERIFY_CHANGED:
		return "state-changed";
	}
	return "unknown";
}

static bool ok_of(const struct mfa_verify_outcome *o)
{
	return o->result == MFA_VERIFY_OK_CODE || o->result == MFA_VERIFY_OK_RECOVERY;
}

/* LOCKED and CHANGED are refused before the answer was looked at: nothing was counted. */
static bool refused_unseen(const struct mfa_verify_outcome *o)
{
	return o->result == MFA_VERIFY_LOCKED || o->result == MFA_VERIFY_CHANGED;
}

static void log_outcome(struct totp_ctx *ctx, const struct mfa_verify_outcome *o)
{
	bool ok = ok_of(o), unseen = refused_unseen(o);
	struct mfa_event ev = totp_event("verify", ctx->user,
					 ok ? "ok" : unseen ? "refused" : "fail", reason_of(o));

	if (!ok && !unseen)
		ev.failures = o->failures;
	if (o->has_drift)
		ev.drift = o->drift;
	if (o->result == MFA_VERIFY_OK_RECOVERY)
		ev.count = o->recovery_left;
	totp_log(ctx, LOG_NOTICE, &ev);
	if (o->locked_until > 0) {
		ev = totp_event("lockout", ctx->user, "refused", NULL);
		ev.until = o->locked_until;
		totp_log(ctx, LOG_NOTICE, &ev);
	}
}

/* What the person reads after a refused answer: what happened, in words, and nothing an
 * attacker could use (the prompt already told that this account asks for a code). */
static void tell_failure(struct totp_ctx *ctx, const struct mfa_verify_outcome *o,
			 const struct mfa_token *t)
{
	char msg[160];

	if (o->result == MFA_VERIFY_REPLAY) {
		snprintf(msg, sizeof(msg), "That code was already used; wait for the next one");
		if (o->wait > 0)
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
				 " (about %lld seconds).", (long long)o->wait);
		else
			strcat(msg, ".");
	} else if (o->result == MFA_VERIFY_MALFORMED) {
		snprintf(msg, sizeof(msg), "That is not a code: type the %u digits the app shows.",
			 t->digits);
	} else if (o->result == MFA_VERIFY_WRONG && o->recovery) {
		snprintf(msg, sizeof(msg), "Wrong recovery code.");
	} else {
		snprintf(msg, sizeof(msg), "Wrong code.");
	}
	totp_error(ctx, msg);
}

static void tell_locked(struct totp_ctx *ctx, int64_t until)
{
	char when[64], msg[160];

	totp_format_time(until, when, sizeof(when));
	snprintf(msg, sizeof(msg), "Too many wrong codes: locked until %s.", when);
	totp_error(ctx, msg);
}

/* Tells and logs the stored outcome o; 0 accepted, -EACCES refused. */
static int report(struct totp_ctx *ctx, const struct mfa_verify_outcome *o,
		  const struct mfa_token *t)
{
	log_outcome(ctx, o);
	if (o->result == MFA_VERIFY_OK_RECOVERY) {
		char msg[96];

		/* acknowledged at a prompt: sshd shows text after the last prompt twice */
		snprintf(msg, sizeof(msg), "Recovery code accepted; %u left.", o->recovery_left);
		totp_acknowledge(ctx, msg);
	}
	if (ok_of(o))
		return 0;
	if (o->result == MFA_VERIFY_LOCKED) {
		tell_locked(ctx, o->locked_until);
		return -EACCES;
	}
	if (o->result != MFA_VERIFY_CHANGED)
		tell_failure(ctx, o, t);
	if (o->locked_until > 0)
		tell_locked(ctx, o->locked_until);
	return -EACCES;
}

int totp_verify(struct totp_ctx *ctx, struct mfa_token *t)
{
	_cleanup_(totp_answer_freep) char *answer = NULL;
	struct mfa_verify_outcome o = {0};
	struct mfa_event ev;
	int r;

	r = totp_ask_code(ctx, NULL, &answer);
	if (r < 0) {
		ev = totp_event("verify", ctx->user, "error", "conversation");
		ev.error = r;
		totp_log(ctx, LOG_ERR, &ev);
		return PAM_CONV_ERR;
	}
	/* the person may have taken long to answer: the directory's deadline starts now */
	mfa_store_rearm(ctx->store);
	r = mfa_policy_verify(&ctx->pol, ctx->user, t, answer, time(NULL), &o);
	if (r < 0) /* a success that cannot be stored is no success */
		return totp_store_failed(ctx, "verify", mfa_store_error(ctx->store), r);
	return report(ctx, &o, t) == 0 ? PAM_SUCCESS : PAM_AUTH_ERR;
}
