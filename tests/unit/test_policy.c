/* common/policy.c over the files backend (store_files.c) in a temp state directory: the
 * decision order, codes (window edges, replay), failures and lockout, recovery codes,
 * enrollment claims only on the state the decision saw, reset, unlock, and the bounded
 * re-read on -ESTALE (through a store that always refuses). The same policy over the ldap
 * backend runs against a real slapd in tests/ldap (cases_policy.py). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "unit.h"

#include "policy.h"
#include "secret.h"
#include "state.h"
#include "store.h"
#include "totp.h"

#define NOW ((int64_t)1700000020) /* step 56666667, 10 s into it */
#define USER "alice"

static const unsigned char KEY[20] = "12345678901234567890";

struct fx {
	struct mfa_unit_dir dir;
	struct mfa_storage *store;
	struct mfa_policy p;
	struct mfa_secret *secret;
	char codes[2][MFA_RECOVERY_CODE_LEN + 1];
	char hashes[2][MFA_RECOVERY_HASH_LEN];
};

static int64_t step_of(int64_t t)
{
	return t / 30;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mfa_secret_init(), 0);
	assert_int_equal(mfa_totp_init(), 0);
	mfa_unit_dir_make(&f->dir);
	chmod(f->dir.path, 0700);
	assert_int_equal(mfa_store_files_open(f->dir.path, &f->store), 0);
	f->p = (struct mfa_policy){ .store = f->store, .window = 1, .max_failures = 3,
				    .lock_seconds = 300 };
	assert_int_equal(mfa_secret_from_bytes(KEY, sizeof(KEY), &f->secret), 0);
	assert_int_equal(mfa_recovery_generate(2, f->codes, f->hashes), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mfa_store_close(f->store);
	mfa_secret_free(f->secret);
	mfa_unit_dir_remove(&f->dir);
	free(f);
	return 0;
}

static const char *code_at(const struct fx *f, int64_t step)
{
	static char out[MFA_CODE_MAX + 1];
	struct mfa_totp_params prm = { MFA_ALGO_SHA1, 6, 30, 0 };

	assert_int_equal(mfa_totp_generate(f->secret, &prm, step, out), 0);
	return out;
}

static int claim(struct fx *f, const struct mfa_token_seen *seen, int64_t step)
{
	struct mfa_store_enroll e = { .secret = f->secret, .algorithm = MFA_ALGO_SHA1,
				      .digits = 6, .period = 30, .window = 1, .step = step,
				      .now = NOW, .recovery = (const char(*)[MFA_RECOVERY_HASH_LEN])
							f->hashes, .n_recovery = 2 };

	return mfa_policy_claim(&f->p, USER, seen, &e);
}

/* alice enrolled with a confirming step 5 steps before NOW. */
static void enroll(struct fx *f)
{
	struct mfa_token_seen none = { MFA_TOKEN_NONE, 0 };

	assert_int_equal(claim(f, &none, step_of(NOW) - 5), 0);
}

static void load(struct fx *f, struct mfa_token *t)
{
	mfa_token_clear(t);
	assert_int_equal(f->store->ops->load(f->store, USER, t), 0);
}

/* Loads alice and verifies answer at now: the outcome. */
static struct mfa_verify_outcome verify(struct fx *f, const char *answer, int64_t now)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct mfa_verify_outcome o = { 0 };

	load(f, &t);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &t, answer, now, &o), 0);
	return o;
}

static void test_decide_order(void **state)
{
	struct fx *f = *state;
	struct mfa_token t = { .status = MFA_TOKEN_NONE };

	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_IGNORE);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 1, NOW), MFA_DECIDE_ENROLL);
	/* not looked up is never "not enforced" */
	assert_int_equal(mfa_policy_decide(&f->p, &t, -1, NOW), MFA_DECIDE_ENROLL);
	t.status = MFA_TOKEN_ENROLLED;
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_VERIFY);
	t.locked_until = NOW;
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_LOCKED);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW + 1), MFA_DECIDE_VERIFY);
	t = (struct mfa_token){ .status = MFA_TOKEN_RESET, .reset_at = NOW - 100 };
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_ENROLL);
	t.locked_until = NOW + 5; /* locked comes before enrollment */
	assert_int_equal(mfa_policy_decide(&f->p, &t, 1, NOW), MFA_DECIDE_LOCKED);
	t.locked_until = 0;
	f->p.reset_expires = 99;
	assert_int_equal(mfa_policy_decide(&f->p, &t, 1, NOW), MFA_DECIDE_RESET_EXPIRED);
	f->p.reset_expires = 100;
	assert_int_equal(mfa_policy_decide(&f->p, &t, 1, NOW), MFA_DECIDE_ENROLL);
}

