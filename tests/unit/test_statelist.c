/* statelist.c and the long-name mapping as the state files use it: names whose encoding is too
 * long for a file name enroll, load and list; temp files left by a writer killed before its
 * rename are removed by the next store of that user and by listings, under the user's lock. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "statefx.h"

/* 90 Cyrillic letters: 180 bytes, a valid name (the one a review saw refused with "File name
 * too long"), 540 bytes percent-encoded. */
static void long_name(char buf[MFA_USER_NAME_MAX + 1], const char *letter)
{
	for (int i = 0; i < 90; i++)
		memcpy(buf + 2 * i, letter, 2);
	buf[180] = '\0';
}

struct seen {
	char names[8][MFA_USER_NAME_MAX + 1];
	int n;
};

static int collect(const char *user, void *userdata)
{
	struct seen *s = userdata;

	if (s->n < 8)
		strcpy(s->names[s->n], user);
	s->n++;
	return 0;
}

/* Entries of the state directory whose name starts with prefix. */
static int count_prefix(struct fx *f, const char *prefix)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static void test_long_name_enrolls_loads_and_lists(void **state)
{
	struct fx *f = *state;
	char name[MFA_USER_NAME_MAX + 1];
	struct mfa_state a = enrolled(), b;
	struct seen s = { .n = 0 };

	long_name(name, "Ж");
	store(f, name, &a);
	store(f, "alice", &a);
	assert_int_equal(mfa_state_load(f->dfd, -1, name, &b, NULL), 0);
	assert_memory_equal(b.secret->bytes, a.secret->bytes, a.secret->len);
	assert_string_equal(b.user, name);
	mfa_state_clear(&b);
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, name, &b, NULL), 0);
	assert_int_equal(b.status, MFA_STATUS_ENROLLED);
	mfa_state_clear(&b);
	assert_int_equal(mfa_state_foreach_user(f->dfd, collect, &s), 0);
	assert_int_equal(s.n, 2);
	assert_true(strcmp(s.names[0], name) == 0 || strcmp(s.names[1], name) == 0);
	assert_int_equal(count_prefix(f, MFA_USER_FILE_HASH_PREFIX), 1);
	mfa_state_clear(&a);
}

/* Not enrolled and not enforced: no file, the answer any other name gets (it was
 * ENAMETOOLONG, an error the module failed closed on). */
static void test_unenforced_long_name_is_not_an_error(void **state)
{
	struct fx *f = *state;
	char name[MFA_USER_NAME_MAX + 1];
	struct mfa_state b;
	_cleanup_close_ int lk = -1;

	long_name(name, "Ж");
	assert_int_equal(mfa_state_load(f->dfd, -1, name, &b, NULL), -ENOENT);
	assert_int_equal(mfa_state_load_summary(f->dfd, -1, name, &b, NULL), -ENOENT);
	assert_int_equal(mfa_state_lock(f->dfd, name, 1000, &lk), 0);
}

/* A hashed file holding another user's name (a renamed or swapped file) is nobody's. */
static void test_hashed_file_of_other_user_is_refused(void **state)
{
	struct fx *f = *state;
	char a_name[MFA_USER_NAME_MAX + 1], b_name[MFA_USER_NAME_MAX + 1];
	char a_file[MFA_USER_FILE_MAX], b_file[MFA_USER_FILE_MAX];
	struct mfa_state a = enrolled(), b;
	struct seen s = { .n = 0 };

	long_name(a_name, "Ж");
	long_name(b_name, "Я");
	store(f, a_name, &a);
	assert_int_equal(mfa_user_to_filename(a_name, a_file, sizeof(a_file)), 0);
	assert_int_equal(mfa_user_to_filename(b_name, b_file, sizeof(b_file)), 0);
	assert_int_equal(renameat(f->dfd, a_file, f->dfd, b_file), 0);
	assert_int_equal(mfa_state_load(f->dfd, -1, b_name, &b, NULL), -EBADMSG);
	assert_int_equal(mfa_state_foreach_user(f->dfd, collect, &s), 0);
	assert_int_equal(s.n, 0);
	mfa_state_clear(&a);
}

/* Runs store_child under strace, killed at its rename: the temp file stays behind. */
static void store_killed_at_rename(struct fx *f, const char *user)
{
	char cmd[1024];
	int status;

	snprintf(cmd, sizeof(cmd),
		 "strace -f -qq -o /dev/null -e trace=renameat,renameat2 "
		 "-e inject=renameat,renameat2:signal=KILL '%s' '%s' '%s'",
		 getenv("MFA_STORE_CHILD"), f->dir, user);
	status = system(cmd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 128 + SIGKILL);
}

/* A crash between creating the temp file and renaming it used to leave .tmp-<file>-<hex>
 * forever, holding a secret never activated (55 after 837 crashes). The next store of that
 * user leaves none: one temp name per user, unlinked before the new one is created. */
static void test_store_after_crash_leaves_no_temp(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled();

	for (int i = 0; i < 3; i++)
		store_killed_at_rename(f, "alice");
	assert_true(count_prefix(f, ".tmp") >= 1);
	store(f, "alice", &a);
	assert_int_equal(count_prefix(f, ".tmp"), 0);
	mfa_state_clear(&a);
}

/* A listing removes what killed writers left, of either naming, and no temp file of a user
 * whose lock is held (a write under way); a link is removed, never followed. */
