/* store_child DIR USER: stores a new enrolled state for USER under its lock and exits; the
 * unit tests run it under strace to kill it at a chosen system call (a crash mid-store). */
#include <stdio.h>

#include "state.h"

int main(int argc, char **argv)
{
	struct mfa_state st = { .status = MFA_STATUS_ENROLLED, .digits = 6, .period = 30,
				.last_step = -1 };
	int dir_fd = -1, lock_fd = -1, r;

	if (argc != 3) {
		fprintf(stderr, "usage: store_child DIR USER\n");
		return 2;
	}
	if ((r = mfa_secret_init()) < 0 || (r = mfa_state_open_dir(argv[1], &dir_fd)) < 0 ||
	    (r = mfa_state_lock(dir_fd, argv[2], 1000, &lock_fd)) < 0 ||
	    (r = mfa_secret_new(20, &st.secret)) < 0 ||
	    (r = mfa_state_store(dir_fd, lock_fd, argv[2], &st, 0)) < 0) {
		fprintf(stderr, "store_child: %d\n", r);
		return 1;
	}
	mfa_state_clear(&st);
	return 0;
}
