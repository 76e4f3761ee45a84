/* The policy over the store interface (see policy.h). Every decision is made on a view
 * that may be stale, and every write it leads to is a compare-and-swap against that view:
 * when the store refuses (-ESTALE), the view is re-read and the answer judged again, so a
 * code accepted elsewhere meanwhile turns into a replay and a reset into "changed". */
#include <errno.h>
#include <string.h>

#include "policy.h"
#include "secret.h"

void mfa_policy_init(struct mfa_policy *p, const struct mfa_config *cfg, struct mfa_storage *s)
{
	*p = (struct mfa_policy){
		.store = s,
		.window = cfg->totp.window,
		.max_failures = cfg->lockout.max_failures,
		.lock_seconds = cfg->lockout.lock_seconds,
		.reset_expires = cfg->enrollment.reset_expires,
	};
}

int64_t mfa_policy_locked_until(const struct mfa_policy *p, const struct mfa_token *t)
{
	bool at_lockout = p->max_failures > 0 && t->failures > 0 &&
			  t->failures % p->max_failures == 0;

	/* a lockout written for that failure ends after it (until = failure + lock_seconds) */
	if (!at_lockout || t->last_failure <= 0 || t->locked_until >= t->last_failure)
		return t->locked_until;
	return t->last_failure + (int64_t)p->lock_seconds;
}

enum mfa_decision mfa_policy_decide(const struct mfa_policy *p, const struct mfa_token *t,
				    int enforced, int64_t now)
{
	if (t->status == MFA_TOKEN_NONE && enforced == 0)
		return MFA_DECIDE_IGNORE;
	if (mfa_token_locked_at(mfa_policy_locked_until(p, t), now))
		return MFA_DECIDE_LOCKED;
	if (t->status == MFA_TOKEN_ENROLLED)
		return MFA_DECIDE_VERIFY;
	if (t->status == MFA_TOKEN_RESET && p->reset_expires > 0 &&
	    now - t->reset_at > p->reset_expires)
		return MFA_DECIDE_RESET_EXPIRED;
	return t->no_entry ? MFA_DECIDE_NO_ENTRY : MFA_DECIDE_ENROLL;
}

/* What the answer is worth on view t, before anything is written. */
struct verdict {
	enum mfa_verify_result result;
	bool recovery, has_drift;
	int64_t step, drift;
	unsigned hash; /* OK_RECOVERY: which */
};

static void judge_code(const struct mfa_policy *p, const struct mfa_token *t, const char *answer,
		       int64_t now, struct verdict *v)
{
	struct mfa_totp_params params = { t->algorithm, t->digits, t->period, p->window };
	int64_t now_step = mfa_totp_step(&params, (time_t)now);
	int r;

	r = mfa_totp_verify(t->secret, &params, (time_t)now, answer, &v->step);
	if (r == -EINVAL) {
		v->result = MFA_VERIFY_MALFORMED;
		return;
	}
	if (r < 0) {
		v->result = MFA_VERIFY_WRONG;
		if (params.window < MFA_POLICY_DRIFT_WINDOW)
			params.window = MFA_POLICY_DRIFT_WINDOW;
		if (mfa_totp_verify(t->secret, &params, (time_t)now, answer, &v->step) < 0)
			return;
	} else {
		/* strictly above the watermark: also refuses the code that just confirmed an
		 * enrollment, which the app still shows */
		v->result = v->step > t->last_step ? MFA_VERIFY_OK_CODE : MFA_VERIFY_REPLAY;
	}
	v->has_drift = true;
	v->drift = v->step - now_step;
}

static int judge(const struct mfa_policy *p, const struct mfa_token *t, const char *answer,
		 int64_t now, struct verdict *v)
{
	int k;

	*v = (struct verdict){ .result = MFA_VERIFY_WRONG };
	if (!t->secret)
		return -ENOKEY;
	if (strnlen(answer, MFA_POLICY_ANSWER_MAX + 1) > MFA_POLICY_ANSWER_MAX) {
		v->result = MFA_VERIFY_MALFORMED;
		return 0;
	}
	if (mfa_recovery_looks_like(answer) != 1) {
		judge_code(p, t, answer, now, v);
		return 0;
	}
	v->recovery = true;
	k = mfa_recovery_match(answer, (const char(*)[MFA_RECOVERY_HASH_LEN])t->recovery,
			       t->n_recovery);
	if (k >= 0) {
		v->result = MFA_VERIFY_OK_RECOVERY;
		v->hash = (unsigned)k;
	}
	return 0;
}

/* One refused answer: counted exactly, and the failure that reaches a multiple of
 * max_failures locks. The count goes on through a lockout (the directory counts failures
 * from many hosts with one increment each and cannot restart it without losing some), so
 * every max_failures-th failure locks again, as restarting the count at a lockout did. */
static int count_failure(const struct mfa_policy *p, const char *user, const struct mfa_token *t,
			 int64_t now, struct mfa_verify_outcome *o)
{
	const struct mfa_store_ops *ops = p->store->ops;
	int64_t until = now + (int64_t)p->lock_seconds;
	struct mfa_store_fail f = { .every = p->max_failures, .until = until };
	int r;

	if ((r = ops->fail(p->store, user, t, now, &f)) < 0)
		return r;
	o->failures = f.failures;
	if (f.locked) { /* written with the count (files) */
		o->locked_until = until;
		return 0;
	}
	if (f.with_count) /* files: a count this one passed was locked when it was reached */
		return 0;
	/* the directory: locks whoever's increment reached or passed a lockout from the count
	 * its view saw, so a host dying between its two writes leaves the lockout to the next */
	if (p->max_failures == 0 || f.failures / p->max_failures <= t->failures / p->max_failures)
		return 0;
	/* the directory: a second write, after the count came back */
	r = ops->lockout(p->store, user, t, until);
	if (r == -ESTALE)
		return 0; /* reset or re-enrolled since: the new token starts unlocked */
	if (r == 0)
		o->locked_until = until;
	return r;
}

