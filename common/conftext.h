/* The config's text made short before libconfig reads it (conftext.c says why). */
#pragma once

#include <stddef.h>

/* Copies len bytes of text into out (room for len + 1 bytes; NUL-terminated) without its
 * comments (#, // and /+* *+/) and with each run of blanks (space, tab) outside strings made
 * one space; line breaks, strings and everything else unchanged, so libconfig reads the same
 * settings and reports an error on the same line. An unterminated string or block comment, or
 * a line comment without a line break after it (libconfig refuses those), ends the work: the
 * rest is copied as it is, for libconfig to judge. Returns the length. */
size_t mfa_config_compact(const char *text, size_t len, char *out);
