/* The secret's line of a state file, taken out before libconfig parses the text (see
 * statefmt.c). Internal to statefmt.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* The secret taken out of the text: its value as written ("hex:<hex>", or base32 in files of
 * earlier versions; locked memory, mfa_locked_alloc), length and line. */
struct mfa_secret_line {
	char *value;
	size_t len;
	unsigned line;
};

/* Finds the one line of text (len bytes, no NUL) that is `secret = "VALUE";` (blanks around
 * the tokens, ':' for '=' and the ';' optional, as libconfig allows; VALUE without quote,
 * backslash or line break), copies VALUE into locked memory and overwrites it in place with
 * as many placeholders. No such line, two of them, or an oversize value: -EBADMSG (reterr). */
int mfa_secret_line_take(char *text, size_t len, struct mfa_secret_line *sl,
			 struct mfa_err *reterr);

/* v is what libconfig read for `secret`: exactly the placeholders that replaced the value. */
bool mfa_secret_line_is_placeholder(const struct mfa_secret_line *sl, const char *v);

/* Frees (and so wipes) the copy; accepts a cleared one. */
void mfa_secret_line_clear(struct mfa_secret_line *sl);
