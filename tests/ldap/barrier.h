/* The drivers' barrier: MFA_LDAP_BARRIER names a file the suite creates to release every
 * driver at once. 60 s at most: a suite interrupted before it made the file used to leave its
 * drivers polling for ever (20 of them, found burning CPU 20 minutes later). */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* false: no barrier asked for; true once the file exists; exits 1 after 60 s without it. */
static inline bool mfa_test_barrier(const char *prog)
{
	const char *p = getenv("MFA_LDAP_BARRIER");
	time_t give_up = time(NULL) + 60;

	if (!p)
		return false;
	while (access(p, F_OK) < 0) {
		if (time(NULL) > give_up) {
			fprintf(stderr, "%s: no barrier %s after 60 s\n", prog, p);
			exit(1);
		}
		usleep(500);
	}
	return true;
}
