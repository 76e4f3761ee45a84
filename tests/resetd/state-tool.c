/* Test helper for tests/resetd: seeds and inspects per-user state through libmfa, so the
 * tests check what the daemon wrote with the same code the module reads it with.
 *   state-tool DIR seed USER...     enrolled state with a fresh secret and 2 recovery codes
 *   state-tool DIR show USER        one line: status=... secret=yes|no reset_by=... ...
 *   state-tool DIR lockout USER     failures=5, locked until an hour from now */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "secret.h"
#include "state.h"

static int seed(int dir_fd, const char *user)
{
	_cleanup_close_ int lfd = -1;
	struct mfa_state st = { .status = MFA_STATUS_ENROLLED, .algorithm = MFA_ALGO_SHA1,
				.digits = 6, .period = 30, .last_step = -1,
				.enrolled_at = (int64_t)time(NULL), .n_recovery = 2 };
	char codes[2][MFA_RECOVERY_CODE_LEN + 1];
	int r;

	if ((r = mfa_state_lock(dir_fd, user, 1000, &lfd)) < 0)
		return r;
	if ((r = mfa_secret_new(20, &st.secret)) < 0 ||
	    (r = mfa_recovery_generate(2, codes, st.recovery)) < 0) {
		mfa_state_clear(&st);
		return r;
	}
	r = mfa_state_store(dir_fd, lfd, user, &st, 0);
	mfa_state_clear(&st);
	return r;
}

static int show(int dir_fd, const char *user)
{
	struct mfa_state st = { 0 };
	int r = mfa_state_load(dir_fd, -1, user, &st, NULL);

	if (r == -ENOENT) {
		printf("status=none\n");
		return 0;
	}
	if (r < 0)
		return r;
	printf("status=%s secret=%s reset_by=%s reset_at=%lld failures=%u locked_until=%lld "
	       "recovery=%u\n",
	       st.status == MFA_STATUS_RESET ? "reset" : "enrolled", st.secret ? "yes" : "no",
	       st.reset_by[0] ? st.reset_by : "-", (long long)st.reset_at, st.failures,
	       (long long)st.locked_until, st.n_recovery);
	mfa_state_clear(&st);
	return 0;
}

static int lockout(int dir_fd, const char *user)
{
	_cleanup_close_ int lfd = -1;
	struct mfa_state st = { 0 };
	int r;

	if ((r = mfa_state_lock(dir_fd, user, 1000, &lfd)) < 0)
		return r;
	if ((r = mfa_state_load(dir_fd, lfd, user, &st, NULL)) < 0)
		return r;
	st.failures = 5;
	st.locked_until = (int64_t)time(NULL) + 3600;
	r = mfa_state_store_counters(lfd, &st);
	mfa_state_clear(&st);
	return r;
}

int main(int argc, char **argv)
{
	_cleanup_close_ int dir_fd = -1;
	int r = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: state-tool DIR seed|show|lockout USER...\n");
		return 2;
	}
	if (mfa_secret_init() < 0 || (r = mfa_state_open_dir(argv[1], &dir_fd)) < 0) {
		fprintf(stderr, "state-tool: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	for (int i = 3; i < argc && r >= 0; i++) {
		if (strcmp(argv[2], "seed") == 0)
			r = seed(dir_fd, argv[i]);
		else if (strcmp(argv[2], "show") == 0)
			r = show(dir_fd, argv[i]);
		else if (strcmp(argv[2], "lockout") == 0)
			r = lockout(dir_fd, argv[i]);
		else
			r = -EINVAL;
	}
	if (r < 0) {
		fprintf(stderr, "state-tool: %s: %s\n", argv[2], strerror(-r));
		return 1;
	}
	return 0;
}
