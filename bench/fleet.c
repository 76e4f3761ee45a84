/* pam_totp benchmark, fleet part: the logins that bench/pam_bench cannot make.
 *
 *   fleet-login run SERVICE LABEL FIRST COUNT STRIDE
 *       after one untimed login through bench-none, prints "READY" and waits for a line on
 *       stdin (the barrier: every host's process is loaded before any of them logs in), then
 *       logs in users FIRST, FIRST + STRIDE, ... (COUNT logins) through SERVICE, each with
 *       its current code, and prints a RESULT line as pam_bench does, a SPAN line (first
 *       login's start and last login's end, CLOCK_MONOTONIC us: one clock for every process
 *       of the machine) and a LAT line (every login's wall time, us).
 *   fleet-login probe SERVICE USER_INDEX
 *       one login of that user; prints when the module first spoke (CLOCK_MONOTONIC us),
 *       whether it sent the user to enrollment ("Set up a new token") and the PAM result.
 *       A prompt is answered with a code that is not the user's (nothing gets enrolled).
 *
 * Run under pam_wrapper and nss_wrapper, as pam_bench (bench/fleet.py sets the
 * environment). */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <liboath/oath.h>
#include <security/pam_appl.h>

#include "bench.h"

struct answer {
	char code[BENCH_DIGITS + 1];
	unsigned prompts;
	double first_us; /* when the module first spoke; 0: not yet */
	int enrollment;
};

static double
clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct answer *a = data;
	struct pam_response *r;
	int i;

	if (a->first_us == 0)
		a->first_us = clock_us(CLOCK_MONOTONIC);
	r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
		if (msg[i]->msg && strstr(msg[i]->msg, "Set up a new token"))
			a->enrollment = 1;
		if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF &&
		    msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
			continue;
		a->prompts++;
		r[i].resp = strdup(a->code);
		if (!r[i].resp) {
			while (i-- > 0)
				free(r[i].resp);
			free(r);
			return PAM_BUF_ERR;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The same percentile as pam_bench's (nearest rank). */
static double
percentile(const double *in, unsigned n, double p)
{
	double *v;
	unsigned k;
	double x;

	if (n == 0 || !(v = malloc(n * sizeof(*v))))
		return 0;
	memcpy(v, in, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_double);
	k = (unsigned)(p * n + 0.999999);
	if (k == 0)
		k = 1;
	x = v[(k > n ? n : k) - 1];
	free(v);
	return x;
}

/* One login of user i through service, answering with code (NULL: the user's current
 * one). */
static int
one_login(const char *service, unsigned i, const char *code, struct answer *a, double *ret_us,
	  double *ret_cpu_us)
{
	unsigned char secret[BENCH_SECRET_LEN];
	char name[BENCH_NAME_MAX];
	struct pam_conv pc = { conv, a };
	pam_handle_t *pamh = NULL;
	double t0, c0;
	int r;

	bench_user_name(i, name);
	bench_user_secret(i, secret);
	if (code)
		snprintf(a->code, sizeof(a->code), "%s", code);
	else if (oath_totp_generate((const char *)secret, sizeof(secret), time(NULL),
				    BENCH_PERIOD, 0, BENCH_DIGITS, a->code) != OATH_OK)
		return PAM_SYSTEM_ERR;
	c0 = clock_us(CLOCK_PROCESS_CPUTIME_ID);
	t0 = clock_us(CLOCK_MONOTONIC);
	r = pam_start(service, name, &pc, &pamh);
	if (r == PAM_SUCCESS) {
		r = pam_authenticate(pamh, 0);
		pam_end(pamh, r);
	}
	*ret_us = clock_us(CLOCK_MONOTONIC) - t0;
	*ret_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID) - c0;
	return r;
}

static int
run(const char *service, const char *label, unsigned first, unsigned count, unsigned stride)
{
	struct answer warm = { .prompts = 0 };
	unsigned ok = 0, j;
	double *lat, *cpu, us, cpu_us, t0, t1;
	char line[16];
	struct rusage ru;

	lat = calloc(count ? count : 1, sizeof(double));
	cpu = calloc(count ? count : 1, sizeof(double));
	if (!lat || !cpu) {
		free(lat);
		free(cpu);
		return 1;
	}
	(void)one_login("bench-none", 0, NULL, &warm, &us, &cpu_us);
	printf("READY\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) {
		free(lat);
		free(cpu);
		return 1;
	}
	t0 = clock_us(CLOCK_MONOTONIC);
	for (j = 0; j < count; j++) {
		struct answer a = { .prompts = 0 };
		int r = one_login(service, first + j * stride, NULL, &a, &lat[j], &cpu[j]);

		if (r == PAM_SUCCESS && a.prompts == 1)
			ok++;
		else
			fprintf(stderr, "fleet-login: %s: user %u: pam result %d, prompts %u\n",
				label, first + j * stride, r, a.prompts);
	}
	t1 = clock_us(CLOCK_MONOTONIC);
	getrusage(RUSAGE_SELF, &ru);
	printf("RESULT label=%s users=%u logins=%u ok=%u median_us=%.1f p99_us=%.1f "
	       "cpu_us=%.1f maxrss_kib=%ld\n", label, count, count, ok,
	       percentile(lat, count, 0.5), percentile(lat, count, 0.99),
	       percentile(cpu, count, 0.5), ru.ru_maxrss);
	printf("SPAN %.1f %.1f\nLAT", t0, t1);
	for (j = 0; j < count; j++)
		printf(" %.1f", lat[j]);
	printf("\n");
	free(lat);
	free(cpu);
	return ok == count ? 0 : 1;
}

static int
probe(const char *service, unsigned i)
{
	struct answer a = { .prompts = 0 };
	double us, cpu_us, t0 = clock_us(CLOCK_MONOTONIC);
	int r = one_login(service, i, "000000", &a, &us, &cpu_us);

	printf("PROBE start_us=%.1f first_message_us=%.1f enrollment=%d prompts=%u pam=%d\n", t0,
	       a.first_us, a.enrollment, a.prompts, r);
	return 0;
}

int
main(int argc, char **argv)
{
	if (oath_init() != OATH_OK)
		return 1;
	if (argc == 7 && strcmp(argv[1], "run") == 0)
		return run(argv[2], argv[3], (unsigned)strtoul(argv[4], NULL, 10),
			   (unsigned)strtoul(argv[5], NULL, 10),
			   (unsigned)strtoul(argv[6], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "probe") == 0)
		return probe(argv[2], (unsigned)strtoul(argv[3], NULL, 10));
	fprintf(stderr, "usage: fleet-login run SERVICE LABEL FIRST COUNT STRIDE\n"
			"       fleet-login probe SERVICE USER_INDEX\n");
	return 2;
}
