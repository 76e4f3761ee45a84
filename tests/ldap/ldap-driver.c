/* Test driver for the ldap store's primitives: one primitive per run, against the slapd the
 * python suite starts. `ldap-driver CONFIG CMD USER [ARGS]`; prints result=ok or
 * result=<errno name>, and key=value lines for load/list; exit 0 ok, 3 -ESTALE (another
 * host moved first), 4 -ETIMEDOUT, 1 anything else. With MFA_LDAP_BARRIER=PATH it connects
 * and loads, then waits for PATH to exist before writing: the race is then at the server.
 * MFA_LDAP_ROLE=reset binds as the reset service (ldap.reset_*), else as the host. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "barrier.h"
#include "config.h"
#include "ldap_store.h"
#include "secret.h"

/* Waits like a login waiting on a person, then takes a fresh deadline as such a caller
 * does (mfa_ldap_rearm). */
static void barrier(struct mfa_ldap *c)
{
	if (mfa_test_barrier("ldap-driver"))
		mfa_ldap_rearm(c);
}

static int finish(int r, struct mfa_ldap *c)
{
	if (r >= 0) {
		printf("result=ok\n");
		return 0;
	}
	printf("result=%s errno=%d msg=%s\n", strerrorname_np(-r), -r, mfa_ldap_error(c));
	return r == -ESTALE ? 3 : r == -ETIMEDOUT ? 4 : 1;
}

static void print_token(const struct mfa_ldap_token *t)
{
	static const char *const st[] = { "never", "enrolled", "reset" };

	printf("dn=%s\nname=%s\nowner=%s\nexists=%d\nstatus=%s\ngeneration=%" PRId64
	       "\nlast_step=%" PRId64 "\nfailures=%u\nlocked_until=%" PRId64
	       "\nhas_secret=%d\nn_recovery=%u\ndigits=%u\nperiod=%u\nwindow=%u\nalgorithm=%s\n"
	       "reset_by=%s\nreset_at=%" PRId64 "\nenrolled_at=%" PRId64 "\n",
	       t->dn ? t->dn : "", t->name ? t->name : "", t->owner ? t->owner : "", t->exists,
	       st[t->status], t->generation, t->last_step, t->failures, t->locked_until,
	       t->secret != NULL, t->n_recovery, t->digits, t->period, t->window,
	       mfa_algo_to_string(t->algorithm), t->reset_by ? t->reset_by : "", t->reset_at,
	       t->enrolled_at);
}

static int list_cb(const struct mfa_ldap_token *t, void *userdata)
{
	static const char *const st[] = { "never", "enrolled", "reset" };

	(*(unsigned *)userdata)++;
	printf("token name=%s status=%s failures=%u\n", t->name ? t->name : "?", st[t->status],
	       t->failures);
	return 0;
}

static int claim(struct mfa_ldap *c, struct mfa_ldap_token *t, const struct mfa_config *cfg,
		 char **argv, int argc)
{
	_cleanup_(mfa_secret_freep) struct mfa_secret *s = NULL;
	char hashes[MFA_RECOVERY_MAX][MFA_RECOVERY_HASH_LEN];
	struct mfa_ldap_enroll e = {
		.algorithm = cfg->totp.algorithm, .digits = cfg->totp.digits,
		.period = cfg->totp.period, .window = cfg->totp.window, .now = time(NULL),
		.recovery = (const char(*)[MFA_RECOVERY_HASH_LEN])hashes,
	};
	int r;

	if (argc < 2 || (r = mfa_secret_from_base32(argv[0], &s)) < 0)
		return -EINVAL;
	e.secret = s;
	e.step = strtoll(argv[1], NULL, 10);
	for (int i = 2; i < argc && e.n_recovery < MFA_RECOVERY_MAX; i++)
		if ((r = mfa_recovery_hash(argv[i], hashes[e.n_recovery++])) < 0)
			return r;
	barrier(c);
	return mfa_ldap_claim(c, t, &e);
}

static int run(struct mfa_ldap *c, const struct mfa_config *cfg, const char *cmd,
	       struct mfa_ldap_token *t, char **argv, int argc)
{
	int64_t now = time(NULL);
	unsigned n = 0;
	int r;

	if (strcmp(cmd, "load") == 0) {
		print_token(t);
		return 0;
	}
	if (strcmp(cmd, "claim") == 0)
		return claim(c, t, cfg, argv, argc);
	barrier(c);
	if (strcmp(cmd, "accept") == 0 && argc >= 1)
		return mfa_ldap_accept(c, t, strtoll(argv[0], NULL, 10), now);
	if (strcmp(cmd, "fail") == 0) {
		if ((r = mfa_ldap_fail(c, t, now, &n)) == 0)
			printf("failures=%u\n", n);
		return r;
	}
	if (strcmp(cmd, "lockout") == 0 && argc >= 1)
		return mfa_ldap_lockout(c, t, now + strtoll(argv[0], NULL, 10));
	if (strcmp(cmd, "unlock") == 0)
		return mfa_ldap_unlock(c, t);
	if (strcmp(cmd, "reset") == 0 && argc >= 1)
		return mfa_ldap_reset(c, t, argv[0], now);
	if (strcmp(cmd, "use-recovery") == 0 && argc >= 1) {
		if ((r = mfa_recovery_match(argv[0], (const char(*)[MFA_RECOVERY_HASH_LEN])
							     t->recovery,
					    t->n_recovery)) < 0)
			return r;
		return mfa_ldap_use_recovery(c, t, (unsigned)r);
	}
	return -EINVAL;
}

int main(int argc, char **argv)
{
	_cleanup_(mfa_ldap_closep) struct mfa_ldap *c = NULL;
	struct mfa_ldap_token t = { 0 };
	struct mfa_config cfg = { 0 };
	struct mfa_err err = { 0 };
	enum mfa_ldap_role role;
	unsigned n = 0;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: ldap-driver CONFIG connect|list|CMD USER [ARGS]\n");
		return 2;
	}
	if (mfa_secret_init() < 0 || (r = mfa_config_load(argv[1], &cfg, &err)) < 0) {
		fprintf(stderr, "config: line %u: %s\n", err.line, err.msg);
		return 2;
	}
	/* MFA_LDAP_ROLE=reset: bind as mfa-resetd's identity (the reset_* keys). */
	role = getenv("MFA_LDAP_ROLE") && strcmp(getenv("MFA_LDAP_ROLE"), "reset") == 0
		       ? MFA_LDAP_ROLE_RESET
		       : MFA_LDAP_ROLE_HOST;
	if ((r = mfa_ldap_connect(&cfg, role, &c, &err)) < 0) {
		printf("result=%s errno=%d msg=%s\n", strerrorname_np(-r), -r, err.msg);
		mfa_config_free(&cfg);
		return r == -ETIMEDOUT ? 4 : 1;
	}
	if (strcmp(argv[2], "connect") == 0)
		r = 0;
	else if (strcmp(argv[2], "list") == 0) {
		r = mfa_ldap_list(c, list_cb, &n);
		printf("count=%u\n", n);
	} else if (argc < 4)
		r = -EINVAL;
	else if ((r = mfa_ldap_load(c, argv[3], &t)) == 0)
		r = run(c, &cfg, argv[2], &t, argv + 4, argc - 4);
	mfa_ldap_token_free(&t);
	r = finish(r, c);
	mfa_config_free(&cfg);
	return r;
}
