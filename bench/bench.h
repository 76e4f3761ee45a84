/* pam_totp benchmark: shared definitions of the fake user population.
 *
 * User i (0-based) is named "bu%06u" (i + 1); its TOTP secret is 20 bytes derived from i by
 * splitmix64, so the setup step (which writes each module's state) and the harness (which
 * answers the prompt) agree without a secrets file. SHA1, 6 digits, 30 s: every module's
 * defaults. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define BENCH_SECRET_LEN 20
#define BENCH_NAME_MAX 16
#define BENCH_UID_BASE 20000
#define BENCH_GID 20000
#define BENCH_PERIOD 30
#define BENCH_DIGITS 6

void bench_user_name(unsigned i, char buf[BENCH_NAME_MAX]);
void bench_user_secret(unsigned i, unsigned char out[BENCH_SECRET_LEN]);

/* Writes dir/passwd and dir/group for nss_wrapper: root plus n users, one small group. */
int bench_write_nss(const char *dir, unsigned n);
/* dir/ga/<user>: pam_google_authenticator secret files (rate limit, reuse protection). */
int bench_write_ga(const char *dir, unsigned n);
/* dir/oath.users: pam_oath users file, one "HOTP/T30 user - hex" line per user. */
int bench_write_oath(const char *dir, unsigned n);
