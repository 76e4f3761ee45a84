/* statefmt.c: the secret is written in hex and an earlier version's base32 still loads,
 * libconfig never sees a secret, the secret line cannot be dodged, a NUL byte is
 * corrupt, and reset_by holds any administrator's name and reads back exactly. Linked with
 * -Wl,--wrap=config_read_string, so every text handed to libconfig passes through here. */
#include <errno.h>
#include <unistd.h>

#include <libconfig.h>
#include <sodium.h>

#include "statefx.h"

/* What the wrapper looks for in the text libconfig gets (the secret's hex and base32), and
 * what it saw. */
static const char *forbidden, *forbidden2;
static unsigned n_reads, n_leaks;

int __real_config_read_string(config_t *config, const char *str);
int __wrap_config_read_string(config_t *config, const char *str);
int __wrap_config_read_string(config_t *config, const char *str)
{
	n_reads++;
	if ((forbidden && strstr(str, forbidden)) || (forbidden2 && strstr(str, forbidden2)))
		n_leaks++;
	return __real_config_read_string(config, str);
}

/* libconfig copies the text it parses (flex's yy_scan_string too) and every string value, and
 * frees them unwiped: the secret must never be in that text. Both ways in: the string parser and
 * a load from disk. */
static void test_libconfig_never_sees_the_secret(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), b;
	char *text = NULL, b32[MFA_SECRET_B32_MAX], hex[MFA_SECRET_HEX_MAX];
	size_t len;

	assert_int_equal(mfa_secret_to_base32(a.secret, b32, sizeof(b32)), 0);
	assert_int_equal(mfa_secret_to_hex(a.secret, hex, sizeof(hex)), 0);
	assert_int_equal(mfa_state_format(&a, &text, &len), 0);
	assert_non_null(strstr(text, hex)); /* it is on disk, as hex */
	forbidden = hex;
	forbidden2 = b32;
	n_reads = n_leaks = 0;
	assert_int_equal(mfa_state_parse(text, &b, NULL), 0);
	assert_memory_equal(b.secret->bytes, a.secret->bytes, a.secret->len);
	mfa_state_clear(&b);
	store(f, "alice", &a);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &b, NULL), 0);
	assert_memory_equal(b.secret->bytes, a.secret->bytes, a.secret->len);
	assert_int_equal(n_reads, 2);
	assert_int_equal(n_leaks, 0);
	forbidden = forbidden2 = NULL;
	mfa_state_clear(&b);
	mfa_secret_free_string(text);
	sodium_memzero(b32, sizeof(b32));
	sodium_memzero(hex, sizeof(hex));
	mfa_state_clear(&a);
}

#define HEAD "version = 1;\nstatus = \"enrolled\";\n"
#define TAIL                                                                                   \
	"algorithm = \"SHA1\";\ndigits = 6;\nperiod = 30;\nlast_step = 5L;\nfailures = 0;\n"     \
	"locked_until = 0L;\nenrolled_at = 1L;\nreset_at = 0L;\nreset_by = \"\";\n"             \
	"epoch = 42L;\nrecovery = [ ];\n"
#define B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
#define HEX "hex:3132333435363738393031323334353637383930"
#define STARS "********************************"

/* The writer keeps the secret in hex, `secret = "hex:...";`, never in base32: every load of
 * base32 goes through liboath's decoder, which leaves the text in the heap. */
static void test_secret_is_written_in_hex(void **state)
{
	struct mfa_state a = enrolled(), b;
	char *text = NULL, b32[MFA_SECRET_B32_MAX], hex[MFA_SECRET_HEX_MAX], line[160];
	size_t len;

	(void)state;
	assert_int_equal(mfa_secret_to_base32(a.secret, b32, sizeof(b32)), 0);
	assert_int_equal(mfa_secret_to_hex(a.secret, hex, sizeof(hex)), 0);
	assert_int_equal(mfa_state_format(&a, &text, &len), 0);
	snprintf(line, sizeof(line), "\nsecret = \"hex:%s\";\n", hex);
	assert_non_null(strstr(text, line));
	assert_null(strstr(text, b32));
	assert_int_equal(mfa_state_parse(text, &b, NULL), 0);
	assert_false(b.legacy_secret);
	assert_int_equal(b.secret->len, a.secret->len);
	assert_memory_equal(b.secret->bytes, a.secret->bytes, a.secret->len);
	mfa_state_clear(&b);
	mfa_secret_free_string(text);
	sodium_memzero(b32, sizeof(b32));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(line, sizeof(line));
	mfa_state_clear(&a);
}

