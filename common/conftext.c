/* libconfig's scanner costs about 13 ns for every byte it reads, comments and indentation
 * included: the shipped /etc/pam_totp.conf (79 lines, 4.2 KB, half of it comments) took
 * 53-78 us to parse, the same settings without comments and indentation 15 us (bench/RESULTS.md),
 * and PAM parses it at every login. So the text libconfig gets is the file without what its
 * scanner would skip. This is not a second parser: it knows only where strings, comments and
 * blanks are, as libconfig's scanner does (a string runs from " to the next " not escaped by
 * a backslash; # and // run to the end of the line, a block comment to its end), keeps every
 * line break, so error lines are the file's, and leaves anything it does not recognise to
 * libconfig. tests/fuzz/fuzz_config_compact checks on any input that libconfig reads the
 * same settings, or fails on the same line, with and without it. */
#include <stdbool.h>
#include <string.h>

#include "conftext.h"

/* The index just past the string that starts at text[i] (a '"'), or len if it never ends. */
static size_t string_end(const char *text, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (text[i] == '\\')
			i++;
		else if (text[i] == '"')
			return i + 1;
	}
	return len;
}

/* Block comment at text[i]: the index just past its end, its line breaks written to out;
 * 0 (nothing written) if it never ends. */
static size_t block_comment_end(const char *text, size_t len, size_t i, char *out, size_t *o)
{
	const char *end = NULL;

	for (size_t j = i + 2; j + 1 < len; j++)
		if (text[j] == '*' && text[j + 1] == '/') {
			end = text + j;
			break;
		}
	if (!end)
		return 0;
	out[(*o)++] = ' ';
	for (const char *p = text + i; p < end; p++)
		if (*p == '\n')
			out[(*o)++] = '\n';
	return (size_t)(end - text) + 2;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

size_t mfa_config_compact(const char *text, size_t len, char *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		char c = text[i], next = i + 1 < len ? text[i + 1] : '\0';
		size_t j;

		if (c == '"') {
			j = string_end(text, len, i);
			memcpy(out + o, text + i, j - i);
			o += j - i;
			i = j;
		} else if (c == '#' || (c == '/' && next == '/')) {
			const char *eol = memchr(text + i, '\n', len - i);

			if (!eol) /* libconfig takes a comment only up to a line break */
				break;
			i = (size_t)(eol - text);
		} else if (c == '/' && next == '*') {
			j = block_comment_end(text, len, i, out, &o);
			if (j == 0) /* never closed: libconfig says so, on its line */
				break;
			i = j;
		} else if (blank(c)) {
			while (i < len && blank(text[i]))
				i++;
			if (o > 0 && out[o - 1] != '\n' && out[o - 1] != ' ')
				out[o++] = ' ';
		} else {
			out[o++] = c;
			i++;
		}
	}
	memcpy(out + o, text + i, len - i); /* what was left unrecognised, if anything */
	o += len - i;
	out[o] = '\0';
	return o;
}
