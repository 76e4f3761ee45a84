/* conftext.c: the config's text without comments and blank runs reads the same under libconfig,
 * errors keep their line, and what libconfig would refuse stays for it to refuse. */
#include <errno.h>
#include <stdlib.h>

#include <libconfig.h>

#include "config.h"
#include "conftext.h"
#include "unit.h"

static char *compact(const char *text)
{
	char *out = malloc(strlen(text) + 1);

	assert_non_null(out);
	mfa_config_compact(text, strlen(text), out);
	return out;
}

static void expect(const char *text, const char *want)
{
	char *got = compact(text);

	assert_string_equal(got, want);
	free(got);
}

static void test_comments_and_blanks_go(void **state)
{
	expect("a = 1;   # one\n\t\tb =\t2; // two\n", "a = 1; \nb = 2; \n");
	expect("/* a\nblock */c = 3;\n", " \nc = 3;\n");
}

static void test_strings_are_kept_whole(void **state)
{
	expect("s = \"x  # y // z /* w */\"; # c\n", "s = \"x  # y // z /* w */\"; \n");
	expect("s = \"a\\\"  # b\";\n", "s = \"a\\\"  # b\";\n");
}

static void test_what_libconfig_refuses_is_left_to_it(void **state)
{
	/* an unterminated string or block comment, and a comment without a line break after it */
	expect("a = 1;\ns = \"open  # x\n", "a = 1;\ns = \"open  # x\n");
	expect("a = 1;   /* open\n  x", "a = 1; /* open\n  x");
	expect("a = 1; # last", "a = 1; # last");
}

static void test_errors_keep_their_line(void **state)
{
	struct mfa_config c;
	struct mfa_err e = { 0 };

	static const char text[] = "# one\n/* two\nthree */\nissuer = ;\n";

	assert_int_equal(mfa_config_parse_n(text, sizeof(text) - 1, &c, &e), -EINVAL);
	assert_int_equal(e.line, 4);
}

static void test_nul_in_a_comment_is_still_an_error(void **state)
{
	static const char text[] = "issuer = \"x\"; # a\0b\n";
	struct mfa_config c;
	struct mfa_err e = { 0 };

	assert_int_equal(mfa_config_parse_n(text, sizeof(text) - 1, &c, &e), -EINVAL);
	assert_int_equal(e.line, 1);
}

/* pam_totp.conf(5): a line whose first non-blank is '@' is an error, in a block comment too;
 * and a block comment before '@' (a blank once compact) does not smuggle an include through. */
static void test_directive_line_in_a_block_comment_is_still_refused(void **state)
{
	static const char *const texts[] = {
		"issuer = \"x\";\n/*\n@include \"/dev/null\"\n*/\n",
		"issuer = \"x\";\n/* x\n  @x */\n",
		"/* x */@include \"/dev/null\"\n",
		"issuer = \"x\";\n\t/* x */ @include \"/dev/null\"\n",
	};
	static const unsigned lines[] = { 3, 3, 1, 2 };
	struct mfa_config c;

	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		struct mfa_err e = { 0 };

		assert_int_equal(mfa_config_parse(texts[i], &c, &e), -EINVAL);
		assert_int_equal(e.line, lines[i]);
		assert_non_null(strstr(e.msg, "@include"));
	}
}

static char *dump(const char *text)
{
	config_t lc;
	char *out = NULL;
	size_t n = 0;
	FILE *f;

	config_init(&lc);
	assert_int_equal(config_read_string(&lc, text), CONFIG_TRUE);
	assert_non_null(f = open_memstream(&out, &n));
	config_write(&lc, f);
	fclose(f);
	config_destroy(&lc);
	return out;
}

static void test_shipped_config_reads_the_same_from_a_third_of_the_text(void **state)
{
	char path[4096], *text, *small, *a, *b;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/../../../etc/pam_totp.conf", getenv("MFA_TEST_DATA"));
	assert_non_null(f = fopen(path, "re"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	assert_non_null(text = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	small = compact(text);
	assert_true(strlen(small) * 3 < (size_t)n);
	a = dump(text);
	b = dump(small);
	assert_string_equal(a, b);
	free(a);
	free(b);
	free(small);
	free(text);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_comments_and_blanks_go),
	cmocka_unit_test(test_strings_are_kept_whole),
	cmocka_unit_test(test_what_libconfig_refuses_is_left_to_it),
	cmocka_unit_test(test_errors_keep_their_line),
	cmocka_unit_test(test_nul_in_a_comment_is_still_an_error),
	cmocka_unit_test(test_directive_line_in_a_block_comment_is_still_refused),
	cmocka_unit_test(test_shipped_config_reads_the_same_from_a_third_of_the_text),
};

MFA_UNIT_MAIN(tests)
