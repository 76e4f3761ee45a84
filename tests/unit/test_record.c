/* record.c: which slot a write may overwrite, checked against crashes simulated by hand (a
 * record whose state file was never renamed in, a torn slot). */
#include <errno.h>
#include <unistd.h>

#include "record.h"
#include "statefx.h"

/* Both slots as they are now (a new lock file may hold one). */
static void snapshot(int fd, unsigned char buf[512])
{
	memset(buf, 0, 512);
	assert_true(pread(fd, buf, 512, 0) >= 256);
}

/* Flips a byte in the slot (of two 256-byte slots) that differs between before and now: the
 * write that produced now torn by a crash. */
static void tear_written_slot(int fd, const unsigned char before[512])
{
	unsigned char now[512];
	int torn = -1;

	assert_int_equal(pread(fd, now, sizeof(now), 0), (ssize_t)sizeof(now));
	for (int i = 0; i < 2; i++)
		if (memcmp(now + 256 * i, before + 256 * i, 256) != 0)
			torn = i;
	assert_true(torn >= 0);
	now[256 * torn + 24] ^= 0x5a;
	assert_int_equal(pwrite(fd, now + 256 * torn, 256, 256 * torn), 256);
}

/* The reported rollback: file last_step 100, the record 105; a batch reset writes its record
 * (new epoch) but its rename is lost in a crash; the next login writes 106 and that write is
 * torn. The live file's newest value (105) must survive: before, the login overwrote the only
 * slot of the live epoch and the load fell back to 100 (old=105, new=106). */
static void test_torn_write_after_lost_reset_keeps_newest_step(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), b;
	struct mfa_record lost = { .epoch = 0, .last_step = -1, .status = MFA_STATUS_RESET };
	unsigned char before[512];
	_cleanup_close_ int lk = -1;

	a.last_step = 100;
	store(f, "alice", &a);
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	a.last_step = 105;
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	lost.epoch = a.epoch ^ 1; /* the reset's record, written as mfa_state_store() does */
	assert_int_equal(mfa_record_write(lk, &lost, a.epoch, false), 0);
	assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
	assert_int_equal(b.last_step, 105);
	mfa_state_clear(&b);

	snapshot(lk, before);
	a.last_step = 106;
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	tear_written_slot(lk, before);
	assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
	assert_int_equal(b.last_step, 105);
	mfa_state_clear(&b);
	mfa_state_clear(&a);
}

/* Between two slots of the live epoch the older goes: a torn write costs only the step that
 * was being written. */
static void test_torn_write_between_live_slots_keeps_previous(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), b;
	unsigned char before[512];
	_cleanup_close_ int lk = -1;

	store(f, "alice", &a);
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	for (int64_t step = 200; step < 206; step++) {
		a.last_step = step;
		snapshot(lk, before);
		assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	}
	tear_written_slot(lk, before);
	assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
	assert_int_equal(b.last_step, 204);
	mfa_state_clear(&b);
	mfa_state_clear(&a);
}

/* A store whose rename is lost keeps the live file's newest slot too, even when the other slot
 * holds a still older lost reset. */
static void test_store_record_spares_live_epoch(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled();
	struct mfa_record lost = { .last_step = -1, .status = MFA_STATUS_RESET }, rec;
	_cleanup_close_ int lk = -1;

	store(f, "alice", &a);
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	a.last_step = 300;
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	lost.epoch = a.epoch ^ 1;
	assert_int_equal(mfa_record_write(lk, &lost, a.epoch, false), 0);
	lost.epoch = a.epoch ^ 2; /* a second lost reset */
	assert_int_equal(mfa_record_write(lk, &lost, a.epoch, false), 0);
	assert_int_equal(mfa_record_find(lk, NULL, NULL, &rec), 0);
	assert_int_equal(rec.epoch, a.epoch ^ 2);
	{
		struct mfa_state b;
		assert_int_equal(mfa_state_load(f->dfd, lk, "alice", &b, NULL), 0);
		assert_int_equal(b.last_step, 300);
		mfa_state_clear(&b);
	}
	mfa_state_clear(&a);
}

static bool of_epoch(const struct mfa_record *rec, const void *epoch)
{
	return rec->epoch == *(const uint64_t *)epoch;
}

/* mfa-resetd resets from a zeroed state (the old one is not read), so the store does not learn
 * the live file's epoch from its caller. With the live file's newest slot beside a lost
 * reset's newer record, a second reset overwrote that slot: its rename lost in turn, the live
 * file had no record left and fell back to its own older last step. */
static void test_reset_from_zeroed_state_spares_live_slot(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), reset = { 0 };
	struct mfa_record lost = { .last_step = -1, .status = MFA_STATUS_RESET }, rec;
	_cleanup_close_ int lk = -1;
	uint64_t live;

	store(f, "alice", &a);
	live = a.epoch;
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	a.last_step = 105;
	assert_int_equal(mfa_state_store_counters(lk, &a), 0);
	lost.epoch = live ^ 1; /* a batch reset whose rename a crash lost */
	assert_int_equal(mfa_record_write(lk, &lost, live, false), 0);
	mfa_state_make_reset(&reset, "root", 1700000000); /* as mfa-resetd does */
	assert_int_equal(mfa_state_store(f->dfd, lk, "alice", &reset, MFA_FS_NOSYNC), 0);
	assert_int_equal(mfa_record_find(lk, of_epoch, &live, &rec), 0);
	assert_int_equal(rec.last_step, 105);
	mfa_state_clear(&reset);
	mfa_state_clear(&a);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_torn_write_after_lost_reset_keeps_newest_step, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_torn_write_between_live_slots_keeps_previous, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_store_record_spares_live_epoch, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_from_zeroed_state_spares_live_slot, setup,
					teardown),
};

MFA_UNIT_MAIN(tests)
