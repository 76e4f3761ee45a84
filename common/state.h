/* Per-user state: <state_dir>/<file> (libconfig text, replaced atomically) plus a counter
 * record in the user's lock file <state_dir>/.lock/<file> (two checksummed slots updated in
 * place), so the hot path of a login (last step, failure count, lockout) is one pwrite and
 * one fdatasync instead of temp + fsync + rename + directory fsync.
 *
 * The state file carries a random epoch, re-drawn by every full store. A counter slot counts
 * only when it carries the state file's epoch, so a crash between a full store and a counter
 * write leaves the values of the state file, never a mix of two enrollments.
 *
 * The record also carries a summary of the state file (status, times, reset_by) and that
 * file's identity (inode, change time, size), so listings of many users read 2 x 256 bytes per user
 * instead of parsing every file; a record whose identity is not the file's is never used. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "fsutil.h"
#include "macro.h"
#include "secret.h"
#include "user.h"

#define MFA_STATE_VERSION 1
/* reset_by is shown to people, never a path: a longer administrator's name is cut between
 * characters (mfa_state_make_reset); the counter record holds exactly this much. */
#define MFA_RESET_BY_MAX 128
#define MFA_STATE_MAX_SIZE (16 * 1024)
#define MFA_STATE_LOCK_TIMEOUT_MS 10000
#define MFA_STATE_LOCK_DIR ".lock"

enum mfa_status {
	MFA_STATUS_ENROLLED,
	MFA_STATUS_RESET,
};

struct mfa_state {
	enum mfa_status status;
	struct mfa_secret *secret; /* enrolled: the secret; reset: NULL */
	/* The file held the secret in base32 (written by an earlier version; decoded through
	 * liboath, which leaves a copy of the text in the heap): a full store rewrites it in hex,
	 * and the files store does one at the next accepted code (store_files.c). */
	bool legacy_secret;
	enum mfa_algo algorithm;
	unsigned digits;
	unsigned period;
	int64_t last_step;    /* last accepted time step, -1 none */
	unsigned failures;    /* consecutive failed codes */
	int64_t locked_until; /* unix time, 0 not locked */
	int64_t enrolled_at;  /* unix time, 0 never */
	int64_t reset_at;     /* unix time, 0 never */
	char reset_by[MFA_RESET_BY_MAX + 1]; /* display string: any bytes but NUL */
	/* The user the file belongs to, kept in the file when its name is a hash (long names,
	 * see mfa_user_to_filename); "" otherwise. */
	char user[MFA_USER_NAME_MAX + 1];
	unsigned n_recovery;
	char recovery[MFA_RECOVERY_MAX][MFA_RECOVERY_HASH_LEN];
	uint64_t epoch; /* set by mfa_state_store(); ties the counter record to this file */
	/* Identity of the file it was loaded from or stored to (mfa_state_refresh, the
	 * record's summary): every store renames a new file into place. */
	struct mfa_fs_file_id file;
};

/* Opens state_dir (mfa_fs_open_dir) and its .lock subdirectory, creating the latter. */
int mfa_state_open_dir(const char *state_dir, int *ret_dir_fd);

/* Opens (creating, 0600) .lock/<file of user> and takes the exclusive OFD lock, waiting at
 * most timeout_ms (-ETIMEDOUT). Every read-modify-write of a user's state happens between
 * this and close(*ret_lock_fd). */
int mfa_state_lock(int dir_fd, const char *user, unsigned timeout_ms, int *ret_lock_fd);

/* Loads the user's state and applies the counter record. lock_fd is the fd from
 * mfa_state_lock(), or -1 for a read without the lock (decisions that are re-checked under
 * it, status listings). 0 loaded; -ENOENT never enrolled (no file); -EBADMSG corrupt,
 * truncated or unknown version (reterr says where); -EPERM unsafe owner/mode; -ELOOP
 * symlink; -EFBIG oversize. On failure *ret_state is untouched. */
