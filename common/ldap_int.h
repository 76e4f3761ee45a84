/* Shared by the ldap_*.c files only: the connection and the helpers every operation uses. */
#pragma once

#include <ldap.h>
#include <openldap.h>
#include <time.h>

#include "ldap_store.h"

struct mfa_ldap {
	LDAP *ld;
	const struct mfa_config_ldap *cfg; /* the caller's config outlives the connection */
	struct {                           /* the role's identity, pointing into cfg */
		enum mfa_ldap_bind bind;
		const char *dn, *password_file, *cert_file, *key_file;
	} id;
	struct timespec deadline;          /* CLOCK_MONOTONIC */
	char err[160];
};

/* Milliseconds left before the deadline (<= 0: none). */
int64_t mfa_ldapx_ms_left(const struct mfa_ldap *c);
/* Pushes the deadline I/O layer (ldap_io.c) under everything libldap reads and writes. */
int mfa_ldapx_install_deadline(struct mfa_ldap *c);
/* Arms the socket's SO_SNDTIMEO and *ret_tv (for ldap_result) with the time left;
 * -ETIMEDOUT when none is. Reads are bounded by the deadline layer (ldap_io.c). */
int mfa_ldapx_arm(struct mfa_ldap *c, struct timeval *ret_tv);
/* Waits for the whole answer to msgid within the deadline (abandoning it otherwise). */
int mfa_ldapx_wait(struct mfa_ldap *c, int msgid, LDAPMessage **ret_res);
/* Waits, parses the result, records the server's message, maps the code to -errno;
 * ret_ctrls (may be NULL) receives the response controls on success. */
int mfa_ldapx_result(struct mfa_ldap *c, int msgid, LDAPControl ***ret_ctrls);
/* LDAP result code -> 0 or -errno (122 and 16: -ESTALE, the entry moved). */
int mfa_ldapx_errno(int rc);
/* One modify of dn; assertion (an RFC 4515 filter) is sent as a critical RFC 4528
 * control when not NULL; extra (may be NULL) is a second request control. */
int mfa_ldapx_modify(struct mfa_ldap *c, const char *dn, LDAPMod **mods, const char *assertion,
		     LDAPControl *extra, LDAPControl ***ret_ctrls);
/* Parses one token entry into tok (fields it holds; others untouched). -EBADMSG, -ENOMEM. */
int mfa_ldapx_parse_token(struct mfa_ldap *c, LDAPMessage *e, struct mfa_ldap_token *tok);

/* One search; *ret_res holds its entries (none: -ENOENT); more than max: -ENOTUNIQ. */
int mfa_ldapx_search(struct mfa_ldap *c, const char *base, int scope, const char *filter,
		     const char *const *attrs, int max, LDAPMessage **ret_res);
/* oathHMACAlgorithm's value for a (RFC 8018 OIDs, as slapo-otp reads them). */
const char *mfa_ldapx_algo_oid(enum mfa_algo a);

/* RFC 4517 GeneralizedTime "YYYYMMDDHHMMSSZ" <-> unix time. */
int mfa_ldapx_time_parse(const char *s, int64_t *ret);
void mfa_ldapx_time_format(int64_t t, char buf[16]);

static inline void ldap_msgfreep(LDAPMessage **m)
{
	if (*m)
		ldap_msgfree(*m);
}
static inline void ldap_controls_freep(LDAPControl ***c)
{
	if (*c)
		ldap_controls_free(*c);
}
static inline void ldap_memfreep(char **p)
{
	if (*p)
		ldap_memfree(*p);
}
