/* Between state.c and statelist.c; not part of libmfa's interface. */
#pragma once

#include <sys/stat.h>

#include "state.h"

/* mfa_state_lock() for a file name (mfa_user_to_filename) rather than a user name. */
int mfa_state_lock_fname(int dir_fd, const char *fname, unsigned timeout_ms, int *ret_lock_fd);

/* Reads and parses the state file fname (no counter record); a file named by a hash must name
 * a user whose hash that is. Returns as mfa_state_load(); *ret_sb is the file's fstat(). */
int mfa_state_load_fname(int dir_fd, const char *fname, struct mfa_state *ret_state,
			 struct stat *ret_sb, struct mfa_err *reterr);
