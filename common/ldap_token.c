/* Reading a person's token from the directory: find the person, follow oathTOTPToken (or
 * the cn=<name>,token_base convention), parse the OATH-LDAP and pamTotpToken attributes.
 * The secret goes straight into sodium memory; libldap's copies are wiped before free. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ldap_int.h"

/* RFC 8018 HMAC OIDs, the form slapo-otp reads in oathHMACAlgorithm. */
static const struct {
	enum mfa_algo algo;
	const char *oid;
} hmac_oids[] = {
	{ MFA_ALGO_SHA1, "1.2.840.113549.2.7" },
	{ MFA_ALGO_SHA256, "1.2.840.113549.2.9" },
	{ MFA_ALGO_SHA512, "1.2.840.113549.2.11" },
};

const char *mfa_ldapx_algo_oid(enum mfa_algo a)
{
	for (size_t i = 0; i < ELEMENTSOF(hmac_oids); i++)
		if (hmac_oids[i].algo == a)
			return hmac_oids[i].oid;
	return hmac_oids[0].oid;
}

static void bvecfreep(struct berval ***v)
{
	if (*v)
		ber_bvecfree(*v);
}

void mfa_ldap_token_free(struct mfa_ldap_token *t)
{
	if (!t)
		return;
	free(t->dn);
	free(t->owner);
	free(t->name);
	free(t->reset_by);
	mfa_secret_free(t->secret);
	free(t->recovery);
	memset(t, 0, sizeof(*t));
}

