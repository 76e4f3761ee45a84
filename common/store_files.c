/* The files backend: today's per-host state (state.c) behind the store interface. Every
 * compare-and-swap takes the user's OFD lock, brings the state the view was read from up to
 * date (mfa_state_refresh: only the counter record when the file is the same), checks that
 * it is still the token the view describes, and writes under the same lock: counters with
 * one pwrite + fdatasync, anything else as a new state file. Nothing here decides. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "state.h"
#include "store.h"

struct files_store {
	struct mfa_storage base;
	int dir_fd;
};

static int dir_of(struct mfa_storage *s)
{
	return ((struct files_store *)s)->dir_fd;
}

static void state_free(void *p)
{
	mfa_state_clear(p);
	free(p);
}

static void state_freep(struct mfa_state **p)
{
	if (*p)
		state_free(*p);
}

/* The view of st, without its secret (the caller moves it when it has one). */
static void view_of(const struct mfa_state *st, struct mfa_token *t)
{
	*t = (struct mfa_token){
		.status = st->status == MFA_STATUS_ENROLLED ? MFA_TOKEN_ENROLLED : MFA_TOKEN_RESET,
		.algorithm = st->algorithm,
		.digits = st->digits,
		.period = st->period,
		.last_step = st->last_step,
		.failures = st->failures,
		.locked_until = st->locked_until,
		.enrolled_at = st->enrolled_at,
		.reset_at = st->reset_at,
		.generation = st->epoch,
		.n_recovery = st->n_recovery,
	};
	memcpy(t->reset_by, st->reset_by, sizeof(t->reset_by));
	memcpy(t->recovery, st->recovery, sizeof(t->recovery));
}

/* The unlocked read the decision is made on; every write re-checks it under the lock. The
 * state stays with the view (its file identity makes the locked re-read cheap); the secret
 * moves to the view. */
static int files_load(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		      struct mfa_err *reterr)
{
	_cleanup_(state_freep) struct mfa_state *st = calloc(1, sizeof(*st));
	int r;

	if (!st)
		return -ENOMEM;
	r = mfa_state_load(dir_of(s), -1, user, st, reterr);
	if (r == -ENOENT) {
		*ret = (struct mfa_token){ .status = MFA_TOKEN_NONE, .last_step = -1 };
		return 0;
	}
	if (r < 0)
		return r;
	view_of(st, ret);
	ret->secret = TAKE_PTR(st->secret);
	ret->free_priv = state_free;
	ret->priv = TAKE_PTR(st);
	return 0;
}

static int files_status(struct mfa_storage *s, const char *user, struct mfa_token *ret,
			struct mfa_err *reterr)
{
	_cleanup_(mfa_state_clearp) struct mfa_state st = { 0 };
	int r = mfa_state_load_summary(dir_of(s), -1, user, &st, reterr);

	if (r == -ENOENT) {
		*ret = (struct mfa_token){ .status = MFA_TOKEN_NONE, .last_step = -1 };
		return 0;
	}
	if (r < 0)
		return r;
	view_of(&st, ret);
	return 0;
}

/* Locks user and refreshes the state t was read from: 0 and *ret_lock_fd, *ret_st when it is
 * still t's token (same file epoch), -ESTALE when it is not. */
static int lock_seen(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		     int *ret_lock_fd, struct mfa_state **ret_st)
{
	_cleanup_close_ int lock_fd = -1;
	struct mfa_state *st = t->priv;
	int r;

	if (!st || t->free_priv != state_free)
		return -ESTALE; /* a view of no state: nothing to compare with */
	r = mfa_state_lock(dir_of(s), user, MFA_STATE_LOCK_TIMEOUT_MS, &lock_fd);
	if (r < 0)
		return r;
	r = mfa_state_refresh(dir_of(s), lock_fd, user, st, NULL);
	if (r == -ENOENT)
		return -ESTALE;
	if (r < 0)
		return r;
	if (st->epoch != t->generation)
		return -ESTALE;
	*ret_lock_fd = TAKE_FD(lock_fd);
	*ret_st = st;
	return 0;
}

/* A new state file for st (from lock_seen: the same file as t's view, so the view's secret is
 * this state's): lent for the write when the view took it, never freed here. */
static int store_whole(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		       int lock_fd, struct mfa_state *st)
{
	bool lent = !st->secret;
	int r;

	if (lent)
		st->secret = t->secret;
	r = mfa_state_store(dir_of(s), lock_fd, user, st, 0);
	if (lent)
		st->secret = NULL;
	return r;
}

/* The hot path is the counter record alone. A state file of an earlier version (base32, whose
 * every load leaves a copy of the secret's text in the host's heap, see statefmt.c) is
 * rewritten whole instead, in hex, at its user's first good code, so it is gone after one
 * login. Only here: the same view's failure is followed by a lockout write, whose compare
 * would fail on the new file's epoch. */
