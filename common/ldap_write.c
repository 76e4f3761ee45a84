/* Writing a token: each primitive is one modify of the token entry that the server refuses
 * (122 assertionFailed -> -ESTALE) when the entry moved since the caller read it. The
 * generation every enrollment and reset moves is part of every assertion, so no write
 * meant for one token can land on its successor. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldap_int.h"

#define MODS_MAX 20
#define VALS_MAX (MODS_MAX * 2 + MFA_RECOVERY_MAX + 8)

/* A modify's list: values point at the caller's buffers, which outlive the call. */
struct mods {
	LDAPMod m[MODS_MAX];
	LDAPMod *p[MODS_MAX + 1];
	struct berval bv[VALS_MAX];
	struct berval *v[VALS_MAX + MODS_MAX];
	size_t nm, nbv, nv;
};

static void mod(struct mods *m, int op, const char *attr, const struct berval *vals, size_t n)
{
	LDAPMod *x = &m->m[m->nm];

	x->mod_op = op | LDAP_MOD_BVALUES;
	x->mod_type = (char *)(uintptr_t)attr;
	x->mod_bvalues = &m->v[m->nv];
	for (size_t i = 0; i < n; i++) {
		m->bv[m->nbv] = vals[i];
		m->v[m->nv++] = &m->bv[m->nbv++];
	}
	m->v[m->nv++] = NULL;
	m->p[m->nm++] = x;
	m->p[m->nm] = NULL;
}

/* op on attr with one string value, or none when s is NULL (replace: delete if present). */
static void mod_str(struct mods *m, int op, const char *attr, const char *s)
{
	struct berval bv = { s ? strlen(s) : 0, (char *)(uintptr_t)s };

	mod(m, op, attr, &bv, s ? 1 : 0);
}

#define NUM(buf, v) (snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)(v)), buf)

/* The failure count the view was judged on, for a good answer's assertion: a failure
 * counted since may have reached a lockout that its host has not written yet
 * (mfa_policy_locked_until), or written since; the policy re-reads and judges again. */
static void count_filter(const struct mfa_ldap_token *t, char count[48])
{
	if (t->has_failure_count)
		snprintf(count, 48, "(oathFailureCount=%u)", t->failures);
	else
		snprintf(count, 48, "(!(oathFailureCount=*))");
}

int mfa_ldap_accept(struct mfa_ldap *c, const struct mfa_ldap_token *t, int64_t step,
		    int64_t now)
{
	char assertion[256], count[48], s[24], when[16];
	struct mods m = { 0 };

	mfa_ldapx_time_format(now, when);
	count_filter(t, count);
	/* Absent attributes make (x>=n) false, so a token never used and never locked passes. */
	if (snprintf(assertion, sizeof(assertion),
		     "(&(pamTotpStatus=enrolled)(pamTotpGeneration=%" PRId64
		     ")(!(oathTOTPLastTimeStep>=%" PRId64 "))(!(pamTotpLockedUntil>=%s))%s)",
		     t->generation, step, when, count) >= (int)sizeof(assertion))
		return -EINVAL;
	mod_str(&m, LDAP_MOD_REPLACE, "oathTOTPLastTimeStep", NUM(s, step));
	mod_str(&m, LDAP_MOD_REPLACE, "oathFailureCount", "0");
	mod_str(&m, LDAP_MOD_REPLACE, "oathLastLogin", when);
	return mfa_ldapx_modify(c, t->dn, m.p, assertion, NULL, NULL);
}

/* RFC 4527 post-read of oathFailureCount: the value our increment produced. */
static int postread_control(LDAP *ld, LDAPControl **ret)
{
	static char attr_name[] = "oathFailureCount";
	char *attrs[] = { attr_name, NULL };
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	struct berval bv;
	int rc;

	if (!ber)
		return -ENOMEM;
	if (ber_printf(ber, "{v}", attrs) == -1 || ber_flatten2(ber, &bv, 0) == -1) {
		ber_free(ber, 1);
		return -ENOMEM;
	}
	rc = ldap_control_create(LDAP_CONTROL_POST_READ, 1, &bv, 1, ret);
	ber_free(ber, 1);
	return rc == LDAP_SUCCESS ? 0 : -ENOMEM;
}

