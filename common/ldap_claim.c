/* Claiming an enrollment: a host saves a confirmed token on an entry that is not
 * "enrolled". Two steps, each safe to race: the entry is created as a pending skeleton when
 * missing (a second add gets 68 and is fine), then one modify asserting the generation read
 * and that the token is still not enrolled; of two hosts, exactly one passes. The shipped
 * ACLs let hosts write a secret only while the entry is not enrolled, so the same modify
 * can never overwrite (reset) an enrolled token. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldap_int.h"

#define MAXMODS 20

struct claimbuf {
	LDAPMod m[MAXMODS];
	LDAPMod *p[MAXMODS + 1];
	struct berval bv[MAXMODS + MFA_RECOVERY_MAX + 4];
	struct berval *v[2 * MAXMODS + MFA_RECOVERY_MAX + 4];
	size_t nm, nbv, nv;
	char num[8][24];
	size_t nnum;
};

static void put(struct claimbuf *b, int op, const char *attr, const char *const *vals, size_t n,
		const struct berval *bin)
{
	LDAPMod *x = &b->m[b->nm];

	x->mod_op = op | LDAP_MOD_BVALUES;
	x->mod_type = (char *)(uintptr_t)attr;
	x->mod_bvalues = &b->v[b->nv];
	for (size_t i = 0; i < n; i++) {
		b->bv[b->nbv] = bin ? *bin
				    : (struct berval){ strlen(vals[i]), (char *)(uintptr_t)vals[i] };
		b->v[b->nv++] = &b->bv[b->nbv++];
	}
	b->v[b->nv++] = NULL;
	b->p[b->nm++] = x;
	b->p[b->nm] = NULL;
}

static void put1(struct claimbuf *b, int op, const char *attr, const char *val)
{
	put(b, op, attr, &val, 1, NULL);
}

static const char *num(struct claimbuf *b, int64_t v)
{
	char *s = b->num[b->nnum++];

	snprintf(s, sizeof(b->num[0]), "%" PRId64, v);
	return s;
}

/* The OATH-LDAP parameters on the token itself: the entry is its own oathTOTPParams, so
 * slapo-otp verifies with exactly what this host enrolled. */
static void put_params(struct claimbuf *b, int op, const char *dn, const struct mfa_ldap_enroll *e)
{
	put1(b, op, "oathTOTPParams", dn);
	put1(b, op, "oathOTPLength", num(b, e->digits));
	put1(b, op, "oathHMACAlgorithm", mfa_ldapx_algo_oid(e->algorithm));
	put1(b, op, "oathTOTPTimeStepPeriod", num(b, e->period));
	put1(b, op, "oathTOTPTimeStepWindow", num(b, e->window));
}

/* The RDN value of dn (the token's cn); the entry must be named by cn. */
static int rdn_cn(const char *dn, char **ret)
{
	LDAPDN ldn = NULL;
	int r = -EINVAL;

	if (ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return -EINVAL;
	if (ldn && ldn[0] && ldn[0][0] && !ldn[0][1] &&
	    strncasecmp(ldn[0][0]->la_attr.bv_val, "cn", ldn[0][0]->la_attr.bv_len) == 0 &&
	    ldn[0][0]->la_attr.bv_len == 2)
		r = (*ret = strndup(ldn[0][0]->la_value.bv_val, ldn[0][0]->la_value.bv_len))
			    ? 0
			    : -ENOMEM;
	ldap_dnfree(ldn);
	return r;
}

static int add_skeleton(struct mfa_ldap *c, const struct mfa_ldap_token *t,
			const struct mfa_ldap_enroll *e)
{
	static const char *const classes[] = { "device", "oathTOTPToken", "oathTOTPParams",
					       "pamTotpToken" };
	_cleanup_free_ char *cn = NULL;
	struct claimbuf b = { 0 };
	int msgid, r;

	if ((r = rdn_cn(t->dn, &cn)) < 0)
		return r;
	put(&b, LDAP_MOD_ADD, "objectClass", classes, ELEMENTSOF(classes), NULL);
	put1(&b, LDAP_MOD_ADD, "cn", cn);
	if (t->owner)
		put1(&b, LDAP_MOD_ADD, "owner", t->owner);
	put_params(&b, LDAP_MOD_ADD, t->dn, e);
	put1(&b, LDAP_MOD_ADD, "pamTotpGeneration", "0");
	put1(&b, LDAP_MOD_ADD, "oathFailureCount", "0");
	if ((r = mfa_ldapx_arm(c, NULL)) < 0)
		return r;
	if (ldap_add_ext(c->ld, t->dn, b.p, NULL, NULL, &msgid) != LDAP_SUCCESS)
		return -ECONNRESET;
	r = mfa_ldapx_result(c, msgid, NULL);
	return r == -EEXIST ? 0 : r; /* another host made it first: the same skeleton */
}

int mfa_ldap_claim(struct mfa_ldap *c, const struct mfa_ldap_token *t,
		   const struct mfa_ldap_enroll *e)
{
	const struct berval secret = { e->secret->len, (char *)e->secret->bytes };
	const char *hashes[MFA_RECOVERY_MAX];
	char assertion[96], when[16];
	struct claimbuf b = { 0 };
	int64_t gen = t->exists ? t->generation : 0;
	int r;

	if (t->exists && t->status == MFA_LDAP_ENROLLED)
		return -EEXIST;
	if (e->n_recovery > MFA_RECOVERY_MAX)
		return -EINVAL;
	if (!t->exists && (r = add_skeleton(c, t, e)) < 0)
		return r;
	for (unsigned i = 0; i < e->n_recovery; i++)
		hashes[i] = e->recovery[i];
	mfa_ldapx_time_format(e->now, when);
	snprintf(assertion, sizeof(assertion),
		 "(&(pamTotpGeneration=%" PRId64 ")(!(pamTotpStatus=enrolled)))", gen);
	/* add, not replace: a secret already there (it must not be) fails the claim (20). */
	put(&b, LDAP_MOD_ADD, "oathSecret", NULL, 1, &secret);
	put1(&b, LDAP_MOD_REPLACE, "pamTotpStatus", "enrolled");
	put1(&b, LDAP_MOD_REPLACE, "pamTotpGeneration", num(&b, gen + 1));
	put_params(&b, LDAP_MOD_REPLACE, t->dn, e);
	put1(&b, LDAP_MOD_REPLACE, "oathSecretTime", when);
	put1(&b, LDAP_MOD_REPLACE, "oathTOTPLastTimeStep", num(&b, e->step));
	put1(&b, LDAP_MOD_REPLACE, "oathFailureCount", "0");
	put(&b, LDAP_MOD_REPLACE, "pamTotpLockedUntil", NULL, 0, NULL);
	put(&b, LDAP_MOD_REPLACE, "pamTotpRecoveryHash", hashes, e->n_recovery, NULL);
	r = mfa_ldapx_modify(c, t->dn, b.p, assertion, NULL, NULL);
	return r == -EEXIST ? -ESTALE : r;
}
