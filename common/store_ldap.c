/* The ldap backend: the directory primitives of ldap_store.h behind the store interface.
 * Each write is the one asserted modify of its primitive (etc/ldap/README.md); the view
 * keeps the token entry as read (DN, generation), which every assertion names. Nothing
 * here decides. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldap_store.h"
#include "store.h"

struct ldap_store {
	struct mfa_storage base;
	struct mfa_ldap *conn;
};

static struct mfa_ldap *conn_of(const struct mfa_storage *s)
{
	return ((const struct ldap_store *)s)->conn;
}

static void tok_free(void *p)
{
	mfa_ldap_token_free(p);
	free(p);
}

static void tok_freep(struct mfa_ldap_token **p)
{
	if (*p)
		tok_free(*p);
}

/* The entry t was read from; NULL for a person the directory does not know. */
static const struct mfa_ldap_token *tok_of(const struct mfa_token *t)
{
	return t->free_priv == tok_free ? t->priv : NULL;
}

static int view_of(const struct mfa_ldap_token *k, struct mfa_token *t)
{
	static const enum mfa_token_status st[] = {
		[MFA_LDAP_NEVER] = MFA_TOKEN_NONE,
		[MFA_LDAP_ENROLLED] = MFA_TOKEN_ENROLLED,
		[MFA_LDAP_RESET] = MFA_TOKEN_RESET,
	};

	if (k->n_recovery > MFA_RECOVERY_MAX || k->generation < 0)
		return -EBADMSG;
	*t = (struct mfa_token){
		.status = st[k->status],
		.algorithm = k->algorithm,
		.digits = k->digits,
		.period = k->period,
		.last_step = k->last_step,
		.failures = k->failures,
		.locked_until = k->locked_until,
		.last_failure = k->last_failure,
		.enrolled_at = k->enrolled_at,
		.reset_at = k->reset_at,
		.generation = k->exists ? (uint64_t)k->generation : 0,
		.n_recovery = k->n_recovery,
	};
	if (k->reset_by)
		snprintf(t->reset_by, sizeof(t->reset_by), "%s", k->reset_by);
	for (unsigned i = 0; i < k->n_recovery; i++)
		memcpy(t->recovery[i], k->recovery[i], MFA_RECOVERY_HASH_LEN);
	return 0;
}

/* A person the directory does not know has no token: the view is NONE (no_entry), so
 * not-enforced users are ignored as with the files store, enforced ones are refused before
 * an enrollment that could not be saved, and a claim for them fails (-ENOENT). */
static int ldap_load(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		     struct mfa_err *reterr)
{
	_cleanup_(tok_freep) struct mfa_ldap_token *k = calloc(1, sizeof(*k));
	struct mfa_token t;
	int r;

	if (!k)
		return -ENOMEM;
	r = mfa_ldap_load(conn_of(s), user, k);
	if (r == -ENOENT) {
		*ret = (struct mfa_token){ .status = MFA_TOKEN_NONE, .last_step = -1,
					   .no_entry = true };
		return 0;
	}
	if (r < 0 || (r = view_of(k, &t)) < 0) {
		if (reterr)
			snprintf(reterr->msg, sizeof(reterr->msg), "%s",
				 mfa_ldap_error(conn_of(s)));
		return r;
	}
	t.secret = TAKE_PTR(k->secret);
	t.free_secret = mfa_secret_free; /* this plugin's libsodium (see struct mfa_token) */
	t.free_priv = tok_free;
	t.priv = TAKE_PTR(k);
	*ret = t;
	return 0;
}

/* The reset identity never gets the secret; a host's is dropped here at once. */
static int ldap_status(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		       struct mfa_err *reterr)
{
	int r = ldap_load(s, user, ret, reterr);

	if (r == 0)
		mfa_secret_freep(&ret->secret);
	return r;
}

static int ldap_accept(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		       int64_t step, int64_t now)
{
	(void)user;
	return tok_of(t) ? mfa_ldap_accept(conn_of(s), tok_of(t), step, now) : -ESTALE;
}

/* The lockout, if any, is the policy's second write (ops->lockout): f->locked stays false. */
static int ldap_fail(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		     int64_t now, struct mfa_store_fail *f)
{
	(void)user;
	f->locked = false;
	return tok_of(t) ? mfa_ldap_fail(conn_of(s), tok_of(t), now, &f->failures) : -ESTALE;
}

