/* user.c: name validation with hostile names, the file-name mapping, and the enforcement and
 * reset decisions against fake users and groups from nss_wrapper (data/nss/). */
#include <errno.h>
#include <stdlib.h>

#include "user.h"
#include "unit.h"

static void refused(const char *name)
{
	char buf[MFA_USER_FILE_MAX];

	assert_int_equal(mfa_user_validate(name), -EINVAL);
	assert_int_equal(mfa_user_to_filename(name, buf, sizeof(buf)), -EINVAL);
}

static void test_name_dotdot_slash_x_refused(void **s) { (void)s; refused("../x"); }
static void test_name_dot_refused(void **s) { (void)s; refused("."); }
static void test_name_dotdot_refused(void **s) { (void)s; refused(".."); }
static void test_name_dash_rf_refused(void **s) { (void)s; refused("-rf"); }
static void test_name_empty_refused(void **s) { (void)s; refused(""); }
static void test_name_slash_refused(void **s) { (void)s; refused("a/b"); }
static void test_name_newline_refused(void **s) { (void)s; refused("alice\nroot"); }
static void test_name_tab_refused(void **s) { (void)s; refused("al\tice"); }
static void test_name_del_refused(void **s) { (void)s; refused("al\x7fice"); }
static void test_name_escape_refused(void **s) { (void)s; refused("\x1b[31malice"); }
static void test_name_space_refused(void **s) { (void)s; refused("alice smith"); }
static void test_name_dotfile_lock_refused(void **s) { (void)s; refused(".lock"); }

static void test_name_10kb_refused(void **s)
{
	char *big = malloc(10 * 1024 + 1);

	(void)s;
	assert_non_null(big);
	memset(big, 'a', 10 * 1024);
	big[10 * 1024] = '\0';
	refused(big);
	big[MFA_USER_NAME_MAX] = '\0'; /* the longest allowed */
	assert_int_equal(mfa_user_validate(big), 0);
	big[MFA_USER_NAME_MAX] = 'a';
	big[MFA_USER_NAME_MAX + 1] = '\0';
	assert_int_equal(mfa_user_validate(big), -EINVAL);
	free(big);
}

static void accepted(const char *name, const char *want_file)
{
	char file[MFA_USER_FILE_MAX], back[MFA_USER_NAME_MAX + 1];

	assert_int_equal(mfa_user_validate(name), 0);
	assert_int_equal(mfa_user_to_filename(name, file, sizeof(file)), 0);
	assert_string_equal(file, want_file);
	assert_int_equal(mfa_user_from_filename(file, back, sizeof(back)), 0);
	assert_string_equal(back, name);
}

static void test_name_domain_backslash_user_accepted(void **s)
{
	(void)s;
	accepted("DOMAIN\\user", "DOMAIN%5Cuser");
}

static void test_name_user_at_realm_accepted(void **s)
{
	(void)s;
	accepted("user@realm", "user@realm");
	accepted("user@realm.example", "user@realm.example");
}

static void test_name_plain_accepted(void **s)
{
	(void)s;
	accepted("alice", "alice");
	accepted("bob.smith", "bob.smith");
	accepted("x_y-z", "x_y-z");
	accepted("100%", "100%25");
	accepted("Ünï", "%C3%9Cn%C3%AF");
}

