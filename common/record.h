/* The record kept in a user's lock file: two checksummed slots, written in turn, so a torn
 * write leaves the other slot (the previous value) intact. It holds the hot-path counters and
 * a summary of the state file it belongs to, so that a listing can skip parsing state files.
 * Internal to state.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "fsutil.h"

#define MFA_RECORD_NAME_MAX 128 /* == MFA_RESET_BY_MAX, checked in state.c */

struct mfa_record {
	uint64_t seq;
	uint64_t epoch; /* of the state file whose counters these are */
	int64_t last_step;
	int64_t locked_until;
	uint32_t failures;
	/* Summary of the state file identified by file; valid only while that is still the
	 * file in place (every store renames a new file in). */
	uint32_t status;
	int64_t enrolled_at;
	int64_t reset_at;
	struct mfa_fs_file_id file;
	char reset_by[MFA_RECORD_NAME_MAX + 1];
};

typedef bool (*mfa_record_match)(const struct mfa_record *rec, const void *arg);

/* The newest valid slot of fd: 0, -ENOENT when none is valid (new or torn file). */
int mfa_record_read(int fd, struct mfa_record *ret);
/* The newest valid slot for which match(rec, arg) holds: 0, -ENOENT when there is none. */
int mfa_record_find(int fd, mfa_record_match match, const void *arg, struct mfa_record *ret);
/* Writes rec (seq: the newest valid one's + 1), then fdatasync()s unless nosync (a bulk reset:
 * the caller syncfs()es the batch). keep is the epoch of the state file in place (rec->epoch
 * for a counter write, the replaced file's for a store): the newest slot of that epoch is
 * never overwritten while the other slot is invalid or of another epoch. */
int mfa_record_write(int fd, const struct mfa_record *rec, uint64_t keep, bool nosync);
