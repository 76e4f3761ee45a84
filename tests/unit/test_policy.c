/* common/policy.c over the files backend (store_files.c) in a temp state directory: the
 * decision order, codes (window edges, replay), failures and lockout, recovery codes.
 * test_policy_admin.c: enrollment claims, reset, unlock, the bounded re-read on -ESTALE. The
 * same policy over the ldap backend runs against a real slapd in tests/ldap
 * (cases_policy.py). */
#include "policyfx.h"

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
	/* nowhere to save a token (ldap: no person entry): refused, unless not enforced */
	t = (struct mfa_token){ .status = MFA_TOKEN_NONE, .no_entry = true };
	assert_int_equal(mfa_policy_decide(&f->p, &t, 1, NOW), MFA_DECIDE_NO_ENTRY);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_IGNORE);
}

/* max_failures 3, lock_seconds 300 (policyfx.h) */
static void test_lockout_counted_but_not_written(void **state)
{
	struct fx *f = *state;
	struct mfa_token t = { .status = MFA_TOKEN_ENROLLED, .failures = 3,
			       .last_failure = NOW - 10 };

	/* at a lockout, none written: locked from that failure for lock_seconds */
	assert_int_equal(mfa_policy_locked_until(&f->p, &t), NOW + 290);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_LOCKED);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW + 291), MFA_DECIDE_VERIFY);
	/* the lockout of an earlier round (count 3, over) does not end this one (count 6) */
	t.failures = 6;
	t.locked_until = NOW - 400;
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_LOCKED);
	/* written for this failure: that one */
	t.locked_until = NOW + 100;
	assert_int_equal(mfa_policy_locked_until(&f->p, &t), NOW + 100);
	/* not at a lockout; no failure time kept (files); lockouts off */
	t = (struct mfa_token){ .status = MFA_TOKEN_ENROLLED, .failures = 4,
				.last_failure = NOW - 10 };
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_VERIFY);
	t.failures = 3;
	t.last_failure = 0;
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_VERIFY);
	t.last_failure = NOW - 10;
	f->p.max_failures = 0;
	assert_int_equal(mfa_policy_decide(&f->p, &t, 0, NOW), MFA_DECIDE_VERIFY);
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

/* A view read before the failure that locked (a login held at its prompt): a good recovery
 * code typed now is refused as locked, as a good code is, and stays usable. */
static void test_recovery_on_a_view_before_the_lockout(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token held = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;

	enroll(f);
	assert_int_equal(verify(f, "000000", NOW).failures, 1);
	load(f, &held);
	assert_int_equal(verify(f, "000001", NOW).failures, 2);
	assert_int_equal(verify(f, "000002", NOW).locked_until, NOW + 300);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &held, f->codes[0], NOW + 10, &o), 0);
	assert_int_equal(o.result, MFA_VERIFY_LOCKED);
	assert_int_equal(o.locked_until, NOW + 300);
	assert_int_equal(verify(f, f->codes[0], NOW + 301).result, MFA_VERIFY_OK_RECOVERY);
}

/* The files store writes a lockout with the failure that reaches it: a failure judged on a
 * view from before an earlier lockout (over now) locks nothing that is not due. */
static void test_stale_view_failure_no_lockout_not_due(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token held = { 0 }, t = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;

	enroll(f);
	assert_int_equal(verify(f, "000000", NOW).failures, 1);
	load(f, &held);
	assert_int_equal(verify(f, "000001", NOW).failures, 2);
	assert_int_equal(verify(f, "000002", NOW).locked_until, NOW + 300);
	assert_int_equal(verify(f, "000003", NOW + 301).failures, 4);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &held, "000004", NOW + 302, &o), 0);
	assert_int_equal(o.failures, 5);
	assert_int_equal(o.locked_until, 0);
	load(f, &t);
	assert_int_equal(mfa_policy_decide(&f->p, &t, 1, NOW + 303), MFA_DECIDE_VERIFY);
}

/* The failure that reaches max_failures and its lockout are one write: no login between them
 * finds the count at max_failures and the token unlocked. A store wrapper runs a second
 * login with the good code right after that failure's write returns, before the policy goes
 * on; with the lockout written separately that code was accepted. */
static const struct mfa_store_ops *real_ops;
static struct fx *racing_fx;
static enum mfa_verify_result racing_result;

static void race_good_code(struct fx *f)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	_cleanup_(mfa_store_closep) struct mfa_storage *other = NULL;
	struct mfa_policy q = f->p;
	struct mfa_verify_outcome o = { 0 };

	assert_int_equal(mfa_store_files_open(f->dir.path, &other), 0);
	q.store = other;
	assert_int_equal(mfa_store_load(other, USER, &t, NULL), 0);
	assert_int_equal(mfa_policy_verify(&q, USER, &t, code_at(f, step_of(NOW)), NOW, &o), 0);
	racing_result = o.result;
}

static int fail_then_race(struct mfa_storage *s, const char *user, const struct mfa_token *t,
			  int64_t now, struct mfa_store_fail *sf)
{
	int r = (real_ops->fail)(s, user, t, now, sf); /* cmocka has a fail() macro */

	if (r == 0 && sf->failures == racing_fx->p.max_failures)
		race_good_code(racing_fx);
	return r;
}

static void test_lockout_in_the_failing_write(void **state)
{
	struct fx *f = *state;
	struct mfa_store_ops racing;
	struct mfa_verify_outcome o;

	enroll(f);
	assert_int_equal(verify(f, "000000", NOW).failures, 1);
	assert_int_equal(verify(f, "000001", NOW).failures, 2);
	real_ops = f->store->ops;
	racing = *real_ops;
	racing.fail = fail_then_race;
	racing_fx = f;
	racing_result = MFA_VERIFY_CHANGED;
	f->store->ops = &racing;
	o = verify(f, "000002", NOW);
	f->store->ops = real_ops;
	assert_int_equal(o.failures, 3);
	assert_int_equal(o.locked_until, NOW + 300);
	assert_int_equal(racing_result, MFA_VERIFY_LOCKED);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_decide_order, setup, teardown),
	cmocka_unit_test_setup_teardown(test_lockout_counted_but_not_written, setup, teardown),
	cmocka_unit_test_setup_teardown(test_decide_on_the_store, setup, teardown),
	cmocka_unit_test_setup_teardown(test_code_once_then_replay, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stale_view_is_reread, setup, teardown),
	cmocka_unit_test_setup_teardown(test_window_edges, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_counts, setup, teardown),
	cmocka_unit_test_setup_teardown(test_failures_and_lockout, setup, teardown),
	cmocka_unit_test_setup_teardown(test_failures_counted_exactly, setup, teardown),
	cmocka_unit_test_setup_teardown(test_recovery_on_a_view_before_the_lockout, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_stale_view_failure_no_lockout_not_due, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_lockout_in_the_failing_write, setup, teardown),
	cmocka_unit_test_setup_teardown(test_recovery_once, setup, teardown),
	cmocka_unit_test_setup_teardown(test_recovery_race_one_wins, setup, teardown),
};

MFA_UNIT_MAIN(tests)
