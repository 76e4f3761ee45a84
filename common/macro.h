/* Scope-based cleanup helpers shared by every part of pam_totp (systemd style). */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}

/* Closes fd >= 0 and keeps errno, so a cleanup never hides the error being returned. */
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f) {
		int saved = errno;
		fclose(*f);
		errno = saved;
	}
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership out of a cleanup variable. */
#define TAKE_PTR(p)                                                                            \
	({                                                                                     \
		__typeof__(p) _p = (p);                                                        \
		(p) = NULL;                                                                    \
		_p;                                                                            \
	})
#define TAKE_FD(fd)                                                                            \
	({                                                                                     \
		int _fd = (fd);                                                                \
		(fd) = -1;                                                                     \
		_fd;                                                                           \
	})

/* Where a parser or loader failed: line 0 when no line applies. */
struct mfa_err {
	unsigned line;
	char msg[160];
};

/* Fills reterr (which may be NULL) and returns r, so callers write `return mfa_err_set(...)`. */
int mfa_err_set(struct mfa_err *reterr, int r, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
