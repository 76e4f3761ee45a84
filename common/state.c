/* Per-user state files (libconfig text, replaced atomically) and their locks; the counter
 * record that rides in the lock file is record.c. See state.h for the layout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>
#include <sodium.h>

#include "fsutil.h"
#include "locked.h"
#include "record.h"
#include "state.h"
#include "state-internal.h"

int mfa_state_open_dir(const char *state_dir, int *ret_dir_fd)
{
	_cleanup_close_ int fd = -1, lock_dir = -1;
	int r;

	if ((r = mfa_fs_open_dir(state_dir, &fd)) < 0)
		return r;
	if ((r = mfa_fs_open_subdir(fd, MFA_STATE_LOCK_DIR, true, &lock_dir)) < 0)
		return r;
	*ret_dir_fd = TAKE_FD(fd);
	return 0;
}

_Static_assert(MFA_RECORD_NAME_MAX == MFA_RESET_BY_MAX, "reset_by fits the record");

int mfa_state_open_lock_dir(int dir_fd, int *ret_fd)
{
	return mfa_fs_open_subdir(dir_fd, MFA_STATE_LOCK_DIR, false, ret_fd);
}

/* Opens .lock/<fname> (lock_dir: the open .lock, or -1 to open it here); creates it (and
 * makes the creation durable) when create is set. */
