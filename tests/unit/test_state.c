/* state.c, statefmt.c, record.c: round trips, every malformed or unsafe file refused, the
 * counter record's crash behaviour, atomic replacement and the per-user lock. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"
#include "state.h"
#include "unit.h"
#include "statefx.h"

static void test_round_trip_every_field(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), b;
	struct mfa_err e = { 0 };

	store(f, "DOMAIN\\alice", &a);
	assert_int_equal(mfa_state_load(f->dfd, -1, "DOMAIN\\alice", &b, &e), 0);
	assert_int_equal(b.status, a.status);
	assert_int_equal(b.algorithm, a.algorithm);
	assert_int_equal(b.digits, 8);
	assert_int_equal(b.period, 60);
	assert_int_equal(b.last_step, 123);
	assert_int_equal(b.failures, 2);
	assert_int_equal(b.enrolled_at, 1700000000);
	assert_string_equal(b.reset_by, "DOM\\ad\"min");
	assert_int_equal(b.n_recovery, 3);
	assert_memory_equal(b.recovery, a.recovery, sizeof(a.recovery[0]) * 3);
	assert_int_equal(b.secret->len, a.secret->len);
	assert_memory_equal(b.secret->bytes, a.secret->bytes, a.secret->len);
	assert_int_equal(b.epoch, a.epoch);
	mfa_state_clear(&a);
	mfa_state_clear(&b);
}

static void test_missing_file_is_enoent(void **state)
{
	struct fx *f = *state;
	struct mfa_state st;

	assert_int_equal(mfa_state_load(f->dfd, -1, "nobody", &st, NULL), -ENOENT);
}

static void test_valid_file_loads(void **state)
{
	struct mfa_err e = { 0 };

	assert_int_equal(load_file(*state, "state-valid", &e), 0);
}

#define MALFORMED(name, file)                                                                  \
	static void test_malformed_##name(void **state)                                       \
	{                                                                                      \
		struct mfa_err e = { 0 };                                                      \
		assert_int_equal(load_file(*state, file, &e), -EBADMSG);                       \
		assert_true(e.msg[0] != '\0');                                                 \
	}

MALFORMED(truncated, "state-truncated")
MALFORMED(garbage, "state-garbage")
MALFORMED(wrong_type, "state-wrong-type")
MALFORMED(unknown_version, "state-unknown-version")
MALFORMED(missing_field, "state-missing-field")
MALFORMED(unknown_key, "state-unknown-key")
MALFORMED(bad_base32_secret, "state-bad-secret")
MALFORMED(empty_file, "state-empty")
MALFORMED(bad_status, "state-bad-status")
MALFORMED(bad_recovery_hash, "state-bad-recovery")
MALFORMED(digits_out_of_range, "state-out-of-range")
MALFORMED(enrolled_without_secret, "state-enrolled-without-secret")

static void test_unsafe_symlink_refused(void **state)
{
	struct fx *f = *state;
	char path[128];
	struct mfa_state st;

	install(f, "state-valid", "target");
	snprintf(path, sizeof(path), "%s/alice", f->dir);
	assert_int_equal(symlink("target", path), 0);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, NULL), -ELOOP);
}

static void test_unsafe_world_readable_refused(void **state)
{
	struct fx *f = *state;
	struct mfa_state st;

	install(f, "state-valid", "alice");
	assert_int_equal(fchmodat(f->dfd, "alice", 0644, 0), 0);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, NULL), -EPERM);
	assert_int_equal(fchmodat(f->dfd, "alice", 0640, 0), 0);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, NULL), -EPERM);
}

static void test_unsafe_owner_refused(void **state)
{
	struct fx *f = *state;
	struct mfa_state st;

	install(f, "state-valid", "alice");
	/* Needs root to give the file away; the tests run as root in CI (scripts/test). */
	assert_int_equal(geteuid(), 0);
	assert_int_equal(fchownat(f->dfd, "alice", 12345, 12345, 0), 0);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, NULL), -EPERM);
}

