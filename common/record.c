/* Two-slot counter record (see record.h): the hot path of a login is one pwrite + fdatasync. */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "record.h"

#define SLOT_SIZE 64
#define SLOT_MAGIC 0x4d464163u /* "MFAc" */
#define SLOT_VERSION 1u
#define SUM_OFF 48
#define SUM_LEN 16

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
	crypto_generichash(slot + SUM_OFF, SUM_LEN, slot, SUM_OFF, NULL, 0);
}

static int decode(const unsigned char slot[SLOT_SIZE], struct mfa_record *ret)
{
	unsigned char sum[SUM_LEN];

	if (get32(slot) != SLOT_MAGIC || get32(slot + 4) != SLOT_VERSION)
		return -EBADMSG;
	crypto_generichash(sum, SUM_LEN, slot, SUM_OFF, NULL, 0);
	if (sodium_memcmp(sum, slot + SUM_OFF, SUM_LEN) != 0)
		return -EBADMSG;
	ret->seq = get64(slot + 8);
	ret->epoch = get64(slot + 16);
	ret->last_step = (int64_t)get64(slot + 24);
	ret->locked_until = (int64_t)get64(slot + 32);
	ret->failures = get32(slot + 40);
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
	if (!ok_a && !ok_b)
		return -ENOENT;
	*ret = (ok_a && (!ok_b || a.seq > b.seq)) ? a : b;
	return 0;
}

int mfa_record_write(int fd, const struct mfa_record *rec)
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
	if (fdatasync(fd) < 0)
		return -errno;
	return 0;
}