static int parse_int(const struct berval *v, int64_t min, int64_t max, int64_t *ret)
{
	char buf[24];
	char *end;
	long long n;

	if (v->bv_len == 0 || v->bv_len >= sizeof(buf))
		return -EBADMSG;
	memcpy(buf, v->bv_val, v->bv_len);
	buf[v->bv_len] = '\0';
	errno = 0;
	n = strtoll(buf, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EBADMSG;
	*ret = n;
	return 0;
}

static int dup_value(const struct berval *v, char **dst)
{
	char *s;

	if (memchr(v->bv_val, '\0', v->bv_len))
		return -EBADMSG;
	if (!(s = strndup(v->bv_val, v->bv_len)))
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static int parse_time(const struct berval *v, int64_t *ret)
{
	_cleanup_free_ char *s = NULL;
	int r;

	if ((r = dup_value(v, &s)) < 0)
		return r;
	return mfa_ldapx_time_parse(s, ret);
}

static int parse_algo(const struct berval *v, enum mfa_algo *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(hmac_oids); i++)
		if (v->bv_len == strlen(hmac_oids[i].oid) &&
		    memcmp(v->bv_val, hmac_oids[i].oid, v->bv_len) == 0) {
			*ret = hmac_oids[i].algo;
			return 0;
		}
	return -EBADMSG; /* SHA224/384 exist in slapo-otp, not in the authenticator apps */
}

static int parse_recovery(struct berval **vals, struct mfa_ldap_token *t)
{
	size_t n = 0;

	while (vals[n])
		n++;
	if (n > MFA_RECOVERY_MAX)
		return -EBADMSG;
	free(t->recovery);
	if (!(t->recovery = calloc(n ? n : 1, sizeof(*t->recovery))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (vals[i]->bv_len != MFA_RECOVERY_HASH_LEN - 1 ||
		    memchr(vals[i]->bv_val, '\0', vals[i]->bv_len))
			return -EBADMSG;
		memcpy(t->recovery[i], vals[i]->bv_val, vals[i]->bv_len);
	}
	t->n_recovery = (unsigned)n;
	return 0;
}

static int parse_status(const struct berval *v, enum mfa_ldap_status *ret)
{
	if (v->bv_len == 8 && strncasecmp(v->bv_val, "enrolled", 8) == 0)
		*ret = MFA_LDAP_ENROLLED;
	else if (v->bv_len == 5 && strncasecmp(v->bv_val, "reset", 5) == 0)
		*ret = MFA_LDAP_RESET;
	else
		return -EBADMSG;
	return 0;
}

/* One attribute's values into tok; unknown attributes are ignored. */
static int parse_attr(const char *a, struct berval **v, struct mfa_ldap_token *t)
{
	int64_t n = 0;
	int r = 0;

	if (!v[0])
		return 0;
	if (strcasecmp(a, "oathSecret") == 0) {
		/* no shorter than the files store loads: a truncated or hand-made key is refused */
		if (v[0]->bv_len < MFA_SECRET_LOAD_MIN_BYTES ||
		    mfa_secret_from_bytes(v[0]->bv_val, v[0]->bv_len, &t->secret) < 0)
			return -EBADMSG;
		return 0;
	}
	if (strcasecmp(a, "oathHMACAlgorithm") == 0)
		return parse_algo(v[0], &t->algorithm);
	if (strcasecmp(a, "pamTotpStatus") == 0)
		return parse_status(v[0], &t->status);
	if (strcasecmp(a, "pamTotpRecoveryHash") == 0)
		return parse_recovery(v, t);
	if (strcasecmp(a, "pamTotpResetBy") == 0)
		return dup_value(v[0], &t->reset_by);
	if (strcasecmp(a, "owner") == 0)
		return t->owner ? 0 : dup_value(v[0], &t->owner);
	if (strcasecmp(a, "cn") == 0)
		return dup_value(v[0], &t->name);
	if (strcasecmp(a, "oathLastFailure") == 0)
		return parse_time(v[0], &t->last_failure);
	if (strcasecmp(a, "oathSecretTime") == 0)
		return parse_time(v[0], &t->enrolled_at);
	if (strcasecmp(a, "pamTotpResetAt") == 0)
		return parse_time(v[0], &t->reset_at);
	if (strcasecmp(a, "pamTotpLockedUntil") == 0)
		return parse_time(v[0], &t->locked_until);
	if (strcasecmp(a, "oathOTPLength") == 0 && (r = parse_int(v[0], 6, 8, &n)) == 0)
		t->digits = (unsigned)n;
	else if (strcasecmp(a, "oathTOTPTimeStepPeriod") == 0 &&
		 (r = parse_int(v[0], 10, 300, &n)) == 0)
		t->period = (unsigned)n;
	else if (strcasecmp(a, "oathTOTPTimeStepWindow") == 0 &&
		 (r = parse_int(v[0], 0, 10, &n)) == 0)
		t->window = (unsigned)n;
	else if (strcasecmp(a, "oathTOTPLastTimeStep") == 0 &&
		 (r = parse_int(v[0], 0, INT64_MAX, &n)) == 0)
		t->last_step = n;
	else if (strcasecmp(a, "oathFailureCount") == 0 && /* as the files store: counted for good */
		 (r = parse_int(v[0], 0, UINT32_MAX, &n)) == 0)
		t->failures = (unsigned)n, t->has_failure_count = true;
	else if (strcasecmp(a, "pamTotpGeneration") == 0 &&
		 (r = parse_int(v[0], 0, INT64_MAX - 1, &n)) == 0)
		t->generation = n;
	return r;
}

int mfa_ldapx_parse_token(struct mfa_ldap *c, LDAPMessage *e, struct mfa_ldap_token *t)
{
	BerElement *ber = NULL;
	int r = 0;

	t->exists = true;
	t->last_step = -1;
	/* after a malformed attribute, no next name is fetched (it would never be freed) */
	for (char *a = ldap_first_attribute(c->ld, e, &ber); a;
	     a = r == 0 ? ldap_next_attribute(c->ld, e, ber) : NULL) {
		_cleanup_(bvecfreep) struct berval **v = ldap_get_values_len(c->ld, e, a);

		/* an attribute the entry names but whose values cannot be had (out of memory, a
		 * decoding error) is an unreadable token, never an absent one: skipping it could
		 * read an enrolled token as never enrolled */
		r = v ? parse_attr(a, v, t) : -EBADMSG;
		if (r == -EBADMSG) /* the log line names what an administrator must fix */
			snprintf(c->err, sizeof(c->err), "token entry: malformed %.60s", a);
		if (v && strcasecmp(a, "oathSecret") == 0)
			for (size_t i = 0; v[i]; i++)
				sodium_memzero(v[i]->bv_val, v[i]->bv_len);
		ldap_memfree(a);
	}
	if (ber)
		ber_free(ber, 0);
	return r;
}

/* RFC 4514: the characters that would end or change an RDN value are escaped. */
static int rdn_escape(const char *in, char *buf, size_t size)
{
	size_t o = 0, len = strlen(in);

	for (size_t i = 0; i < len; i++) {
		bool esc = strchr(",+\"\\<>;=", in[i]) || (i == 0 && (in[i] == '#' || in[i] == ' ')) ||
			   (i == len - 1 && in[i] == ' ');
		if (o + 3 >= size)
			return -ENAMETOOLONG;
		if (esc)
			buf[o++] = '\\';
		buf[o++] = in[i];
	}
	buf[o] = '\0';
	return 0;
}

static const char *const token_attrs[] = {
	"oathSecret", "oathOTPLength", "oathHMACAlgorithm", "oathTOTPTimeStepPeriod",
	"oathTOTPTimeStepWindow", "oathTOTPLastTimeStep", "oathFailureCount", "oathLastFailure",
	"oathSecretTime", "pamTotpStatus", "pamTotpResetBy", "pamTotpResetAt",
	"pamTotpRecoveryHash", "pamTotpGeneration", "pamTotpLockedUntil", "owner", "cn", NULL,
};

int mfa_ldapx_search(struct mfa_ldap *c, const char *base, int scope, const char *filter,
		     const char *const *attrs, int max, LDAPMessage **ret_res)
{
	_cleanup_(ldap_msgfreep) LDAPMessage *res = NULL;
	int msgid, rc = LDAP_OTHER, r, n;
	struct timeval tv;

	if ((r = mfa_ldapx_arm(c, &tv)) < 0)
		return r;
	if (ldap_search_ext(c->ld, base, scope, filter, (char **)(uintptr_t)attrs, 0, NULL, NULL,
			    &tv, max + 1, &msgid) != LDAP_SUCCESS)
		return -ECONNRESET;
	if ((r = mfa_ldapx_wait(c, msgid, &res)) < 0)
		return r;
	n = ldap_count_entries(c->ld, res);
	if (ldap_parse_result(c->ld, res, &rc, NULL, NULL, NULL, NULL, 0) != LDAP_SUCCESS)
		return -EIO;
	if (rc == LDAP_SIZELIMIT_EXCEEDED || n > max) {
		snprintf(c->err, sizeof(c->err), "more than %d entr%s under %.100s match", max,
			 max == 1 ? "y" : "ies", base);
		return -ENOTUNIQ;
	}
	if (rc != LDAP_SUCCESS) {
		snprintf(c->err, sizeof(c->err), "search: %s (%d)", ldap_err2string(rc), rc);
		return mfa_ldapx_errno(rc);
	}
	/* A continuation reference: part of the scope is held elsewhere, and referrals are not
	 * followed. Whatever was found here may not be the only match, and nothing found may
	 * not mean "no such person". */
	if (ldap_count_references(c->ld, res) > 0) {
		snprintf(c->err, sizeof(c->err), "a referral under %.100s (not followed)", base);
		return -EREMOTE;
	}
	if (n == 0)
		return -ENOENT;
	*ret_res = TAKE_PTR(res);
	return 0;
}

/* The person's DN and their token's DN. */
static int find_person(struct mfa_ldap *c, const char *user, struct mfa_ldap_token *t)
{
	static const char *const attrs[] = { "oathTOTPToken", NULL };
	_cleanup_(ldap_msgfreep) LDAPMessage *res = NULL;
	_cleanup_(bvecfreep) struct berval **link = NULL;
	_cleanup_free_ char *filter = NULL;
	struct berval in = { strlen(user), (char *)(uintptr_t)user }, esc = { 0, NULL };
	const char *f = c->cfg->person_filter, *pct = strstr(f, "%s");
	char rdn[3 * 256 + 1];
	LDAPMessage *e;
	int r;

	if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
		return -ENOMEM;
	r = asprintf(&filter, "%.*s%s%s", (int)(pct - f), f, esc.bv_val, pct + 2);
	ber_memfree(esc.bv_val);
	if (r < 0)
		return -ENOMEM;
	if ((r = mfa_ldapx_search(c, c->cfg->person_base, LDAP_SCOPE_SUBTREE, filter, attrs, 1,
				  &res)) < 0)
		return r;
	e = ldap_first_entry(c->ld, res);
	_cleanup_(ldap_memfreep) char *dn = ldap_get_dn(c->ld, e);
	if (!dn || !(t->owner = strdup(dn)))
		return -ENOMEM;
	if ((link = ldap_get_values_len(c->ld, e, "oathTOTPToken")) && link[0])
		return dup_value(link[0], &t->dn);
	if ((r = rdn_escape(user, rdn, sizeof(rdn))) < 0)
		return r;
	return asprintf(&t->dn, "cn=%s,%s", rdn, c->cfg->token_base) < 0 ? -ENOMEM : 0;
}

int mfa_ldap_load(struct mfa_ldap *c, const char *user, struct mfa_ldap_token *ret_tok)
{
	_cleanup_(ldap_msgfreep) LDAPMessage *res = NULL;
	struct mfa_ldap_token t = { .last_step = -1 };
	int r;

	if ((r = find_person(c, user, &t)) < 0 ||
	    ((r = mfa_ldapx_search(c, t.dn, LDAP_SCOPE_BASE, "(objectClass=*)", token_attrs, 1,
				   &res)) < 0 &&
	     r != -ENOENT)) {
		mfa_ldap_token_free(&t);
		return r;
	}
	if (r == 0) {
		_cleanup_free_ char *owner = TAKE_PTR(t.owner);
		r = mfa_ldapx_parse_token(c, ldap_first_entry(c->ld, res), &t);
		if (r == 0 && t.status == MFA_LDAP_ENROLLED && (!t.digits || !t.period)) {
			/* an enrolled token without its parameters cannot verify */
			snprintf(c->err, sizeof(c->err),
				 "token entry: enrolled without its oathOTPLength or period");
			r = -EBADMSG;
		}
		free(t.owner);
		t.owner = TAKE_PTR(owner); /* the person found, not what the entry claims */
		if (r < 0) {
			mfa_ldap_token_free(&t);
			return r;
		}
	}
	if (!t.name && !(t.name = strdup(user))) {
		mfa_ldap_token_free(&t);
		return -ENOMEM;
	}
	*ret_tok = t;
	return 0;
}