/* One try on view t; -ESTALE: the store moved since t was read. */
static int attempt(const struct mfa_policy *p, const char *user, const struct mfa_token *t,
		   const char *answer, int64_t now, struct mfa_verify_outcome *o)
{
	const struct mfa_store_ops *ops = p->store->ops;
	struct verdict v;
	int r;

	*o = (struct mfa_verify_outcome){ .result = MFA_VERIFY_CHANGED };
	if (t->status != MFA_TOKEN_ENROLLED)
		return 0;
	if (mfa_token_locked_at(mfa_policy_locked_until(p, t), now)) {
		*o = (struct mfa_verify_outcome){ .result = MFA_VERIFY_LOCKED,
						  .locked_until = mfa_policy_locked_until(p, t) };
		return 0;
	}
	if ((r = judge(p, t, answer, now, &v)) < 0)
		return r;
	*o = (struct mfa_verify_outcome){ .result = v.result, .recovery = v.recovery,
					  .has_drift = v.has_drift, .drift = v.drift };
	switch (v.result) {
	case MFA_VERIFY_OK_CODE:
		return ops->accept(p->store, user, t, v.step, now);
	case MFA_VERIFY_OK_RECOVERY:
		o->recovery_left = t->n_recovery - 1;
		return ops->use_recovery(p->store, user, t, v.hash);
	case MFA_VERIFY_REPLAY:
		o->wait = (t->last_step + 1) * (int64_t)t->period - now;
		break;
	default:
		break;
	}
	return count_failure(p, user, t, now, o);
}

static int reload(const struct mfa_policy *p, const char *user, struct mfa_token *t)
{
	mfa_token_clear(t);
	return p->store->ops->load(p->store, user, t, NULL);
}

int mfa_policy_verify(const struct mfa_policy *p, const char *user, struct mfa_token *t,
		      const char *answer, int64_t now, struct mfa_verify_outcome *ret)
{
	struct mfa_verify_outcome o;
	int r;

	for (unsigned i = 0; i < MFA_POLICY_RETRIES; i++) {
		if (i > 0 && (r = reload(p, user, t)) < 0)
			return r;
		r = attempt(p, user, t, answer, now, &o);
		if (r == -ESTALE)
			continue;
		if (r == 0)
			*ret = o;
		return r;
	}
	return -ESTALE;
}

int mfa_policy_confirm(const struct mfa_policy *p, const struct mfa_secret *secret,
		       const struct mfa_totp_params *params, const char *answer, int64_t now,
		       int64_t *ret_step)
{
	struct mfa_totp_params q = *params;
	int r;

	q.window = p->window;
	if (strnlen(answer, MFA_POLICY_ANSWER_MAX + 1) > MFA_POLICY_ANSWER_MAX)
		return -EINVAL;
	r = mfa_totp_verify(secret, &q, (time_t)now, answer, ret_step);
	return r == -EINVAL ? -EINVAL : r < 0 ? -EACCES : 0;
}

int mfa_policy_claim(const struct mfa_policy *p, const char *user,
		     const struct mfa_token_seen *seen, const struct mfa_store_enroll *e)
{
	_cleanup_(mfa_token_clearp) struct mfa_token cur = { 0 };
	int r;

	if (seen->status == MFA_TOKEN_ENROLLED)
		return -EEXIST;
	if ((r = p->store->ops->load(p->store, user, &cur, NULL)) < 0)
		return r;
	if (cur.status != seen->status || cur.generation != seen->generation)
		return -ESTALE;
	/* the store checks again, atomically: the read above may already be stale */
	return p->store->ops->claim(p->store, user, &cur, e);
}

int mfa_policy_reset(const struct mfa_policy *p, const char *user, const char *by, int64_t now,
		     unsigned flags)
{
	const struct mfa_store_ops *ops = p->store->ops;

	for (unsigned i = 0; i < MFA_POLICY_RETRIES; i++) {
		_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
		int r;

		/* A store that replaces whatever is there (files) needs no read: it resets
		 * unreadable state too, and the reset service never decodes a secret. The others
		 * assert the reset against the status view, which never holds the secret. */
		if (!ops->reset_blind && (r = ops->status(p->store, user, &t, NULL)) < 0)
			return r;
		r = ops->reset(p->store, user, ops->reset_blind ? NULL : &t, by, now, flags);
		if (r != -ESTALE)
			return r;
	}
	return -ESTALE;
}

int mfa_policy_unlock(const struct mfa_policy *p, const char *user)
{
	const struct mfa_store_ops *ops = p->store->ops;

	for (unsigned i = 0; i < MFA_POLICY_RETRIES; i++) {
		_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
		/* the status view: an unlock never needs (or decodes) the secret */
		int r = ops->status(p->store, user, &t, NULL);

		if (r < 0)
			return r;
		if (t.status == MFA_TOKEN_NONE)
			return -ENOENT;
		r = ops->unlock(p->store, user, &t);
		if (r != -ESTALE)
			return r;
	}
	return -ESTALE;
}