static void test_unsafe_state_dir_refused(void **state)
{
	struct fx *f = *state;
	int fd = -1;

	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(mfa_state_open_dir(f->dir, &fd), -EPERM);
	assert_int_equal(chmod(f->dir, 0700), 0);
}

static void test_oversize_refused(void **state)
{
	struct fx *f = *state;
	struct mfa_state st;
	char path[128], cmd[256];

	install(f, "state-valid", "alice");
	snprintf(path, sizeof(path), "%s/alice", f->dir);
	snprintf(cmd, sizeof(cmd), "head -c %d /dev/zero | tr '\\0' '#' >> '%s'",
		 MFA_STATE_MAX_SIZE, path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, NULL), -EFBIG);
}

/* Padded with line breaks to n bytes. */
static void pad_to(const char *path, off_t n)
{
	struct stat sb;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	for (off_t i = sb.st_size; i < n; i++)
		assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
}

/* The read buffer is sized by fstat: a file of the largest size loads, one byte more is
 * refused, and an empty file is refused (never read as "no state"). */
static void test_state_size_boundaries(void **state)
{
	struct fx *f = *state;
	struct mfa_state st;
	char path[128];
	int fd;

	install(f, "state-valid", "alice");
	snprintf(path, sizeof(path), "%s/alice", f->dir);
	pad_to(path, MFA_STATE_MAX_SIZE - 2);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, NULL), 0);
	assert_int_equal(st.last_step, 56666666);
	mfa_state_clear(&st);
	pad_to(path, MFA_STATE_MAX_SIZE - 1);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, NULL), -EFBIG);
	assert_true((fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) >= 0);
	close(fd);
	assert_true(mfa_state_load(f->dfd, -1, "alice", &st, NULL) < 0);
}

static void test_counters_apply_after_store_counters(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), b;
	_cleanup_close_ int lk = -1;

	store(f, "alice", &a);
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	a.last_step = 999;
	a.failures = 4;
	a.locked_until = 1800000000;
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
	assert_int_equal(b.last_step, 999);
	assert_int_equal(b.failures, 4);
	assert_int_equal(b.locked_until, 1800000000);
	mfa_state_clear(&b);
	mfa_state_clear(&a);
}

/* A torn write of the newest slot leaves the previous slot's values. */
static void test_corrupt_slot_falls_back_to_other(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), b;
	_cleanup_close_ int lk = -1;
	unsigned char junk[8] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };

	store(f, "alice", &a); /* the store's record: seq 1, slot 0 (256-byte slots) */
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	a.last_step = 500; /* seq 2: slot 1 */
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	a.last_step = 501; /* seq 3: slot 0, torn below */
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	assert_int_equal(pwrite(lk, junk, sizeof(junk), 24), (ssize_t)sizeof(junk));
	assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
	assert_int_equal(b.last_step, 500);
	mfa_state_clear(&b);
	mfa_state_clear(&a);
}

/* After a full store (new epoch) the old counter record no longer counts. */
static void test_record_of_other_epoch_ignored(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), b;
	_cleanup_close_ int lk = -1;

	store(f, "alice", &a);
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	a.last_step = 777;
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	a.last_step = 5;
	assert_int_equal(mfa_state_store(f->dfd, lk, "alice", &a, 0), 0);
	assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
	assert_int_equal(b.last_step, 5);
	mfa_state_clear(&b);
	mfa_state_clear(&a);
}