static void test_filename_mapping_is_injective(void **s)
{
	char a[MFA_USER_FILE_MAX], b[MFA_USER_FILE_MAX];

	(void)s;
	/* A literal "%5C" and a backslash must not share a file. */
	assert_int_equal(mfa_user_to_filename("a%5Cb", a, sizeof(a)), 0);
	assert_int_equal(mfa_user_to_filename("a\\b", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

static void test_filename_mapping_tricky_pairs_differ(void **s)
{
	const char *pairs[][2] = { { "a%41", "aA" }, { "a%25", "a%" }, { "DOM\\x", "DOM%5Cx" },
				   { "a+b", "a%2Bb" }, { "x@y", "x%40y" }, { "ab", "aB" } };
	char a[MFA_USER_FILE_MAX], b[MFA_USER_FILE_MAX], back[MFA_USER_NAME_MAX + 1];

	(void)s;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		assert_int_equal(mfa_user_to_filename(pairs[i][0], a, sizeof(a)), 0);
		assert_int_equal(mfa_user_to_filename(pairs[i][1], b, sizeof(b)), 0);
		assert_string_not_equal(a, b);
		assert_int_equal(mfa_user_from_filename(a, back, sizeof(back)), 0);
		assert_string_equal(back, pairs[i][0]);
		assert_int_equal(mfa_user_from_filename(b, back, sizeof(back)), 0);
		assert_string_equal(back, pairs[i][1]);
	}
}

static void test_from_filename_refuses_non_users(void **s)
{
	char buf[MFA_USER_NAME_MAX + 1];
	const char *bad[] = { ".lock", ".tmp-alice-0123abcd", "%zz", "%2F", "%2f", "a%2Fb", "a%5cb", "%41",
			      "a%", "a%5" };

	(void)s;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mfa_user_from_filename(bad[i], buf, sizeof(buf)), -EINVAL);
}

/* name = prefix then n copies of unit. */
static void repeat(char *name, size_t size, const char *prefix, const char *unit, size_t n)
{
	snprintf(name, size, "%s", prefix);
	for (size_t i = 0; i < n; i++)
		strncat(name, unit, size - strlen(name) - 1);
}

/* Every name whose file name (with the ".tmp-" prefix and suffix of earlier versions) fits
 * NAME_MAX keeps today's encoding, so existing state files are still found; a longer
 * encoding (it was ENAMETOOLONG, even for an unenforced user) becomes "%%" and a hash. */
static void test_long_name_maps_to_hash(void **s)
{
	char name[MFA_USER_NAME_MAX + 1], file[MFA_USER_FILE_MAX], back[MFA_USER_NAME_MAX + 1];

	(void)s;
	repeat(name, sizeof(name), "abc", "\xd0\x96", 39); /* 3 + 39 * 6 = 237 encoded */
	assert_int_equal(mfa_user_to_filename(name, file, sizeof(file)), 0);
	assert_int_equal(strlen(file), MFA_USER_FILE_PLAIN_MAX);
	assert_int_equal(mfa_user_from_filename(file, back, sizeof(back)), 0);
	assert_string_equal(back, name);
	strcat(name, "d"); /* 238 */
	assert_int_equal(mfa_user_to_filename(name, file, sizeof(file)), 0);
	assert_int_equal(strlen(file), MFA_USER_FILE_HASH_LEN);
	assert_memory_equal(file, "%%", 2);
	assert_int_equal(mfa_user_from_filename(file, back, sizeof(back)), -EREMOTE);
	assert_int_equal(mfa_user_is_filename(file), 1);
	repeat(name, sizeof(name), "", "\xd0\x96", 64); /* 128 bytes, 384 encoded */
	assert_int_equal(mfa_user_to_filename(name, file, sizeof(file)), 0);
	assert_int_equal(strlen(file), MFA_USER_FILE_HASH_LEN);
}

/* No short name's file is a long name's: '%' is always encoded ("%25"), so "%%" starts no
 * plain file name; a long name's plain encoding names nobody (one file per user); malformed
 * hashed names name nobody either. */
static void test_hashed_names_cannot_collide(void **s)
{
	char name[MFA_USER_NAME_MAX + 1], file[MFA_USER_FILE_MAX], back[MFA_USER_NAME_MAX + 1];
	char plain[MFA_USER_FILE_MAX];

	(void)s;
	assert_int_equal(mfa_user_to_filename("%%", file, sizeof(file)), 0);
	assert_string_equal(file, "%25%25");
	repeat(name, sizeof(name), "%%", "0", 64);
	assert_int_equal(mfa_user_to_filename(name, file, sizeof(file)), 0);
	assert_memory_equal(file, "%25%25", 6);
	repeat(name, sizeof(name), "", "\xd0\x96", 64);
	repeat(plain, sizeof(plain), "", "%D0%96", 64);
	assert_int_equal(mfa_user_from_filename(plain, back, sizeof(back)), -EINVAL);
	assert_int_equal(mfa_user_is_filename(plain), 0);
	repeat(file, sizeof(file), "%%", "A", 64); /* upper case: not what the mapping writes */
	assert_int_equal(mfa_user_from_filename(file, back, sizeof(back)), -EINVAL);
	repeat(file, sizeof(file), "%%", "a", 63);
	assert_int_equal(mfa_user_is_filename(file), 0);
}

static void test_filename_buffer_too_small(void **s)
{
	char small[4];

	(void)s;
	assert_int_equal(mfa_user_to_filename("alice", small, sizeof(small)), -ENOBUFS);
}

static void list(struct mfa_strlist *l, char **v, size_t n)
{
	l->v = v;
	l->n = n;
}

static char n_users[] = "mfa-users", n_exempt[] = "exempt", n_admins[] = "mfa-admins",
	    n_protected[] = "protected", n_svc[] = "svc";
static char *g_users[] = { n_users }, *g_exempt[] = { n_exempt }, *g_admins[] = { n_admins },
	    *g_protected[] = { n_protected }, *u_svc[] = { n_svc };

static struct mfa_config policy(void)
{
	struct mfa_config c = { 0 };

	list(&c.enforce.groups, g_users, 1);
	list(&c.enforce.exempt_groups, g_exempt, 1);
	list(&c.reset.admin_groups, g_admins, 1);
	list(&c.reset.protected_groups, g_protected, 1);
	return c;
}

static void test_enforced_by_group_membership(void **s)
{
	struct mfa_config c = policy();

	(void)s;
	assert_int_equal(mfa_user_is_enforced(&c, "alice"), 1); /* listed member */
	assert_int_equal(mfa_user_is_enforced(&c, "dave"), 1);  /* primary group */
	assert_int_equal(mfa_user_is_enforced(&c, "carol"), 0); /* not a member */
	assert_int_equal(mfa_user_is_enforced(&c, "nosuchuser"), -ENOENT);
}

static void test_exempt_group_wins_over_group_and_all(void **s)
{
	struct mfa_config c = policy();

	(void)s;
	assert_int_equal(mfa_user_is_enforced(&c, "svc"), 0);
	c.enforce.all = true;
	assert_int_equal(mfa_user_is_enforced(&c, "svc"), 0);
	assert_int_equal(mfa_user_is_enforced(&c, "carol"), 1);
}

static void test_named_user_beats_exemption(void **s)
{
	struct mfa_config c = policy();

	(void)s;
	list(&c.enforce.users, u_svc, 1);
	assert_int_equal(mfa_user_is_enforced(&c, "svc"), 1);
}

static void test_unknown_user_is_enoent_whatever_the_policy(void **s)
{
	struct mfa_config c = policy();

	(void)s;
	c.enforce.all = true;
	c.enforce.exempt_groups.n = 0;
	assert_int_equal(mfa_user_is_enforced(&c, "nosuchuser"), -ENOENT);
	c.enforce.all = false;
	c.enforce.groups.n = 0;
	assert_int_equal(mfa_user_is_enforced(&c, "nosuchuser"), -ENOENT);
	assert_int_equal(mfa_user_is_enforced(&c, "alice"), 0);
	assert_int_equal(mfa_user_is_enforced(&c, "../x"), -EINVAL);
}

static void test_large_group_membership(void **s)
{
	static char n_big[] = "big", n_none[] = "nosuchgroup";
	static char *big[] = { n_none, n_big };
	struct mfa_strlist l;

	(void)s;
	/* The member list does not fit the first buffer: the lookup grows it. */
	list(&l, big, 2);
	assert_int_equal(mfa_user_in_groups("alice", &l), 1);
	assert_int_equal(mfa_user_in_groups("carol", &l), 0);
	assert_int_equal(mfa_user_in_groups("nosuchuser", &l), -ENOENT);
}

static void test_admin_is_current_group_member_or_root(void **s)
{
	struct mfa_config c = policy();

	(void)s;
	assert_int_equal(mfa_user_is_admin(&c, 1002, "bob"), 1);
	assert_int_equal(mfa_user_is_admin(&c, 1001, "alice"), 0);
	assert_int_equal(mfa_user_is_admin(&c, 0, "root"), 1);
	c.reset.admin_groups.n = 0;
	assert_int_equal(mfa_user_is_admin(&c, 1002, "bob"), 0);
	assert_int_equal(mfa_user_is_admin(&c, 0, "root"), 1);
}

static void test_may_reset_verdicts(void **s)
{
	struct mfa_config c = policy();

	(void)s;
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "alice"), MFA_RESET_ALLOWED);
	assert_int_equal(mfa_user_may_reset(&c, 1001, "alice", "dave"), MFA_RESET_NOT_ADMIN);
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "bob"), MFA_RESET_SELF);
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "carol"), MFA_RESET_PROTECTED);
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "nosuchuser"), MFA_RESET_UNKNOWN_USER);
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "../x"), MFA_RESET_INVALID_NAME);
	assert_int_equal(mfa_user_may_reset(&c, 0, "root", "carol"), MFA_RESET_ALLOWED);
	assert_int_equal(mfa_user_may_reset(&c, 0, "root", "root"), MFA_RESET_ALLOWED);
	assert_int_equal(mfa_user_may_reset(&c, 0, "root", "nosuchuser"), MFA_RESET_UNKNOWN_USER);
	c.reset.allow_self_reset = true;
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "bob"), MFA_RESET_ALLOWED);
}

