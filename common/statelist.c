/* Listing the users of a state directory, and removing the temp files of writers that were
 * killed before their rename while doing so. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "state-internal.h"
#include "state.h"

/* How long a listing waits for a user's lock before it leaves that user's temp file for the
 * next write or listing: the lock is busy when a write is under way (its temp is not stale). */
#define STALE_LOCK_MS 50
#define OLD_SUFFIX_LEN 13 /* "-" and 12 hex digits after ".tmp-<file>" (earlier versions) */

/* The file name a temp file is for: ".tmp.<file>" (MFA_FS_LOCKED writes), or
 * ".tmp-<file>-<12 hex>" (the random names of earlier versions). false when name is neither,
 * or names no user's file. */
static bool temp_target(const char *name, char *fname, size_t size)
{
	size_t pre = strlen(MFA_FS_TEMP_PREFIX), len = strlen(name);

	if (strncmp(name, MFA_FS_TEMP_PREFIX, pre) == 0) {
		name += pre;
		len -= pre;
	} else if (strncmp(name, ".tmp-", 5) == 0 && len > 5 + OLD_SUFFIX_LEN &&
		   name[len - OLD_SUFFIX_LEN] == '-' &&
		   strspn(name + len - OLD_SUFFIX_LEN + 1, "0123456789abcdef") ==
			   OLD_SUFFIX_LEN - 1) {
		name += 5;
		len -= 5 + OLD_SUFFIX_LEN;
	} else {
		return false;
	}
	if (len >= size)
		return false;
	memcpy(fname, name, len);
	fname[len] = '\0';
	return mfa_user_is_filename(fname) == 1;
}

/* Every writer holds the user's lock from creating its temp file to renaming it: a temp file
 * seen under that lock belongs to a writer that died. unlinkat() removes the entry itself and
 * never follows a link. A busy lock (a write under way, or a caller of ours holding it) is
 * left alone. */
static void remove_stale_temp(int dir_fd, const char *name)
{
	char fname[MFA_USER_FILE_MAX];
	_cleanup_close_ int lock_fd = -1;

	if (!temp_target(name, fname, sizeof(fname)) ||
	    mfa_state_lock_fname(dir_fd, fname, STALE_LOCK_MS, &lock_fd) < 0)
		return;
	(void)unlinkat(dir_fd, name, 0);
}

/* The user of a file named by a hash: the name kept inside it, checked against the hash. */
static int hashed_user(int dir_fd, const char *fname, char *user, size_t size)
{
	struct mfa_state st;
	struct stat sb;
	int r;

	if ((r = mfa_state_load_fname(dir_fd, fname, &st, &sb, NULL)) < 0)
		return r;
	if (strlen(st.user) >= size)
		r = -ENOBUFS;
	else
		memcpy(user, st.user, strlen(st.user) + 1);
	mfa_state_clear(&st);
	return r;
}

/* The user whose state file is the entry name, or < 0 when it is none. */
static int entry_user(int dir_fd, const struct dirent *de, char *user, size_t size)
{
	int r;

	if (de->d_name[0] == '.') { /* links too: a link in place of a temp is removed */
		remove_stale_temp(dir_fd, de->d_name);
		return -EINVAL;
	}
	if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
		return -EINVAL;
	r = mfa_user_from_filename(de->d_name, user, size);
	if (r == -EREMOTE)
		r = hashed_user(dir_fd, de->d_name, user, size);
	return r;
}

int mfa_state_foreach_user(int dir_fd, int (*cb)(const char *user, void *userdata),
			   void *userdata)
{
	char user[MFA_USER_NAME_MAX + 1];
	struct dirent *de;
	DIR *d;
	int fd = dup(dir_fd), r = 0;

	if (fd < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	while (r >= 0 && (errno = 0, de = readdir(d))) {
		if (entry_user(dir_fd, de, user, sizeof(user)) < 0)
			continue;
		r = cb(user, userdata);
	}
	if (r >= 0 && errno != 0)
		r = -errno;
	closedir(d);
	return r < 0 ? r : 0;
}