/* Same file: only the counters move. A replaced file (a reset meanwhile): a full reload. */
static void test_refresh_rereads_counters_or_reloads(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), seen, reset = { 0 };
	_cleanup_close_ int lk = -1;

	store(f, "alice", &a);
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	a.last_step = 200;
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &seen, NULL), 0);
	a.last_step = 201; /* another login, after our unlocked read */
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	assert_int_equal(mfa_state_refresh(f->dfd, lk, "alice", &seen, NULL), 0);
	assert_int_equal(seen.last_step, 201);
	assert_int_equal(seen.status, MFA_STATUS_ENROLLED);
	mfa_state_make_reset(&reset, "bob", 5);
	assert_int_equal(mfa_state_store(f->dfd, lk, "alice", &reset, 0), 0);
	assert_int_equal(mfa_state_refresh(f->dfd, lk, "alice", &seen, NULL), 0);
	assert_int_equal(seen.status, MFA_STATUS_RESET);
	assert_null(seen.secret);
	mfa_state_clear(&seen);
	mfa_state_clear(&a);
}

/* One format-1 slot (64 bytes: counters only, BLAKE2b-128 of the first 48 bytes at 48). */
static void v1_slot(unsigned char slot[64], uint64_t seq, uint64_t epoch, int64_t last_step,
		    uint32_t failures)
{
	uint32_t u32;
	uint64_t u64;

	memset(slot, 0, 64);
	u32 = htole32(0x4d464163u), memcpy(slot, &u32, 4);
	u32 = htole32(1), memcpy(slot + 4, &u32, 4);
	u64 = htole64(seq), memcpy(slot + 8, &u64, 8);
	u64 = htole64(epoch), memcpy(slot + 16, &u64, 8);
	u64 = htole64((uint64_t)last_step), memcpy(slot + 24, &u64, 8);
	u32 = htole32(failures), memcpy(slot + 40, &u32, 4);
	crypto_generichash(slot + 48, 16, slot, 48, NULL, 0);
}

/* A lock file of record format 1 (two 64-byte slots, counters only) still counts after an
 * upgrade: the last accepted step and the failures survive (no replay of a code used just
 * before it). The first format-2 write goes to slot 1 and leaves the format-1 bytes alone, so
 * tearing it costs nothing; the write after it replaces them. */
static void test_format1_record_is_read_then_replaced(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), b;
	_cleanup_close_ int lk = -1;
	unsigned char v1[128], now[128], junk[8] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };

	store(f, "alice", &a);
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	v1_slot(v1, 6, a.epoch, 4241, 2);
	v1_slot(v1 + 64, 7, a.epoch, 4242, 3); /* the newer one */
	assert_int_equal(ftruncate(lk, 0), 0);
	assert_int_equal(pwrite(lk, v1, sizeof(v1), 0), (ssize_t)sizeof(v1));
	assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
	assert_int_equal(b.last_step, 4242);
	assert_int_equal(b.failures, 3);
	b.last_step = 4243;
	assert_int_equal(mfa_state_store_counters(lk, &b), 0);
	assert_int_equal(pread(lk, now, sizeof(now), 0), (ssize_t)sizeof(now));
	assert_memory_equal(now, v1, sizeof(v1));
	mfa_state_clear(&b);
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, "alice", &b, NULL), 0);
	assert_null(b.secret); /* from the new record's summary */
	assert_int_equal(b.last_step, 4243);
	mfa_state_clear(&b);
	/* That first write torn: the format-1 values are still there. */
	assert_int_equal(pwrite(lk, junk, sizeof(junk), 256 + 24), (ssize_t)sizeof(junk));
	assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
	assert_int_equal(b.last_step, 4242);
	mfa_state_clear(&b);
	mfa_state_clear(&a);
}

/* A crash can keep the old state file (a bulk reset's rename not yet on disk) while the record
 * written for its replacement, with the new epoch, is: the old file's counters are then those
 * of the other slot, not the older ones inside the file (no lockout lifted, no replay). */
static void test_record_of_lost_replacement_keeps_old_counters(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), lost = { 0 }, b;
	_cleanup_close_ int lk = -1;

	store(f, "alice", &a); /* the file: last_step 123, failures 2, not locked */
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	a.last_step = 900;
	a.failures = 0;
	a.locked_until = 1800000000;
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	mfa_state_make_reset(&lost, "bob", 1700000100);
	lost.epoch = a.epoch + 1; /* the replacement's epoch, its file never written */
	assert_int_equal(mfa_state_store_counters(lk, &lost), 0);
	assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
	assert_int_equal(b.status, MFA_STATUS_ENROLLED);
	assert_int_equal(b.last_step, 900);
	assert_int_equal(b.locked_until, 1800000000);
	mfa_state_clear(&b);
	mfa_state_clear(&lost);
	mfa_state_clear(&a);
}

