/* mfa-reset --check-config: the config as the module and the daemon will see it, checked
 * before a reload locks everyone out. The parse is the shared loader's (mfa_config_load);
 * the file's type, owner and mode are checked here too, so each broken rule is named. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "macro.h"
#include "reset.h"

static unsigned check_file(const char *path, const struct stat *st)
{
	char msg[512];
	unsigned bad = mfa_config_file_rules(st, msg, sizeof(msg));

	if (bad)
		printf("%s: %s\n", esc_msg(path), msg);
	return bad;
}

/* The parse, with its line; an unsafe file is still parsed (read here) so that every problem
 * shows in one run. */
static unsigned check_text(const char *path, bool safe)
{
	struct mfa_config cfg = { 0 };
	struct mfa_err err = { 0 };
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	if (safe) {
		r = mfa_config_load(path, &cfg, &err);
	} else {
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 || !(text = malloc(MFA_CONFIG_MAX_SIZE)))
			return 1;
		r = mfa_fs_read_fd(fd, text, MFA_CONFIG_MAX_SIZE, &len);
		if (r == 0)
			r = mfa_config_parse(text, &cfg, &err);
	}
	mfa_config_free(&cfg);
	if (r == 0)
		return 0;
	if (err.line > 0)
		printf("%s:%u: %s\n", esc_msg(path), err.line, esc_msg(err.msg));
	else
		printf("%s: %s\n", esc_msg(path), err.msg[0] ? esc_msg(err.msg) : strerror(-r));
	return 1;
}

int check_config_main(const char *path)
{
	struct stat st;
	unsigned bad;

	if (lstat(path, &st) < 0) {
		printf("%s: %s\n", esc_msg(path), strerror(errno));
		return EXIT_SOME_FAILED;
	}
	bad = check_file(path, &st);
	if (S_ISREG(st.st_mode))
		bad += check_text(path, bad == 0);
	if (bad == 0)
		printf("%s: OK\n", esc_msg(path));
	else
		printf("%s: %u problem%s; the module and mfa-resetd refuse this file (fail "
		       "closed)\n", esc_msg(path), bad, bad == 1 ? "" : "s");
	return bad ? EXIT_SOME_FAILED : 0;
}