static int files_accept(struct mfa_storage *s, const char *user, const struct mfa_token *t,
			int64_t step, int64_t now)
{
	_cleanup_close_ int lock_fd = -1;
	struct mfa_state *st;
	int r;

	if ((r = lock_seen(s, user, t, &lock_fd, &st)) < 0)
		return r;
	if (st->status != MFA_STATUS_ENROLLED || st->last_step >= step ||
	    mfa_token_locked_at(st->locked_until, now))
		return -ESTALE;
	st->last_step = step;
	st->failures = 0;
	st->locked_until = 0;
	if (st->legacy_secret && (t->secret || st->secret))
		return store_whole(s, user, t, lock_fd, st);
	return mfa_state_store_counters(lock_fd, st);
}

/* The count and, when it reaches a multiple of f->every, the lockout: one record write
 * under the lock, so a good code racing this failure finds either neither or both. */
static int files_fail(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		      int64_t now, struct mfa_store_fail *f)
{
	_cleanup_close_ int lock_fd = -1;
	struct mfa_state *st;
	bool lock;
	int r;

	if ((r = lock_seen(s, user, t, &lock_fd, &st)) < 0)
		return r;
	st->failures++;
	lock = f->every > 0 && st->failures % f->every == 0;
	if (lock)
		st->locked_until = f->until;
	if ((r = mfa_state_store_counters(lock_fd, st)) < 0)
		return r;
	f->failures = st->failures;
	f->locked = lock;
	f->with_count = true;
	return 0;
}

static int files_lockout(struct mfa_storage *s, const char *user, const struct mfa_token *t,
			 int64_t until)
{
	_cleanup_close_ int lock_fd = -1;
	struct mfa_state *st;
	int r;

	if ((r = lock_seen(s, user, t, &lock_fd, &st)) < 0)
		return r;
	st->locked_until = until;
	return mfa_state_store_counters(lock_fd, st);
}

/* Removes the hash equal to want, keeping the others in order; -ESTALE when none is (another
 * login used it first). */
static int drop_hash(struct mfa_state *st, const char *want)
{
	for (unsigned i = 0; i < st->n_recovery; i++) {
		if (strcmp(st->recovery[i], want) != 0)
			continue;
		for (; i + 1 < st->n_recovery; i++)
			memcpy(st->recovery[i], st->recovery[i + 1], MFA_RECOVERY_HASH_LEN);
		sodium_memzero(st->recovery[st->n_recovery - 1], MFA_RECOVERY_HASH_LEN);
		st->n_recovery--;
		return 0;
	}
	return -ESTALE;
}

static int files_use_recovery(struct mfa_storage *s, const char *user, const struct mfa_token *t,
			      unsigned i)
{
	_cleanup_close_ int lock_fd = -1;
	struct mfa_state *st;
	int r;

	if (i >= t->n_recovery || !t->secret)
		return -EINVAL;
	if ((r = lock_seen(s, user, t, &lock_fd, &st)) < 0)
		return r;
	/* a lockout written since t was read (it was judged on no lockout): judged again */
	if (st->locked_until != t->locked_until)
		return -ESTALE;
	if ((r = drop_hash(st, t->recovery[i])) < 0)
		return r;
	st->failures = 0;
	st->locked_until = 0;
	return store_whole(s, user, t, lock_fd, st);
}

/* Under the lock: the state is still what t saw (none, or the same reset). */
static int still_seen(struct mfa_storage *s, int lock_fd, const char *user,
		      const struct mfa_token *t, struct mfa_state *cur)
{
	int r = mfa_state_load(dir_of(s), lock_fd, user, cur, NULL);

	if (t->status == MFA_TOKEN_NONE)
		return r == -ENOENT ? 0 : r < 0 ? r : -ESTALE;
	if (r < 0)
		return r == -ENOENT ? -ESTALE : r;
	if (t->status != MFA_TOKEN_RESET || cur->status != MFA_STATUS_RESET ||
	    cur->epoch != t->generation)
		return -ESTALE;
	return 0;
}

