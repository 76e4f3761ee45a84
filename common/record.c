/* Two-slot record (see record.h): the hot path of a login is one pwrite + fdatasync.
 * Slot layout (little endian): magic, version, seq, epoch, last_step, locked_until, failures,
 * status, enrolled_at, reset_at, the state file's inode, change time and size, reset_by
 * (NUL-padded), then a BLAKE2b-128 of everything before it.
 *
 * A write goes to a slot of another epoch (or an invalid one) before one of its own epoch, and
 * between two of its own epoch to the older, so a torn write never costs the newest value for
 * the live state file. Readers pick the newest valid slot that fits what they hold (the
 * state file's epoch, or its identity): after a crash that kept the old state file but not
 * the record written for its replacement, the other slot still has the old file's values.
 * Files of format 1 (two 64-byte slots of counters) are still read, until the first write
 * replaces them. */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "record.h"

#define SLOT_SIZE 256
#define SLOT_MAGIC 0x4d464163u /* "MFAc" */
#define SLOT_VERSION 2u
#define NAME_OFF 88
#define NAME_LEN 136 /* MFA_RECORD_NAME_MAX + NUL, padded */
#define SUM_OFF 240
#define SUM_LEN 16
#define V1_SLOT_SIZE 64
#define V1_SUM_OFF 48

_Static_assert(NAME_OFF + NAME_LEN <= SUM_OFF, "slot layout");
_Static_assert(NAME_LEN > MFA_RECORD_NAME_MAX, "slot layout");

static void put32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static void encode(const struct mfa_record *rec, unsigned char slot[SLOT_SIZE])
{
	memset(slot, 0, SLOT_SIZE);
	put32(slot, SLOT_MAGIC);
	put32(slot + 4, SLOT_VERSION);
	put64(slot + 8, rec->seq);
	put64(slot + 16, rec->epoch);
	put64(slot + 24, (uint64_t)rec->last_step);
	put64(slot + 32, (uint64_t)rec->locked_until);
	put32(slot + 40, rec->failures);
	put32(slot + 44, rec->status);
	put64(slot + 48, (uint64_t)rec->enrolled_at);
	put64(slot + 56, (uint64_t)rec->reset_at);
	put64(slot + 64, rec->file.ino);
	put64(slot + 72, (uint64_t)rec->file.ctime_ns);
	put64(slot + 80, (uint64_t)rec->file.size);
	memcpy(slot + NAME_OFF, rec->reset_by, strnlen(rec->reset_by, MFA_RECORD_NAME_MAX));
	crypto_generichash(slot + SUM_OFF, SUM_LEN, slot, SUM_OFF, NULL, 0);
}

/* magic, version and the BLAKE2b-128 of the sum_off bytes before the sum */
static bool slot_ok(const unsigned char *slot, uint32_t version, size_t sum_off)
{
	unsigned char sum[SUM_LEN];

	if (get32(slot) != SLOT_MAGIC || get32(slot + 4) != version)
		return false;
	crypto_generichash(sum, SUM_LEN, slot, sum_off, NULL, 0);
	return sodium_memcmp(sum, slot + sum_off, SUM_LEN) == 0;
}

/* Format 1 (64-byte slots: the counters alone, sum at 48), read until the file's first new
 * write, so that an upgrade keeps the last accepted step and the lockout. Its summary stays
 * empty: inode 0 is no file's, so listings parse the state file. */
static int decode_v1(const unsigned char slot[V1_SLOT_SIZE], struct mfa_record *ret)
{
	if (!slot_ok(slot, 1, V1_SUM_OFF))
		return -EBADMSG;
	*ret = (struct mfa_record){
		.seq = get64(slot + 8),
		.epoch = get64(slot + 16),
		.last_step = (int64_t)get64(slot + 24),
		.locked_until = (int64_t)get64(slot + 32),
		.failures = get32(slot + 40),
	};
	return 0;
}