/* The listing refuses an unsafe file even with a record that describes it exactly. */
static void test_summary_checks_file_even_with_matching_record(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), sum;
	_cleanup_close_ int lk = -1;
	struct stat sb;

	store(f, "alice", &a);
	assert_int_equal(fchmodat(f->dfd, "alice", 0640, 0), 0);
	assert_int_equal(fstatat(f->dfd, "alice", &sb, AT_SYMLINK_NOFOLLOW), 0);
	mfa_fs_file_id_of(&sb, &a.file);
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, "alice", &sum, NULL), -EPERM);
	mfa_state_clear(&a);
}

/* The summary (listings) comes from the record when it describes the file in place, and then
 * agrees with a full load field by field; it never carries the secret (a NULL secret and no
 * recovery hashes for an enrolled user also show the file was not parsed). */
static void test_summary_from_record_matches_full_load(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), full, sum;
	_cleanup_close_ int lk = -1;

	store(f, "DOM\\alice", &a);
	assert_int_equal(mfa_state_lock(f->dfd, "DOM\\alice", 1000, &lk), 0);
	a.failures = 4;
	a.locked_until = 1800000000;
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	assert_int_equal(mfa_state_load(f->dfd, -1, "DOM\\alice", &full, NULL), 0);
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, "DOM\\alice", &sum, NULL), 0);
	assert_null(sum.secret);
	assert_int_equal(sum.n_recovery, 0);
	assert_int_equal(sum.status, full.status);
	assert_int_equal(sum.enrolled_at, 1700000000);
	assert_int_equal(sum.reset_at, full.reset_at);
	assert_string_equal(sum.reset_by, "DOM\\ad\"min");
	assert_int_equal(sum.failures, 4);
	assert_int_equal(sum.locked_until, 1800000000);
	assert_int_equal(sum.last_step, full.last_step);
	assert_int_equal(sum.epoch, full.epoch);
	mfa_state_clear(&sum);
	mfa_state_clear(&full);
	mfa_state_clear(&a);
}

/* A reset stored with MFA_FS_NOSYNC (bulk) still leaves a record that listings can use. */
static void test_summary_of_bulk_reset(void **state)
{
	struct fx *f = *state;
	struct mfa_state st = { 0 }, sum;
	_cleanup_close_ int lk = -1, lock_dir = -1;

	assert_int_equal(mfa_state_lock(f->dfd, "carol", 1000, &lk), 0);
	mfa_state_make_reset(&st, "bob", 1700000100);
	assert_int_equal(mfa_state_store(f->dfd, lk, "carol", &st, MFA_FS_NOSYNC), 0);
	assert_int_equal(mfa_state_open_lock_dir(f->dfd, &lock_dir), 0);
	assert_int_equal(mfa_state_load_summary(f->dfd, lock_dir, "carol", &sum, NULL), 0);
	assert_int_equal(sum.status, MFA_STATUS_RESET);
	assert_int_equal(sum.reset_at, 1700000100);
	assert_string_equal(sum.reset_by, "bob");
	mfa_state_clear(&sum);
	mfa_state_clear(&st);
}

/* A file replaced behind the record's back (by hand, or a crash between rename and record)
 * is read in full: the record's stale summary is not used. */
