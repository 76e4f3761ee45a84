/* libFuzzer target: the state-file parser (mfa_state_parse_n: the bytes with their length, NUL
 * bytes included, in guarded memory as the loader has them). A parsed state must be internally
 * consistent (an enrolled state has a secret, a reset state has none; only a secret can be in
 * an earlier version's base32), and what the writer makes of it must parse back to the same
 * state, in hex (reset_by and user hold any bytes the parser let in, and the writer must
 * escape every one of them). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct mfa_state *st)
{
	struct mfa_state back;
	char *text = NULL;
	size_t len;

	if (mfa_state_format(st, &text, &len) < 0)
		abort();
	if (mfa_state_parse_n(text, len, &back, NULL) < 0)
		abort();
	/* the writer's form is hex, whichever form was read */
	if (back.legacy_secret || back.status != st->status ||
	    strcmp(back.reset_by, st->reset_by) != 0 ||
	    strcmp(back.user, st->user) != 0 || back.last_step != st->last_step ||
	    back.epoch != st->epoch || back.n_recovery != st->n_recovery ||
	    (st->secret && (back.secret->len != st->secret->len ||
			    memcmp(back.secret->bytes, st->secret->bytes, st->secret->len) != 0)))
		abort();
	mfa_state_clear(&back);
	mfa_secret_free_string(text);
}

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
		if ((st.status == MFA_STATUS_ENROLLED) != (st.secret != NULL) ||
		    (st.legacy_secret && !st.secret))
			abort();
		if (st.n_recovery > MFA_RECOVERY_MAX || st.digits < 6 || st.digits > 8)
			abort();
		round_trip(&st);
		mfa_state_clear(&st);
	}
	sodium_free(text);
	return 0;
}