/* The per-target half (the daemon checks the actor once per request) gives the same target
 * verdicts: self, protected, unknown and invalid targets are still refused. */
static void test_may_reset_target_verdicts(void **s)
{
	struct mfa_config c = policy();
	char name[MFA_USER_NAME_MAX + 1] = "";

	(void)s;
	assert_int_equal(mfa_user_may_reset_target(&c, 1002, "bob", "alice", name, sizeof(name)),
			 MFA_RESET_ALLOWED);
	assert_string_equal(name, "alice");
	assert_int_equal(mfa_user_may_reset_target(&c, 1002, "bob", "bob", name, sizeof(name)),
			 MFA_RESET_SELF);
	assert_int_equal(mfa_user_may_reset_target(&c, 1002, "bob", "carol", name, sizeof(name)),
			 MFA_RESET_PROTECTED);
	assert_int_equal(
		mfa_user_may_reset_target(&c, 1002, "bob", "nosuchuser", name, sizeof(name)),
		MFA_RESET_UNKNOWN_USER);
	assert_int_equal(mfa_user_may_reset_target(&c, 1002, "bob", "-x", name, sizeof(name)),
			 MFA_RESET_INVALID_NAME);
	assert_int_equal(mfa_user_may_reset_target(&c, 0, "root", "carol", name, sizeof(name)),
			 MFA_RESET_ALLOWED);
	assert_string_equal(name, "carol");
	assert_int_equal(mfa_user_may_reset_target(&c, 0, "root", "carol", name, 3), -ENOBUFS);
}

