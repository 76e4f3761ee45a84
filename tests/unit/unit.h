/* Shared main() for the cmocka unit tests: `test_x NAME` runs the one test NAME, so that meson
 * lists every case as its own named test; a NAME that matches no test is a failure, never a
 * silent pass of zero tests. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static inline int mfa_unit_main(int argc, char **argv, const struct CMUnitTest *tests,
				size_t n, const char *group)
{
	if (argc > 1) {
		size_t i;

		for (i = 0; i < n; i++)
			if (strcmp(tests[i].name, argv[1]) == 0)
				break;
		if (i == n) {
			fprintf(stderr, "%s: no test named %s\n", group, argv[1]);
			return 2;
		}
		cmocka_set_test_filter(argv[1]);
	}
	return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}

/* A private directory for one test (mode 0700, as state_dir must be) and its removal. */
struct mfa_unit_dir {
	char path[64];
	int fd;
};

static inline void mfa_unit_dir_make(struct mfa_unit_dir *d)
{
	strcpy(d->path, "/tmp/mfa-unit-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	d->fd = -1;
}

static inline void mfa_unit_dir_remove(struct mfa_unit_dir *d)
{
	char cmd[192];

	if (d->fd >= 0)
		close(d->fd);
	snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s'; rm -rf '%s'", d->path, d->path);
	assert_int_equal(system(cmd), 0);
}

/* fn(arg) run in a child: its result (0 or -errno), or a failed test when it has not returned
 * within secs seconds (a call that must never block, e.g. on a FIFO). */
static inline int mfa_unit_in_child(int (*fn)(void *), void *arg, unsigned secs)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(secs);
		_exit(-fn(arg) & 0xff);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		fail_msg("still blocked after %u s (or killed by signal %d)", secs,
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -WEXITSTATUS(status);
}

#define MFA_UNIT_MAIN(tests)                                                                   \
	int main(int argc, char **argv)                                                        \
	{                                                                                      \
		return mfa_unit_main(argc, argv, tests, sizeof(tests) / sizeof((tests)[0]),   \
				     __FILE__);                                                \
	}
