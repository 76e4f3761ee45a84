/* pam_totp benchmark: the half of the harness that uses liboath.
 *
 *   bench-oath setup DIR N [nss] [ga] [oath]
 *       writes DIR/passwd + DIR/group (nss_wrapper), DIR/ga/<user> (pam_google_authenticator)
 *       and DIR/oath.users (pam_oath) for users 0..N-1.
 *   bench-oath codes
 *       reads lines "I T" (user index, Unix time) and answers each with that user's TOTP code
 *       at T, one line each: pam_bench's code source.
 *
 * It is a program of its own so that the process that times the logins does not have liboath
 * loaded: pam_totp.so needs liboath, and a library already in the process is not loaded again,
 * so a harness linking it would not charge the module for loading it, as a real login process
 * (sshd, login) would. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <liboath/oath.h>

#include "bench.h"

static int
setup(int argc, char **argv)
{
	unsigned n = (unsigned)strtoul(argv[3], NULL, 10);
	int i, r = 0;

	for (i = 4; i < argc && r == 0; i++) {
		if (strcmp(argv[i], "nss") == 0)
			r = bench_write_nss(argv[2], n);
		else if (strcmp(argv[i], "ga") == 0)
			r = bench_write_ga(argv[2], n);
		else if (strcmp(argv[i], "oath") == 0)
			r = bench_write_oath(argv[2], n);
		else
			r = -EINVAL;
		if (r < 0)
			fprintf(stderr, "bench: setup %s: %s\n", argv[i], strerror(-r));
	}
	return r < 0;
}

static int
codes(void)
{
	unsigned char secret[BENCH_SECRET_LEN];
	char code[BENCH_DIGITS + 1];
	unsigned i;
	long long t;

	while (scanf("%u %lld", &i, &t) == 2) {
		bench_user_secret(i, secret);
		if (oath_totp_generate((const char *)secret, sizeof(secret), (time_t)t, BENCH_PERIOD,
				       0, BENCH_DIGITS, code) != OATH_OK)
			return 1;
		printf("%s\n", code);
		if (fflush(stdout) != 0)
			return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (oath_init() != OATH_OK)
		return 1;
	if (argc >= 4 && strcmp(argv[1], "setup") == 0)
		return setup(argc, argv);
	if (argc == 2 && strcmp(argv[1], "codes") == 0)
		return codes();
	fprintf(stderr, "usage: bench-oath setup DIR N [nss] [ga] [oath]\n"
			"       bench-oath codes\n");
	return 2;
}
