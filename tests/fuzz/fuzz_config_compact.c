/* libFuzzer target, differential: libconfig must read the same settings from any text and
 * from mfa_config_compact() of it, or fail on the same line (common/conftext.c). Inputs with
 * '@' are not given to libconfig (it would follow @include to files); for them the loader must
 * refuse a line that starts with '@' (after blanks) in the text or in its compact form: in a
 * block comment (pam_totp.conf(5)), or after one, which compaction turns into a blank. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "config.h"
#include "conftext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 and *ret_dump (config_write of what was read) when libconfig reads text, else 0 and
 * *ret_line its error line. */
static int read_text(const char *text, char **ret_dump, int *ret_line)
{
	config_t lc;
	size_t n = 0;
	FILE *f;
	int ok;

	config_init(&lc);
	ok = config_read_string(&lc, text) == CONFIG_TRUE;
	*ret_dump = NULL;
	*ret_line = ok ? 0 : config_error_line(&lc);
	if (ok && (f = open_memstream(ret_dump, &n))) {
		config_write(&lc, f);
		fclose(f);
	}
	config_destroy(&lc);
	return ok;
}

static bool at_line(const char *text)
{
	bool start = true;

	for (; *text; text++)
		if (*text == '\n')
			start = true;
		else if (start && *text == '@')
			return true;
		else if (!strchr(" \t\r\f\v", *text))
			start = false;
	return false;
}

/* An input with '@': refused if a line of it, or of its compact form, starts with '@'. */
static void check_directives(const char *text, size_t size)
{
	char *compact = malloc(size + 1);
	struct mfa_config cfg;

	if (!compact)
		abort();
	mfa_config_compact(text, size, compact);
	if ((at_line(text) || at_line(compact)) &&
	    mfa_config_parse_n(text, size, &cfg, NULL) == 0) {
		fprintf(stderr, "'@' line accepted\n--- text\n%s\n--- compact\n%s\n", text,
			compact);
		abort();
	}
	free(compact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *compact, *d1 = NULL, *d2 = NULL;
	int ok1, ok2, l1, l2;

	if (memchr(data, '\0', size))
		return 0;
	if (memchr(data, '@', size)) {
		if (!(text = malloc(size + 1)))
			abort();
		memcpy(text, data, size);
		text[size] = '\0';
		check_directives(text, size);
		free(text);
		return 0;
	}
	text = malloc(size + 1);
	compact = malloc(size + 1);
	if (!text || !compact)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	mfa_config_compact(text, size, compact);
	ok1 = read_text(text, &d1, &l1);
	ok2 = read_text(compact, &d2, &l2);
	if (ok1 != ok2 || (ok1 && (!d1 || !d2 || strcmp(d1, d2) != 0)) || (!ok1 && l1 != l2)) {
		fprintf(stderr, "differ: ok %d/%d line %d/%d\n--- text\n%s\n--- compact\n%s\n", ok1,
			ok2, l1, l2, text, compact);
		abort();
	}
	free(d1);
	free(d2);
	free(text);
	free(compact);
	return 0;
}