static int decode(const unsigned char slot[SLOT_SIZE], struct mfa_record *ret)
{
	if (!slot_ok(slot, SLOT_VERSION, SUM_OFF))
		return -EBADMSG;
	ret->seq = get64(slot + 8);
	ret->epoch = get64(slot + 16);
	ret->last_step = (int64_t)get64(slot + 24);
	ret->locked_until = (int64_t)get64(slot + 32);
	ret->failures = get32(slot + 40);
	ret->status = get32(slot + 44);
	ret->enrolled_at = (int64_t)get64(slot + 48);
	ret->reset_at = (int64_t)get64(slot + 56);
	ret->file.ino = get64(slot + 64);
	ret->file.ctime_ns = (int64_t)get64(slot + 72);
	ret->file.size = (int64_t)get64(slot + 80);
	if (memchr(slot + NAME_OFF, '\0', MFA_RECORD_NAME_MAX + 1) == NULL)
		return -EBADMSG;
	memcpy(ret->reset_by, slot + NAME_OFF, sizeof(ret->reset_by) - 1);
	ret->reset_by[sizeof(ret->reset_by) - 1] = '\0';
	return 0;
}

/* Both slots of fd; format-1 slots only when neither format-2 slot is valid. */
struct slots {
	struct mfa_record r[2];
	bool ok[2];
	bool v1;
};

static int read_slots(int fd, struct slots *s)
{
	unsigned char buf[2 * SLOT_SIZE];
	ssize_t n;

	*s = (struct slots){ .v1 = false };
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	s->ok[0] = n >= SLOT_SIZE && decode(buf, &s->r[0]) == 0;
	s->ok[1] = n >= 2 * SLOT_SIZE && decode(buf + SLOT_SIZE, &s->r[1]) == 0;
	if (!s->ok[0] && !s->ok[1]) {
		s->ok[0] = n >= V1_SLOT_SIZE && decode_v1(buf, &s->r[0]) == 0;
		s->ok[1] = n >= 2 * V1_SLOT_SIZE && decode_v1(buf + V1_SLOT_SIZE, &s->r[1]) == 0;
		s->v1 = s->ok[0] || s->ok[1];
	}
	return 0;
}

/* Index of the newest valid slot for which match holds (match NULL: any), -1 none. */
static int newest(const struct slots *s, mfa_record_match match, const void *arg)
{
	int best = -1;

	for (int i = 0; i < 2; i++) {
		if (!s->ok[i] || (match && !match(&s->r[i], arg)))
			continue;
		if (best < 0 || s->r[i].seq > s->r[best].seq)
			best = i;
	}
	return best;
}

int mfa_record_find(int fd, mfa_record_match match, const void *arg, struct mfa_record *ret)
{
	struct slots s;
	int r, i;

	if ((r = read_slots(fd, &s)) < 0)
		return r;
	if ((i = newest(&s, match, arg)) < 0)
		return -ENOENT;
	*ret = s.r[i];
	return 0;
}

int mfa_record_read(int fd, struct mfa_record *ret)
{
	return mfa_record_find(fd, NULL, NULL, ret);
}

/* The slot a write may overwrite, keep: the epoch of the state file in place. A slot that is
 * invalid or of another epoch goes first, and only between two slots of the live epoch the
 * older: the newest value for the live file is never the one at risk. After a crash that kept
 * a batch reset's record but not its rename, the next login's write (torn by another crash)
 * then costs the lost reset's slot, not the only one that matches the file. Format 1 lives
 * inside slot 0, so slot 1 first. */
static int victim(const struct slots *s, uint64_t keep)
{
	bool live[2];

	if (s->v1)
		return 1;
	for (int i = 0; i < 2; i++)
		live[i] = s->ok[i] && s->r[i].epoch == keep;
	if (live[0] != live[1])
		return live[0] ? 1 : 0;
	/* Both of the live epoch, or neither: the one that is not the newest valid slot. */
	return newest(s, NULL, NULL) == 0 ? 1 : 0;
}

int mfa_record_write(int fd, const struct mfa_record *rec, uint64_t keep, bool nosync)
{
	struct mfa_record next = *rec;
	unsigned char slot[SLOT_SIZE];
	struct slots s;
	off_t off;
	ssize_t n;
	int r, i;

	if ((r = read_slots(fd, &s)) < 0)
		return r;
	i = newest(&s, NULL, NULL);
	next.seq = i < 0 ? 1 : s.r[i].seq + 1;
	off = (off_t)victim(&s, keep) * SLOT_SIZE;
	encode(&next, slot);
	do
		n = pwrite(fd, slot, sizeof(slot), off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != SLOT_SIZE)
		return -EIO;
	if (!nosync && fdatasync(fd) < 0)
		return -errno;
	return 0;
}