static void test_listing_removes_stale_temps(void **state)
{
	struct fx *f = *state;
	struct seen s = { .n = 0 };
	char target[128], link[128];
	struct stat sb;
	_cleanup_close_ int lk = -1;

	install(f, "state-valid", "alice");
	install(f, "state-valid", ".tmp-alice-0123456789ab");
	install(f, "state-valid", ".tmp-DOM%5Cbob-ba9876543210");
	install(f, "state-valid", ".tmp.carol");
	install(f, "state-valid", ".tmp.dave");
	install(f, "state-valid", ".tmp-not-a-temp"); /* not ours: left alone */
	snprintf(target, sizeof(target), "%s/target", f->dir);
	snprintf(link, sizeof(link), "%s/.tmp.erin", f->dir);
	install(f, "state-valid", "target");
	assert_int_equal(symlink(target, link), 0);
	store_killed_at_rename(f, "frank");
	assert_int_equal(mfa_state_lock(f->dfd, "dave", 1000, &lk), 0);
	assert_int_equal(mfa_state_foreach_user(f->dfd, collect, &s), 0);
	assert_int_equal(s.n, 2); /* alice, target */
	assert_int_equal(count_prefix(f, ".tmp."), 1);
	assert_int_equal(fstatat(f->dfd, ".tmp.dave", &sb, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(count_prefix(f, ".tmp-"), 1);
	assert_int_equal(stat(target, &sb), 0);
}

/* A temp name is read as the one user it belongs to, whoever else's name it starts with: the
 * new form names the whole file, the old one ends in exactly "-" and 12 hex digits. With the
 * lock of "bob-0123456789ab" held, its temp stays; bob's temps of both forms go. */
static void test_listing_reads_temp_names_of_prefix_users_apart(void **state)
{
	struct fx *f = *state;
	struct seen s = { .n = 0 };
	struct stat sb;
	_cleanup_close_ int lk = -1;

	install(f, "state-valid", ".tmp.bob-0123456789ab");
	install(f, "state-valid", ".tmp-bob-0123456789ab-0123456789ab");
	install(f, "state-valid", ".tmp.bob");
	install(f, "state-valid", ".tmp-bob-0123456789ab"); /* bob's, of an earlier version */
	assert_int_equal(mfa_state_lock(f->dfd, "bob-0123456789ab", 1000, &lk), 0);
	assert_int_equal(mfa_state_foreach_user(f->dfd, collect, &s), 0);
	assert_int_equal(fstatat(f->dfd, ".tmp.bob-0123456789ab", &sb, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(fstatat(f->dfd, ".tmp-bob-0123456789ab-0123456789ab", &sb,
				 AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(count_prefix(f, ".tmp"), 2);
}

/* A link (or FIFO) in place of the user's temp file is removed by the next store, never
 * followed or written through: the link's target is left as it was. */
static void test_store_removes_link_named_like_its_temp(void **state)
{
	struct fx *f = *state;
	struct mfa_state a = enrolled(), b;
	char target[128], link[128], buf[8] = "";
	struct stat sb;
	int fd;

	snprintf(target, sizeof(target), "%s/target", f->dir);
	snprintf(link, sizeof(link), "%s/.tmp.alice", f->dir);
	install(f, "state-valid", "target");
	assert_int_equal(truncate(target, 3), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(mkfifoat(f->dfd, ".tmp.bob", 0600), 0);
	store(f, "alice", &a);
	store(f, "bob", &a);
	assert_int_equal(stat(target, &sb), 0);
	assert_int_equal(sb.st_size, 3);
	fd = open(target, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	assert_int_equal(count_prefix(f, ".tmp"), 0);
	assert_int_equal(mfa_state_load(f->dfd, -1, "alice", &b, NULL), 0);
	mfa_state_clear(&b);
	mfa_state_clear(&a);
}

/* A directory where a temp file would be is nobody's temp: a listing leaves it (and what is
 * in it), and a store for that user fails closed rather than write elsewhere. */
static void test_directory_named_like_a_temp_is_left_alone(void **state)
{
	struct fx *f = *state;
	struct seen s = { .n = 0 };
	struct mfa_state a = enrolled();
	_cleanup_close_ int lk = -1;
	struct stat sb;

	assert_int_equal(mkdirat(f->dfd, ".tmp.alice", 0700), 0);
	assert_int_equal(mkdirat(f->dfd, ".tmp-alice-0123456789ab", 0700), 0);
	assert_int_equal(mfa_state_foreach_user(f->dfd, collect, &s), 0);
	assert_int_equal(count_prefix(f, ".tmp"), 2);
	assert_int_equal(mfa_state_lock(f->dfd, "alice", 1000, &lk), 0);
	assert_int_equal(mfa_state_store(f->dfd, lk, "alice", &a, 0), -EISDIR);
	assert_int_equal(fstatat(f->dfd, "alice", &sb, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(errno, ENOENT);
	mfa_state_clear(&a);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_long_name_enrolls_loads_and_lists, setup, teardown),
	cmocka_unit_test_setup_teardown(test_unenforced_long_name_is_not_an_error, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_hashed_file_of_other_user_is_refused, setup, teardown),
	cmocka_unit_test_setup_teardown(test_store_after_crash_leaves_no_temp, setup, teardown),
	cmocka_unit_test_setup_teardown(test_listing_removes_stale_temps, setup, teardown),
	cmocka_unit_test_setup_teardown(test_listing_reads_temp_names_of_prefix_users_apart, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_directory_named_like_a_temp_is_left_alone, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_store_removes_link_named_like_its_temp, setup,
					teardown),
};

MFA_UNIT_MAIN(tests)
