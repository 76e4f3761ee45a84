/* pam_totp benchmark harness.
 *
 *   pam_bench setup DIR N [nss] [ga] [oath]
 *       runs bench-oath setup (see oath.c): the population and the reference modules' state.
 *   pam_bench run SERVICE LABEL N SAMPLE [noprompt]
 *       pam_start + pam_authenticate + pam_end through SERVICE for SAMPLE users spread evenly
 *       over the N-user population (all of them when SAMPLE >= N), each answering its prompt
 *       with its current code (from a bench-oath coprocess: this process does not link
 *       liboath, so pam_totp.so pays for loading it at every login, as in sshd), and prints one RESULT line: successes, median and p99 us per
 *       login, the median CPU time (user + system) per login, peak RSS, and the median cost
 *       of one getpwnam() of a sampled user.
 *       With BENCH_RESET_CMD in the environment, SAMPLE may exceed N (the 1-user size):
 *       each user logs in again after that command has rewritten the state, untimed.
 *
 * Run under pam_wrapper and nss_wrapper (scripts/bench sets the environment). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "bench.h"

struct answer {
	char code[BENCH_DIGITS + 1];
	unsigned prompts;
};

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct answer *a = data;
	struct pam_response *r;
	int i;

	r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (i = 0; i < n; i++) {
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

/* The bench-oath coprocess that computes the codes. */
static FILE *codes_in, *codes_out;
static pid_t codes_pid;

/* The path of bench-oath, next to this program. */
static int
sibling(char buf[PATH_MAX])
{
	ssize_t n = readlink("/proc/self/exe", buf, PATH_MAX - sizeof("bench-oath"));
	char *slash;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (!(slash = strrchr(buf, '/')))
		return -1;
	strcpy(slash + 1, "bench-oath");
	return 0;
}

