/* The fixture of the state tests: a private state_dir, state files copied from data/, an
 * enrolled state with every field set, and a store under the user's lock. */
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "unit.h"

struct fx {
	struct mfa_unit_dir d;
	char *dir; /* d.path */
	int dfd;   /* d.fd */
};

static inline int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mfa_secret_init(), 0);
	mfa_unit_dir_make(&f->d);
	f->dir = f->d.path;
	assert_int_equal(mfa_state_open_dir(f->dir, &f->d.fd), 0);
	f->dfd = f->d.fd;
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;

	mfa_unit_dir_remove(&f->d);
	free(f);
	return 0;
}

/* Copies data/NAME to the user's state file, mode 0600. */
static inline void install(struct fx *f, const char *name, const char *user)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "install -m 0600 '%s/%s' '%s/%s'", getenv("MFA_TEST_DATA"), name,
		 f->dir, user);
	assert_int_equal(system(cmd), 0);
}

static inline int load_file(struct fx *f, const char *name, struct mfa_err *e)
{
	struct mfa_state st;
	int r;

	install(f, name, "alice");
	r = mfa_state_load(f->dfd, -1, "alice", &st, e);
	if (r == 0)
		mfa_state_clear(&st);
	return r;
}

static inline struct mfa_state enrolled(void)
{
	struct mfa_state st = { .status = MFA_STATUS_ENROLLED, .algorithm = MFA_ALGO_SHA256,
				.digits = 8, .period = 60, .last_step = 123, .failures = 2,
				.locked_until = 0, .enrolled_at = 1700000000 };
	char codes[3][MFA_RECOVERY_CODE_LEN + 1];

	assert_int_equal(mfa_secret_new(20, &st.secret), 0);
	assert_int_equal(mfa_recovery_generate(3, codes, st.recovery), 0);
	st.n_recovery = 3;
	strcpy(st.reset_by, "DOM\\ad\"min");
	return st;
}

static inline void store(struct fx *f, const char *user, struct mfa_state *st)
{
	_cleanup_close_ int lk = -1;

	assert_int_equal(mfa_state_lock(f->dfd, user, 1000, &lk), 0);
	assert_int_equal(mfa_state_store(f->dfd, lk, user, st, 0), 0);
}

