/* Test driver for common/policy.c over the store of a config (the ldap store against the
 * slapd the python suite starts): `policy-driver CONFIG CMD USER [ARGS]`, one policy call
 * per run, as one host. Prints key=value lines; exit 0 accepted/done, 5 an answer refused
 * (outcome=...), 3 -ESTALE, 4 -ETIMEDOUT, 1 anything else. With MFA_LDAP_BARRIER=PATH it
 * connects and loads, then waits for PATH before the policy call: the race is then at the
 * server. MFA_LDAP_ROLE=reset opens the store as the reset service.
 *   load | status | decide ENFORCED | verify ANSWER | claim B32 STEP [RECOVERY...] | reset BY | unlock */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "barrier.h"
#include "config.h"
#include "policy.h"
#include "secret.h"
#include "store.h"
#include "totp.h"

static const char *const STATUS[] = { "none", "enrolled", "reset" };
static const char *const OUTCOME[] = { "ok-code", "ok-recovery", "wrong",  "replay",
				       "malformed", "locked", "changed" };
static const char *const DECISION[] = { "ignore", "locked", "enroll", "reset-expired",
					"no-entry", "verify" };

static void barrier(struct mfa_storage *s)
{
	if (mfa_test_barrier("policy-driver"))
		mfa_store_rearm(s);
}

static void print_token(const struct mfa_token *t)
{
	printf("status=%s\ngeneration=%" PRIu64 "\nlast_step=%" PRId64 "\nfailures=%u\n"
	       "locked_until=%" PRId64 "\nhas_secret=%d\nn_recovery=%u\nreset_by=%s\n",
	       STATUS[t->status], t->generation, t->last_step, t->failures, t->locked_until,
	       t->secret != NULL, t->n_recovery, t->reset_by);
}

static int verify(const struct mfa_policy *p, const char *user, struct mfa_token *t,
		  const char *answer)
{
	struct mfa_verify_outcome o;
	int r;

	barrier(p->store);
	if ((r = mfa_policy_verify(p, user, t, answer, time(NULL), &o)) < 0)
		return r;
	printf("outcome=%s\nfailures=%u\nlocked_until=%" PRId64 "\ndrift=%" PRId64 "\n",
	       OUTCOME[o.result], o.failures, o.locked_until, o.drift);
	return o.result == MFA_VERIFY_OK_CODE || o.result == MFA_VERIFY_OK_RECOVERY ? 0 : 5;
}

static int claim(const struct mfa_policy *p, const struct mfa_config *cfg, const char *user,
		 const struct mfa_token *t, char **argv, int argc)
{
	_cleanup_(mfa_secret_freep) struct mfa_secret *s = NULL;
	char hashes[MFA_RECOVERY_MAX][MFA_RECOVERY_HASH_LEN];
	struct mfa_token_seen seen = mfa_token_seen_of(t);
	struct mfa_store_enroll e = {
		.algorithm = cfg->totp.algorithm, .digits = cfg->totp.digits,
		.period = cfg->totp.period, .window = cfg->totp.window, .now = time(NULL),
		.recovery = (const char(*)[MFA_RECOVERY_HASH_LEN])hashes,
	};
	int r;

	if (argc < 2 || mfa_secret_from_base32(argv[0], &s) < 0)
		return -EINVAL;
	e.secret = s;
	e.step = strtoll(argv[1], NULL, 10);
	for (int i = 2; i < argc && e.n_recovery < MFA_RECOVERY_MAX; i++)
		if ((r = mfa_recovery_hash(argv[i], hashes[e.n_recovery++])) < 0)
			return r;
	barrier(p->store);
	return mfa_policy_claim(p, user, &seen, &e);
}

static int run(const struct mfa_policy *p, const struct mfa_config *cfg, const char *cmd,
	       const char *user, char **argv, int argc)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	bool status = strcmp(cmd, "status") == 0;
	int r;

	r = status ? mfa_store_status(p->store, user, &t, NULL)
		   : mfa_store_load(p->store, user, &t, NULL);
	if (r < 0)
		return r;
	if (status || strcmp(cmd, "load") == 0) {
		print_token(&t);
		return 0;
	}
	if (strcmp(cmd, "decide") == 0 && argc >= 1) {
		printf("decision=%s\n",
		       DECISION[mfa_policy_decide(p, &t, atoi(argv[0]), time(NULL))]);
		return 0;
	}
	if (strcmp(cmd, "verify") == 0 && argc >= 1)
		return verify(p, user, &t, argv[0]);
	if (strcmp(cmd, "claim") == 0)
		return claim(p, cfg, user, &t, argv, argc);
	barrier(p->store);
	if (strcmp(cmd, "reset") == 0 && argc >= 1)
		return mfa_policy_reset(p, user, argv[0], time(NULL), 0);
	if (strcmp(cmd, "unlock") == 0)
		return mfa_policy_unlock(p, user);
	return -EINVAL;
}

static int finish(int r, const struct mfa_storage *s)
{
	if (r == 0 || r == 5) {
		printf("result=ok\n");
		return r;
	}
	printf("result=%s errno=%d msg=%s\n", strerrorname_np(-r), -r, mfa_store_error(s));
	return r == -ESTALE ? 3 : r == -ETIMEDOUT ? 4 : 1;
}

int main(int argc, char **argv)
{
	_cleanup_(mfa_store_closep) struct mfa_storage *s = NULL;
	struct mfa_config cfg = { 0 };
	struct mfa_err err = { 0 };
	struct mfa_policy p;
	const char *role = getenv("MFA_LDAP_ROLE");
	int r;

	mfa_store_ldap_builtin = mfa_store_ldap_plugin_open; /* linked in, not the plugin */
	if (argc < 4) {
		fprintf(stderr, "usage: policy-driver CONFIG CMD USER [ARGS]\n");
		return 2;
	}
	if (mfa_secret_init() < 0 || mfa_totp_init() < 0 ||
	    mfa_config_load(argv[1], &cfg, &err) < 0) {
		fprintf(stderr, "config: line %u: %s\n", err.line, err.msg);
		return 2;
	}
	r = mfa_store_open(&cfg, role && strcmp(role, "reset") == 0 ? MFA_STORE_ROLE_RESET
								   : MFA_STORE_ROLE_HOST,
			   &s, &err);
	if (r < 0) {
		printf("result=%s errno=%d msg=%s\n", strerrorname_np(-r), -r, err.msg);
		mfa_config_free(&cfg);
		return r == -ETIMEDOUT ? 4 : 1;
	}
	mfa_policy_init(&p, &cfg, s);
	r = finish(run(&p, &cfg, argv[2], argv[3], argv + 4, argc - 4), s);
	mfa_config_free(&cfg);
	return r;
}
