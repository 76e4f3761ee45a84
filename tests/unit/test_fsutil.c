/* fsutil.c: atomic replacement keeps the old file on failure, safe opens refuse what they
 * must, bounded reads, and OFD locks between processes. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "secret.h"
#include "macro.h"
#include "unit.h"

struct fx {
	struct mfa_unit_dir d;
	char *dir; /* d.path */
	int dfd;   /* d.fd */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mfa_secret_init(), 0);
	mfa_unit_dir_make(&f->d);
	f->dir = f->d.path;
	assert_int_equal(mfa_fs_open_dir(f->dir, &f->d.fd), 0);
	f->dfd = f->d.fd;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	mfa_unit_dir_remove(&f->d);
	free(f);
	return 0;
}

static void read_back(struct fx *f, const char *name, const char *want)
{
	_cleanup_close_ int fd = -1;
	char buf[64];
	size_t len;

	assert_int_equal(mfa_fs_open_regular(f->dfd, name, O_RDONLY, 0, &fd), 0);
	assert_int_equal(mfa_fs_read_fd(fd, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, want);
}

static int count_temps(struct fx *f)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | grep -c '^\\.tmp-' >/dev/null", f->dir);
	return system(cmd) == 0;
}

static void test_atomic_write_replaces(void **state)
{
	struct fx *f = *state;

	assert_int_equal(mfa_fs_write_atomic(f->dfd, "x", "old", 3, 0), 0);
	assert_int_equal(mfa_fs_write_atomic(f->dfd, "x", "new", 3, 0), 0);
	read_back(f, "x", "new");
	assert_int_equal(count_temps(f), 0);
	assert_int_equal(mfa_fs_write_atomic(f->dfd, "x", "nosync", 6, MFA_FS_NOSYNC), 0);
	read_back(f, "x", "nosync");
}