static int ldap_lockout(struct mfa_storage *s, const char *user, const struct mfa_token *t,
			int64_t until)
{
	(void)user;
	return tok_of(t) ? mfa_ldap_lockout(conn_of(s), tok_of(t), until) : -ESTALE;
}

/* One modify: the hash (once, fleet-wide) and the counters (a good answer restarts them),
 * asserting the failure count judged on (mfa_ldap_use_recovery). */
static int ldap_use_recovery(struct mfa_storage *s, const char *user, const struct mfa_token *t,
			     unsigned i)
{
	(void)user;
	return tok_of(t) ? mfa_ldap_use_recovery(conn_of(s), tok_of(t), i) : -ESTALE;
}

static int ldap_claim(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		      const struct mfa_store_enroll *e)
{
	const struct mfa_ldap_token *k = tok_of(t);
	struct mfa_ldap_enroll le = {
		.secret = e->secret, .algorithm = e->algorithm, .digits = e->digits,
		.period = e->period, .window = e->window, .step = e->step, .now = e->now,
		.recovery = e->recovery, .n_recovery = e->n_recovery,
	};
	int r;

	(void)user;
	if (!k)
		return -ENOENT;
	r = mfa_ldap_claim(conn_of(s), k, &le);
	return r == -EEXIST ? -ESTALE : r; /* already enrolled: not the token the caller saw */
}

static int ldap_reset(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		      const char *by, int64_t now, unsigned flags)
{
	(void)user;
	(void)flags; /* the directory makes each modify durable before it answers */
	return tok_of(t) ? mfa_ldap_reset(conn_of(s), tok_of(t), by, now) : -ENOENT;
}

static int ldap_unlock(struct mfa_storage *s, const char *user, const struct mfa_token *t)
{
	(void)user;
	return tok_of(t) ? mfa_ldap_unlock(conn_of(s), tok_of(t)) : -ENOENT;
}

struct list_ctx {
	int (*cb)(const char *user, int r, const struct mfa_token *t, void *userdata);
	void *userdata;
};

static int list_one(const struct mfa_ldap_token *k, void *userdata)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct list_ctx *l = userdata;
	int r;

	if (!k->name)
		return 0; /* not a token pam_totp can name a user by */
	r = view_of(k, &t);
	return l->cb(k->name, r, r < 0 ? NULL : &t, l->userdata);
}

static int ldap_list(struct mfa_storage *s,
		     int (*cb)(const char *user, int r, const struct mfa_token *t, void *userdata),
		     void *userdata)
{
	struct list_ctx l = { .cb = cb, .userdata = userdata };

	return mfa_ldap_list(conn_of(s), list_one, &l);
}

static int ldap_sync(struct mfa_storage *s)
{
	(void)s;
	return 0;
}

static void ldap_close(struct mfa_storage *s)
{
	mfa_ldap_close(conn_of(s));
	free(s);
}

static const char *ldap_error(const struct mfa_storage *s)
{
	return mfa_ldap_error(conn_of(s));
}

static void ldap_rearm(struct mfa_storage *s)
{
	mfa_ldap_rearm(conn_of(s));
}

static const struct mfa_store_ops ldap_ops = {
	.load = ldap_load,
	.status = ldap_status,
	.accept = ldap_accept,
	.fail = ldap_fail,
	.lockout = ldap_lockout,
	.use_recovery = ldap_use_recovery,
	.claim = ldap_claim,
	.reset = ldap_reset,
	.unlock = ldap_unlock,
	.list = ldap_list,
	.sync = ldap_sync,
	.close = ldap_close,
	.error = ldap_error,
	.rearm = ldap_rearm,
	.reset_blind = false,
};

__attribute__((visibility("default"))) int
mfa_store_ldap_plugin_open(const struct mfa_config *cfg, enum mfa_store_role role,
			   struct mfa_storage **ret, struct mfa_err *reterr)
{
	struct ldap_store *ls = calloc(1, sizeof(*ls));
	int r;

	if (!ls)
		return -ENOMEM;
	/* The plugin's own libsodium (the host's may be linked into pam_totp.so): initialised
	 * before its first sodium_malloc(); idempotent. */
	if ((r = mfa_secret_init()) < 0) {
		free(ls);
		return r;
	}
	r = mfa_ldap_connect(cfg, role == MFA_STORE_ROLE_RESET ? MFA_LDAP_ROLE_RESET
							: MFA_LDAP_ROLE_HOST,
			     &ls->conn, reterr);
	if (r < 0) {
		free(ls);
		return r;
	}
	ls->base.ops = &ldap_ops;
	*ret = &ls->base;
	return 0;
}
