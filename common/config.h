/* The pam_totp configuration file (libconfig syntax): one strict loader for all programs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

enum mfa_algo {
	MFA_ALGO_SHA1,
	MFA_ALGO_SHA256,
	MFA_ALGO_SHA512,
};

/* A list of names from the config (groups or users); strings owned by the list. */
struct mfa_strlist {
	char **v;
	size_t n;
};

/* Where tokens live: per-host state files (sections 3-5 of the spec) or the directory. */
enum mfa_store {
	MFA_STORE_FILES,
	MFA_STORE_LDAP,
};

enum mfa_ldap_bind {
	MFA_LDAP_BIND_SASL_EXTERNAL, /* ldapi:// peer credentials, or a TLS client certificate */
	MFA_LDAP_BIND_SIMPLE,        /* bind_dn + the password in bind_password_file */
};

/* The "ldap" group (config_ldap.c); every string has a default, so none is NULL after
 * mfa_config_defaults(). */
struct mfa_config_ldap {
	char *uri;                    /* one or more, space-separated; default "ldapi:///" */
	enum mfa_ldap_bind bind;      /* default sasl_external */
	char *bind_dn;                /* default "" (required for simple) */
	char *bind_password_file;     /* default /etc/pam_totp.ldap-password, 0600 root */
	char *ca_file;                /* default /etc/ssl/certs/ca-certificates.crt */
	char *cert_file;              /* TLS client certificate; default "" (none) */
	char *key_file;               /* its key; default "" */
	char *person_base;            /* default "" (required with store = "ldap") */
	char *person_filter;          /* one %s for the escaped name */
	char *token_base;             /* default "" (required with store = "ldap") */
	unsigned timeout_ms;          /* whole exchange, 100..60000, default 3000 */
	bool allow_plain_simple_bind; /* ldap:// without TLS; default false */
	/* mfa-resetd's own identity (it may reset and unlock, never read a secret); the
	 * same kinds of keys, prefixed reset_. */
	enum mfa_ldap_bind reset_bind;  /* default sasl_external */
	char *reset_bind_dn;            /* default "" */
	char *reset_bind_password_file; /* default /etc/pam_totp.ldap-reset-password */
	char *reset_cert_file;          /* default "" */
	char *reset_key_file;           /* default "" */
};

struct mfa_config {
	char *issuer;    /* default: the host name */
	char *state_dir; /* default: /var/lib/pam_totp */
	struct {
		enum mfa_algo algorithm; /* default SHA1 */
		unsigned digits;         /* 6..8, default 6 */
		unsigned period;         /* seconds, 10..300, default 30 */
		unsigned window;         /* steps each side of now, 0..10, default 1 */
	} totp;
	struct {
		bool all;                         /* default false */
		struct mfa_strlist users;         /* default [] */
		struct mfa_strlist groups;        /* default [ "mfa-users" ] */
		struct mfa_strlist exempt_groups; /* default [] */
	} enforce;
	struct {
		bool allow;              /* default true */
		bool qr;                 /* default true */
		unsigned recovery_codes; /* 0..MFA_RECOVERY_MAX, default 5 */
		int64_t reset_expires;   /* seconds, 0 = never, default 0 */
	} enrollment;
	struct {
		unsigned max_failures; /* 0 = no lockout, default 5 */
		unsigned lock_seconds; /* default 300 */
	} lockout;
	struct {
		struct mfa_strlist admin_groups;     /* default [ "mfa-admins" ] */
		char *socket;                        /* default /run/mfa-resetd.sock */
		bool allow_self_reset;               /* default false */
		struct mfa_strlist protected_groups; /* default [] */
	} reset;
	enum mfa_store store; /* default files */
	struct mfa_config_ldap ldap;
};

#define MFA_CONFIG_DEFAULT_STATE_DIR "/var/lib/pam_totp"
#define MFA_CONFIG_DEFAULT_SOCKET "/run/mfa-resetd.sock"
#define MFA_CONFIG_MAX_SIZE (64 * 1024)

/* Fills cfg with every default. 0, or -ENOMEM (cfg then safe to free). */
int mfa_config_defaults(struct mfa_config *cfg);

/* Loads and fully validates PATH. A missing file is -ENOENT (callers fail closed: an
 * installed module without its config is a broken installation, not "no policy").
 * Syntax errors, unknown keys, wrong types and out-of-range values are -EINVAL with
 * reterr naming the line and key ("line 4: totp.digits: must be 6 to 8").
 * On success *ret_cfg owns its strings; free with mfa_config_free(). */
int mfa_config_load(const char *path, struct mfa_config *ret_cfg, struct mfa_err *reterr);

/* The same from a string (tests and the fuzzer): len bytes (a NUL among them is an error
 * naming its line), or strlen(text) for mfa_config_parse(). */
int mfa_config_parse(const char *text, struct mfa_config *ret_cfg, struct mfa_err *reterr);
int mfa_config_parse_n(const char *text, size_t len, struct mfa_config *ret_cfg,
		       struct mfa_err *reterr);

/* libconfig's reader as config and state files both use it: text must be exactly len bytes
 * without a NUL (libconfig stops at the first and would ignore the rest), and no line may
 * start with '@' (libconfig's @include would read a file that none of our owner, mode and
 * size checks has seen: refused, not followed). Then config_read_string() into lc (from
 * config_init()). 0, or r (the caller's error code) with reterr naming the line. */
struct config_t;
int mfa_libconfig_read(struct config_t *lc, const char *text, size_t len, int r,
		       struct mfa_err *reterr);

/* Frees what cfg owns and zeroes it; accepts a zeroed or half-built config. */
void mfa_config_free(struct mfa_config *cfg);

/* config_ldap.c: the "store" key and the "ldap" group. _defaults and _free are called by
 * mfa_config_defaults() and mfa_config_free(); _take parses and removes both settings from
 * the root before the main table sees it, and checks what store = "ldap" requires. */
int mfa_config_ldap_defaults(struct mfa_config *cfg);
void mfa_config_ldap_free(struct mfa_config *cfg);
struct config_t;
int mfa_config_ldap_take(struct config_t *lc, struct mfa_config *cfg, struct mfa_err *reterr);

/* "SHA1", "SHA256", "SHA512". */
const char *mfa_algo_to_string(enum mfa_algo a);
/* 0 and *ret_algo, or -EINVAL. */
int mfa_algo_from_string(const char *s, enum mfa_algo *ret_algo);

/* 1 when name is in list, else 0. */
int mfa_strlist_contains(const struct mfa_strlist *list, const char *name);
/* Appends a copy of name (unique: only when not already in the list). 0 or -ENOMEM. */
int mfa_strlist_add(struct mfa_strlist *list, const char *name, bool unique);
/* Frees the names and the array; the list is then empty. Accepts NULL. */
void mfa_strlist_free(struct mfa_strlist *list);
