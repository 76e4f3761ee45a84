/* Module arguments: config=PATH, debug, no_enroll. The policy lives in the strict config
 * file; unknown arguments are logged and ignored, the PAM convention. */
#include <string.h>
#include <syslog.h>

#include <security/pam_ext.h>

#include "pam_totp.h"

void totp_args_parse(pam_handle_t *pamh, int flags, int argc, const char **argv,
		     struct totp_args *ret)
{
	struct totp_args a = {.silent = (flags & PAM_SILENT) != 0};

	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "config=", 7) == 0 && argv[i][7] != '\0')
			a.config = argv[i] + 7;
		else if (strcmp(argv[i], "debug") == 0)
			a.debug = true;
		else if (strcmp(argv[i], "no_enroll") == 0)
			a.no_enroll = true;
		else
			pam_syslog(pamh, LOG_WARNING, "unknown option '%s', ignoring", argv[i]);
	}
	*ret = a;
}
