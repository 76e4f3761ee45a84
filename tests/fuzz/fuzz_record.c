/* libFuzzer target: the lock file's record decoder (mfa_record_read). The input is the
 * file's content; every slot gets a valid checksum first (layout in common/record.c:
 * BLAKE2b-128 of bytes 0..239 at 240 of a 256-byte slot; of bytes 0..47 at 48 of a 64-byte
 * format-1 slot), so the fuzzer reaches the field checks behind it instead of stopping at
 * the checksum. A decoded record must hold a terminated reset_by of at most
 * MFA_RECORD_NAME_MAX bytes and survive a write and re-read unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "record.h"

#define SLOT 256
#define SUM_OFF 240
#define SUM_LEN 16
#define V1_SLOT 64
#define V1_SUM_OFF 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd_with(const unsigned char *buf, size_t len)
{
	int fd = memfd_create("record", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (len && write(fd, buf, len) != (ssize_t)len)
		abort();
	return fd;
}

static void check_round_trip(const struct mfa_record *a)
{
	struct mfa_record b;
	int fd = memfd_with(NULL, 0);

	if (mfa_record_write(fd, a, a->epoch, true) < 0 || mfa_record_read(fd, &b) < 0)
		abort();
	if (b.epoch != a->epoch || b.last_step != a->last_step || b.failures != a->failures ||
	    b.locked_until != a->locked_until || b.status != a->status ||
	    b.enrolled_at != a->enrolled_at || b.reset_at != a->reset_at ||
	    b.file.ino != a->file.ino || b.file.ctime_ns != a->file.ctime_ns ||
	    b.file.size != a->file.size ||
	    strcmp(b.reset_by, a->reset_by) != 0)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char buf[2 * SLOT];
	struct mfa_record rec;
	size_t len = size < sizeof(buf) ? size : sizeof(buf);
	int fd;

	memcpy(buf, data, len);
	/* Format-1 sums first (inside format-2 slot 0, so covered by its sum): an input whose
	 * version fields say 1 reaches the format-1 decoder's field checks too. */
	for (size_t off = 0; off + V1_SLOT <= len && off < 2 * V1_SLOT; off += V1_SLOT)
		crypto_generichash(buf + off + V1_SUM_OFF, SUM_LEN, buf + off, V1_SUM_OFF, NULL, 0);
	for (size_t off = 0; off + SLOT <= len; off += SLOT)
		crypto_generichash(buf + off + SUM_OFF, SUM_LEN, buf + off, SUM_OFF, NULL, 0);
	fd = memfd_with(buf, len);
	if (mfa_record_read(fd, &rec) == 0) {
		if (strnlen(rec.reset_by, sizeof(rec.reset_by)) > MFA_RECORD_NAME_MAX)
			abort();
		check_round_trip(&rec);
	}
	close(fd);
	return 0;
}
