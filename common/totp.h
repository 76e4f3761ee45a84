/* TOTP (RFC 6238) through liboath: generate, and verify returning the matched time step. */
#pragma once

#include <stdint.h>
#include <time.h>

#include "config.h"
#include "secret.h"

#define MFA_CODE_MAX 8

struct mfa_totp_params {
	enum mfa_algo algorithm;
	unsigned digits; /* 6..8 */
	unsigned period; /* seconds, > 0 */
	unsigned window; /* steps accepted each side of now */
};

/* Must be called once before the others (oath_init); 0 or -EIO. */
int mfa_totp_init(void);

/* The time step that holds now. */
int64_t mfa_totp_step(const struct mfa_totp_params *p, time_t now);

/* Code for time step `step` into out (digits + NUL). */
int mfa_totp_generate(const struct mfa_secret *s, const struct mfa_totp_params *p, int64_t step,
		      char out[MFA_CODE_MAX + 1]);

/* Verifies code against the steps now-window..now+window. 0 and *ret_step the matched step;
 * -EINVAL the input is not `digits` decimal digits; -EACCES no step matches.
 * Replay protection is the caller's: only a step newer than the last accepted one passes
 * (RFC 6238 §5.2), decided under the user's lock. */
int mfa_totp_verify(const struct mfa_secret *s, const struct mfa_totp_params *p, time_t now,
		    const char *code, int64_t *ret_step);
