/* Verification of an enrolled user: ask, then under the user's lock reload, check the code
 * (window, strictly increasing step), count failures and lock out, or consume a recovery
 * code. The lock is never held while the user types. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <sodium.h>

#include "pam_totp.h"
#include "secret.h"
#include "totp.h"

/* A code a few steps off that the window refuses is still looked for this far, only to log
 * the clock drift (never to accept it): an administrator can then tell a wrong clock from a
 * wrong code. */
#define DRIFT_WINDOW 10

struct outcome {
	const char *result; /* "ok", "fail", "refused" */
	const char *reason;
	bool full_store;   /* a recovery code was consumed: rewrite the state file */
	unsigned failures; /* the count this failure reached (a lockout then restarts it) */
	int64_t drift;	   /* steps from now to the step the code matched; 0 none */
	int64_t wait;	   /* replay: seconds until the app shows a code that can pass */
};

static void log_outcome(struct totp_ctx *ctx, const struct outcome *o, const struct mfa_state *st)
{
	bool ok = strcmp(o->result, "ok") == 0;
	struct mfa_event ev = totp_event("verify", ctx->user, o->result, o->reason);

	if (!ok)
		ev.failures = o->failures;
	ev.drift = o->drift;
	if (o->full_store)
		ev.count = st->n_recovery;
	totp_log(ctx, LOG_NOTICE, &ev);
	if (st->locked_until > 0 && !ok) {
		ev = totp_event("lockout", ctx->user, "refused", NULL);
		ev.until = st->locked_until;
		totp_log(ctx, LOG_NOTICE, &ev);
	}
}

/* Removes recovery hash i, keeping the others in order. */
static void drop_recovery(struct mfa_state *st, unsigned i)
{
	for (; i + 1 < st->n_recovery; i++)
		memcpy(st->recovery[i], st->recovery[i + 1], MFA_RECOVERY_HASH_LEN);
	sodium_memzero(st->recovery[st->n_recovery - 1], MFA_RECOVERY_HASH_LEN);
	st->n_recovery--;
}

static void check_recovery(struct mfa_state *st, const char *answer, struct outcome *o)
{
	int r = mfa_recovery_match(answer, (const char(*)[MFA_RECOVERY_HASH_LEN])st->recovery,
				   st->n_recovery);

	if (r >= 0) {
		drop_recovery(st, (unsigned)r);
		*o = (struct outcome){
			.result = "ok", .reason = "recovery-code", .full_store = true};
	} else {
		*o = (struct outcome){.result = "fail", .reason = "wrong-recovery-code"};
	}
}

static void check_code(struct totp_ctx *ctx, struct mfa_state *st, const char *answer, time_t now,
		       struct outcome *o)
{
	struct mfa_totp_params p = {st->algorithm, st->digits, st->period, ctx->cfg.totp.window};
	int64_t now_step = mfa_totp_step(&p, now), step = -1;
	int r;

	r = mfa_totp_verify(st->secret, &p, now, answer, &step);
	if (r == 0 && step > st->last_step) {
		*o = (struct outcome){.result = "ok", .reason = "code"};
		st->last_step = step;
	} else if (r == 0) {
		*o = (struct outcome){.result = "fail", .reason = "replay"};
		/* also the code that just confirmed an enrollment: the app still shows it */
		o->wait = (st->last_step + 1) * (int64_t)st->period - (int64_t)now;
	} else if (r == -EINVAL) {
		*o = (struct outcome){.result = "fail", .reason = "malformed"};
		return;
	} else {
		*o = (struct outcome){.result = "fail", .reason = "wrong-code"};
		p.window = DRIFT_WINDOW > p.window ? DRIFT_WINDOW : p.window;
		if (mfa_totp_verify(st->secret, &p, now, answer, &step) < 0)
			return;
	}
	o->drift = step - now_step;
}

/* Checks the answer against st (loaded under the lock) at now and updates st. */
static void check_answer(struct totp_ctx *ctx, struct mfa_state *st, const char *answer, time_t now,
			 struct outcome *o)
{
	if (strlen(answer) > TOTP_ANSWER_MAX)
		*o = (struct outcome){.result = "fail", .reason = "malformed"};
	else if (mfa_recovery_looks_like(answer) == 1)
		check_recovery(st, answer, o);
	else
		check_code(ctx, st, answer, now, o);
	if (strcmp(o->result, "ok") == 0) {
		st->failures = 0;
		st->locked_until = 0;
		return;
	}
	o->failures = ++st->failures;
	if (ctx->cfg.lockout.max_failures > 0 && st->failures >= ctx->cfg.lockout.max_failures) {
		st->locked_until = (int64_t)now + ctx->cfg.lockout.lock_seconds;
		st->failures = 0;
	}
}

