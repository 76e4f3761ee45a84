/* The counter record kept in a user's lock file: two checksummed 64-byte slots, written in
 * turn, so a torn write leaves the other slot (the previous value) intact. Internal to
 * state.c. */
#pragma once

#include <stdint.h>

struct mfa_record {
	uint64_t seq;
	uint64_t epoch;
	int64_t last_step;
	int64_t locked_until;
	uint32_t failures;
};

/* The newest valid slot of fd: 0, -ENOENT when none is valid (new or torn file). */
int mfa_record_read(int fd, struct mfa_record *ret);
/* Writes rec into the slot after the newest valid one (seq+1) and fdatasync()s. */
int mfa_record_write(int fd, const struct mfa_record *rec);
