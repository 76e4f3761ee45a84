/* config.c: every default, a full file, and each kind of invalid input refused with the line
 * and key named; file safety checks of mfa_config_load(). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

static char *data_path(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", getenv("MFA_TEST_DATA"), name);
	return path;
}

/* Loads a copy of data/NAME made 0644 and owned by us (git checkouts vary in modes). */
static int load(const char *name, struct mfa_config *cfg, struct mfa_err *e)
{
	char tmp[] = "/tmp/mfa-cfg-XXXXXX", cmd[1024];
	int fd = mkstemp(tmp), r;

	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "cat '%s' > '%s'", data_path(name), tmp);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(chmod(tmp, 0644), 0);
	r = mfa_config_load(tmp, cfg, e);
	unlink(tmp);
	return r;
}

static void test_defaults(void **state)
{
	struct mfa_config c;
	char host[256] = "";

	(void)state;
	assert_int_equal(mfa_config_defaults(&c), 0);
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(c.issuer, host);
	assert_string_equal(c.state_dir, "/var/lib/pam_totp");
	assert_int_equal(c.totp.algorithm, MFA_ALGO_SHA1);
	assert_int_equal(c.totp.digits, 6);
	assert_int_equal(c.totp.period, 30);
	assert_int_equal(c.totp.window, 1);
	assert_false(c.enforce.all);
	assert_int_equal(c.enforce.users.n, 0);
	assert_int_equal(c.enforce.groups.n, 1);
	assert_string_equal(c.enforce.groups.v[0], "mfa-users");
	assert_int_equal(c.enforce.exempt_groups.n, 0);
	assert_true(c.enrollment.allow);
	assert_true(c.enrollment.qr);
	assert_int_equal(c.enrollment.recovery_codes, 5);
	assert_int_equal(c.enrollment.reset_expires, 0);
	assert_int_equal(c.lockout.max_failures, 5);
	assert_int_equal(c.lockout.lock_seconds, 300);
	assert_int_equal(c.reset.admin_groups.n, 1);
	assert_string_equal(c.reset.admin_groups.v[0], "mfa-admins");
	assert_string_equal(c.reset.socket, "/run/mfa-resetd.sock");
	assert_false(c.reset.allow_self_reset);
	assert_int_equal(c.reset.protected_groups.n, 0);
	mfa_config_free(&c);
}

static void test_empty_file_gives_defaults(void **state)
{
	struct mfa_config c;

	(void)state;
	assert_int_equal(mfa_config_parse("", &c, NULL), 0);
	assert_int_equal(c.totp.digits, 6);
	assert_string_equal(c.enforce.groups.v[0], "mfa-users");
	mfa_config_free(&c);
}

static void test_full_file_every_key(void **state)
{
	struct mfa_config c;
	struct mfa_err e = { 0 };

	(void)state;
	assert_int_equal(load("config-full", &c, &e), 0);
	assert_string_equal(c.issuer, "Example Corp");
	assert_string_equal(c.state_dir, "/srv/mfa");
	assert_int_equal(c.totp.algorithm, MFA_ALGO_SHA512);
	assert_int_equal(c.totp.digits, 8);
	assert_int_equal(c.totp.period, 60);
	assert_int_equal(c.totp.window, 2);
	assert_true(c.enforce.all);
	assert_string_equal(c.enforce.users.v[0], "root");
	assert_int_equal(c.enforce.groups.n, 2);
	assert_string_equal(c.enforce.groups.v[1], "ops");
	assert_string_equal(c.enforce.exempt_groups.v[0], "robots");
	assert_false(c.enrollment.allow);
	assert_false(c.enrollment.qr);
	assert_int_equal(c.enrollment.recovery_codes, 10);
	assert_int_equal(c.enrollment.reset_expires, 86400);
	assert_int_equal(c.lockout.max_failures, 3);
	assert_int_equal(c.lockout.lock_seconds, 600);
	assert_string_equal(c.reset.admin_groups.v[0], "wheel");
	assert_string_equal(c.reset.socket, "/run/x.sock");
	assert_true(c.reset.allow_self_reset);
	assert_string_equal(c.reset.protected_groups.v[0], "root-admins");
	mfa_config_free(&c);
}

