/* libFuzzer target: the state-file parser (mfa_state_parse_n: the bytes with their length, NUL
 * bytes included, in guarded memory as the loader has them). A parsed state must be internally
 * consistent: an enrolled state has a secret, a reset state has none. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct mfa_state st;
	struct mfa_err err = { 0 };
	char *text;

	if (!init++ && mfa_secret_init() < 0)
		abort();
	if (size > MFA_STATE_MAX_SIZE || !(text = sodium_malloc(size + 1)))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (mfa_state_parse_n(text, size, &st, &err) == 0) {
		if ((st.status == MFA_STATUS_ENROLLED) != (st.secret != NULL))
			abort();
		if (st.n_recovery > MFA_RECOVERY_MAX || st.digits < 6 || st.digits > 8)
			abort();
		mfa_state_clear(&st);
	}
	sodium_free(text);
	return 0;
}
