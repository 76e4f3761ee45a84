/* libFuzzer target: the configuration parser (mfa_config_parse_n, NUL bytes included). Any
 * input must end in a fully valid config or an error with a message, never a crash or a leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfa_config cfg;
	struct mfa_err err = { 0 };
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (mfa_config_parse_n(text, size, &cfg, &err) == 0) {
		if (cfg.totp.digits < 6 || cfg.totp.digits > 8 || !cfg.issuer || !cfg.state_dir ||
		    cfg.state_dir[0] != '/')
			abort();
		mfa_config_free(&cfg);
	} else if (err.msg[0] == '\0') {
		abort(); /* every refusal says why */
	}
	free(text);
	return 0;
}