static void test_summary_of_replaced_file_reads_the_file(void **state)
{
	struct fx *f = *state;
	struct mfa_state st = { 0 }, sum;
	_cleanup_close_ int lk = -1;

	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	mfa_state_make_reset(&st, "bob", 1700000100);
	assert_int_equal(mfa_state_store(f->dfd, lk, "alice", &st, 0), 0);
	install(f, "state-valid", "alice"); /* enrolled, failures = 1 */
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, "alice", &sum, NULL), 0);
	assert_int_equal(sum.status, MFA_STATUS_ENROLLED);
	assert_int_equal(sum.failures, 1);
	assert_int_equal(sum.reset_at, 0);
	mfa_state_clear(&sum);
	mfa_state_clear(&st);
}

/* Unsafe or corrupt files get the full load's verdict, record or not. */
static void test_summary_refuses_what_load_refuses(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), sum;
	char path[128];

	store(f, "alice", &a);
	assert_int_equal(fchmodat(f->dfd, "alice", 0640, 0), 0);
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, "alice", &sum, NULL), -EPERM);
	assert_int_equal(fchmodat(f->dfd, "alice", 0600, 0), 0);
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, "alice", &sum, NULL), 0);
	mfa_state_clear(&sum);
	assert_int_equal(unlinkat(f->dfd, "alice", 0), 0);
	snprintf(path, sizeof(path), "%s/alice", f->dir);
	assert_int_equal(symlink("elsewhere", path), 0);
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, "alice", &sum, NULL), -ELOOP);
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, "nobody", &sum, NULL), -ENOENT);
	install(f, "state-garbage", "bob");
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, "bob", &sum, NULL), -EBADMSG);
	mfa_state_clear(&a);
}

static void test_reset_of_never_enrolled_user(void **state)
{
	struct fx *f = *state;
	struct mfa_state st = { 0 }, b;

	mfa_state_make_reset(&st, "bob", 1700000100);
	store(f, "carol", &st);
	assert_int_equal(mfa_state_load(f->dfd, -1, "carol", &b, NULL), 0);
	assert_int_equal(b.status, MFA_STATUS_RESET);
	assert_null(b.secret);
	assert_int_equal(b.n_recovery, 0);
	assert_int_equal(b.reset_at, 1700000100);
	assert_string_equal(b.reset_by, "bob");
	mfa_state_clear(&b);
}

static void test_reset_wipes_secret_and_recovery(void **state)
{
	struct mfa_state st = enrolled();

	(void)state;
	mfa_state_make_reset(&st, "bob", 1);
	assert_null(st.secret);
	assert_int_equal(st.n_recovery, 0);
	assert_int_equal(st.recovery[0][0], '\0');
	assert_int_equal(st.status, MFA_STATUS_RESET);
}

/* A writer killed at random points leaves the old or the new file, never a partial one. */
static void test_atomic_write_survives_kill(void **state)
{
	struct fx *f = *state;
	struct mfa_state old = enrolled();

	old.last_step = 1;
	store(f, "alice", &old); /* the "old" file every kill must leave, or the new one */
	mfa_state_clear(&old);
	for (int round = 0; round < 20; round++) {
		struct mfa_state b;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			struct mfa_state a = enrolled();
			for (int64_t i = 0;; i++) {
				a.last_step = 1 + (i % 2);
				store(f, "alice", &a);
			}
		}
		usleep(2000 + 500 * round);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &b, NULL), 0);
		assert_true(b.last_step == 1 || b.last_step == 2);
		mfa_state_clear(&b);
	}
}

