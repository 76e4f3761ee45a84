/* Every token in one paged search (RFC 2696 simple paged results): the administrator's
 * --list costs one search, not one query per person, and a server's size limit does not
 * cut it short. The secret is never requested. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ldap_int.h"

#define PAGE_SIZE 500

static const char *const list_attrs[] = {
	"cn", "owner", "pamTotpStatus", "pamTotpResetBy", "pamTotpResetAt", "pamTotpGeneration",
	"pamTotpLockedUntil", "oathFailureCount", "oathLastFailure", "oathSecretTime",
	"oathTOTPLastTimeStep", NULL,
};

static void berfreep(struct berval **b)
{
	if (*b)
		ber_bvfree(*b);
}

static int page_entries(struct mfa_ldap *c, LDAPMessage *res,
			int (*cb)(const struct mfa_ldap_token *, void *), void *userdata)
{
	for (LDAPMessage *e = ldap_first_entry(c->ld, res); e; e = ldap_next_entry(c->ld, e)) {
		_cleanup_(ldap_memfreep) char *dn = ldap_get_dn(c->ld, e);
		struct mfa_ldap_token t = { 0 };
		int r;

		if (!dn || !(t.dn = strdup(dn)))
			return -ENOMEM;
		r = mfa_ldapx_parse_token(c, e, &t);
		if (r == -EBADMSG)
			t.status = MFA_LDAP_NEVER; /* listed as unreadable rather than hidden */
		if (r == 0 || r == -EBADMSG)
			r = cb(&t, userdata);
		mfa_ldap_token_free(&t);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One page: sends the search with cookie, hands its entries to cb, returns the next cookie
 * (empty: done) in *cookie. */
static int one_page(struct mfa_ldap *c, struct berval **cookie,
		    int (*cb)(const struct mfa_ldap_token *, void *), void *userdata)
{
	_cleanup_(ldap_msgfreep) LDAPMessage *res = NULL;
	_cleanup_(ldap_controls_freep) LDAPControl **resp = NULL;
	LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
	struct berval next = { 0, NULL };
	ber_int_t total = 0;
	int msgid, rc = LDAP_OTHER, r;

	if ((r = mfa_ldapx_arm(c, NULL)) < 0)
		return r;
	if (ldap_create_page_control(c->ld, PAGE_SIZE, *cookie, 1, &page) != LDAP_SUCCESS)
		return -ENOMEM;
	ctrls[0] = page;
	rc = ldap_search_ext(c->ld, c->cfg->token_base, LDAP_SCOPE_ONELEVEL,
			     "(objectClass=pamTotpToken)", (char **)(uintptr_t)list_attrs, 0,
			     ctrls, NULL, NULL, 0, &msgid);
	ldap_control_free(page);
	if (rc != LDAP_SUCCESS)
		return -ECONNRESET;
	if ((r = mfa_ldapx_wait(c, msgid, &res)) < 0)
		return r;
	if (ldap_parse_result(c->ld, res, &rc, NULL, NULL, NULL, &resp, 0) != LDAP_SUCCESS)
		return -EIO;
	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
		snprintf(c->err, sizeof(c->err), "search: %s (%d)", ldap_err2string(rc), rc);
		return mfa_ldapx_errno(rc);
	}
	if ((r = page_entries(c, res, cb, userdata)) < 0)
		return r;
	ber_bvfree(*cookie);
	*cookie = NULL;
	LDAPControl *pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, resp, NULL);
	if (pr && ldap_parse_pageresponse_control(c->ld, pr, &total, &next) == LDAP_SUCCESS &&
	    next.bv_len > 0 && !(*cookie = ber_bvdup(&next)))
		r = -ENOMEM;
	ber_memfree(next.bv_val);
	return r;
}

int mfa_ldap_list(struct mfa_ldap *c, int (*cb)(const struct mfa_ldap_token *, void *),
		  void *userdata)
{
	_cleanup_(berfreep) struct berval *cookie = NULL;
	int r;

	do {
		if ((r = one_page(c, &cookie, cb, userdata)) < 0)
			return r;
		/* A list of a large directory takes several round trips: each page gets the
		 * whole timeout, and a stalled page still ends the list in time. */
		mfa_ldap_rearm(c);
	} while (cookie);
	return 0;
}