/* Root and the admin groups are protected by default: one stolen admin password must not
 * reset another admin's second factor, nor root's. protected_groups adds more. */
static void test_admins_and_root_protected_by_default(void **s)
{
	static char n_admins2[] = "mfa-users";
	static char *g_two[] = { n_admins, n_admins2 };
	struct mfa_config c = policy();

	(void)s;
	c.reset.protected_groups.n = 0;
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "root"), MFA_RESET_PROTECTED);
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "carol"), MFA_RESET_ALLOWED);
	/* alice becomes an admin too (mfa-users is an admin group): bob may not reset her. */
	list(&c.reset.admin_groups, g_two, 2);
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "alice"), MFA_RESET_PROTECTED);
	assert_int_equal(mfa_user_may_reset(&c, 1001, "alice", "bob"), MFA_RESET_PROTECTED);
	assert_int_equal(mfa_user_may_reset(&c, 0, "root", "alice"), MFA_RESET_ALLOWED);
	assert_int_equal(mfa_user_may_reset(&c, 0, "root", "root"), MFA_RESET_ALLOWED);
	/* Self stays its own rule: allowed only with allow_self_reset. */
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "bob"), MFA_RESET_SELF);
	c.reset.allow_self_reset = true;
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "bob"), MFA_RESET_ALLOWED);
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "alice"), MFA_RESET_PROTECTED);
}

static void test_canonical_name_is_nss_own(void **s)
{
	char name[MFA_USER_NAME_MAX + 1];

	(void)s;
	assert_int_equal(mfa_user_canonical("alice", name, sizeof(name)), 0);
	assert_string_equal(name, "alice");
	assert_int_equal(mfa_user_canonical("nosuchuser", name, sizeof(name)), -ENOENT);
	assert_int_equal(mfa_user_canonical("../etc", name, sizeof(name)), -EINVAL);
	assert_int_equal(mfa_user_canonical("alice", name, 3), -ENOBUFS);
}