/* A file in hex and one an earlier version wrote (base32) load the same secret; only the
 * latter is marked for rewriting. Hex is exactly what the writer makes. */
static void test_hex_and_legacy_files_load(void **state)
{
	struct fx *f = *state;
	struct mfa_state st;
	struct mfa_err e = { 0 };

	install(f, "state-valid-hex", "alice");
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, &e), 0);
	assert_false(st.legacy_secret);
	assert_int_equal(st.secret->len, 20);
	assert_memory_equal(st.secret->bytes, "12345678901234567890", 20);
	mfa_state_clear(&st);
	install(f, "state-valid", "alice");
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, &e), 0);
	assert_true(st.legacy_secret);
	assert_memory_equal(st.secret->bytes, "12345678901234567890", 20);
	mfa_state_clear(&st);
	install(f, "state-bad-hex-secret", "alice");
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, &e), -EBADMSG);
	assert_int_equal(e.line, 3);
	assert_non_null(strstr(e.msg, "hex"));
}

/* The secret is taken from its own line only; every other way of writing it, a second one,
 * or a placeholder that is not where the line was, is a corrupt file. */
static void test_secret_line_cannot_be_dodged(void **state)
{
	static const char *const bad[] = {
		HEAD "secret = \"" B32 "\";\nsecret = \"" B32 "\";\n" TAIL,
		HEAD "secret = \"" B32 "\"; # trailing\n" TAIL,
		HEAD "secret = \"GEZDGNBVGY3TQOJQ\" \"GEZDGNBVGY3TQOJQ\";\n" TAIL,
		HEAD "secret = \"GEZDGNBVGY3TQOJQ\\x47EZDGNBVGY3TQOJQ\";\n" TAIL,
		HEAD "/*\nsecret = \"" B32 "\";\n*/ secret = \"" STARS "\";\n" TAIL,
		HEAD "secret = \"" STARS "\";\n" TAIL,
		HEAD "group = { secret = \"" B32 "\"; };\n" TAIL,
		HEAD TAIL,
		HEAD "secret = \"" B32 "\";\r\n" TAIL,                  /* CRLF: no secret line */
		HEAD "secret = \"" STARS "\"\n\"\";\nsecret = \"" B32 "\";\n" TAIL, /* 2 lines */
		HEAD "version = 1;\nsecret = \"" B32 "\";\n" TAIL,      /* duplicate key */
		HEAD "secret = \"" HEX "\";\nsecret = \"" HEX "\";\n" TAIL,
		HEAD "secret = \"" HEX "\"; # trailing\n" TAIL,
		HEAD "secret = \"hex:31323334353637383930\" \"31323334353637383930\";\n" TAIL,
		HEAD "secret = \"HEX:3132333435363738393031323334353637383930\";\n" TAIL,
		HEAD "secret = \"hex: 3132333435363738393031323334353637383930\";\n" TAIL,
		HEAD "secret = \"hex:313233343536373839303132333435363738393\";\n" TAIL,
		HEAD "secret = \"hex:\";\n" TAIL,
		HEAD "secret = \"hex:" B32 "\";\n" TAIL,
		HEAD "secret = \"" B32 HEX "\";\n" TAIL,
	};
	struct mfa_state st;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct mfa_err e = { 0 };
		int r = mfa_state_parse(bad[i], &st, &e);

		if (r == 0)
			fail_msg("case %zu parsed", i);
		assert_int_equal(r, -EBADMSG);
		assert_true(e.msg[0] != '\0');
	}
	/* The forms libconfig allows on the line itself still load. */
	assert_int_equal(mfa_state_parse(HEAD "  secret:\"" B32 "\"  \n" TAIL, &st, NULL), 0);
	mfa_state_clear(&st);
	assert_int_equal(mfa_state_parse(HEAD "secret = \"" B32 "\";\n" TAIL, &st, NULL), 0);
	mfa_state_clear(&st);
	assert_int_equal(mfa_state_parse(HEAD "  secret:\"" HEX "\"  \n" TAIL, &st, NULL), 0);
	mfa_state_clear(&st);
	assert_int_equal(mfa_state_parse(HEAD "secret = \"" HEX "\";\n" TAIL, &st, NULL), 0);
	mfa_state_clear(&st);
}

/* A NUL byte ended the text libconfig saw, and whatever came after it was never checked. */
static void test_nul_byte_in_state_is_corrupt(void **state)
{
	struct fx *f = *state;
	static const char text[] = HEAD "secret = \"" B32 "\";\n" TAIL "\0garbage = 1;\n";
	char path[128];
	struct mfa_state st;
	struct mfa_err e = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%s/alice", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &st, &e), -EBADMSG);
	assert_int_equal(e.line, 15);
	assert_non_null(strstr(e.msg, "NUL"));
}

