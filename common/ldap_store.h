/* The ldap store's primitives: a person's OATH-LDAP TOTP token (plus pamTotpToken, see
 * etc/ldap/) read and written in an OpenLDAP directory. No policy here: the caller decides
 * (replay, lockout, enrollment) and these only read, or write one entry in one modify
 * that the server refuses when the entry moved since it was read (RFC 4528 assertion).
 * All return 0 or a negative errno; the directory's own words for the last failure are in
 * mfa_ldap_error() for the caller's log line. Nothing here logs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "secret.h"

struct mfa_ldap; /* one bound connection and its deadline */

enum mfa_ldap_status {
	MFA_LDAP_NEVER,    /* no token entry, or one never enrolled */
	MFA_LDAP_ENROLLED, /* pamTotpStatus: enrolled */
	MFA_LDAP_RESET,    /* pamTotpStatus: reset (by, at) */
};

struct mfa_ldap_token {
	char *dn;    /* the token entry (it may not exist yet: exists) */
	char *owner; /* the person's entry */
	char *name;  /* the token's cn (the user name; from a list) */
	bool exists;
	enum mfa_ldap_status status;
	struct mfa_secret *secret; /* NULL when absent or not readable by this identity */
	enum mfa_algo algorithm;
	unsigned digits, period, window;
	int64_t last_step; /* oathTOTPLastTimeStep, -1 when none */
	unsigned failures;     /* oathFailureCount */
	bool has_failure_count; /* entries made by other tools may lack it */
	int64_t last_failure, locked_until, enrolled_at, reset_at; /* unix time, 0 = none */
	char *reset_by;
	int64_t generation; /* pamTotpGeneration: the value every write asserts */
	char (*recovery)[MFA_RECOVERY_HASH_LEN];
	unsigned n_recovery;
};

/* What a host writes when it claims an enrollment. */
struct mfa_ldap_enroll {
	const struct mfa_secret *secret;
	enum mfa_algo algorithm;
	unsigned digits, period, window;
	int64_t step; /* the step of the confirmation code: already used */
	int64_t now;
	const char (*recovery)[MFA_RECOVERY_HASH_LEN];
	unsigned n_recovery;
};

/* Who binds: the host (pam_totp.so: reads secrets, moves counters, claims enrollments) or
 * the reset service (mfa-resetd: resets, unlocks, lists; never reads a secret). */
enum mfa_ldap_role {
	MFA_LDAP_ROLE_HOST,
	MFA_LDAP_ROLE_RESET,
};

/* Connects as role to the first URI of cfg->ldap that answers, TLS verified against ca_file
 * (ldaps://, or StartTLS on ldap:// unless allow_plain_simple_bind), and binds. Connect,
 * TLS handshake and bind all end by one deadline, timeout_ms from now, whatever the
 * server does: -ETIMEDOUT. -ECONNREFUSED/-ENOENT/-EHOSTUNREACH nothing there, -EPROTO TLS
 * refused (wrong CA, name), -EACCES bind refused, -EPERM password file unsafe or a plain
 * simple bind not allowed. reterr says which URI and why. */
int mfa_ldap_connect(const struct mfa_config *cfg, enum mfa_ldap_role role,
		     struct mfa_ldap **ret_conn, struct mfa_err *reterr);
/* Unbinds and frees; accepts NULL. */
void mfa_ldap_close(struct mfa_ldap *conn);
static inline void mfa_ldap_closep(struct mfa_ldap **c)
{
	mfa_ldap_close(*c);
	*c = NULL;
}
/* A new deadline, timeout_ms from now: for a caller that waited on a person meanwhile. */
void mfa_ldap_rearm(struct mfa_ldap *conn);
/* The directory's message for the last failure ("" when none); never holds a secret. */
const char *mfa_ldap_error(const struct mfa_ldap *conn);

/* Reads user's token: the person is found under person_base with person_filter, the token
 * is their oathTOTPToken or else cn=<user>,token_base. -ENOENT no such person, -EBADMSG a
 * malformed token entry. An absent entry is exists = false (status NEVER). */
int mfa_ldap_load(struct mfa_ldap *conn, const char *user, struct mfa_ldap_token *ret_tok);
void mfa_ldap_token_free(struct mfa_ldap_token *tok);

/* Accepts step: oathTOTPLastTimeStep = step, failures 0, in one modify asserting
 * (!(oathTOTPLastTimeStep>=step)), status enrolled, the generation read and no lockout at
 * now. -ESTALE: another host moved first (the code was used, or the token changed):
 * re-read and decide again. */
int mfa_ldap_accept(struct mfa_ldap *conn, const struct mfa_ldap_token *tok, int64_t step,
		    int64_t now);
/* Counts one failure exactly (RFC 4525 increment, RFC 4527 post-read): *ret_failures is the
 * count after this one, whoever else counted meanwhile. -ESTALE the token changed. */
int mfa_ldap_fail(struct mfa_ldap *conn, const struct mfa_ldap_token *tok, int64_t now,
		  unsigned *ret_failures);
/* Locks until `until`, asserting the generation. */
int mfa_ldap_lockout(struct mfa_ldap *conn, const struct mfa_ldap_token *tok, int64_t until);
/* Clears failures and lockout (the reset identity's --unlock). */
int mfa_ldap_unlock(struct mfa_ldap *conn, const struct mfa_ldap_token *tok);
/* Consumes recovery hash i: deletes that one value and restarts the counters, in one modify
 * asserting the generation and the failure count read; -ESTALE another host used it first,
 * or a failure was counted since the read. */
int mfa_ldap_use_recovery(struct mfa_ldap *conn, const struct mfa_ldap_token *tok, unsigned i);
/* Saves a confirmed enrollment on a token that is not enrolled: creates the entry when
 * missing, then one modify asserting the generation read and status not enrolled. Of two
 * hosts racing, one gets 0 and the other -ESTALE. */
int mfa_ldap_claim(struct mfa_ldap *conn, const struct mfa_ldap_token *tok,
		   const struct mfa_ldap_enroll *e);
/* Removes secret and recovery codes, status reset, by, at, generation + 1; -ENOENT when
 * there is no token entry (never enrolled), -ESTALE the token changed since it was read. */
int mfa_ldap_reset(struct mfa_ldap *conn, const struct mfa_ldap_token *tok, const char *by,
		   int64_t now);

/* Every token entry under token_base in one paged search (RFC 2696), cb called once per
 * token (secret never requested); a cb return < 0 stops and is returned. */
int mfa_ldap_list(struct mfa_ldap *conn,
		  int (*cb)(const struct mfa_ldap_token *tok, void *userdata), void *userdata);
