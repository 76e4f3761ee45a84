/* The MFA policy, written once over the store interface (store.h) and used with either
 * backend: the decision order of SPEC §4, the verification of an answer (window, strictly
 * increasing step, failures counted, lockout, recovery codes used once), saving a confirmed
 * enrollment only on the state the decision saw, reset and unlock.
 *
 * No PAM codes and no logging: each function returns 0 or a negative errno and, where the
 * caller has something to tell the person or the log, an outcome. A write refused because
 * another login or host moved first (-ESTALE from the store) is re-read and decided again,
 * at most MFA_POLICY_RETRIES times; then -ESTALE reaches the caller (fail closed). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "totp.h"

#define MFA_POLICY_RETRIES 5
/* Longer answers are refused without being looked at. */
#define MFA_POLICY_ANSWER_MAX 64
/* A code the window refuses is still looked for this far, only to report the clock drift
 * (never to accept it): an administrator can then tell a wrong clock from a wrong code. */
#define MFA_POLICY_DRIFT_WINDOW 10

struct mfa_policy {
	struct mfa_storage *store;
	unsigned window;       /* totp.window: steps accepted each side of now */
	unsigned max_failures; /* lockout.max_failures; 0 never locks */
	unsigned lock_seconds;
	int64_t reset_expires; /* enrollment.reset_expires; 0 never */
};

/* The policy of cfg over store s (not owned). */
void mfa_policy_init(struct mfa_policy *p, const struct mfa_config *cfg, struct mfa_storage *s);

enum mfa_decision {
	MFA_DECIDE_IGNORE,        /* not enforced and no token: not MFA's business */
	MFA_DECIDE_LOCKED,        /* refuse until mfa_policy_locked_until() */
	MFA_DECIDE_ENROLL,        /* no token and enforced, or a pending reset */
	MFA_DECIDE_RESET_EXPIRED, /* a pending reset older than reset_expires: refuse */
	MFA_DECIDE_NO_ENTRY,      /* enforced, but the store has no place for a token: refuse */
	MFA_DECIDE_VERIFY,        /* enrolled: ask for a code */
};

/* The decision on t (a load() of the user, status NONE when none) at now. enforced: 1 yes,
 * 0 no, < 0 not looked up (an enrolled user is verified whatever the policy says; only a
 * known "no" ignores a user without a token). Order: not enforced and no token -> ignore;
 * locked -> refuse; enrolled -> verify; reset (unless expired) or none -> enroll, unless the
 * store could not save it (no_entry). */
enum mfa_decision mfa_policy_decide(const struct mfa_policy *p, const struct mfa_token *t,
				    int enforced, int64_t now);

/* Until when t is locked out (0 or a past time: not locked). The lockout written, or one
 * that a count at a lockout says is due but that was never written: the directory counts a
 * failure and writes its lockout in two writes, so a view may fall between them (the host
 * that counted is still writing, or died there). Such a lockout runs from that failure, as
 * the counting host writes it; without this, every login racing that gap, and every one
 * after a host died in it, would get its guess judged past max_failures. */
int64_t mfa_policy_locked_until(const struct mfa_policy *p, const struct mfa_token *t);

enum mfa_verify_result {
	MFA_VERIFY_OK_CODE,
	MFA_VERIFY_OK_RECOVERY,
	MFA_VERIFY_WRONG,     /* no step in the window matches (or no recovery code does) */
	MFA_VERIFY_REPLAY,    /* a good code of a step already used (here or on another host) */
	MFA_VERIFY_MALFORMED, /* not a code: too long, or not `digits` decimal digits */
	MFA_VERIFY_LOCKED,    /* locked out (before this answer was looked at) */
	MFA_VERIFY_CHANGED,   /* the token is no longer enrolled (reset meanwhile) */
};

struct mfa_verify_outcome {
	enum mfa_verify_result result;
	bool recovery;          /* the answer was taken for a recovery code */
	bool has_drift;         /* the code matched a step (in the window or near it) */
	int64_t drift;          /* that step minus now's step */
	unsigned failures;      /* a refused answer: the count it made (WRONG/REPLAY/MALFORMED) */
	int64_t locked_until;   /* LOCKED, or the lockout this failure started; else 0 */
	int64_t wait;           /* REPLAY: seconds until the app shows a code that can pass */
	unsigned recovery_left; /* OK_RECOVERY: codes left */
};

/* Checks answer for user at now against t (the decision's read; it is re-read after a
 * refused write, so afterwards t is the latest view) and stores the result: the step of a
 * good code becomes the watermark, a recovery code is used up, a refused answer counts one
 * failure, and every max_failures-th failure locks until now + lock_seconds. 0 and *ret
 * (the answer's fate); < 0 the store failed (*ret untouched: a success that cannot be
 * stored is no success), -ENOKEY the token's secret cannot be read. */
int mfa_policy_verify(const struct mfa_policy *p, const char *user, struct mfa_token *t,
		      const char *answer, int64_t now, struct mfa_verify_outcome *ret);

/* Checks the code that confirms a new secret (not yet stored, so no replay or failures):
 * 0 and *ret_step, -EACCES wrong, -EINVAL malformed. */
int mfa_policy_confirm(const struct mfa_policy *p, const struct mfa_secret *secret,
		       const struct mfa_totp_params *params, const char *answer, int64_t now,
		       int64_t *ret_step);

/* What an enrollment decision saw, kept (e.g. in the PAM handle) until the enrollment is
 * saved: none, or a reset of that generation. */
struct mfa_token_seen {
	enum mfa_token_status status;
	uint64_t generation;
};

static inline struct mfa_token_seen mfa_token_seen_of(const struct mfa_token *t)
{
	return (struct mfa_token_seen){ t->status, t->generation };
}

/* Saves e as user's token only if the stored token is still what seen describes (no token,
 * or the same reset): of two racing enrollments exactly one is saved. 0; -ESTALE it is not
 * (a reset or another enrollment came first: nothing saved, nothing overwritten); -EEXIST
 * seen is an enrolled token; -ENOENT (ldap) no such person. */
int mfa_policy_claim(const struct mfa_policy *p, const char *user,
		     const struct mfa_token_seen *seen, const struct mfa_store_enroll *e);

/* Removes user's secret and recovery codes: the next login on any host enrolls anew. `by`
 * is the administrator (kept for display), flags MFA_STORE_NOSYNC (then mfa_store sync()).
 * -ENOENT (ldap) nothing to reset. */
int mfa_policy_reset(const struct mfa_policy *p, const char *user, const char *by, int64_t now,
		     unsigned flags);

/* Clears failures and lockout. -ENOENT user has no token. */
int mfa_policy_unlock(const struct mfa_policy *p, const char *user);
