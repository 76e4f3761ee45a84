/* secret.c: hex (the state file's form), base32, otpauth:// URIs for awkward names, new
 * secrets, recovery codes. */
#include <errno.h>
#include <stdlib.h>

#include <sodium.h>

#include "secret.h"
#include "unit.h"

static const char seed[] = "12345678901234567890";
static const char seed_b32[] = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
static const char seed_hex[] = "3132333435363738393031323334353637383930";

static int setup(void **state)
{
	struct mfa_secret *s = NULL;

	assert_int_equal(mfa_secret_init(), 0);
	assert_int_equal(mfa_secret_from_bytes(seed, 20, &s), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	mfa_secret_free(*state);
	return 0;
}

static void test_base32_round_trip(void **state)
{
	char b32[MFA_SECRET_B32_MAX];
	struct mfa_secret *back = NULL;

	assert_int_equal(mfa_secret_to_base32(*state, b32, sizeof(b32)), 0);
	assert_string_equal(b32, seed_b32);
	assert_int_equal(mfa_secret_from_base32(b32, &back), 0);
	assert_int_equal(back->len, 20);
	assert_memory_equal(back->bytes, seed, 20);
	mfa_secret_free(back);
}

/* The state file's form: lower-case hex through libsodium, straight into guarded memory. */
static void test_hex_round_trip(void **state)
{
	char hex[MFA_SECRET_HEX_MAX];
	struct mfa_secret *back = NULL, *big = NULL;

	assert_int_equal(mfa_secret_to_hex(*state, hex, sizeof(hex)), 0);
	assert_string_equal(hex, seed_hex);
	assert_int_equal(mfa_secret_from_hex(hex, strlen(hex), &back), 0);
	assert_int_equal(back->len, 20);
	assert_memory_equal(back->bytes, seed, 20);
	mfa_secret_free(back);
	assert_int_equal(mfa_secret_to_hex(*state, hex, sizeof(hex) - 1), -EINVAL);
	/* the largest secret fits the buffer, and only len characters are read */
	assert_int_equal(mfa_secret_new(MFA_SECRET_MAX_BYTES, &big), 0);
	assert_int_equal(mfa_secret_to_hex(big, hex, sizeof(hex)), 0);
	assert_int_equal(strlen(hex), 2 * MFA_SECRET_MAX_BYTES);
	assert_int_equal(mfa_secret_from_hex(hex, strlen(hex), &back), 0);
	assert_memory_equal(back->bytes, big->bytes, MFA_SECRET_MAX_BYTES);
	mfa_secret_free(back);
	assert_int_equal(mfa_secret_from_hex(seed_hex, 20, &back), 0);
	assert_int_equal(back->len, 10);
	mfa_secret_free(back);
	mfa_secret_free(big);
	sodium_memzero(hex, sizeof(hex));
}

/* One spelling: what the writer makes, nothing libsodium would also take. */
static void test_hex_exact_form_only(void **state)
{
	char longest[2 * MFA_SECRET_MAX_BYTES + 3];
	const char *bad[] = {
		"",
		"3132333435363738393031323334353637383930F",    /* odd */
		"3132333435363738393031323334353637383A3B",     /* upper case */
		"31323334353637383930 31323334353637383930",    /* blank */
		"31:32:33:34:35:36:37:38:39:30:31:32:33:34:35", /* separators */
		"3132333435363738393031323334353637383g30",     /* not hex */
		"hex:3132333435363738393031323334353637383930", /* the tag is the file's */
		"313233343536373839",                           /* 9 bytes */
		longest,                                        /* 65 bytes */
	};
	struct mfa_secret *s = NULL;

	(void)state;
	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (mfa_secret_from_hex(bad[i], strlen(bad[i]), &s) != -EINVAL)
			fail_msg("case %zu accepted", i);
	assert_null(s);
}

static void test_base32_lowercase_spaces_padding_accepted(void **state)
{
	struct mfa_secret *s = NULL;

	(void)state;
	assert_int_equal(mfa_secret_init(), 0);
	assert_int_equal(mfa_secret_from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", &s), 0);
	assert_memory_equal(s->bytes, seed, 20);
	mfa_secret_free(s);
	assert_int_equal(mfa_secret_from_base32("JBSWY3DPEHPK3PXPJBSWY3DP====", &s), 0);
	mfa_secret_free(s);
}

static void test_base32_garbage_refused(void **state)
{
	struct mfa_secret *s = NULL;
	const char *bad[] = { "", "!!!!", "GEZDGNBV*Y3TQOJQ", "AAAA", "0189GEZDGNBVGY3TQOJQ" };

	(void)state;
	assert_int_equal(mfa_secret_init(), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mfa_secret_from_base32(bad[i], &s), -EINVAL);
}

static void test_base32_grouped_by_four(void **state)
{
	char buf[2 * MFA_SECRET_B32_MAX];

	assert_int_equal(mfa_secret_to_base32_grouped(*state, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
}

static void uri_is(struct mfa_secret *s, const char *issuer, const char *account,
		   const char *want)
{
	char *uri = NULL;

	assert_int_equal(mfa_secret_otpauth_uri(s, issuer, account, MFA_ALGO_SHA1, 6, 30, &uri), 0);
	assert_string_equal(uri, want);
	mfa_secret_free_string(uri);
}

static void test_uri_plain(void **state)
{
	uri_is(*state, "Example", "alice",
	       "otpauth://totp/Example:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	       "&issuer=Example&algorithm=SHA1&digits=6&period=30");
}

static void test_uri_awkward_issuer_and_account(void **state)
{
	uri_is(*state, "Example Corp: a&b=c?", "DOMAIN\\user@realm",
	       "otpauth://totp/Example%20Corp%3A%20a%26b%3Dc%3F:DOMAIN%5Cuser%40realm"
	       "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	       "&issuer=Example%20Corp%3A%20a%26b%3Dc%3F&algorithm=SHA1&digits=6&period=30");
}

static void test_uri_utf8_issuer(void **state)
{
	uri_is(*state, "Ünï/x", "a+b",
	       "otpauth://totp/%C3%9Cn%C3%AF%2Fx:a%2Bb?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	       "&issuer=%C3%9Cn%C3%AF%2Fx&algorithm=SHA1&digits=6&period=30");
}

#define B32 "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
#define TAIL "&algorithm=SHA1&digits=6&period=30"

static void test_uri_issuer_example_corp(void **state)
{
	uri_is(*state, "Example Corp", "alice",
	       "otpauth://totp/Example%20Corp:alice?secret=" B32 "&issuer=Example%20Corp" TAIL);
}

static void test_uri_issuer_query_characters(void **state)
{
	uri_is(*state, "a&b=c?", "alice",
	       "otpauth://totp/a%26b%3Dc%3F:alice?secret=" B32 "&issuer=a%26b%3Dc%3F" TAIL);
}

static void test_uri_issuer_unicode(void **state)
{
	uri_is(*state, "Ünïcode", "alice",
	       "otpauth://totp/%C3%9Cn%C3%AFcode:alice?secret=" B32 "&issuer=%C3%9Cn%C3%AFcode"
	       TAIL);
}

static void test_uri_issuer_colon(void **state)
{
	uri_is(*state, ":", "alice", "otpauth://totp/%3A:alice?secret=" B32 "&issuer=%3A" TAIL);
}

static void test_uri_account_domain_backslash(void **state)
{
	uri_is(*state, "Example", "DOMAIN\\user",
	       "otpauth://totp/Example:DOMAIN%5Cuser?secret=" B32 "&issuer=Example" TAIL);
}

static void test_uri_account_at_realm(void **state)
{
	uri_is(*state, "Example", "user@realm",
	       "otpauth://totp/Example:user%40realm?secret=" B32 "&issuer=Example" TAIL);
}

static void test_uri_account_colon_and_unicode(void **state)
{
	uri_is(*state, "Example", ":Ünïcode",
	       "otpauth://totp/Example:%3A%C3%9Cn%C3%AFcode?secret=" B32 "&issuer=Example" TAIL);
}

static void test_uri_sha512_8_digits_60_seconds(void **state)
{
	char *uri = NULL;

	assert_int_equal(mfa_secret_otpauth_uri(*state, "X", "y", MFA_ALGO_SHA512, 8, 60, &uri), 0);
	assert_string_equal(uri, "otpauth://totp/X:y?secret=" B32
				 "&issuer=X&algorithm=SHA512&digits=8&period=60");
	mfa_secret_free_string(uri);
}

static void test_percent_encode_keeps_only_unreserved(void **state)
{
	char buf[128];

	(void)state;
	assert_int_equal(mfa_secret_percent_encode("aZ09-._~ /?#[]@!$&'()*+,;=%", buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "aZ09-._~%20%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25");
	assert_int_equal(mfa_secret_percent_encode("\x7f\x80\xff", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "%7F%80%FF");
	assert_int_equal(mfa_secret_percent_encode("abc", buf, 3), -ENOBUFS);
	assert_int_equal(mfa_secret_percent_encode(" ", buf, 3), -ENOBUFS);
}

static void test_base32_padding_only_at_the_end(void **state)
{
	struct mfa_secret *s = NULL;

	(void)state;
	assert_int_equal(mfa_secret_init(), 0);
	assert_int_equal(mfa_secret_from_base32("GEZDGNBV=GY3TQOJQGEZDGNBVGY3TQOJQ", &s), -EINVAL);
	assert_int_equal(mfa_secret_from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n", &s), -EINVAL);
	assert_int_equal(mfa_secret_from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ ", &s), 0);
	assert_memory_equal(s->bytes, seed, 20);
	mfa_secret_free(s);
}

static void test_new_secrets_are_random_and_long_enough(void **state)
{
	struct mfa_secret *a = NULL, *b = NULL;

	(void)state;
	assert_int_equal(mfa_secret_init(), 0);
	assert_int_equal(mfa_secret_new(MFA_SECRET_MIN_BYTES, &a), 0);
	assert_int_equal(mfa_secret_new(MFA_SECRET_MIN_BYTES, &b), 0);
	assert_int_equal(a->len, 20);
	assert_memory_not_equal(a->bytes, b->bytes, 20);
	mfa_secret_free(b);
	b = NULL;
	assert_int_equal(mfa_secret_new(10, &b), -EINVAL);
	assert_null(b);
	assert_int_equal(mfa_secret_new(MFA_SECRET_MAX_BYTES + 1, &b), -EINVAL);
	mfa_secret_free(a);
}

static void test_recovery_codes_match_once_each(void **state)
{
	char codes[5][MFA_RECOVERY_CODE_LEN + 1], hashes[5][MFA_RECOVERY_HASH_LEN];

	(void)state;
	assert_int_equal(mfa_secret_init(), 0);
	assert_int_equal(mfa_recovery_generate(5, codes, hashes), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(strlen(codes[i]), MFA_RECOVERY_CODE_LEN);
		assert_int_equal(codes[i][4], '-');
		assert_int_equal(mfa_recovery_match(codes[i], (const char (*)[MFA_RECOVERY_HASH_LEN])hashes, 5), i);
		assert_true(mfa_recovery_looks_like(codes[i]));
	}
	assert_string_not_equal(codes[0], codes[1]);
	assert_string_not_equal(hashes[0], hashes[1]);
}

static void test_recovery_normalised_input(void **state)
{
	char codes[1][MFA_RECOVERY_CODE_LEN + 1], hashes[1][MFA_RECOVERY_HASH_LEN], in[32];
	size_t n = 0;

	(void)state;
	assert_int_equal(mfa_recovery_generate(1, codes, hashes), 0);
	for (const char *p = codes[0]; *p; p++)
		if (*p != '-')
			in[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	in[n] = '\0';
	assert_int_equal(mfa_recovery_match(in, (const char (*)[MFA_RECOVERY_HASH_LEN])hashes, 1), 0);
}

static void test_recovery_wrong_code_refused(void **state)
{
	char codes[2][MFA_RECOVERY_CODE_LEN + 1], hashes[2][MFA_RECOVERY_HASH_LEN];

	(void)state;
	assert_int_equal(mfa_recovery_generate(2, codes, hashes), 0);
	assert_int_equal(mfa_recovery_match("AAAA-BBBB-CCCC-DDDD", (const char (*)[MFA_RECOVERY_HASH_LEN])hashes, 2), -ENOENT);
	assert_int_equal(mfa_recovery_match("123456", (const char (*)[MFA_RECOVERY_HASH_LEN])hashes, 2), -ENOENT);
	assert_false(mfa_recovery_looks_like("123456"));
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_base32_round_trip, setup, teardown),
	cmocka_unit_test_setup_teardown(test_hex_round_trip, setup, teardown),
	cmocka_unit_test(test_hex_exact_form_only),
	cmocka_unit_test(test_base32_lowercase_spaces_padding_accepted),
	cmocka_unit_test(test_base32_garbage_refused),
	cmocka_unit_test_setup_teardown(test_base32_grouped_by_four, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_plain, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_awkward_issuer_and_account, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_utf8_issuer, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_issuer_example_corp, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_issuer_query_characters, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_issuer_unicode, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_issuer_colon, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_account_domain_backslash, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_account_at_realm, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_account_colon_and_unicode, setup, teardown),
	cmocka_unit_test_setup_teardown(test_uri_sha512_8_digits_60_seconds, setup, teardown),
	cmocka_unit_test(test_percent_encode_keeps_only_unreserved),
	cmocka_unit_test(test_base32_padding_only_at_the_end),
	cmocka_unit_test(test_new_secrets_are_random_and_long_enough),
	cmocka_unit_test(test_recovery_codes_match_once_each),
	cmocka_unit_test(test_recovery_normalised_input),
	cmocka_unit_test(test_recovery_wrong_code_refused),
};

MFA_UNIT_MAIN(tests)
