/* The secret's line of a state file: libconfig (and flex under it) copies the text it parses
 * and frees the copies unwiped, so the secret's value ("hex:..." or an earlier version's
 * base32) is taken out of the caller's guarded buffer and replaced there by placeholders
 * before libconfig sees it. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "locked.h"
#include "secret.h"
#include "secretline.h"

/* What libconfig sees instead of each character of the secret: neither hex nor base32, so a
 * placeholder is never mistaken for a secret. */
#define PLACEHOLDER '*'
#define SECRET_TEXT_MAX (2 * MFA_SECRET_B32_MAX)

void mfa_secret_line_clear(struct mfa_secret_line *sl)
{
	mfa_locked_free(sl->value); /* wipes */
	sl->value = NULL;
}

bool mfa_secret_line_is_placeholder(const struct mfa_secret_line *sl, const char *v)
{
	size_t n = strlen(v);

	return n == sl->len && strspn(v, (const char[]){ PLACEHOLDER, '\0' }) == n;
}

static const char *skip_blanks(const char *q, const char *end)
{
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	return q;
}

/* If the line [p, end) is the secret's, the offset and length of its value. */
static bool secret_value(const char *p, const char *end, size_t *ret_off, size_t *ret_len)
{
	const char *q = skip_blanks(p, end), *v;

	if ((size_t)(end - q) < 6 || memcmp(q, "secret", 6) != 0)
		return false;
	q = skip_blanks(q + 6, end);
	if (q == end || (*q != '=' && *q != ':'))
		return false;
	q = skip_blanks(q + 1, end);
	if (q == end || *q++ != '"')
		return false;
	for (v = q; q < end && *q != '"' && *q != '\\'; q++)
		;
	if (q == end || *q != '"')
		return false;
	*ret_off = (size_t)(v - p);
	*ret_len = (size_t)(q - v);
	q = skip_blanks(q + 1, end);
	if (q < end && *q == ';')
		q = skip_blanks(q + 1, end);
	return q == end;
}

/* Copies the value at p + off (n bytes) out and overwrites it with placeholders. */
static int take_value(char *p, size_t off, size_t n, unsigned line, struct mfa_secret_line *sl,
		      struct mfa_err *reterr)
{
	if (sl->value)
		return mfa_err_set(reterr, -EBADMSG, line, "secret: more than one secret line");
	if (n > SECRET_TEXT_MAX)
		return mfa_err_set(reterr, -EBADMSG, line, "secret: too long");
	if (!(sl->value = mfa_locked_alloc(SECRET_TEXT_MAX + 1)))
		return -ENOMEM;
	memcpy(sl->value, p + off, n);
	sl->value[n] = '\0';
	memset(p + off, PLACEHOLDER, n);
	sl->len = n;
	sl->line = line;
	return 0;
}

int mfa_secret_line_take(char *text, size_t len, struct mfa_secret_line *sl,
			 struct mfa_err *reterr)
{
	char *p = text, *end = text + len;
	unsigned line = 1;
	int r;

	for (; p < end; line++) {
		char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t off, n;

		if (!eol)
			eol = end;
		if (secret_value(p, eol, &off, &n) &&
		    (r = take_value(p, off, n, line, sl, reterr)) < 0)
			return r;
		p = eol + 1;
	}
	if (!sl->value)
		return mfa_err_set(reterr, -EBADMSG, 0,
				   "secret: missing, or not on a line of its own");
	return 0;
}
