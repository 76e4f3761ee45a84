/* Two-slot record (see record.h): the hot path of a login is one pwrite + fdatasync.
 * Slot layout (little endian): magic, version, seq, epoch, last_step, locked_until, failures,
 * status, enrolled_at, reset_at, file_ino, file_ctime_ns, reset_by (NUL-padded), then a
 * BLAKE2b-128 of everything before it. Files of format 1 (two 64-byte slots of counters) are
 * still read, until the first write replaces them. */
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
#define NAME_OFF 80
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
	put64(slot + 64, rec->file_ino);
	put64(slot + 72, (uint64_t)rec->file_ctime_ns);
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
 * empty: file_ino 0 is no file's, so listings parse the state file. */
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
	ret->file_ino = get64(slot + 64);
	ret->file_ctime_ns = (int64_t)get64(slot + 72);
	if (memchr(slot + NAME_OFF, '\0', MFA_RECORD_NAME_MAX + 1) == NULL)
		return -EBADMSG;
	memcpy(ret->reset_by, slot + NAME_OFF, sizeof(ret->reset_by) - 1);
	ret->reset_by[sizeof(ret->reset_by) - 1] = '\0';
	return 0;
}

int mfa_record_read(int fd, struct mfa_record *ret)
{
	unsigned char buf[2 * SLOT_SIZE];
	struct mfa_record a, b;
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	bool ok_a, ok_b;

	if (n < 0)
		return -errno;
	ok_a = n >= SLOT_SIZE && decode(buf, &a) == 0;
	ok_b = n >= 2 * SLOT_SIZE && decode(buf + SLOT_SIZE, &b) == 0;
	if (!ok_a && !ok_b) {
		ok_a = n >= V1_SLOT_SIZE && decode_v1(buf, &a) == 0;
		ok_b = n >= 2 * V1_SLOT_SIZE && decode_v1(buf + V1_SLOT_SIZE, &b) == 0;
	}
	if (!ok_a && !ok_b)
		return -ENOENT;
	*ret = (ok_a && (!ok_b || a.seq > b.seq)) ? a : b;
	return 0;
}

int mfa_record_write(int fd, const struct mfa_record *rec, bool nosync)
{
	struct mfa_record cur, next = *rec;
	unsigned char slot[SLOT_SIZE];
	off_t off;
	ssize_t n;

	next.seq = mfa_record_read(fd, &cur) == 0 ? cur.seq + 1 : 1;
	off = (off_t)(next.seq % 2) * SLOT_SIZE;
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