/* The administrator's NSS name is shown, never used as a path: whatever it is, the reset is
 * stored and read back exactly (before, 'john smith' made the target's state corrupt). */
static void test_reset_by_round_trips_any_name(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {
		"john smith", "a \"quoted\" name", "back\\slash\\", "Жанна д'Арк",
		"tab\tand\nnewline\x01\x1f\x7f", "ends with \\", "\xff\xfe not UTF-8",
	};
	char longest[MFA_RESET_BY_MAX + 1];

	memset(longest, 'x', MFA_RESET_BY_MAX);
	longest[MFA_RESET_BY_MAX] = '\0';
	for (size_t i = 0; i <= ELEMENTSOF(names); i++) {
		const char *by = i < ELEMENTSOF(names) ? names[i] : longest;
		struct mfa_state a = { 0 }, b;
		struct mfa_err e = { 0 };

		mfa_state_make_reset(&a, "x", 1700000000);
		strcpy(a.reset_by, by); /* control bytes too: make_reset never stores them */
		store(f, "alice", &a);
		assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &b, &e), 0);
		assert_string_equal(b.reset_by, by);
		mfa_state_clear(&b);
		assert_int_equal(mfa_state_load_summary(f->dfd, -1, "alice", &b, &e), 0);
		assert_string_equal(b.reset_by, by);
		mfa_state_clear(&b);
		mfa_state_clear(&a);
	}
}

/* Longer than any name the writer stores: a corrupt file, not a truncated name. */
static void test_reset_by_too_long_is_corrupt(void **state)
{
	char text[1024], by[MFA_RESET_BY_MAX + 2];
	struct mfa_state st;

	(void)state;
	memset(by, 'y', sizeof(by) - 1);
	by[sizeof(by) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "version = 1;\nstatus = \"reset\";\nsecret = \"\";\nalgorithm = \"SHA1\";\n"
		 "digits = 6;\nperiod = 30;\nlast_step = -1L;\nfailures = 0;\nlocked_until = 0L;\n"
		 "enrolled_at = 0L;\nreset_at = 1L;\nreset_by = \"%s\";\nepoch = 1L;\n"
		 "recovery = [ ];\n", by);
	assert_int_equal(mfa_state_parse(text, &st, NULL), -EBADMSG);
	by[MFA_RESET_BY_MAX] = '\0';
	memcpy(strstr(text, "yyy") + MFA_RESET_BY_MAX, "\";\n", 3);
	assert_int_equal(mfa_state_parse(text, &st, NULL), 0);
	assert_string_equal(st.reset_by, by);
	mfa_state_clear(&st);
}

/* An NSS name longer than the field is cut between characters, so it stays valid UTF-8;
 * control bytes never reach a terminal that shows the name. */
static void test_long_reset_by_is_cut_between_characters(void **state)
{
	char by[2 * MFA_RESET_BY_MAX + 1] = "x";
	struct mfa_state st = { 0 };

	(void)state;
	for (size_t i = 1; i + 2 < sizeof(by); i += 2)
		memcpy(by + i, "\xd0\x96", 2); /* 'x' then Cyrillic Zhe, two bytes each */
	mfa_state_make_reset(&st, by, 1);
	assert_int_equal(strlen(st.reset_by), MFA_RESET_BY_MAX - 1);
	assert_memory_equal(st.reset_by, by, MFA_RESET_BY_MAX - 1);
	mfa_state_clear(&st);
	mfa_state_make_reset(&st, "evil\x1b[2J\r\x7fname", 1);
	assert_string_equal(st.reset_by, "evil?[2J??name");
	mfa_state_clear(&st);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_libconfig_never_sees_the_secret, setup, teardown),
	cmocka_unit_test_setup_teardown(test_secret_is_written_in_hex, setup, teardown),
	cmocka_unit_test_setup_teardown(test_hex_and_legacy_files_load, setup, teardown),
	cmocka_unit_test_setup_teardown(test_secret_line_cannot_be_dodged, setup, teardown),
	cmocka_unit_test_setup_teardown(test_nul_byte_in_state_is_corrupt, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_by_round_trips_any_name, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reset_by_too_long_is_corrupt, setup, teardown),
	cmocka_unit_test_setup_teardown(test_long_reset_by_is_cut_between_characters, setup,
					teardown),
};

MFA_UNIT_MAIN(tests)