static int files_claim(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		       const struct mfa_store_enroll *e)
{
	_cleanup_(mfa_state_clearp) struct mfa_state cur = { 0 }, ns = { 0 };
	_cleanup_close_ int lock_fd = -1;
	int r;

	if (e->n_recovery > MFA_RECOVERY_MAX)
		return -EINVAL;
	r = mfa_state_lock(dir_of(s), user, MFA_STATE_LOCK_TIMEOUT_MS, &lock_fd);
	if (r < 0 || (r = still_seen(s, lock_fd, user, t, &cur)) < 0)
		return r;
	ns = (struct mfa_state){ .status = MFA_STATUS_ENROLLED,
				 .algorithm = e->algorithm,
				 .digits = e->digits,
				 .period = e->period,
				 .last_step = e->step,
				 .enrolled_at = e->now,
				 .reset_at = cur.reset_at,
				 .n_recovery = e->n_recovery };
	memcpy(ns.reset_by, cur.reset_by, sizeof(ns.reset_by));
	for (unsigned i = 0; i < e->n_recovery; i++)
		memcpy(ns.recovery[i], e->recovery[i], MFA_RECOVERY_HASH_LEN);
	ns.secret = (struct mfa_secret *)(uintptr_t)e->secret; /* lent for the write */
	r = mfa_state_store(dir_of(s), lock_fd, user, &ns, 0);
	ns.secret = NULL;
	return r;
}

/* Nothing of the old state survives a reset, so it is not compared: whatever is there (an
 * enrollment, no file, a corrupt or unsafe one) is replaced from a zeroed state, whose new
 * random epoch retires the old counter record (reset_blind). */
static int files_reset(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		       const char *by, int64_t now, unsigned flags)
{
	_cleanup_(mfa_state_clearp) struct mfa_state st = { 0 };
	_cleanup_close_ int lock_fd = -1;
	int r;

	(void)t;
	r = mfa_state_lock(dir_of(s), user, MFA_STATE_LOCK_TIMEOUT_MS, &lock_fd);
	if (r < 0)
		return r;
	mfa_state_make_reset(&st, by, now);
	return mfa_state_store(dir_of(s), lock_fd, user, &st,
			       flags & MFA_STORE_NOSYNC ? MFA_FS_NOSYNC : 0);
}

static int files_unlock(struct mfa_storage *s, const char *user, const struct mfa_token *t)
{
	_cleanup_(mfa_state_clearp) struct mfa_state st = { 0 };
	_cleanup_close_ int lock_fd = -1;
	int r;

	(void)t;
	r = mfa_state_lock(dir_of(s), user, MFA_STATE_LOCK_TIMEOUT_MS, &lock_fd);
	if (r < 0 || (r = mfa_state_load(dir_of(s), lock_fd, user, &st, NULL)) < 0)
		return r;
	st.failures = 0;
	st.locked_until = 0;
	return mfa_state_store_counters(lock_fd, &st);
}

struct list_ctx {
	int dir_fd, lock_dir;
	int (*cb)(const char *user, int r, const struct mfa_token *t, void *userdata);
	void *userdata;
};

static int list_one(const char *user, void *userdata)
{
	_cleanup_(mfa_state_clearp) struct mfa_state st = { 0 };
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct list_ctx *l = userdata;
	int r;

	r = mfa_state_load_summary(l->dir_fd, l->lock_dir, user, &st, NULL);
	if (r < 0)
		return l->cb(user, r, NULL, l->userdata);
	view_of(&st, &t);
	return l->cb(user, 0, &t, l->userdata);
}

static int files_list(struct mfa_storage *s,
		      int (*cb)(const char *user, int r, const struct mfa_token *t, void *userdata),
		      void *userdata)
{
	_cleanup_close_ int lock_dir = -1;
	struct list_ctx l = { .dir_fd = dir_of(s), .cb = cb, .userdata = userdata };
	int r;

	/* without the lock directory every summary is read from its state file */
	if (mfa_state_open_lock_dir(l.dir_fd, &lock_dir) == 0)
		l.lock_dir = lock_dir;
	else
		l.lock_dir = -1;
	r = mfa_state_foreach_user(l.dir_fd, list_one, &l);
	return r;
}

static int files_sync(struct mfa_storage *s)
{
	return syncfs(dir_of(s)) < 0 ? -errno : 0;
}

static void files_close(struct mfa_storage *s)
{
	struct files_store *fs = (struct files_store *)s;

	closep(&fs->dir_fd);
	free(fs);
}

static const struct mfa_store_ops files_ops = {
	.load = files_load,
	.status = files_status,
	.accept = files_accept,
	.fail = files_fail,
	.lockout = files_lockout,
	.use_recovery = files_use_recovery,
	.claim = files_claim,
	.reset = files_reset,
	.unlock = files_unlock,
	.list = files_list,
	.sync = files_sync,
	.close = files_close,
	.reset_blind = true,
};

int mfa_store_files_open(const char *state_dir, struct mfa_storage **ret)
{
	struct files_store *fs;
	int dir_fd = -1, r;

	if ((r = mfa_state_open_dir(state_dir, &dir_fd)) < 0)
		return r;
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		close(dir_fd);
		return -ENOMEM;
	}
	*fs = (struct files_store){ .base.ops = &files_ops, .dir_fd = dir_fd };
	*ret = &fs->base;
	return 0;
}