static int
codes_start(void)
{
	char path[PATH_MAX];
	int to[2], from[2];

	if (sibling(path) < 0 || pipe2(to, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(from, O_CLOEXEC) < 0)
		return -1;
	codes_pid = fork();
	if (codes_pid < 0)
		return -1;
	if (codes_pid == 0) {
		if (dup2(to[0], 0) < 0 || dup2(from[1], 1) < 0)
			_exit(127);
		execl(path, path, "codes", (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	codes_in = fdopen(to[1], "w");
	codes_out = fdopen(from[0], "r");
	return codes_in && codes_out ? 0 : -1;
}

static void
codes_stop(void)
{
	if (codes_in)
		fclose(codes_in);
	if (codes_out)
		fclose(codes_out);
	if (codes_pid > 0)
		waitpid(codes_pid, NULL, 0);
}

/* User i's code at time t, from the coprocess. */
static int
code_of(unsigned i, time_t t, char code[BENCH_DIGITS + 1])
{
	char line[32];

	if (fprintf(codes_in, "%u %lld\n", i, (long long)t) < 0 || fflush(codes_in) != 0 ||
	    !fgets(line, sizeof(line), codes_out) || strlen(line) != BENCH_DIGITS + 1)
		return -1;
	memcpy(code, line, BENCH_DIGITS);
	code[BENCH_DIGITS] = '\0';
	return 0;
}

static double
clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double
now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
percentile(double *v, unsigned n, double p)
{
	unsigned k;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	k = (unsigned)(p * n + 0.999999);
	if (k == 0)
		k = 1;
	return v[(k > n ? n : k) - 1];
}

static double
mean(const double *v, unsigned n)
{
	double sum = 0;
	unsigned i;

	for (i = 0; i < n; i++)
		sum += v[i];
	return n ? sum / n : 0;
}

static unsigned
sample_user(unsigned j, unsigned n, unsigned sample)
{
	return sample >= n ? j : (unsigned)((unsigned long long)j * n / sample);
}

/* Median cost of one getpwnam() of (at most 64) users spread over the population: what a user
 * lookup costs a module that makes one (nss_wrapper scans its passwd list). The same lookups
 * in every run, whatever its number of logins, so callgrind differences do not see them.
 * Also loads nss_wrapper's cache before anything is measured, so the baseline's RSS
 * includes it. */
static double
nss_cost(unsigned n)
{
	char name[BENCH_NAME_MAX];
	double v[64];
	unsigned j, m = n < 64 ? n : 64;

	bench_user_name(0, name);
	(void)getpwnam(name);
	for (j = 0; j < m; j++) {
		double t0;

		bench_user_name(sample_user(j, n, m), name);
		t0 = now_us();
		if (!getpwnam(name))
			fprintf(stderr, "bench: getpwnam(%s) failed\n", name);
		v[j] = now_us() - t0;
	}
	return percentile(v, m, 0.5);
}

/* One login through service: its wall time and the CPU time (user + system) this process
 * spent in it, which tells computing from waiting for the disk. */
static int
one_login(const char *service, unsigned i, double *ret_us, double *ret_cpu_us,
	  unsigned *ret_prompts)
{
	char name[BENCH_NAME_MAX];
	struct answer a = { .prompts = 0 };
	struct pam_conv pc = { conv, &a };
	pam_handle_t *pamh = NULL;
	double t0, c0;
	int r;

	bench_user_name(i, name);
	if (code_of(i, time(NULL), a.code) < 0)
		return PAM_SYSTEM_ERR;
	c0 = clock_us(CLOCK_PROCESS_CPUTIME_ID);
	t0 = now_us();
	r = pam_start(service, name, &pc, &pamh);
	if (r == PAM_SUCCESS) {
		r = pam_authenticate(pamh, 0);
		pam_end(pamh, r);
	}
	*ret_us = now_us() - t0;
	*ret_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID) - c0;
	*ret_prompts = a.prompts;
	return r;
}

/* An untimed login through the bare stack first, so the first timed login does not pay for
 * libpam's and the harness's first-use costs (the module's own dlopen is paid by every login,
 * as in a real login process). */
static void
warm_up(void)
{
	double us, cpu_us;
	unsigned prompts;

	(void)one_login("bench-none", 0, &us, &cpu_us, &prompts);
}

/* Which user login j is. With BENCH_RESET_CMD set, SAMPLE may exceed N: the same users log
 * in again after that command (run untimed) has rewritten the module's state, since a code
 * is accepted only once. */
static unsigned
pick(unsigned j, unsigned n, unsigned logins, const char *reset_cmd)
{
	if (logins <= n)
		return sample_user(j, n, logins);
	if (j > 0 && j % n == 0 && system(reset_cmd) != 0)
		fprintf(stderr, "bench: BENCH_RESET_CMD failed\n");
	return j % n;
}

static int
run(const char *service, const char *label, unsigned n, unsigned sample, int want_prompt)
{
	const char *reset_cmd = getenv("BENCH_RESET_CMD");
	unsigned logins, ok = 0, first_err = 0, j;
	double *lat, *cpu, nss_us;
	struct rusage ru;

	if (reset_cmd && !*reset_cmd)
		reset_cmd = NULL;
	logins = sample < n || reset_cmd ? sample : n;
	lat = calloc(logins ? logins : 1, sizeof(double));
	cpu = calloc(logins ? logins : 1, sizeof(double));
	if (!lat || !cpu) {
		free(lat);
		free(cpu);
		return 1;
	}
	if (codes_start() < 0) {
		fprintf(stderr, "bench: cannot start bench-oath codes\n");
		free(lat);
		free(cpu);
		return 1;
	}
	nss_us = nss_cost(n);
	warm_up();
	for (j = 0; j < logins; j++) {
		unsigned prompts = 0, i = pick(j, n, logins, reset_cmd);
		int r = one_login(service, i, &lat[j], &cpu[j], &prompts);

		if (r == PAM_SUCCESS && (prompts > 0) == want_prompt)
			ok++;
		else if (!first_err)
			first_err = (unsigned)r + 1000 * prompts + 1;
	}
	if (first_err)
		fprintf(stderr, "bench: %s: first failure: pam result %u, prompts %u\n", label,
			(first_err - 1) % 1000, (first_err - 1) / 1000);
	codes_stop();
	getrusage(RUSAGE_SELF, &ru);
	/* the mean before percentile() sorts: both, since CPU per login has a long tail for a
	 * module whose filesystem work varies from login to login (a new inode per login) */
	printf("RESULT label=%s users=%u logins=%u ok=%u median_us=%.1f p99_us=%.1f "
	       "cpu_mean_us=%.1f cpu_us=%.1f maxrss_kib=%ld getpwnam_us=%.1f\n", label, n, logins,
	       ok, percentile(lat, logins, 0.5), percentile(lat, logins, 0.99),
	       mean(cpu, logins), percentile(cpu, logins, 0.5), ru.ru_maxrss, nss_us);
	free(lat);
	free(cpu);
	return ok == logins ? 0 : 1;
}

static int
setup(char **argv)
{
	char path[PATH_MAX];

	if (sibling(path) < 0)
		return 1;
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
	return 1;
}

int
main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "setup") == 0)
		return setup(argv);
	if ((argc == 6 || argc == 7) && strcmp(argv[1], "run") == 0)
		return run(argv[2], argv[3], (unsigned)strtoul(argv[4], NULL, 10),
			   (unsigned)strtoul(argv[5], NULL, 10),
			   !(argc == 7 && strcmp(argv[6], "noprompt") == 0));
	fprintf(stderr, "usage: pam_bench setup DIR N [nss] [ga] [oath]\n"
			"       pam_bench run SERVICE LABEL N SAMPLE [noprompt]\n");
	return 2;
}