/* rename onto a directory fails: the old entry stays and no temp file is left behind. */
static void test_failed_write_keeps_old_and_leaves_no_temp(void **state)
{
	struct fx *f = *state;

	assert_int_equal(mkdirat(f->dfd, "d", 0700), 0);
	assert_int_equal(mfa_fs_write_atomic(f->dfd, "d", "data", 4, 0), -EISDIR);
	assert_int_equal(count_temps(f), 0);
	assert_int_equal(mfa_fs_write_atomic(f->dfd, "x", "old", 3, 0), 0);
	/* A temp name that cannot be opened (name too long for the directory): old file kept. */
	char longname[300];
	memset(longname, 'y', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_true(mfa_fs_write_atomic(f->dfd, longname, "new", 3, 0) < 0);
	read_back(f, "x", "old");
	assert_int_equal(count_temps(f), 0);
}

static void test_open_regular_refuses_symlink(void **state)
{
	struct fx *f = *state;
	int fd = -1;

	assert_int_equal(mfa_fs_write_atomic(f->dfd, "real", "x", 1, 0), 0);
	assert_int_equal(symlinkat("real", f->dfd, "link"), 0);
	assert_int_equal(mfa_fs_open_regular(f->dfd, "link", O_RDONLY, 0, &fd), -ELOOP);
}

static void test_open_regular_refuses_group_world_modes(void **state)
{
	struct fx *f = *state;
	int fd = -1;

	assert_int_equal(mfa_fs_write_atomic(f->dfd, "x", "x", 1, 0), 0);
	assert_int_equal(fchmodat(f->dfd, "x", 0644, 0), 0);
	assert_int_equal(mfa_fs_open_regular(f->dfd, "x", O_RDONLY, 0, &fd), -EPERM);
	assert_int_equal(fchmodat(f->dfd, "x", 0604, 0), 0);
	assert_int_equal(mfa_fs_open_regular(f->dfd, "x", O_RDONLY, 0, &fd), -EPERM);
}

static void test_open_regular_refuses_wrong_owner(void **state)
{
	struct fx *f = *state;
	int fd = -1;

	assert_int_equal(geteuid(), 0); /* giving a file away needs root; CI runs as root */
	assert_int_equal(mfa_fs_write_atomic(f->dfd, "x", "x", 1, 0), 0);
	assert_int_equal(fchownat(f->dfd, "x", 12345, 12345, 0), 0);
	assert_int_equal(mfa_fs_open_regular(f->dfd, "x", O_RDONLY, 0, &fd), -EPERM);
}

static void test_open_regular_refuses_directory_and_fifo(void **state)
{
	struct fx *f = *state;
	int fd = -1;

	assert_int_equal(mkdirat(f->dfd, "d", 0700), 0);
	assert_true(mfa_fs_open_regular(f->dfd, "d", O_RDONLY, 0, &fd) < 0);
	assert_int_equal(mkfifoat(f->dfd, "p", 0600), 0);
	assert_int_equal(mfa_fs_open_regular(f->dfd, "p", O_RDONLY | O_NONBLOCK, 0, &fd), -EBADFD);
}

static void test_open_dir_refuses_symlink_and_loose_mode(void **state)
{
	struct fx *f = *state;
	char path[128];
	int fd = -1;

	snprintf(path, sizeof(path), "%s/ln", f->dir);
	assert_int_equal(symlink(f->dir, path), 0);
	assert_int_equal(mfa_fs_open_dir(path, &fd), -ELOOP);
	assert_int_equal(mfa_fs_open_subdir(f->dfd, "sub", true, &fd), 0);
	close(fd);
	assert_int_equal(fchmodat(f->dfd, "sub", 0750, 0), 0);
	assert_int_equal(mfa_fs_open_subdir(f->dfd, "sub", false, &fd), -EPERM);
}

static void test_read_is_bounded(void **state)
{
	struct fx *f = *state;
	_cleanup_close_ int fd = -1;
	char buf[8];
	size_t len;

	assert_int_equal(mfa_fs_write_atomic(f->dfd, "x", "1234567", 7, 0), 0);
	assert_int_equal(mfa_fs_open_regular(f->dfd, "x", O_RDONLY, 0, &fd), 0);
	assert_int_equal(mfa_fs_read_fd(fd, buf, sizeof(buf), &len), -EFBIG);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(mfa_fs_read_fd(fd, buf, sizeof(buf) + 1, &len), 0);
	assert_int_equal(len, 7);
}

static void test_lock_excludes_other_process(void **state)
{
	struct fx *f = *state;
	_cleanup_close_ int a = -1;
	int status;
	pid_t pid;

	assert_int_equal(mfa_fs_write_atomic(f->dfd, "l", "", 0, 0), 0);
	assert_int_equal(mfa_fs_open_regular(f->dfd, "l", O_RDWR, 0, &a), 0);
	assert_int_equal(mfa_fs_lock(a, 100), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int b = -1;
		if (mfa_fs_open_regular(f->dfd, "l", O_RDWR, 0, &b) < 0)
			_exit(2);
		_exit(mfa_fs_lock(b, 50) == -ETIMEDOUT ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The one read path of config and state: whole or an error. A file whose size fstat() does
 * not match what was read (here /proc, size 0) was not read whole; a NUL is named by line. */
static void test_read_text_whole_and_without_nul(void **state)
{
	struct fx *f = *state;
	_cleanup_close_ int fd = -1, proc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	char buf[4096];
	size_t len;
	unsigned line;

	assert_true(proc >= 0);
	assert_int_equal(mfa_fs_read_text(proc, buf, sizeof(buf), &len, &line), -EIO);
	assert_int_equal(mfa_fs_write_atomic(f->dfd, "x", "a\nb\n\0c", 6, 0), 0);
	assert_int_equal(mfa_fs_open_regular(f->dfd, "x", O_RDONLY, 0, &fd), 0);
	assert_int_equal(mfa_fs_read_text(fd, buf, sizeof(buf), &len, &line), -EBADMSG);
	assert_int_equal(line, 3);
	close(fd);
	assert_int_equal(mfa_fs_write_atomic(f->dfd, "x", "a\nb\n", 4, 0), 0);
	assert_int_equal(mfa_fs_open_regular(f->dfd, "x", O_RDONLY, 0, &fd), 0);
	assert_int_equal(mfa_fs_read_text(fd, buf, sizeof(buf), &len, &line), 0);
	assert_int_equal(len, 4);
}

/* f->dir/p (mode, owner) holding a 0700 directory "state": what mfa_fs_open_dir() says. */
static int open_under(struct fx *f, mode_t mode, uid_t owner)
{
	char path[160];
	int fd = -1, r;

	assert_int_equal(mkdirat(f->dfd, "p", 0700), 0);
	assert_int_equal(mkdirat(f->dfd, "p/state", 0700), 0);
	assert_int_equal(fchmodat(f->dfd, "p", mode, 0), 0);
	if (owner != geteuid())
		assert_int_equal(fchownat(f->dfd, "p", owner, (gid_t)-1, 0), 0);
	snprintf(path, sizeof(path), "%s/p/state", f->dir);
	r = mfa_fs_open_dir(path, &fd);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Whoever may rename an ancestor of state_dir may put a tree of their own in its place: every
 * ancestor is owned by root or us and not writable by others, unless sticky (/tmp). */
static void test_state_dir_parent_group_writable_refused(void **state)
{
	assert_int_equal(open_under(*state, 0775, geteuid()), -EACCES);
}

static void test_state_dir_parent_world_writable_refused(void **state)
{
	assert_int_equal(open_under(*state, 0757, geteuid()), -EACCES);
}

static void test_state_dir_parent_sticky_world_writable_accepted(void **state)
{
	assert_int_equal(open_under(*state, 01777, geteuid()), 0);
}

static void test_state_dir_parent_of_other_owner_refused(void **state)
{
	if (geteuid() != 0)
		skip(); /* needs chown */
	assert_int_equal(open_under(*state, 0755, 4242), -EACCES);
}

/* A symlinked ancestor is replaceable by whoever owns its directory: the path is walked with
 * O_NOFOLLOW at every step; a relative path or a ".." step is refused. */
static void test_state_dir_symlinked_ancestor_refused(void **state)
{
	struct fx *f = *state;
	char path[160];
	int fd = -1;

	assert_int_equal(open_under(f, 0755, geteuid()), 0);
	assert_int_equal(symlinkat("p", f->dfd, "ln"), 0);
	snprintf(path, sizeof(path), "%s/ln/state", f->dir);
	assert_int_equal(mfa_fs_open_dir(path, &fd), -ELOOP);
	snprintf(path, sizeof(path), "%s/p/../p/state", f->dir);
	assert_int_equal(mfa_fs_open_dir(path, &fd), -EINVAL);
	assert_int_equal(mfa_fs_open_dir("p/state", &fd), -EINVAL);
	snprintf(path, sizeof(path), "/%s//p/state/", f->dir);
	assert_int_equal(mfa_fs_open_dir(path, &fd), 0);
	close(fd);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test_setup_teardown(test_atomic_write_replaces, setup, teardown),
	cmocka_unit_test_setup_teardown(test_failed_write_keeps_old_and_leaves_no_temp, setup, teardown),
	cmocka_unit_test_setup_teardown(test_open_regular_refuses_symlink, setup, teardown),
	cmocka_unit_test_setup_teardown(test_open_regular_refuses_group_world_modes, setup, teardown),
	cmocka_unit_test_setup_teardown(test_open_regular_refuses_wrong_owner, setup, teardown),
	cmocka_unit_test_setup_teardown(test_open_regular_refuses_directory_and_fifo, setup, teardown),
	cmocka_unit_test_setup_teardown(test_open_dir_refuses_symlink_and_loose_mode, setup, teardown),
	cmocka_unit_test_setup_teardown(test_read_is_bounded, setup, teardown),
	cmocka_unit_test_setup_teardown(test_lock_excludes_other_process, setup, teardown),
	cmocka_unit_test_setup_teardown(test_read_text_whole_and_without_nul, setup, teardown),
	cmocka_unit_test_setup_teardown(test_state_dir_parent_group_writable_refused, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_state_dir_parent_world_writable_refused, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_state_dir_parent_sticky_world_writable_accepted, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_state_dir_parent_of_other_owner_refused, setup,
					teardown),
	cmocka_unit_test_setup_teardown(test_state_dir_symlinked_ancestor_refused, setup, teardown),
};

MFA_UNIT_MAIN(tests)
