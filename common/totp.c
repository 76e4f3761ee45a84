/* TOTP (RFC 6238) through liboath: code generation and window verification that reports the
 * matched time step, so the caller can refuse replays. */
#include <errno.h>
#include <string.h>

#include <liboath/oath.h>

#include "totp.h"

int mfa_totp_init(void)
{
	return oath_init() == OATH_OK ? 0 : -EIO;
}

static int oath_flags(enum mfa_algo a)
{
	switch (a) {
	case MFA_ALGO_SHA256:
		return OATH_TOTP_HMAC_SHA256;
	case MFA_ALGO_SHA512:
		return OATH_TOTP_HMAC_SHA512;
	case MFA_ALGO_SHA1:
	default:
		return 0;
	}
}

static int check_params(const struct mfa_secret *s, const struct mfa_totp_params *p)
{
	if (!s || !s->bytes || s->len == 0 || !p)
		return -EINVAL;
	if (p->digits < 6 || p->digits > MFA_CODE_MAX || p->period == 0)
		return -EINVAL;
	return 0;
}

int64_t mfa_totp_step(const struct mfa_totp_params *p, time_t now)
{
	if (now < 0)
		return -1;
	return (int64_t)now / (int64_t)p->period;
}

int mfa_totp_generate(const struct mfa_secret *s, const struct mfa_totp_params *p, int64_t step,
		      char out[MFA_CODE_MAX + 1])
{
	int r;

	if ((r = check_params(s, p)) < 0)
		return r;
	if (step < 0 || step > INT64_MAX / (int64_t)p->period)
		return -EINVAL; /* step * period must not overflow */
	/* liboath computes the step from a time: the step's first second maps back to it. */
	r = oath_totp_generate2((const char *)s->bytes, s->len, (time_t)(step * p->period),
				p->period, 0, p->digits, oath_flags(p->algorithm), out);
	return r == OATH_OK ? 0 : -EIO;
}

static bool all_digits(const char *code, unsigned digits)
{
	size_t i;

	if (strlen(code) != digits)
		return false;
	for (i = 0; i < digits; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

int mfa_totp_verify(const struct mfa_secret *s, const struct mfa_totp_params *p, time_t now,
		    const char *code, int64_t *ret_step)
{
	uint64_t counter = 0;
	int pos = 0;
	int r;

	if ((r = check_params(s, p)) < 0)
		return r;
	if (!code || !all_digits(code, p->digits))
		return -EINVAL;
	r = oath_totp_validate4((const char *)s->bytes, s->len, now, p->period, 0, p->window,
				&pos, &counter, oath_flags(p->algorithm), code);
	if (r == OATH_INVALID_OTP)
		return -EACCES;
	if (r < 0)
		return -EIO;
	*ret_step = (int64_t)counter;
	return 0;
}