static int try_lock_in_child(struct fx *f, unsigned timeout_ms)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int lk = -1, r = mfa_state_lock(f->dfd, "alice", timeout_ms, &lk);
		_exit(r == 0 ? 0 : r == -ETIMEDOUT ? 1 : 2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_lock_excludes_second_process(void **state)
{
	struct fx *f = *state;
	int lk = -1;

	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	assert_int_equal(try_lock_in_child(f, 100), 1);
	close(lk);
	assert_int_equal(try_lock_in_child(f, 100), 0);
}

static int count_user(const char *user, void *userdata)
{
	(void)user;
	(*(int *)userdata)++;
	return 0;
}

static void test_foreach_skips_temp_and_lock(void **state)
{
	struct fx *f = *state;
	int n = 0;

	install(f, "state-valid", "alice");
	install(f, "state-valid", "bob");
	install(f, "state-valid", "DOM%5Ccarol");
	install(f, "state-valid", ".tmp-alice-0123456789ab");
	assert_int_equal(mfa_state_foreach_user(f->dfd, count_user, &n), 0);
	assert_int_equal(n, 3);
}

struct load_arg {
	int dfd;
	const char *user;
};

static int load_user(void *arg)
{
	const struct load_arg *a = arg;
	struct mfa_state st;
	int r = mfa_state_load(a->dfd, -1, a->user, &st, NULL);

	if (r == 0)
		mfa_state_clear(&st);
	return r;
}

/* A FIFO as a state file, or as the lock file an unlocked read opens, blocked the login in
 * open() for good. Neither blocks: the state FIFO is refused (not a regular file), and the
 * lock FIFO is no record, so the file's own values stand. */
static void test_fifo_state_or_lock_file_never_blocks(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled();
	_cleanup_close_ int lock_dir = -1;

	assert_int_equal(mkfifoat(f->dfd, "alice", 0600), 0);
	assert_int_equal(mfa_unit_in_child(load_user, &(struct load_arg){ f->dfd, "alice" }, 3),
			 -EBADFD);
	store(f, "bob", &a);
	assert_int_equal(mfa_state_open_lock_dir(f->dfd, &lock_dir), 0);
	assert_int_equal(unlinkat(lock_dir, "bob", 0), 0);
	assert_int_equal(mkfifoat(lock_dir, "bob", 0600), 0);
	assert_int_equal(mfa_unit_in_child(load_user, &(struct load_arg){ f->dfd, "bob" }, 3), 0);
	mfa_state_clear(&a);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_round_trip_every_field, setup, teardown),
	cmocka_unit_test_setup_teardown(test_missing_file_is_enoent, setup, teardown),
	cmocka_unit_test_setup_teardown(test_valid_file_loads, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_truncated, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_garbage, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_wrong_type, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_unknown_version, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_missing_field, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_unknown_key, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_bad_base32_secret, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_empty_file, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_bad_status, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_bad_recovery_hash, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_digits_out_of_range, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_enrolled_without_secret, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unsafe_symlink_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unsafe_world_readable_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unsafe_owner_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unsafe_state_dir_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_oversize_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_state_size_boundaries, setup, teardown),
	cmocka_unit_test_setup_teardown(test_counters_apply_after_store_counters, setup, teardown),
	cmocka_unit_test_setup_teardown(test_corrupt_slot_falls_back_to_other, setup, teardown),
	cmocka_unit_test_setup_teardown(test_record_of_other_epoch_ignored, setup, teardown),
	cmocka_unit_test_setup_teardown(test_format1_record_is_read_then_replaced, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_record_of_lost_replacement_keeps_old_counters, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_summary_checks_file_even_with_matching_record, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_summary_from_record_matches_full_load, setup, teardown),
	cmocka_unit_test_setup_teardown(test_summary_of_bulk_reset, setup, teardown),
	cmocka_unit_test_setup_teardown(test_summary_of_replaced_file_reads_the_file, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_summary_refuses_what_load_refuses, setup, teardown),
	cmocka_unit_test_setup_teardown(test_refresh_rereads_counters_or_reloads, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_of_never_enrolled_user, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_wipes_secret_and_recovery, setup, teardown),
	cmocka_unit_test_setup_teardown(test_atomic_write_survives_kill, setup, teardown),
	cmocka_unit_test_setup_teardown(test_lock_excludes_second_process, setup, teardown),
	cmocka_unit_test_setup_teardown(test_foreach_skips_temp_and_lock, setup, teardown),
	cmocka_unit_test_setup_teardown(test_fifo_state_or_lock_file_never_blocks, setup,
					teardown),
};

MFA_UNIT_MAIN(tests)
