/* common/policy.c over the files backend: an enrollment saved only on the state the
 * decision saw, reset (of whatever is stored), unlock, the confirmation of a new secret, and
 * the bounded re-read on -ESTALE (through a store that always refuses). */
#include "policyfx.h"

static void test_claim_only_on_seen_state(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 }, u = { 0 };
	struct mfa_token_seen none = { MFA_TOKEN_NONE, 0 }, seen;
	struct fx *f = *state;
	struct mfa_store_enroll e = { .secret = f->secret, .digits = 6, .period = 30,
				      .step = 1, .now = NOW };

	load(f, &t);
	load(f, &u);
	/* the store's own check: of two claims decided on "none", one lands */
	assert_int_equal(f->store->ops->claim(f->store, USER, &t, &e), 0);
	assert_int_equal(f->store->ops->claim(f->store, USER, &u, &e), -ESTALE);
	assert_int_equal(claim(f, &none, 2), -ESTALE);
	load(f, &t);
	assert_int_equal(t.last_step, 1); /* the first claim's token, untouched */
	seen = mfa_token_seen_of(&t);
	assert_int_equal(claim(f, &seen, 3), -EEXIST);
	assert_int_equal(mfa_policy_reset(&f->p, USER, "root", NOW, 0), 0);
	assert_int_equal(claim(f, &none, 3), -ESTALE); /* decided before the reset */
	load(f, &t);
	seen = mfa_token_seen_of(&t);
	assert_int_equal(seen.status, MFA_TOKEN_RESET);
	assert_int_equal(mfa_policy_reset(&f->p, USER, "root", NOW + 1, 0), 0);
	assert_int_equal(claim(f, &seen, 4), -ESTALE); /* another reset since: not the same */
	load(f, &t);
	seen = mfa_token_seen_of(&t);
	assert_int_equal(claim(f, &seen, 5), 0);
	assert_int_equal(claim(f, &seen, 6), -ESTALE);
	load(f, &t);
	assert_int_equal(t.last_step, 5);
	assert_string_equal(t.reset_by, "root"); /* who asked for it stays on record */
}

static void test_reset_then_old_key_refused(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token old = { 0 }, t = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;

	enroll(f);
	load(f, &old);
	assert_int_equal(mfa_policy_reset(&f->p, USER, "admin", NOW, 0), 0);
	load(f, &t);
	assert_int_equal(t.status, MFA_TOKEN_RESET);
	assert_null(t.secret);
	assert_int_equal(t.n_recovery, 0);
	assert_string_equal(t.reset_by, "admin");
	assert_int_equal(t.reset_at, NOW);
	/* a login that read the token before the reset: its good code is refused */
	assert_int_equal(mfa_policy_verify(&f->p, USER, &old, code_at(f, step_of(NOW)), NOW,
					   &o), 0);
	assert_int_equal(o.result, MFA_VERIFY_CHANGED);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &t, f->codes[0], NOW, &o), 0);
	assert_int_equal(o.result, MFA_VERIFY_CHANGED);
}

static void test_reset_whatever_is_stored(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;
	char path[128];
	int fd;

	/* never enrolled */
	assert_int_equal(mfa_policy_reset(&f->p, USER, "root", NOW, MFA_STORE_NOSYNC), 0);
	assert_int_equal(f->store->ops->sync(f->store), 0);
	load(f, &t);
	assert_int_equal(t.status, MFA_TOKEN_RESET);
	/* corrupt: unreadable, still reset */
	snprintf(path, sizeof(path), "%s/bob", f->dir.path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "garbage", 7), 7);
	close(fd);
	assert_int_equal(mfa_store_load(f->store, "bob", &t, NULL), -EBADMSG);
	assert_int_equal(mfa_policy_reset(&f->p, "bob", "root", NOW, 0), 0);
	mfa_token_clear(&t);
	assert_int_equal(mfa_store_load(f->store, "bob", &t, NULL), 0);
	assert_int_equal(t.status, MFA_TOKEN_RESET);
}

