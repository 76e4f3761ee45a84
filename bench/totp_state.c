/* pam_totp benchmark: writes enrolled pam_totp state for users 0..N-1 with libmfa itself
 * (mfa_state_lock + mfa_state_store), so the files are exactly what the module reads.
 *
 *   bench-totp-state STATE_DIR N
 *
 * Stores skip the per-file fsyncs (MFA_FS_NOSYNC, the library's bulk mode) and the directory
 * is syncfs()ed once at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "fsutil.h"
#include "secret.h"
#include "state.h"
#include "totp.h"

static int
store_one(int dir_fd, unsigned i, int64_t now)
{
	_cleanup_(mfa_state_clearp) struct mfa_state st = { 0 };
	_cleanup_close_ int lock_fd = -1;
	unsigned char secret[BENCH_SECRET_LEN];
	char name[BENCH_NAME_MAX];
	int r;

	bench_user_name(i, name);
	bench_user_secret(i, secret);
	r = mfa_secret_from_bytes(secret, sizeof(secret), &st.secret);
	if (r < 0)
		return r;
	st.status = MFA_STATUS_ENROLLED;
	st.algorithm = MFA_ALGO_SHA1;
	st.digits = BENCH_DIGITS;
	st.period = BENCH_PERIOD;
	st.last_step = -1;
	st.enrolled_at = now;
	r = mfa_state_lock(dir_fd, name, MFA_STATE_LOCK_TIMEOUT_MS, &lock_fd);
	if (r < 0)
		return r;
	return mfa_state_store(dir_fd, lock_fd, name, &st, MFA_FS_NOSYNC);
}

int
main(int argc, char **argv)
{
	_cleanup_close_ int dir_fd = -1;
	unsigned n, i;
	int64_t now = (int64_t)time(NULL);
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: bench-totp-state STATE_DIR N\n");
		return 2;
	}
	n = (unsigned)strtoul(argv[2], NULL, 10);
	if (mfa_secret_init() < 0 || mfa_totp_init() < 0)
		return 1;
	r = mfa_state_open_dir(argv[1], &dir_fd);
	for (i = 0; r >= 0 && i < n; i++)
		r = store_one(dir_fd, i, now);
	if (r >= 0 && syncfs(dir_fd) < 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "bench-totp-state: %s (after %u users)\n", strerror(-r), i);
		return 1;
	}
	return 0;
}