static int postread_count(LDAPControl **ctrls, unsigned *ret)
{
	LDAPControl *pr = ldap_control_find(LDAP_CONTROL_POST_READ, ctrls, NULL);
	struct berval dn, attr;
	BerVarray vals = NULL;
	BerElement *ber;
	int r = -EBADMSG;

	if (!pr || !(ber = ber_init(&pr->ldctl_value)))
		return -EBADMSG;
	if (ber_scanf(ber, "{m{", &dn) != LBER_ERROR) {
		while (r == -EBADMSG && ber_scanf(ber, "{m", &attr) != LBER_ERROR) {
			if (ber_scanf(ber, "[W]", &vals) == LBER_ERROR || !vals)
				break;
			if (strncasecmp(attr.bv_val, "oathFailureCount", attr.bv_len) == 0 &&
			    vals[0].bv_len > 0 && vals[0].bv_len < 12) {
				char buf[12], *end;
				unsigned long long n;
				memcpy(buf, vals[0].bv_val, vals[0].bv_len);
				buf[vals[0].bv_len] = '\0';
				errno = 0;
				n = strtoull(buf, &end, 10);
				/* what a read of the entry accepts (ldap_token.c) */
				if (errno == 0 && *end == '\0' && buf[0] != '-' && n <= UINT32_MAX) {
					*ret = (unsigned)n;
					r = 0;
				}
			}
			ber_bvarray_free(vals);
			vals = NULL;
		}
	}
	ber_free(ber, 1);
	return r;
}

/* The first failure on an entry without oathFailureCount (made by another tool): an
 * increment of an absent attribute fails (16), so it is set to 1 while asserting it is still
 * absent; a racing host gets 122 and, after the re-read, increments. */
static int first_failure(struct mfa_ldap *c, const struct mfa_ldap_token *t, const char *when,
			 unsigned *ret_failures)
{
	char assertion[96];
	struct mods m = { 0 };
	int r;

	snprintf(assertion, sizeof(assertion),
		 "(&(pamTotpGeneration=%" PRId64 ")(!(oathFailureCount=*)))", t->generation);
	mod_str(&m, LDAP_MOD_ADD, "oathFailureCount", "1");
	mod_str(&m, LDAP_MOD_REPLACE, "oathLastFailure", when);
	if ((r = mfa_ldapx_modify(c, t->dn, m.p, assertion, NULL, NULL)) < 0)
		return r == -EEXIST ? -ESTALE : r;
	*ret_failures = 1;
	return 0;
}

int mfa_ldap_fail(struct mfa_ldap *c, const struct mfa_ldap_token *t, int64_t now,
		  unsigned *ret_failures)
{
	_cleanup_(ldap_controls_freep) LDAPControl **resp = NULL;
	LDAPControl *pr = NULL;
	char assertion[64], when[16];
	struct mods m = { 0 };
	int r;

	mfa_ldapx_time_format(now, when);
	if (!t->has_failure_count)
		return first_failure(c, t, when, ret_failures);
	snprintf(assertion, sizeof(assertion), "(pamTotpGeneration=%" PRId64 ")", t->generation);
	/* RFC 4525: the server adds 1 to whatever is stored, so concurrent failures from
	 * many hosts all count; the post-read tells this host the total it produced. */
	mod_str(&m, LDAP_MOD_INCREMENT, "oathFailureCount", "1");
	mod_str(&m, LDAP_MOD_REPLACE, "oathLastFailure", when);
	if ((r = postread_control(c->ld, &pr)) < 0)
		return r;
	r = mfa_ldapx_modify(c, t->dn, m.p, assertion, pr, &resp);
	ldap_control_free(pr);
	if (r < 0)
		return r;
	return postread_count(resp, ret_failures);
}

