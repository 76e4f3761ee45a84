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