static void test_shipped_example_config_loads(void **state)
{
	struct mfa_config c;
	struct mfa_err e = { 0 };

	(void)state;
	assert_int_equal(load("../../../etc/pam_totp.conf", &c, &e), 0);
	mfa_config_free(&c);
}

/* Each invalid file: -EINVAL, the right line, and a message that names the key. */
static void invalid(const char *file, unsigned line, const char *key)
{
	struct mfa_config c;
	struct mfa_err e = { 0 };

	assert_int_equal(load(file, &c, &e), -EINVAL);
	assert_int_equal(e.line, line);
	if (key)
		assert_non_null(strstr(e.msg, key));
}

#define INVALID(name, file, line, key)                                                         \
	static void test_invalid_##name(void **state)                                         \
	{                                                                                      \
		(void)state;                                                                   \
		invalid(file, line, key);                                                      \
	}

INVALID(unknown_top_level_key, "config-unknown-top", 3, "bogus: unknown key")
INVALID(unknown_nested_key, "config-unknown-nested", 3, "totp.colour: unknown key")
INVALID(wrong_type_integer, "config-wrong-type-int", 2, "lockout.max_failures")
INVALID(wrong_type_bool, "config-wrong-type-bool", 1, "enforce.all")
INVALID(wrong_type_list, "config-wrong-type-list", 1, "enforce.groups")
INVALID(list_of_integers, "config-list-of-ints", 1, "enforce.groups")
INVALID(digits_out_of_range, "config-digits-range", 1, "totp.digits: must be 6 to 8")
INVALID(period_out_of_range, "config-period-range", 1, "totp.period")
INVALID(window_out_of_range, "config-window-range", 1, "totp.window")
INVALID(unknown_algorithm, "config-bad-algorithm", 1, "totp.algorithm")
INVALID(recovery_codes_out_of_range, "config-recovery-range", 1, "enrollment.recovery_codes")
INVALID(negative_reset_expires, "config-reset-expires-negative", 1, "enrollment.reset_expires")
INVALID(relative_state_dir, "config-relative-path", 1, "state_dir")
INVALID(empty_issuer, "config-empty-issuer", 1, "issuer")
INVALID(issuer_with_control_character, "config-issuer-control", 1, "issuer")
INVALID(syntax_error, "config-syntax-error", 2, NULL)
INVALID(invalid_user_name_in_list, "config-bad-user-name", 1, "enforce.users")
INVALID(section_not_a_group, "config-section-not-group", 1, "totp")

static void test_missing_file_is_enoent(void **state)
{
	struct mfa_config c;
	struct mfa_err e = { 0 };

	(void)state;
	assert_int_equal(mfa_config_load("/nonexistent/pam_totp.conf", &c, &e), -ENOENT);
}

static void test_symlinked_file_refused(void **state)
{
	char link[] = "/tmp/mfa-cfg-link-XXXXXX";
	struct mfa_config c;
	int fd = mkstemp(link);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unlink(link);
	assert_int_equal(symlink(data_path("config-full"), link), 0);
	assert_int_equal(mfa_config_load(link, &c, NULL), -ELOOP);
	unlink(link);
}

static void test_world_writable_file_refused(void **state)
{
	char tmp[] = "/tmp/mfa-cfg-XXXXXX";
	struct mfa_config c;
	int fd = mkstemp(tmp);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0666), 0);
	close(fd);
	assert_int_equal(mfa_config_load(tmp, &c, NULL), -EPERM);
	assert_int_equal(chmod(tmp, 0620), 0);
	assert_int_equal(mfa_config_load(tmp, &c, NULL), -EPERM);
	assert_int_equal(chmod(tmp, 0644), 0);
	assert_int_equal(mfa_config_load(tmp, &c, NULL), 0);
	mfa_config_free(&c);
	unlink(tmp);
}

/* Writes len bytes of data to a new file in dir (NAME), mode, and returns its path. */
static const char *put(const char *dir, const char *name, const void *data, size_t len,
		       mode_t mode)
{
	static char path[2][256];
	static int which;
	char *p = path[which++ % 2];
	int fd;

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

/* A NUL byte used to end the text libconfig saw: everything after it (here enforce.all) was
 * silently dropped and the defaults applied, so every login of an unlisted user was ignored. */
static void test_nul_byte_in_config_is_an_error(void **state)
{
	static const char text[] = "state_dir = \"/srv/mfa\";\n\0enforce = { all = true; };\n";
	struct mfa_unit_dir d;
	struct mfa_config c;
	struct mfa_err e = { 0 };

	(void)state;
	mfa_unit_dir_make(&d);
	assert_int_equal(mfa_config_load(put(d.path, "c", text, sizeof(text) - 1, 0644), &c, &e),
			 -EINVAL);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.msg, "NUL"));
	mfa_unit_dir_remove(&d);
}

