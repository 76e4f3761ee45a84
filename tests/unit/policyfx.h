/* The fixture of test_policy.c and test_policy_admin.c: the policy over the files store in a
 * temp state directory, alice's known secret and two recovery codes. */
#pragma once

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

static inline int64_t step_of(int64_t t)
{
	return t / 30;
}

static inline int setup(void **state)
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

static inline int teardown(void **state)
{
	struct fx *f = *state;

	mfa_store_close(f->store);
	mfa_secret_free(f->secret);
	mfa_unit_dir_remove(&f->dir);
	free(f);
	return 0;
}

static inline const char *code_at(const struct fx *f, int64_t step)
{
	static char out[MFA_CODE_MAX + 1];
	struct mfa_totp_params prm = { MFA_ALGO_SHA1, 6, 30, 0 };

	assert_int_equal(mfa_totp_generate(f->secret, &prm, step, out), 0);
	return out;
}

static inline int claim(struct fx *f, const struct mfa_token_seen *seen, int64_t step)
{
	struct mfa_store_enroll e = { .secret = f->secret, .algorithm = MFA_ALGO_SHA1,
				      .digits = 6, .period = 30, .window = 1, .step = step,
				      .now = NOW, .recovery = (const char(*)[MFA_RECOVERY_HASH_LEN])
							f->hashes, .n_recovery = 2 };

	return mfa_policy_claim(&f->p, USER, seen, &e);
}

/* alice enrolled with a confirming step 5 steps before NOW. */
static inline void enroll(struct fx *f)
{
	struct mfa_token_seen none = { MFA_TOKEN_NONE, 0 };

	assert_int_equal(claim(f, &none, step_of(NOW) - 5), 0);
}

static inline void load(struct fx *f, struct mfa_token *t)
{
	mfa_token_clear(t);
	assert_int_equal(mfa_store_load(f->store, USER, t, NULL), 0);
}

/* Loads alice and verifies answer at now: the outcome. */
static inline struct mfa_verify_outcome verify(struct fx *f, const char *answer, int64_t now)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct mfa_verify_outcome o = { 0 };

	load(f, &t);
	assert_int_equal(mfa_policy_verify(&f->p, USER, &t, answer, now, &o), 0);
	return o;
}