int mfa_state_load(int dir_fd, int lock_fd, const char *user, struct mfa_state *ret_state,
		   struct mfa_err *reterr);

/* The listing view of a user's state (status, times, reset_by, counters; never the secret)
 * without parsing the state file: taken from the lock file's record when that record describes
 * the file now in place (same inode and change time), otherwise by mfa_state_load() (stale or
 * missing record, unsafe file: same returns and errors). Unlocked, like a status listing.
 * lock_dir: from mfa_state_open_lock_dir(), or -1 to open it per call. */
int mfa_state_load_summary(int dir_fd, int lock_dir, const char *user,
			   struct mfa_state *ret_state, struct mfa_err *reterr);
/* Opens the existing .lock directory of an open state_dir (for mfa_state_load_summary). */
int mfa_state_open_lock_dir(int dir_fd, int *ret_fd);

/* Under the lock, brings st (from an earlier mfa_state_load(), e.g. the unlocked decision read)
 * up to date: when the state file is still the file st came from, only the counter record is
 * re-read; otherwise st is cleared and loaded afresh. Returns as mfa_state_load(); on failure
 * st is cleared. */
int mfa_state_refresh(int dir_fd, int lock_fd, const char *user, struct mfa_state *st,
		      struct mfa_err *reterr);

/* Writes the whole state atomically (mfa_fs_write_atomic) with a new epoch (stored into
 * st->epoch) and the secret in hex (st->legacy_secret cleared), then the record in lock_fd
 * (counters and summary of the new file, whose identity goes into st). Caller holds the lock.
 * flags: MFA_FS_NOSYNC for bulk resets (the caller syncfs()es the batch). */
int mfa_state_store(int dir_fd, int lock_fd, const char *user, struct mfa_state *st,
		    unsigned flags);

/* The hot path: writes last_step, failures and locked_until (with st's summary) into the next
 * record slot of lock_fd and fdatasync()s it. st must have been loaded (or stored) under this
 * lock. */
int mfa_state_store_counters(int lock_fd, const struct mfa_state *st);

/* Text form. parse: 0, -EBADMSG (reterr). format: *ret_text is sodium_malloc()ed (it holds
 * the secret); free with mfa_secret_free_string().
 * parse_n works in place on len bytes of text in guarded memory, text[len] == '\0' (a NUL
 * among the len bytes is corrupt):
 * the secret's value is taken out and overwritten with placeholders, so libconfig, which
 * copies the text and frees it unwiped, never holds the secret. parse copies text into
 * guarded memory first. */
int mfa_state_parse(const char *text, struct mfa_state *ret_state, struct mfa_err *reterr);
int mfa_state_parse_n(char *text, size_t len, struct mfa_state *ret_state,
		      struct mfa_err *reterr);
int mfa_state_format(const struct mfa_state *st, char **ret_text, size_t *ret_len);

/* Turns st into a pending reset by `by` at now: secret and recovery hashes wiped, counters
 * cleared, status reset. Works on a zeroed state (user never enrolled). `by` is any name NSS
 * gave the administrator: kept for display, cut between characters to fit, control bytes
 * as '?'. */
void mfa_state_make_reset(struct mfa_state *st, const char *by, int64_t now);

/* Frees the secret and wipes everything; accepts a zeroed state. */
void mfa_state_clear(struct mfa_state *st);
static inline void mfa_state_clearp(struct mfa_state *st)
{
	mfa_state_clear(st);
}

/* Calls cb for every user with a state file in dir_fd (skipping .lock, temp files and names no
 * user maps to; a file named by a hash gives the user named inside it), in directory order;
 * stops at and returns the first cb result < 0. On the way, removes every temp file that a
 * writer killed before its rename left behind (under that user's lock, waited for briefly;
 * a busy user's temp file is left for later). */
int mfa_state_foreach_user(int dir_fd, int (*cb)(const char *user, void *userdata),
			   void *userdata);
