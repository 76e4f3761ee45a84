/* totp.c: RFC 6238 Appendix B vectors for SHA1/SHA256/SHA512, window and input checks. */
#include <errno.h>
#include <stdlib.h>

#include "totp.h"
#include "unit.h"

static const char seed64[] = "1234567890123456789012345678901234567890123456789012345678901234";

static void check_vector(enum mfa_algo algo, size_t seed_len, time_t t, const char *want)
{
	struct mfa_totp_params p = { .algorithm = algo, .digits = 8, .period = 30, .window = 0 };
	struct mfa_secret *s = NULL;
	char code[MFA_CODE_MAX + 1];
	int64_t step = -1;

	assert_int_equal(mfa_secret_init(), 0);
	assert_int_equal(mfa_totp_init(), 0);
	assert_int_equal(mfa_secret_from_bytes(seed64, seed_len, &s), 0);
	assert_int_equal(mfa_totp_generate(s, &p, mfa_totp_step(&p, t), code), 0);
	assert_string_equal(code, want);
	assert_int_equal(mfa_totp_verify(s, &p, t, want, &step), 0);
	assert_int_equal(step, t / 30);
	mfa_secret_free(s);
}

#define VECTOR(algo, len, t, want)                                                             \
	static void test_rfc6238_##algo##_##t(void **state)                                   \
	{                                                                                      \
		(void)state;                                                                   \
		check_vector(MFA_ALGO_##algo, len, t, want);                                   \
	}

VECTOR(SHA1, 20, 59, "94287082")
VECTOR(SHA1, 20, 1111111109, "07081804")
VECTOR(SHA1, 20, 1111111111, "14050471")
VECTOR(SHA1, 20, 1234567890, "89005924")
VECTOR(SHA1, 20, 2000000000, "69279037")
VECTOR(SHA1, 20, 20000000000, "65353130")
VECTOR(SHA256, 32, 59, "46119246")
VECTOR(SHA256, 32, 1111111109, "68084774")
VECTOR(SHA256, 32, 1111111111, "67062674")
VECTOR(SHA256, 32, 1234567890, "91819424")
VECTOR(SHA256, 32, 2000000000, "90698825")
VECTOR(SHA256, 32, 20000000000, "77737706")
VECTOR(SHA512, 64, 59, "90693936")
VECTOR(SHA512, 64, 1111111109, "25091201")
VECTOR(SHA512, 64, 1111111111, "99943326")
VECTOR(SHA512, 64, 1234567890, "93441116")
VECTOR(SHA512, 64, 2000000000, "38618901")
VECTOR(SHA512, 64, 20000000000, "47863826")

struct fixture {
	struct mfa_secret *s;
	struct mfa_totp_params p;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mfa_secret_init(), 0);
	assert_int_equal(mfa_totp_init(), 0);
	assert_int_equal(mfa_secret_from_bytes(seed64, 20, &f->s), 0);
	f->p = (struct mfa_totp_params){ MFA_ALGO_SHA1, 6, 30, 1 };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mfa_secret_free(f->s);
	free(f);
	return 0;
}

static const time_t now = 1700000000; /* step 56666666 */

static void code_at(struct fixture *f, int64_t step, char *out)
{
	assert_int_equal(mfa_totp_generate(f->s, &f->p, step, out), 0);
}

static void test_window_accepts_neighbours_and_reports_step(void **state)
{
	struct fixture *f = *state;
	int64_t cur = mfa_totp_step(&f->p, now), step;
	char code[MFA_CODE_MAX + 1];

	for (int d = -1; d <= 1; d++) {
		code_at(f, cur + d, code);
		assert_int_equal(mfa_totp_verify(f->s, &f->p, now, code, &step), 0);
		assert_int_equal(step, cur + d);
	}
}

static void test_outside_window_is_refused(void **state)
{
	struct fixture *f = *state;
	int64_t cur = mfa_totp_step(&f->p, now), step;
	char code[MFA_CODE_MAX + 1], other[MFA_CODE_MAX + 1];

	code_at(f, cur + 2, code);
	/* Skip the (1 in 10^6) case where the far code equals a code inside the window. */
	for (int d = -1; d <= 1; d++) {
		code_at(f, cur + d, other);
		if (strcmp(code, other) == 0)
			return;
	}
	assert_int_equal(mfa_totp_verify(f->s, &f->p, now, code, &step), -EACCES);
	code_at(f, cur - 2, code);
	assert_int_equal(mfa_totp_verify(f->s, &f->p, now, code, &step), -EACCES);
}