static void test_self_reset_through_an_alias_of_the_same_uid(void **s)
{
	struct mfa_config c = policy();

	(void)s;
	/* bobby is another passwd name for bob's uid 1002. */
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "bobby"), MFA_RESET_SELF);
	c.reset.allow_self_reset = true;
	assert_int_equal(mfa_user_may_reset(&c, 1002, "bob", "bobby"), MFA_RESET_ALLOWED);
}

static void test_group_members_of_large_group(void **s)
{
	struct mfa_strlist m = { 0 };

	(void)s;
	/* 301 listed members, plus longgecos (primary group, a passwd line over 4 KiB). */
	assert_int_equal(mfa_user_group_members("big", &m), 0);
	assert_int_equal(m.n, 302);
	assert_true(mfa_strlist_contains(&m, "alice"));
	assert_true(mfa_strlist_contains(&m, "member0299"));
	assert_true(mfa_strlist_contains(&m, "longgecos"));
	mfa_strlist_free(&m);
}

static void test_group_members_include_primary(void **s)
{
	struct mfa_strlist m = { 0 };

	(void)s;
	assert_int_equal(mfa_user_group_members("mfa-users", &m), 0);
	assert_int_equal(m.n, 3);
	assert_true(mfa_strlist_contains(&m, "alice"));
	assert_true(mfa_strlist_contains(&m, "svc"));
	assert_true(mfa_strlist_contains(&m, "dave"));
	mfa_strlist_free(&m);
	assert_int_equal(mfa_user_group_members("nosuchgroup", &m), -ENOENT);
}

static void test_name_of_uid(void **s)
{
	char name[MFA_USER_NAME_MAX + 1];

	(void)s;
	assert_int_equal(mfa_user_name_of(1002, name, sizeof(name)), 0);
	assert_string_equal(name, "bob");
	assert_int_equal(mfa_user_name_of(4242, name, sizeof(name)), -ENOENT);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_name_dotdot_slash_x_refused),
	cmocka_unit_test(test_name_dot_refused),
	cmocka_unit_test(test_name_dotdot_refused),
	cmocka_unit_test(test_name_dash_rf_refused),
	cmocka_unit_test(test_name_empty_refused),
	cmocka_unit_test(test_name_slash_refused),
	cmocka_unit_test(test_name_newline_refused),
	cmocka_unit_test(test_name_tab_refused),
	cmocka_unit_test(test_name_del_refused),
	cmocka_unit_test(test_name_escape_refused),
	cmocka_unit_test(test_name_space_refused),
	cmocka_unit_test(test_name_dotfile_lock_refused),
	cmocka_unit_test(test_name_10kb_refused),
	cmocka_unit_test(test_name_domain_backslash_user_accepted),
	cmocka_unit_test(test_name_user_at_realm_accepted),
	cmocka_unit_test(test_name_plain_accepted),
	cmocka_unit_test(test_filename_mapping_is_injective),
	cmocka_unit_test(test_filename_mapping_tricky_pairs_differ),
	cmocka_unit_test(test_from_filename_refuses_non_users),
	cmocka_unit_test(test_filename_buffer_too_small),
	cmocka_unit_test(test_long_name_maps_to_hash),
	cmocka_unit_test(test_hashed_names_cannot_collide),
	cmocka_unit_test(test_enforced_by_group_membership),
	cmocka_unit_test(test_exempt_group_wins_over_group_and_all),
	cmocka_unit_test(test_named_user_beats_exemption),
	cmocka_unit_test(test_unknown_user_is_enoent_whatever_the_policy),
	cmocka_unit_test(test_large_group_membership),
	cmocka_unit_test(test_admin_is_current_group_member_or_root),
	cmocka_unit_test(test_may_reset_verdicts),
	cmocka_unit_test(test_may_reset_target_verdicts),
	cmocka_unit_test(test_admins_and_root_protected_by_default),
	cmocka_unit_test(test_canonical_name_is_nss_own),
	cmocka_unit_test(test_self_reset_through_an_alias_of_the_same_uid),
	cmocka_unit_test(test_group_members_of_large_group),
	cmocka_unit_test(test_group_members_include_primary),
	cmocka_unit_test(test_name_of_uid),
};

MFA_UNIT_MAIN(tests)