static void test_decide_on_the_store(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;

	load(f, &t);
	assert_int_equal(t.status, MFA_TOKEN_NONE);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_IGNORE);
	enroll(f);
	load(f, &t);
	assert_int_equal(t.status, MFA_TOKEN_ENROLLED);
	assert_non_null(t.secret);
	assert_int_equal(t.last_step, step_of(NOW) - 5);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_VERIFY);
	assert_int_equal(mfa_policy_reset(&f->p, USER, "root", NOW, 0), 0);
	load(f, &t);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_ENROLL);
}

static void test_code_once_then_replay(void **state)
{
	struct fx *f = *state;
	struct mfa_verify_outcome o;

	enroll(f);
	o = verify(f, code_at(f, step_of(NOW)), NOW);
	assert_int_equal(o.result, MFA_VERIFY_OK_CODE);
	assert_int_equal(o.drift, 0);
	o = verify(f, code_at(f, step_of(NOW)), NOW);
	assert_int_equal(o.result, MFA_VERIFY_REPLAY);
	assert_int_equal(o.failures, 1);
	assert_int_equal(o.wait, 20); /* the next step begins at NOW + 20 */
	/* an older step of the window is no better */
	o = verify(f, code_at(f, step_of(NOW) - 1), NOW);
	assert_int_equal(o.result, MFA_VERIFY_REPLAY);
	assert_int_equal(o.failures, 2);
}

/* A view read before another login accepted the code: the write is refused, the view
 * re-read, and the same code is a replay. */
static void test_stale_view_is_reread(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token a = { 0 }, b = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;
	const char *c;

	enroll(f);
	load(f, &a);
	load(f, &b);
	c = code_at(f, step_of(NOW));
	assert_int_equal(mfa_policy_verify(&f->p, USER, &a, c, NOW, &o), 0);
	assert_int_equal(o.result, MFA_VERIFY_OK_CODE);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &b, c, NOW, &o), 0);
	assert_int_equal(o.result, MFA_VERIFY_REPLAY);
	assert_int_equal(b.last_step, step_of(NOW)); /* b is the re-read view now */
}

static void test_window_edges(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;
	int64_t s = step_of(NOW);

	enroll(f);
	o = verify(f, code_at(f, s - 2), NOW);
	assert_int_equal(o.result, MFA_VERIFY_WRONG);
	assert_true(o.has_drift);
	assert_int_equal(o.drift, -2);
	o = verify(f, code_at(f, s + 2), NOW);
	assert_int_equal(o.result, MFA_VERIFY_WRONG);
	assert_int_equal(o.drift, 2);
	assert_int_equal(o.failures, 2);
	o = verify(f, code_at(f, s - 1), NOW);
	assert_int_equal(o.result, MFA_VERIFY_OK_CODE);
	assert_int_equal(o.drift, -1);
	o = verify(f, code_at(f, s + 1), NOW);
	assert_int_equal(o.result, MFA_VERIFY_OK_CODE);
	assert_int_equal(o.drift, 1);
	/* the step in between is below the watermark now */
	assert_int_equal(verify(f, code_at(f, s), NOW).result, MFA_VERIFY_REPLAY);
	load(f, &t);
	assert_int_equal(t.last_step, s + 1);
	assert_int_equal(t.failures, 1); /* a good code restarted the count, the replay counted */
	o = verify(f, code_at(f, s + 50), NOW);
	assert_int_equal(o.result, MFA_VERIFY_WRONG);
	assert_false(o.has_drift); /* too far even to report */
}

static void test_malformed_counts(void **state)
{
	char longer[MFA_POLICY_ANSWER_MAX + 2];
	struct fx *f = *state;
	struct mfa_verify_outcome o;

	enroll(f);
	assert_int_equal(verify(f, "12a456", NOW).result, MFA_VERIFY_MALFORMED);
	memset(longer, '1', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	o = verify(f, longer, NOW);
	assert_int_equal(o.result, MFA_VERIFY_MALFORMED);
	assert_int_equal(o.failures, 2);
}

static void test_failures_and_lockout(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;
	const char *good = code_at(f, step_of(NOW));

	enroll(f);
	assert_int_equal(verify(f, "000000", NOW).locked_until, 0);
	assert_int_equal(verify(f, "000001", NOW).locked_until, 0);
	o = verify(f, "000002", NOW);
	assert_int_equal(o.result, MFA_VERIFY_WRONG);
	assert_int_equal(o.failures, 3);
	assert_int_equal(o.locked_until, NOW + 300);
	/* locked: a good code is not even looked at, and nothing more is counted */
	o = verify(f, good, NOW + 300);
	assert_int_equal(o.result, MFA_VERIFY_LOCKED);
	assert_int_equal(o.locked_until, NOW + 300);
	load(f, &t);
	assert_int_equal(t.failures, 3);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 1, NOW + 300), MFA_DECIDE_LOCKED);
	/* after the lockout: every max_failures-th failure locks again */
	assert_int_equal(verify(f, "000003", NOW + 301).locked_until, 0);
	assert_int_equal(verify(f, "000004", NOW + 301).locked_until, 0);
	assert_int_equal(verify(f, "000005", NOW + 301).locked_until, NOW + 601);
	assert_int_equal(verify(f, code_at(f, step_of(NOW + 602)), NOW + 602).result,
			 MFA_VERIFY_OK_CODE);
	load(f, &t);
	assert_int_equal(t.failures, 0);
}