/* A crash can leave the file full of zeros: that is no config, not an empty one. */
static void test_zero_filled_config_is_an_error(void **state)
{
	char zeros[4096] = { 0 };
	struct mfa_unit_dir d;
	struct mfa_config c;
	struct mfa_err e = { 0 };

	(void)state;
	mfa_unit_dir_make(&d);
	assert_int_equal(mfa_config_load(put(d.path, "c", zeros, sizeof(zeros), 0644), &c, &e),
			 -EINVAL);
	assert_int_equal(e.line, 1);
	assert_int_equal(mfa_config_parse_n("", 1, &c, &e), -EINVAL);
	mfa_unit_dir_remove(&d);
}

/* A root-owned config including a world-writable file: libconfig read it, past every owner
 * and mode check, so anyone could switch enforcement off. Refused, naming the line. */
static void test_include_of_world_writable_file_is_refused(void **state)
{
	static const char evil[] = "enforce = { all = false; groups = [ ]; };\n";
	char text[512];
	struct mfa_unit_dir d;
	struct mfa_config c;
	struct mfa_err e = { 0 };

	(void)state;
	mfa_unit_dir_make(&d);
	snprintf(text, sizeof(text), "state_dir = \"/srv/mfa\";\n  @include \"%s\"\n",
		 put(d.path, "evil", evil, sizeof(evil) - 1, 0666));
	assert_int_equal(mfa_config_load(put(d.path, "c", text, strlen(text), 0644), &c, &e),
			 -EINVAL);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.msg, "@include"));
	mfa_unit_dir_remove(&d);
}

/* pam_totp.conf(5) says "at most 64 KiB": a file of exactly that size loads (it was refused
 * up to two bytes below it), one byte more is too large. */
static void test_config_of_exactly_the_size_bound_loads(void **state)
{
	static const char head[] = "issuer = \"x\";\n";
	static char text[MFA_CONFIG_MAX_SIZE + 1];
	struct mfa_unit_dir d;
	struct mfa_config c;
	struct mfa_err e = { 0 };

	(void)state;
	mfa_unit_dir_make(&d);
	memset(text, '#', sizeof(text));
	memcpy(text, head, sizeof(head) - 1);
	text[MFA_CONFIG_MAX_SIZE - 1] = '\n';
	assert_int_equal(mfa_config_load(put(d.path, "c", text, MFA_CONFIG_MAX_SIZE, 0644), &c, &e),
			 0);
	assert_string_equal(c.issuer, "x");
	mfa_config_free(&c);
	text[MFA_CONFIG_MAX_SIZE] = '\n';
	assert_int_equal(
		mfa_config_load(put(d.path, "c", text, MFA_CONFIG_MAX_SIZE + 1, 0644), &c, &e),
		-EFBIG);
	mfa_unit_dir_remove(&d);
}

static int load_path(void *path)
{
	struct mfa_config c;
	int r = mfa_config_load(path, &c, NULL);

	if (r == 0)
		mfa_config_free(&c);
	return r;
}

/* A FIFO in place of the config (or config= pointing at one) hung every login in open()
 * until something wrote to it; it is refused at once, as any file that is not regular. */
static void test_fifo_config_is_refused_without_blocking(void **state)
{
	struct mfa_unit_dir d;
	char path[128];

	(void)state;
	mfa_unit_dir_make(&d);
	snprintf(path, sizeof(path), "%s/fifo", d.path);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_int_equal(mfa_unit_in_child(load_path, path, 3), -EBADFD);
	mfa_unit_dir_remove(&d);
}

/* A file with more bytes than its size (as one that grows while read) is "changed while read",
 * not "too large": the buffer is sized by fstat, so reading past it says the file changed. */