static void test_unlock(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;

	assert_int_equal(mfa_policy_unlock(&f->p, USER), -ENOENT);
	enroll(f);
	for (int i = 0; i < 3; i++)
		verify(f, "000000", NOW);
	load(f, &t);
	assert_true(mfa_token_locked_at(t.locked_until, NOW));
	assert_int_equal(mfa_policy_unlock(&f->p, USER), 0);
	mfa_token_clear(&t);
	assert_int_equal(mfa_store_status(f->store, USER, &t, NULL), 0);
	assert_null(t.secret); /* a status never holds the secret */
	assert_int_equal(t.status, MFA_TOKEN_ENROLLED);
	assert_int_equal(t.failures, 0);
	assert_int_equal(t.locked_until, 0);
	load(f, &t);
	assert_int_equal(t.failures, 0);
	assert_int_equal(t.locked_until, 0);
	assert_int_equal(verify(f, code_at(f, step_of(NOW)), NOW).result, MFA_VERIFY_OK_CODE);
}

/* A store that refuses every write of a kind (another host always first): the policy gives
 * up after MFA_POLICY_RETRIES reads, never loops, never succeeds. */
static struct mfa_store_ops refusing;
static const struct mfa_store_ops *files_ops;
static unsigned n_loads, n_writes;

static int count_load(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		      struct mfa_err *reterr)
{
	n_loads++;
	return files_ops->load(s, user, ret, reterr);
}

static int refuse_accept(struct mfa_storage *s, const char *u, const struct mfa_token *t,
			 int64_t step, int64_t now)
{
	n_writes++;
	return -ESTALE;
}

static int refuse_fail(struct mfa_storage *s, const char *u, const struct mfa_token *t,
		       int64_t now, struct mfa_store_fail *ret)
{
	n_writes++;
	return -ESTALE;
}

static void test_estale_retry_bounded(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;
	const struct mfa_store_ops *real = f->store->ops;
	struct mfa_verify_outcome o = { .result = MFA_VERIFY_LOCKED };

	enroll(f);
	load(f, &t);
	files_ops = real;
	refusing = *real;
	refusing.load = count_load;
	refusing.accept = refuse_accept;
	refusing.fail = refuse_fail;
	f->store->ops = &refusing;
	n_loads = n_writes = 0;
	assert_int_equal(mfa_policy_verify(&f->p, USER, &t, code_at(f, step_of(NOW)), NOW, &o),
			 -ESTALE);
	assert_int_equal(n_writes, MFA_POLICY_RETRIES);
	assert_int_equal(n_loads, MFA_POLICY_RETRIES - 1);
	assert_int_equal(o.result, MFA_VERIFY_LOCKED); /* untouched */
	n_loads = n_writes = 0;
	assert_int_equal(mfa_policy_verify(&f->p, USER, &t, "000000", NOW, &o), -ESTALE);
	assert_int_equal(n_writes, MFA_POLICY_RETRIES);
	f->store->ops = real;
	load(f, &t);
	assert_int_equal(t.failures, 0);
	assert_int_equal(t.last_step, step_of(NOW) - 5);
}

static void test_confirm(void **state)
{
	struct fx *f = *state;
	struct mfa_totp_params prm = { MFA_ALGO_SHA1, 6, 30, 9 }; /* window from the policy */
	int64_t step = 0;

	assert_int_equal(mfa_policy_confirm(&f->p, f->secret, &prm, code_at(f, step_of(NOW) + 1),
					    NOW, &step), 0);
	assert_int_equal(step, step_of(NOW) + 1);
	assert_int_equal(mfa_policy_confirm(&f->p, f->secret, &prm,
					    code_at(f, step_of(NOW) + 2), NOW, &step), -EACCES);
	assert_int_equal(mfa_policy_confirm(&f->p, f->secret, &prm, "12345", NOW, &step),
			 -EINVAL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_claim_only_on_seen_state, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_then_old_key_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_whatever_is_stored, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unlock, setup, teardown),
	cmocka_unit_test_setup_teardown(test_estale_retry_bounded, setup, teardown),
	cmocka_unit_test_setup_teardown(test_confirm, setup, teardown),
};

MFA_UNIT_MAIN(tests)