static void test_zero_window_accepts_only_now(void **state)
{
	struct fixture *f = *state;
	int64_t cur = mfa_totp_step(&f->p, now), step;
	char code[MFA_CODE_MAX + 1];

	f->p.window = 0;
	code_at(f, cur, code);
	assert_int_equal(mfa_totp_verify(f->s, &f->p, now, code, &step), 0);
	code_at(f, cur + 1, code);
	assert_int_equal(mfa_totp_verify(f->s, &f->p, now, code, &step), -EACCES);
}

static void test_malformed_input_is_einval(void **state)
{
	struct fixture *f = *state;
	int64_t step;
	const char *bad[] = { "", "12345", "1234567", "12345a", " 123456", "123456 ", "-12345",
			      "１２３４５６", "123456\n" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mfa_totp_verify(f->s, &f->p, now, bad[i], &step), -EINVAL);
}

static void test_digits_6_7_8(void **state)
{
	struct fixture *f = *state;
	int64_t cur = mfa_totp_step(&f->p, now), step;
	char code[MFA_CODE_MAX + 1];

	for (unsigned d = 6; d <= 8; d++) {
		f->p.digits = d;
		code_at(f, cur, code);
		assert_int_equal(strlen(code), d);
		assert_int_equal(mfa_totp_verify(f->s, &f->p, now, code, &step), 0);
	}
	f->p.digits = 9;
	assert_int_equal(mfa_totp_generate(f->s, &f->p, cur, code), -EINVAL);
}

static void test_generate_refuses_out_of_range_steps(void **state)
{
	struct fixture *f = *state;
	char code[MFA_CODE_MAX + 1];

	assert_int_equal(mfa_totp_generate(f->s, &f->p, -1, code), -EINVAL);
	assert_int_equal(mfa_totp_generate(f->s, &f->p, INT64_MAX / 30 + 1, code), -EINVAL);
	assert_int_equal(mfa_totp_generate(f->s, &f->p, 0, code), 0);
}

static void test_generate_matches_oathtool(void **state)
{
	struct fixture *f = *state;
	char code[MFA_CODE_MAX + 1], line[32] = "";
	FILE *p;

	/* Base32 of the 20-byte RFC seed; oathtool computes the code independently. */
	p = popen("oathtool --totp -b -d 6 -N @1700000000 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	line[strcspn(line, "\n")] = '\0';
	code_at(f, mfa_totp_step(&f->p, now), code);
	assert_string_equal(code, line);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_rfc6238_SHA1_59),
	cmocka_unit_test(test_rfc6238_SHA1_1111111109),
	cmocka_unit_test(test_rfc6238_SHA1_1111111111),
	cmocka_unit_test(test_rfc6238_SHA1_1234567890),
	cmocka_unit_test(test_rfc6238_SHA1_2000000000),
	cmocka_unit_test(test_rfc6238_SHA1_20000000000),
	cmocka_unit_test(test_rfc6238_SHA256_59),
	cmocka_unit_test(test_rfc6238_SHA256_1111111109),
	cmocka_unit_test(test_rfc6238_SHA256_1111111111),
	cmocka_unit_test(test_rfc6238_SHA256_1234567890),
	cmocka_unit_test(test_rfc6238_SHA256_2000000000),
	cmocka_unit_test(test_rfc6238_SHA256_20000000000),
	cmocka_unit_test(test_rfc6238_SHA512_59),
	cmocka_unit_test(test_rfc6238_SHA512_1111111109),
	cmocka_unit_test(test_rfc6238_SHA512_1111111111),
	cmocka_unit_test(test_rfc6238_SHA512_1234567890),
	cmocka_unit_test(test_rfc6238_SHA512_2000000000),
	cmocka_unit_test(test_rfc6238_SHA512_20000000000),
	cmocka_unit_test_setup_teardown(test_window_accepts_neighbours_and_reports_step, setup, teardown),
	cmocka_unit_test_setup_teardown(test_outside_window_is_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_zero_window_accepts_only_now, setup, teardown),
	cmocka_unit_test_setup_teardown(test_malformed_input_is_einval, setup, teardown),
	cmocka_unit_test_setup_teardown(test_digits_6_7_8, setup, teardown),
	cmocka_unit_test_setup_teardown(test_generate_refuses_out_of_range_steps, setup, teardown),
	cmocka_unit_test_setup_teardown(test_generate_matches_oathtool, setup, teardown),
};

MFA_UNIT_MAIN(tests)