int mfa_ldap_lockout(struct mfa_ldap *c, const struct mfa_ldap_token *t, int64_t until)
{
	char assertion[64], when[16];
	struct mods m = { 0 };

	mfa_ldapx_time_format(until, when);
	snprintf(assertion, sizeof(assertion), "(pamTotpGeneration=%" PRId64 ")", t->generation);
	mod_str(&m, LDAP_MOD_REPLACE, "pamTotpLockedUntil", when);
	return mfa_ldapx_modify(c, t->dn, m.p, assertion, NULL, NULL);
}

int mfa_ldap_unlock(struct mfa_ldap *c, const struct mfa_ldap_token *t)
{
	char assertion[64];
	struct mods m = { 0 };

	if (!t->exists)
		return -ENOENT;
	snprintf(assertion, sizeof(assertion), "(pamTotpGeneration=%" PRId64 ")", t->generation);
	mod_str(&m, LDAP_MOD_REPLACE, "oathFailureCount", "0");
	mod_str(&m, LDAP_MOD_REPLACE, "pamTotpLockedUntil", NULL);
	return mfa_ldapx_modify(c, t->dn, m.p, assertion, NULL, NULL);
}

int mfa_ldap_use_recovery(struct mfa_ldap *c, const struct mfa_ldap_token *t, unsigned i)
{
	char assertion[128], count[48];
	struct mods m = { 0 };

	if (i >= t->n_recovery)
		return -EINVAL;
	/* As an accept: judged on a count that has not moved since (so on no lockout counted or
	 * written since the read; one counted before it was judged on the view). */
	count_filter(t, count);
	snprintf(assertion, sizeof(assertion), "(&(pamTotpGeneration=%" PRId64 ")%s)",
		 t->generation, count);
	/* Deleting the one value fails (16, -ESTALE) when another host deleted it first. The
	 * counters restart in the same modify, as a good code restarts them: no failure
	 * counted between two writes is lost. */
	mod_str(&m, LDAP_MOD_DELETE, "pamTotpRecoveryHash", t->recovery[i]);
	mod_str(&m, LDAP_MOD_REPLACE, "oathFailureCount", "0");
	mod_str(&m, LDAP_MOD_REPLACE, "pamTotpLockedUntil", NULL);
	return mfa_ldapx_modify(c, t->dn, m.p, assertion, NULL, NULL);
}

int mfa_ldap_reset(struct mfa_ldap *c, const struct mfa_ldap_token *t, const char *by,
		   int64_t now)
{
	char assertion[64], gen[24], when[16];
	struct mods m = { 0 };

	if (!t->exists)
		return -ENOENT;
	mfa_ldapx_time_format(now, when);
	snprintf(assertion, sizeof(assertion), "(pamTotpGeneration=%" PRId64 ")", t->generation);
	/* Replace with no values deletes what is there and succeeds when nothing is: the
	 * reset identity cannot read the secret to know, and needs only delete rights. */
	mod_str(&m, LDAP_MOD_REPLACE, "oathSecret", NULL);
	mod_str(&m, LDAP_MOD_REPLACE, "pamTotpRecoveryHash", NULL);
	mod_str(&m, LDAP_MOD_REPLACE, "pamTotpStatus", "reset");
	mod_str(&m, LDAP_MOD_REPLACE, "pamTotpResetBy", by);
	mod_str(&m, LDAP_MOD_REPLACE, "pamTotpResetAt", when);
	mod_str(&m, LDAP_MOD_REPLACE, "pamTotpGeneration", NUM(gen, t->generation + 1));
	mod_str(&m, LDAP_MOD_REPLACE, "oathFailureCount", "0");
	mod_str(&m, LDAP_MOD_REPLACE, "pamTotpLockedUntil", NULL);
	return mfa_ldapx_modify(c, t->dn, m.p, assertion, NULL, NULL);
}
