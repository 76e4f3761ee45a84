/* Test-only preload: NSS answering for another spelling of a name, as a case-insensitive
 * directory does (sssd's AD provider by default): getpwnam_r("ALICE") returns alice's entry,
 * whose pw_name is "alice". Preloaded before nss_wrapper, whose lookup it calls. nss_wrapper
 * itself only matches names exactly. */
#include <ctype.h>
#include <dlfcn.h>
#include <pwd.h>
#include <stddef.h>
#include <string.h>

typedef int (*getpwnam_r_fn)(const char *, struct passwd *, char *, size_t, struct passwd **);

__attribute__((visibility("default"))) int getpwnam_r(const char *name, struct passwd *pw,
						      char *buf, size_t size,
						      struct passwd **res);

int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t size, struct passwd **res)
{
	getpwnam_r_fn next = (getpwnam_r_fn)dlsym(RTLD_NEXT, "getpwnam_r");
	char lower[256];
	size_t i;

	for (i = 0; name[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	return next(name[i] ? name : lower, pw, buf, size, res);
}
