/* Test helper: reads and changes a user's state through libmfa, as the daemon would, so the
 * PAM tests set up resets, lockouts and tokens without knowing the file format.
 *   state_tool show DIR USER             status=... last_step=... failures=... locked_until=...
 *   state_tool enroll DIR USER B32       an enrolled state with that key
 *   state_tool reset DIR USER BY AGE     a pending reset made AGE seconds ago
 *   state_tool lock DIR USER OFFSET      locked_until = now + OFFSET (negative: expired)
 *   state_tool code B32 OFFSET           the TOTP code of step now+OFFSET */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "secret.h"
#include "state.h"
#include "totp.h"

static int show(int dir_fd, const char *user)
{
	_cleanup_(mfa_state_clearp) struct mfa_state st = {0};
	struct mfa_err err = {0};
	int r = mfa_state_load(dir_fd, -1, user, &st, &err);

	if (r == -ENOENT) {
		printf("absent\n");
		return 0;
	}
	if (r < 0) {
		printf("error=%d %s\n", r, err.msg);
		return 1;
	}
	printf("status=%s last_step=%lld failures=%u locked_until=%lld n_recovery=%u\n",
	       st.status == MFA_STATUS_ENROLLED ? "enrolled" : "reset", (long long)st.last_step,
	       st.failures, (long long)st.locked_until, st.n_recovery);
	return 0;
}

static int change(int dir_fd, const char *cmd, const char *user, const char *arg, const char *arg2)
{
	_cleanup_(mfa_state_clearp) struct mfa_state st = {0};
	_cleanup_close_ int lock_fd = -1;
	struct mfa_err err = {0};
	int64_t now = time(NULL);
	int r;

	if ((r = mfa_state_lock(dir_fd, user, 5000, &lock_fd)) < 0)
		return r;
	r = mfa_state_load(dir_fd, lock_fd, user, &st, &err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (strcmp(cmd, "lock") == 0) {
		if (r < 0)
			return r;
		st.locked_until = now + strtoll(arg, NULL, 10);
		return mfa_state_store_counters(lock_fd, &st);
	}
	if (strcmp(cmd, "reset") == 0) {
		mfa_state_make_reset(&st, arg, now - (arg2 ? strtoll(arg2, NULL, 10) : 0));
		return mfa_state_store(dir_fd, lock_fd, user, &st, 0);
	}
	mfa_state_clear(&st);
	st = (struct mfa_state){.status = MFA_STATUS_ENROLLED,
				.algorithm = MFA_ALGO_SHA1,
				.digits = 6,
				.period = 30,
				.last_step = -1,
				.enrolled_at = now};
	if ((r = mfa_secret_from_base32(arg, &st.secret)) < 0)
		return r;
	return mfa_state_store(dir_fd, lock_fd, user, &st, 0);
}

int main(int argc, char **argv)
{
	_cleanup_close_ int dir_fd = -1;
	int r;

	if (mfa_secret_init() < 0 || mfa_totp_init() < 0 || argc < 3)
		return 2;
	if (strcmp(argv[1], "code") == 0) {
		struct mfa_totp_params p = {MFA_ALGO_SHA1, 6, 30, 1};
		struct mfa_secret *s = NULL;
		char code[MFA_CODE_MAX + 1];

		if (argc < 4 || mfa_secret_from_base32(argv[2], &s) < 0)
			return 2;
		r = mfa_totp_generate(s, &p, mfa_totp_step(&p, time(NULL)) + atol(argv[3]), code);
		mfa_secret_free(s);
		if (r < 0)
			return 1;
		printf("%s\n", code);
		return 0;
	}
	if (argc < 4 || (r = mfa_state_open_dir(argv[2], &dir_fd)) < 0)
		return 2;
	if (strcmp(argv[1], "show") == 0)
		return show(dir_fd, argv[3]);
	if (argc < 5)
		return 2;
	r = change(dir_fd, argv[1], argv[3], argv[4], argc > 5 ? argv[5] : NULL);
	if (r < 0) {
		fprintf(stderr, "state_tool %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	return 0;
}