/* Two views read at once, each counting a failure: both count. */
static void test_failures_counted_exactly(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token a = { 0 }, b = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;

	enroll(f);
	load(f, &a);
	load(f, &b);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &a, "000000", NOW, &o), 0);
	assert_int_equal(o.failures, 1);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &b, "000000", NOW, &o), 0);
	assert_int_equal(o.failures, 2);
}

static void test_recovery_once(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;

	enroll(f);
	assert_int_equal(verify(f, "000000", NOW).failures, 1);
	o = verify(f, f->codes[0], NOW);
	assert_int_equal(o.result, MFA_VERIFY_OK_RECOVERY);
	assert_int_equal(o.recovery_left, 1);
	load(f, &t);
	assert_int_equal(t.n_recovery, 1);
	assert_int_equal(t.failures, 0);
	assert_non_null(t.secret); /* the token itself is kept */
	o = verify(f, f->codes[0], NOW);
	assert_int_equal(o.result, MFA_VERIFY_WRONG);
	assert_true(o.recovery);
	assert_int_equal(o.failures, 1);
	assert_int_equal(verify(f, f->codes[1], NOW).result, MFA_VERIFY_OK_RECOVERY);
	assert_int_equal(verify(f, f->codes[1], NOW).result, MFA_VERIFY_WRONG);
	/* the code still works after the recovery codes */
	assert_int_equal(verify(f, code_at(f, step_of(NOW)), NOW).result, MFA_VERIFY_OK_CODE);
}

/* Two views of the same use of one recovery code: the second is refused. */
static void test_recovery_race_one_wins(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token a = { 0 }, b = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;

	enroll(f);
	load(f, &a);
	load(f, &b);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &a, f->codes[1], NOW, &o), 0);
	assert_int_equal(o.result, MFA_VERIFY_OK_RECOVERY);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &b, f->codes[1], NOW, &o), 0);
	assert_int_equal(o.result, MFA_VERIFY_WRONG);
}

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
	assert_int_equal(f->store->ops->load(f->store, "bob", &t), -EBADMSG);
	assert_int_equal(mfa_policy_reset(&f->p, "bob", "root", NOW, 0), 0);
	mfa_token_clear(&t);
	assert_int_equal(f->store->ops->load(f->store, "bob", &t), 0);
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

static int count_load(struct mfa_storage *s, const char *user, struct mfa_token *ret)
{
	n_loads++;
	return files_ops->load(s, user, ret);
}

static int refuse_accept(struct mfa_storage *s, const char *u, const struct mfa_token *t,
			 int64_t step, int64_t now)
{
	n_writes++;
	return -ESTALE;
}

static int refuse_fail(struct mfa_storage *s, const char *u, const struct mfa_token *t,
		       int64_t now, unsigned *ret)
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
	cmocka_unit_test_setup_teardown(test_decide_order, setup, teardown),
	cmocka_unit_test_setup_teardown(test_decide_on_the_store, setup, teardown),
	cmocka_unit_test_setup_teardown(test_code_once_then_replay, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stale_view_is_reread, setup, teardown),
	cmocka_unit_test_setup_teardown(test_window_edges, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_counts, setup, teardown),
	cmocka_unit_test_setup_teardown(test_failures_and_lockout, setup, teardown),
	cmocka_unit_test_setup_teardown(test_failures_counted_exactly, setup, teardown),
	cmocka_unit_test_setup_teardown(test_recovery_once, setup, teardown),
	cmocka_unit_test_setup_teardown(test_recovery_race_one_wins, setup, teardown),
	cmocka_unit_test_setup_teardown(test_claim_only_on_seen_state, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_then_old_key_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_whatever_is_stored, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unlock, setup, teardown),
	cmocka_unit_test_setup_teardown(test_estale_retry_bounded, setup, teardown),
	cmocka_unit_test_setup_teardown(test_confirm, setup, teardown),
};

MFA_UNIT_MAIN(tests)
