/* The error-detail helper declared in macro.h. */
#include <stdarg.h>
#include <stdio.h>

#include "macro.h"

int mfa_err_set(struct mfa_err *reterr, int r, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (!reterr)
		return r;
	reterr->line = line;
	va_start(ap, fmt);
	vsnprintf(reterr->msg, sizeof(reterr->msg), fmt, ap);
	va_end(ap);
	return r;
}
