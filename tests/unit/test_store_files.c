/* store_files.c and the state file's secret: written in hex and decoded by libsodium, so a
 * load leaves no copy of the secret in any heap block the process hands back (heapscan.h
 * searches every freed block); a file of an earlier version (base32, decoded by liboath,
 * which does leave one) still loads and is rewritten in hex at its user's first good code,
 * while a hex file's login stays one counter record write. */
#include <sys/stat.h>

#include <sodium.h>

#include "policyfx.h"

#include "heapscan.h"

#define KEY_HEX "3132333435363738393031323334353637383930"
#define KEY_B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

/* Copies data/NAME to alice's state file, mode 0600. */
static void put(struct fx *f, const char *name)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "install -m 0600 '%s/%s' '%s/" USER "'", getenv("MFA_TEST_DATA"),
		 name, f->dir.path);
	assert_int_equal(system(cmd), 0);
}

/* alice's state file, whole, with read(2): no stdio buffer holds the secret. */
static void read_state(struct fx *f, char *buf, size_t size, struct stat *ret_sb)
{
	_cleanup_close_ int fd = -1;
	char path[128];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/" USER, f->dir.path);
	assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
	n = read(fd, buf, size - 1);
	assert_true(n > 0 && (size_t)n < size - 1);
	buf[n] = '\0';
	assert_int_equal(fstat(fd, ret_sb), 0);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A hex file (data/state-valid-hex: alice, last step one before NOW's) loads, a code verifies,
 * and the login is the counter record alone: the state file is the same file, byte for byte. */
static void test_hex_state_loads_and_verifies(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;
	char before[2048], after[2048];
	struct stat sb0, sb1;

	put(f, "state-valid-hex");
	read_state(f, before, sizeof(before), &sb0);
	load(f, &t);
	assert_int_equal(t.status, MFA_TOKEN_ENROLLED);
	assert_int_equal(t.secret->len, sizeof(KEY));
	assert_memory_equal(t.secret->bytes, KEY, sizeof(KEY));
	assert_int_equal(verify(f, code_at(f, step_of(NOW)), NOW).result, MFA_VERIFY_OK_CODE);
	assert_int_equal(verify(f, code_at(f, step_of(NOW)), NOW).result, MFA_VERIFY_REPLAY);
	read_state(f, after, sizeof(after), &sb1);
	assert_true(same_file(&sb0, &sb1));
	assert_string_equal(before, after);
	load(f, &t);
	assert_int_equal(t.last_step, step_of(NOW));
	assert_int_equal(t.failures, 1);
}

/* A file an earlier version wrote (base32) loads; one good code later it is hex, with the
 * step it accepted and no failures; from then on logins write the counter record only. */
static void test_legacy_state_is_hex_after_one_login(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;
	char text[2048], text2[2048];
	struct stat sb0, sb1, sb2;

	put(f, "state-valid");
	read_state(f, text, sizeof(text), &sb0);
	assert_non_null(strstr(text, "secret = \"" KEY_B32 "\";\n"));
	load(f, &t);
	assert_int_equal(t.status, MFA_TOKEN_ENROLLED);
	assert_memory_equal(t.secret->bytes, KEY, sizeof(KEY));
	assert_int_equal(t.failures, 1);
	assert_int_equal(verify(f, code_at(f, step_of(NOW)), NOW).result, MFA_VERIFY_OK_CODE);
	read_state(f, text, sizeof(text), &sb1);
	assert_non_null(strstr(text, "\nsecret = \"hex:" KEY_HEX "\";\n"));
	assert_null(strstr(text, KEY_B32));
	assert_false(same_file(&sb0, &sb1));
	load(f, &t);
	assert_memory_equal(t.secret->bytes, KEY, sizeof(KEY));
	assert_int_equal(t.last_step, step_of(NOW));
	assert_int_equal(t.failures, 0);
	assert_int_equal(verify(f, code_at(f, step_of(NOW)), NOW).result, MFA_VERIFY_REPLAY);
	assert_int_equal(verify(f, code_at(f, step_of(NOW) + 1), NOW + 30).result,
			 MFA_VERIFY_OK_CODE);
	read_state(f, text2, sizeof(text2), &sb2);
	assert_true(same_file(&sb1, &sb2));
	assert_string_equal(text, text2);
	load(f, &t);
	assert_int_equal(t.last_step, step_of(NOW) + 1);
	assert_int_equal(t.failures, 0);
}

/* Failures on an old file are counted and lock as on any other: the failure and the lockout
 * written after it are compared against the same view, so neither rewrites the file. */
static void test_legacy_state_failures_still_lock(void **state)
{
	struct fx *f = *state;
	struct mfa_verify_outcome o;

	put(f, "state-valid"); /* failures = 1 */
	o = verify(f, "000000", NOW);
	assert_int_equal(o.result, MFA_VERIFY_WRONG);
	assert_int_equal(o.failures, 2);
	o = verify(f, "000001", NOW);
	assert_int_equal(o.failures, 3);
	assert_int_equal(o.locked_until, NOW + 300);
	assert_int_equal(verify(f, code_at(f, step_of(NOW)), NOW).result, MFA_VERIFY_LOCKED);
}

/* Needles: the secret's bytes, its hex and its base32 (each half too). */
static void scan_for_key(void)
{
	heapscan_reset();
	heapscan_add(KEY, sizeof(KEY));
	heapscan_add(KEY_HEX, strlen(KEY_HEX));
	heapscan_add(KEY_B32, strlen(KEY_B32));
}

/* Before, every load decoded base32 with liboath, which upper-cases the text into a heap block
 * that it frees unwiped: each login left the secret in the host process's heap. Now neither a
 * load, through the store or directly, nor a whole login hands back a block that held it. */
static void test_load_leaves_no_secret_in_freed_heap(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	_cleanup_close_ int dfd = -1;
	struct fx *f = *state;
	struct mfa_state st = { 0 };
	bool live;

	enroll(f);
	assert_int_equal(mfa_state_open_dir(f->dir.path, &dfd), 0);
	scan_for_key();
	live = heapscan_arm();
	assert_int_equal(mfa_store_load(f->store, USER, &t, NULL), 0);
	assert_int_equal(mfa_state_load(dfd, -1, USER, &st, NULL), 0);
	mfa_state_clear(&st);
	assert_int_equal(verify(f, code_at(f, step_of(NOW)), NOW).result, MFA_VERIFY_OK_CODE);
	assert_true(!live || heapscan_disarm() == 0);
	assert_memory_equal(t.secret->bytes, KEY, sizeof(KEY));
	heapscan_reset();
}

/* The one place liboath's copy remains: loading a file of an earlier version (once per such
 * user, until the first login rewrites it). This also shows the scanner sees that copy. The
 * login that rewrites the file (on the view already read, the record current, so nothing is
 * decoded again) and every load after it leave nothing. */
static void test_legacy_load_is_the_only_copy(void **state)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	struct fx *f = *state;
	struct mfa_verify_outcome o;
	bool live;

	put(f, "state-valid");
	assert_int_equal(verify(f, "000000", NOW).failures, 2); /* a record of this file */
	scan_for_key();
	live = heapscan_arm();
	assert_int_equal(mfa_store_load(f->store, USER, &t, NULL), 0);
	assert_true(!live || heapscan_disarm() > 0);
	live = heapscan_arm();
	assert_int_equal(mfa_policy_verify(&f->p, USER, &t, code_at(f, step_of(NOW)), NOW, &o), 0);
	assert_true(!live || heapscan_disarm() == 0);
	assert_int_equal(o.result, MFA_VERIFY_OK_CODE);
	live = heapscan_arm();
	load(f, &t);
	assert_int_equal(verify(f, code_at(f, step_of(NOW) + 1), NOW + 30).result,
			 MFA_VERIFY_OK_CODE);
	assert_true(!live || heapscan_disarm() == 0);
	assert_int_equal(t.failures, 0);
	heapscan_reset();
}

/* Enrollment still shows base32 through liboath's encoder: it writes into the one block it
 * returns, which is wiped before free(), so the key and URI leave nothing behind either. */
static void test_enrollment_display_leaves_no_copy(void **state)
{
	struct fx *f = *state;
	char grouped[2 * MFA_SECRET_B32_MAX], plain[MFA_SECRET_B32_MAX];
	char *uri = NULL;
	bool live;

	scan_for_key();
	live = heapscan_arm();
	assert_int_equal(mfa_secret_to_base32_grouped(f->secret, grouped, sizeof(grouped)), 0);
	assert_int_equal(mfa_secret_to_base32(f->secret, plain, sizeof(plain)), 0);
	assert_int_equal(mfa_secret_otpauth_uri(f->secret, "Example", USER, MFA_ALGO_SHA1, 6, 30,
						&uri),
			 0);
	assert_true(!live || heapscan_disarm() == 0);
	assert_string_equal(plain, KEY_B32);
	assert_non_null(strstr(uri, "secret=" KEY_B32 "&"));
	mfa_secret_free_string(uri);
	sodium_memzero(grouped, sizeof(grouped));
	sodium_memzero(plain, sizeof(plain));
	heapscan_reset();
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_hex_state_loads_and_verifies, setup, teardown),
	cmocka_unit_test_setup_teardown(test_legacy_state_is_hex_after_one_login, setup, teardown),
	cmocka_unit_test_setup_teardown(test_legacy_state_failures_still_lock, setup, teardown),
	cmocka_unit_test_setup_teardown(test_load_leaves_no_secret_in_freed_heap, setup, teardown),
	cmocka_unit_test_setup_teardown(test_legacy_load_is_the_only_copy, setup, teardown),
	cmocka_unit_test_setup_teardown(test_enrollment_display_leaves_no_copy, setup, teardown),
};

MFA_UNIT_MAIN(tests)
