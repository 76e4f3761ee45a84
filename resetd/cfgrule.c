/* The rules a config file must keep (those of mfa_fs_check_stat() for a config), as words
 * for an administrator: mfa-reset --check-config prints them, mfa-resetd logs them when it
 * refuses to start. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol.h"

unsigned mfa_config_file_rules(const struct stat *st, char *buf, size_t size)
{
	unsigned bad = 0;
	size_t n = 0;

	buf[0] = '\0';
	if (!S_ISREG(st->st_mode)) {
		snprintf(buf, size, "not a regular file: the config must be a plain file (no link, "
				    "device or directory)");
		return 1;
	}
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		n += (size_t)snprintf(buf + n, size - n, "owned by uid %u: must be owned by root, "
				      "or its owner could switch MFA off (chown root)",
				      (unsigned)st->st_uid);
		bad++;
	}
	if ((st->st_mode & 022) && n < size) {
		snprintf(buf + n, size - n, "%smode %04o is writable by %s: must not be, or any "
			 "such user could switch MFA off (chmod go-w)", bad ? "; " : "",
			 (unsigned)(st->st_mode & 07777),
			 (st->st_mode & 002) ? "everyone" : "its group");
		bad++;
	}
	return bad;
}