static int open_lock_fname(int dir_fd, int lock_dir, const char *fname, bool create, int *ret_fd)
{
	_cleanup_close_ int own_dir = -1, fd = -1;
	int r;

	if (lock_dir < 0) {
		r = mfa_fs_open_subdir(dir_fd, MFA_STATE_LOCK_DIR, create, &own_dir);
		if (r < 0)
			return r;
		lock_dir = own_dir;
	}
	r = mfa_fs_open_regular(lock_dir, fname, create ? O_RDWR : O_RDONLY, 0600, &fd);
	if (r == -ENOENT && create) {
		r = mfa_fs_open_regular(lock_dir, fname, O_RDWR | O_CREAT | O_EXCL, 0600, &fd);
		if (r == -EEXIST) /* created by a racing login: open what it made */
			r = mfa_fs_open_regular(lock_dir, fname, O_RDWR, 0600, &fd);
		else if (r == 0 && fsync(lock_dir) < 0)
			r = -errno;
	}
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int open_lock_file(int dir_fd, int lock_dir, const char *user, bool create, int *ret_fd)
{
	char fname[MFA_USER_FILE_MAX];
	int r;

	if ((r = mfa_user_to_filename(user, fname, sizeof(fname))) < 0)
		return r;
	return open_lock_fname(dir_fd, lock_dir, fname, create, ret_fd);
}

int mfa_state_lock_fname(int dir_fd, const char *fname, unsigned timeout_ms, int *ret_lock_fd)
{
	_cleanup_close_ int fd = -1;
	int r;

	if ((r = open_lock_fname(dir_fd, -1, fname, true, &fd)) < 0)
		return r;
	if ((r = mfa_fs_lock(fd, timeout_ms)) < 0)
		return r;
	*ret_lock_fd = TAKE_FD(fd);
	return 0;
}

int mfa_state_lock(int dir_fd, const char *user, unsigned timeout_ms, int *ret_lock_fd)
{
	char fname[MFA_USER_FILE_MAX];
	int r;

	if ((r = mfa_user_to_filename(user, fname, sizeof(fname))) < 0)
		return r;
	return mfa_state_lock_fname(dir_fd, fname, timeout_ms, ret_lock_fd);
}

static bool same_epoch(const struct mfa_record *rec, const void *epoch)
{
	return rec->epoch == *(const uint64_t *)epoch;
}

static bool same_file(const struct mfa_record *rec, const void *id)
{
	return mfa_fs_file_id_equal(&rec->file, id);
}

/* true when a record slot of this epoch was applied; otherwise the file's values stand. The
 * newest slot *of this epoch*: a crash can keep the old state file while the record written
 * for its replacement survives in the other slot. */
static bool apply_record(int lock_fd, struct mfa_state *st)
{
	struct mfa_record rec;

	if (lock_fd < 0 || mfa_record_find(lock_fd, same_epoch, &st->epoch, &rec) < 0)
		return false;
	st->last_step = rec.last_step;
	st->locked_until = rec.locked_until;
	st->failures = rec.failures;
	return true;
}

static void sodium_freep(char **p)
{
	if (*p)
		sodium_free(*p);
}

static void locked_freep(char **p)
{
	mfa_locked_free(*p);
}

/* The whole state file into locked memory (mfa_fs_read_text: bounded, read whole, no NUL). */
static int read_state_text(int dir_fd, const char *fname, char **ret_text, size_t *ret_len,
			   struct stat *ret_sb, struct mfa_err *reterr)
{
	_cleanup_close_ int fd = -1;
	_cleanup_(locked_freep) char *text = NULL;
	unsigned line;
	size_t size;
	int r;

	if ((r = mfa_fs_open_regular(dir_fd, fname, O_RDONLY, 0, &fd)) < 0)
		return r == -ENOENT ? r : mfa_err_set(reterr, r, 0, "unsafe or unreadable state file");
	if ((r = mfa_fs_text_buffer_size(fd, MFA_STATE_MAX_SIZE - 2, &size)) == -EFBIG)
		return mfa_err_set(reterr, r, 0, "cannot read the state file whole");
	if (r < 0)
		return mfa_err_set(reterr, r, 0, "unsafe or unreadable state file");
	if (!(text = mfa_locked_alloc(size)))
		return -ENOMEM;
	r = mfa_fs_read_text(fd, text, size, ret_len, &line);
	if (r == -EBADMSG)
		return mfa_err_set(reterr, r, line, "file: NUL byte");
	if (r < 0)
		return mfa_err_set(reterr, r, 0, "cannot read the state file whole");
	if (fstat(fd, ret_sb) < 0)
		return -errno;
	*ret_text = TAKE_PTR(text);
	return 0;
}

int mfa_state_load_fname(int dir_fd, const char *fname, struct mfa_state *ret_state,
			 struct stat *ret_sb, struct mfa_err *reterr)
{
	_cleanup_(locked_freep) char *text = NULL;
	char check[MFA_USER_FILE_MAX];
	struct mfa_state st;
	size_t len;
	int r;

	if ((r = read_state_text(dir_fd, fname, &text, &len, ret_sb, reterr)) < 0 ||
	    (r = mfa_state_parse_n(text, len, &st, reterr)) < 0)
		return r;
	/* A file named by a hash says whose it is, and that name must hash to the file name. */
	if (strncmp(fname, MFA_USER_FILE_HASH_PREFIX, 2) == 0 &&
	    (!st.user[0] || mfa_user_to_filename(st.user, check, sizeof(check)) < 0 ||
	     strcmp(check, fname) != 0)) {
		mfa_state_clear(&st);
		return mfa_err_set(reterr, -EBADMSG, 0, "user: missing or not this file's user");
	}
	*ret_state = st;
	return 0;
}

int mfa_state_load(int dir_fd, int lock_fd, const char *user, struct mfa_state *ret_state,
		   struct mfa_err *reterr)
{
	char fname[MFA_USER_FILE_MAX];
	_cleanup_close_ int own_lock = -1;
	struct mfa_state st;
	struct stat sb;
	int r;

	if ((r = mfa_user_to_filename(user, fname, sizeof(fname))) < 0 ||
	    (r = mfa_state_load_fname(dir_fd, fname, &st, &sb, reterr)) < 0)
		return r;
	if (st.user[0] && strcmp(st.user, user) != 0) {
		mfa_state_clear(&st);
		return mfa_err_set(reterr, -EBADMSG, 0, "user: the file of another user");
	}
	mfa_fs_file_id_of(&sb, &st.file);
	if (lock_fd < 0 && open_lock_fname(dir_fd, -1, fname, false, &own_lock) == 0)
		lock_fd = own_lock; /* unlocked read: slots are checksummed, so still consistent */
	apply_record(lock_fd, &st);
	*ret_state = st;
	return 0;
}

/* fstatat() of the user's state file itself (a link is not followed). */
static int stat_state(int dir_fd, const char *user, struct stat *ret_sb)
{
	char fname[MFA_USER_FILE_MAX];
	int r;

	if ((r = mfa_user_to_filename(user, fname, sizeof(fname))) < 0)
		return r;
	if (fstatat(dir_fd, fname, ret_sb, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int mfa_state_refresh(int dir_fd, int lock_fd, const char *user, struct mfa_state *st,
		      struct mfa_err *reterr)
{
	struct mfa_fs_file_id id;
	struct stat sb;

	if (stat_state(dir_fd, user, &sb) == 0) {
		mfa_fs_file_id_of(&sb, &id);
		if (mfa_fs_file_id_equal(&id, &st->file) && apply_record(lock_fd, st))
			return 0;
	}
	mfa_state_clear(st);
	return mfa_state_load(dir_fd, lock_fd, user, st, reterr);
}

/* The record for st: its counters, and the summary of the file it was loaded from or stored
 * to (st->file). */
static int write_record(int lock_fd, const struct mfa_state *st, uint64_t keep, bool nosync)
{
	struct mfa_record rec = {
		.epoch = st->epoch,
		.last_step = st->last_step,
		.locked_until = st->locked_until,
		.failures = st->failures,
		.status = (uint32_t)st->status,
		.enrolled_at = st->enrolled_at,
		.reset_at = st->reset_at,
		.file = st->file,
	};

	memcpy(rec.reset_by, st->reset_by, sizeof(rec.reset_by));
	return mfa_record_write(lock_fd, &rec, keep, nosync);
}

/* The epoch of the state file in place, as the record knows it (the newest slot of that file's
 * identity), else the caller's: st need not come from that file (mfa-resetd resets from a
 * zeroed state), and the record's slot for it is what a lost rename falls back on. */
static uint64_t live_epoch(int dir_fd, int lock_fd, const char *fname, uint64_t caller)
{
	struct mfa_fs_file_id id;
	struct mfa_record rec;
	struct stat sb;

	if (fstatat(dir_fd, fname, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return caller;
	mfa_fs_file_id_of(&sb, &id);
	return mfa_record_find(lock_fd, same_file, &id, &rec) == 0 ? rec.epoch : caller;
}

int mfa_state_store(int dir_fd, int lock_fd, const char *user, struct mfa_state *st,
		    unsigned flags)
{
	char fname[MFA_USER_FILE_MAX];
	_cleanup_(sodium_freep) char *text = NULL;
	uint64_t old_epoch = st->epoch, keep;
	struct stat sb;
	size_t len;
	int r;

	if (lock_fd < 0)
		return -ENOLCK;
	if ((r = mfa_user_to_filename(user, fname, sizeof(fname))) < 0)
		return r;
	keep = live_epoch(dir_fd, lock_fd, fname, old_epoch);
	if (mfa_sodium_ready() < 0)
		return -EIO;
	do
		randombytes_buf(&st->epoch, sizeof(st->epoch));
	while (st->epoch == old_epoch || st->epoch == 0);
	/* A hashed file name does not say whose file it is: the file does (listings). */
	if (strncmp(fname, MFA_USER_FILE_HASH_PREFIX, 2) == 0)
		memcpy(st->user, user, strlen(user) + 1);
	else
		st->user[0] = '\0';
	if ((r = mfa_state_format(st, &text, &len)) < 0)
		return r;
	if ((r = mfa_fs_write_atomic(dir_fd, fname, text, len, flags | MFA_FS_LOCKED)) < 0)
		return r;
	st->legacy_secret = false; /* the file in place is the writer's: hex */
	/* The file is in place and authoritative. The record only speeds up later reads: one that
	 * is not written keeps the old epoch and identity, so it is ignored, never misapplied. */
	if (fstatat(dir_fd, fname, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		mfa_fs_file_id_of(&sb, &st->file);
		(void)write_record(lock_fd, st, keep, flags & MFA_FS_NOSYNC);
	}
	return 0;
}

int mfa_state_store_counters(int lock_fd, const struct mfa_state *st)
{
	if (lock_fd < 0)
		return -ENOLCK;
	return write_record(lock_fd, st, st->epoch, false);
}

int mfa_state_load_summary(int dir_fd, int lock_dir, const char *user,
			   struct mfa_state *ret_state, struct mfa_err *reterr)
{
	_cleanup_close_ int lock_fd = -1;
	struct mfa_record rec;
	struct mfa_fs_file_id id;
	struct stat sb;
	int r;

	if ((r = stat_state(dir_fd, user, &sb)) == -ENOENT)
		return r;
	if (r < 0) /* a bad name or an unreadable directory: the full load says which */
		return mfa_state_load(dir_fd, -1, user, ret_state, reterr);
	mfa_fs_file_id_of(&sb, &id);
	/* Anything unusual (unsafe file, no or stale record) is the full load's to judge. */
	if (mfa_fs_check_stat(&sb, false, true) < 0 || sb.st_size >= MFA_STATE_MAX_SIZE - 1 ||
	    open_lock_file(dir_fd, lock_dir, user, false, &lock_fd) < 0 ||
	    mfa_record_find(lock_fd, same_file, &id, &rec) < 0 || rec.status > MFA_STATUS_RESET)
		return mfa_state_load(dir_fd, -1, user, ret_state, reterr);
	*ret_state = (struct mfa_state){
		.status = (enum mfa_status)rec.status,
		.last_step = rec.last_step,
		.failures = rec.failures,
		.locked_until = rec.locked_until,
		.enrolled_at = rec.enrolled_at,
		.reset_at = rec.reset_at,
		.epoch = rec.epoch,
		.file = id,
	};
	memcpy(ret_state->reset_by, rec.reset_by, sizeof(ret_state->reset_by));
	return 0;
}

void mfa_state_clear(struct mfa_state *st)
{
	if (!st)
		return;
	mfa_secret_free(st->secret);
	sodium_memzero(st, sizeof(*st));
}

/* A name longer than the field is cut before a character (UTF-8), never inside one; control
 * bytes become '?', since the module shows this name on the user's terminal. */
static void set_display_name(char *buf, size_t size, const char *name)
{
	size_t len = strlen(name);

	if (len >= size) {
		len = size - 1;
		while (len > 0 && ((unsigned char)name[len] & 0xc0) == 0x80)
			len--;
	}
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	buf[len] = '\0';
}

void mfa_state_make_reset(struct mfa_state *st, const char *by, int64_t now)
{
	uint64_t epoch = st->epoch;

	mfa_state_clear(st);
	st->epoch = epoch;
	st->status = MFA_STATUS_RESET;
	st->algorithm = MFA_ALGO_SHA1;
	st->digits = 6;
	st->period = 30;
	st->last_step = -1;
	st->reset_at = now;
	set_display_name(st->reset_by, sizeof(st->reset_by), by ? by : "");
}