/* What the person reads after a refused answer: what happened, in words, and nothing an
 * attacker could use (the prompt already told that this account asks for a code). */
static void tell_failure(struct totp_ctx *ctx, const struct outcome *o, const struct mfa_state *st)
{
	char msg[160];

	if (strcmp(o->reason, "replay") == 0) {
		snprintf(msg, sizeof(msg), "That code was already used; wait for the next one");
		if (o->wait > 0)
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
				 " (about %lld seconds).", (long long)o->wait);
		else
			strcat(msg, ".");
	} else if (strcmp(o->reason, "malformed") == 0) {
		snprintf(msg, sizeof(msg), "That is not a code: type the %u digits the app shows.",
			 st->digits);
	} else if (strcmp(o->reason, "wrong-recovery-code") == 0) {
		snprintf(msg, sizeof(msg), "Wrong recovery code.");
	} else {
		snprintf(msg, sizeof(msg), "Wrong code.");
	}
	totp_error(ctx, msg);
}

/* Under the lock: refresh the decision read, re-check the decision, check, store. */
static int verify_locked(struct totp_ctx *ctx, struct mfa_state *st, const char *answer,
			 struct outcome *o)
{
	_cleanup_close_ int lock_fd = -1;
	struct mfa_err err = {0};
	time_t now = time(NULL);
	int r;

	r = mfa_state_lock(ctx->dir_fd, ctx->user, MFA_STATE_LOCK_TIMEOUT_MS, &lock_fd);
	if (r < 0)
		return r;
	r = mfa_state_refresh(ctx->dir_fd, lock_fd, ctx->user, st, &err);
	if (r < 0)
		return r;
	if (st->status != MFA_STATUS_ENROLLED) {
		*o = (struct outcome){.result = "refused", .reason = "state-changed"};
		log_outcome(ctx, o, st);
		return -ESTALE;
	}
	if (st->locked_until > now) {
		*o = (struct outcome){.result = "refused", .reason = "locked-out"};
		log_outcome(ctx, o, st);
		return -EACCES;
	}
	check_answer(ctx, st, answer, now, o);
	if (o->full_store)
		r = mfa_state_store(ctx->dir_fd, lock_fd, ctx->user, st, 0);
	else
		r = mfa_state_store_counters(lock_fd, st);
	if (r < 0) {
		*o = (struct outcome){0}; /* a success that cannot be stored is no success */
		return r;
	}
	log_outcome(ctx, o, st);
	if (o->full_store) {
		char msg[96];

		/* acknowledged at a prompt: sshd shows text after the last prompt twice */
		snprintf(msg, sizeof(msg), "Recovery code accepted; %u left.", st->n_recovery);
		totp_acknowledge(ctx, msg);
	}
	if (strcmp(o->result, "ok") != 0)
		tell_failure(ctx, o, st);
	if (st->locked_until > now) {
		char when[64], msg[160];

		totp_format_time(st->locked_until, when, sizeof(when));
		snprintf(msg, sizeof(msg), "Too many wrong codes: locked until %s.", when);
		totp_error(ctx, msg);
	}
	return strcmp(o->result, "ok") == 0 ? 0 : -EACCES;
}

int totp_verify(struct totp_ctx *ctx, struct mfa_state *st)
{
	_cleanup_(totp_answer_freep) char *answer = NULL;
	struct outcome o = {0};
	struct mfa_event ev;
	int r;

	r = totp_ask_code(ctx, NULL, &answer);
	if (r < 0) {
		ev = totp_event("verify", ctx->user, "error", "conversation");
		ev.error = r;
		totp_log(ctx, LOG_ERR, &ev);
		return PAM_CONV_ERR;
	}
	r = verify_locked(ctx, st, answer, &o);
	if (r == 0)
		return PAM_SUCCESS;
	if (!o.result) { /* lock, load or store failed: nothing was logged yet */
		ev = totp_event("verify", ctx->user, "error", "state");
		ev.error = r;
		totp_log(ctx, LOG_ERR, &ev);
	}
	return r == -EACCES || r == -ESTALE ? PAM_AUTH_ERR : totp_pam_code(r);
}