static void test_file_longer_than_its_size_is_changed_not_too_large(void **state)
{
	struct mfa_config c;
	struct mfa_err e = { 0 };

	(void)state;
	/* owned by this process's user, mode 0444, st_size 0, about 1 KiB to read */
	assert_int_equal(mfa_config_load("/proc/self/status", &c, &e), -EIO);
	assert_non_null(strstr(e.msg, "changed while read"));
}

/* Every spelling libconfig accepts as an include (leading blanks, tabs) is refused. */
static void test_include_spellings_are_refused(void **state)
{
	static const char *const texts[] = {
		"@include \"/dev/null\"\n",
		"a = 1;\n\t @include\t\"/dev/null\"\n",
		"issuer = \"x\";\n\n\n@include \"/dev/null\"\n",
		"totp = {\n@include \"/dev/null\"\n};\n", /* inside a group */
		"a = 1;\r\n@include \"/dev/null\"\r\n",  /* CRLF lines */
		"a = 1;\n\r@include \"/dev/null\"\n",     /* CR first (libconfig: an error) */
		"@include \"/dev/null\"",                  /* no final newline */
	};
	static const unsigned lines[] = { 1, 2, 4, 2, 2, 2, 1 };
	struct mfa_config c;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
		struct mfa_err e = { 0 };

		assert_int_equal(mfa_config_parse(texts[i], &c, &e), -EINVAL);
		assert_int_equal(e.line, lines[i]);
	}
	/* '@' inside a value is still fine. */
	assert_int_equal(mfa_config_parse("enforce = { users = [ \"bob@EXAMPLE\" ]; };", &c, NULL),
			 0);
	mfa_config_free(&c);
}

static void test_algorithm_names(void **state)
{
	enum mfa_algo a;

	(void)state;
	assert_int_equal(mfa_algo_from_string("SHA256", &a), 0);
	assert_int_equal(a, MFA_ALGO_SHA256);
	assert_string_equal(mfa_algo_to_string(MFA_ALGO_SHA512), "SHA512");
	assert_int_equal(mfa_algo_from_string("sha1", &a), -EINVAL);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_defaults),
	cmocka_unit_test(test_empty_file_gives_defaults),
	cmocka_unit_test(test_full_file_every_key),
	cmocka_unit_test(test_shipped_example_config_loads),
	cmocka_unit_test(test_invalid_unknown_top_level_key),
	cmocka_unit_test(test_invalid_unknown_nested_key),
	cmocka_unit_test(test_invalid_wrong_type_integer),
	cmocka_unit_test(test_invalid_wrong_type_bool),
	cmocka_unit_test(test_invalid_wrong_type_list),
	cmocka_unit_test(test_invalid_list_of_integers),
	cmocka_unit_test(test_invalid_digits_out_of_range),
	cmocka_unit_test(test_invalid_period_out_of_range),
	cmocka_unit_test(test_invalid_window_out_of_range),
	cmocka_unit_test(test_invalid_unknown_algorithm),
	cmocka_unit_test(test_invalid_recovery_codes_out_of_range),
	cmocka_unit_test(test_invalid_negative_reset_expires),
	cmocka_unit_test(test_invalid_relative_state_dir),
	cmocka_unit_test(test_invalid_empty_issuer),
	cmocka_unit_test(test_invalid_issuer_with_control_character),
	cmocka_unit_test(test_invalid_syntax_error),
	cmocka_unit_test(test_invalid_invalid_user_name_in_list),
	cmocka_unit_test(test_invalid_section_not_a_group),
	cmocka_unit_test(test_missing_file_is_enoent),
	cmocka_unit_test(test_symlinked_file_refused),
	cmocka_unit_test(test_world_writable_file_refused),
	cmocka_unit_test(test_algorithm_names),
	cmocka_unit_test(test_nul_byte_in_config_is_an_error),
	cmocka_unit_test(test_zero_filled_config_is_an_error),
	cmocka_unit_test(test_include_of_world_writable_file_is_refused),
	cmocka_unit_test(test_include_spellings_are_refused),
	cmocka_unit_test(test_file_longer_than_its_size_is_changed_not_too_large),
	cmocka_unit_test(test_fifo_config_is_refused_without_blocking),
	cmocka_unit_test(test_config_of_exactly_the_size_bound_loads),
};

MFA_UNIT_MAIN(tests)
