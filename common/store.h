/* The token store: a small interface with two backends, the per-host state files
 * (store_files.c over state.c) and the directory (store_ldap.c over ldap_store.h), chosen by
 * `store` in the config. Backends only read and write; every decision (replay, lockout,
 * recovery codes, which enrollment may be saved) is the policy's (policy.c), written once
 * above this interface.
 *
 * Every write is a compare-and-swap against the view the caller loaded: it lands only when
 * the stored token is still the one that view describes (same generation, and for an accepted
 * step, no step at or above it), and otherwise returns -ESTALE: another login, host or reset
 * moved first, and the policy re-reads and decides again. Files: the check and the write run
 * under the user's OFD lock. ldap: one modify with an RFC 4528 assertion. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "secret.h"
#include "state.h"
#include "user.h"

enum mfa_token_status {
	MFA_TOKEN_NONE,     /* never enrolled: no state file, no token entry, none enrolled yet */
	MFA_TOKEN_ENROLLED,
	MFA_TOKEN_RESET,    /* an administrator asked for a new token (reset_by, reset_at) */
};

/* A user's token as one read saw it. */
struct mfa_token {
	enum mfa_token_status status;
	struct mfa_secret *secret; /* enrolled and readable by this identity, else NULL; owned */
	/* How secret is freed, when the backend that allocated it is a plugin with its own copy
	 * of libmfa (NULL: mfa_secret_free). The ldap plugin is: pam_totp.so links libsodium
	 * statically, and memory goes back to the allocator of the copy it came from. */
	void (*free_secret)(struct mfa_secret *secret);
	enum mfa_algo algorithm;
	unsigned digits, period;
	int64_t last_step;    /* the replay watermark: last accepted step, -1 none */
	unsigned failures;    /* wrong answers since the last good one */
	int64_t locked_until; /* unix time, 0 none; locked while now <= locked_until */
	/* unix time of the last counted failure, 0 none or not kept (files: the count and its
	 * lockout are one write; ldap: oathLastFailure, see mfa_policy_locked_until) */
	int64_t last_failure;
	int64_t enrolled_at, reset_at;
	char reset_by[MFA_RESET_BY_MAX + 1];
	/* What every write compares: moved by each enrollment and reset (files: the state
	 * file's epoch; ldap: pamTotpGeneration). 0 with status NONE and no entry at all. */
	uint64_t generation;
	/* status NONE because the store has no place for this user's token (ldap: no person
	 * entry found): an enrollment could not be saved. */
	bool no_entry;
	unsigned n_recovery;
	char recovery[MFA_RECOVERY_MAX][MFA_RECOVERY_HASH_LEN];
	void *priv; /* the backend's own copy of what it read (file identity, entry DN) */
	void (*free_priv)(void *priv);
};

/* The one reading of a lockout both backends assert and the policy decides by. */
static inline bool mfa_token_locked_at(int64_t locked_until, int64_t now)
{
	return locked_until > 0 && now <= locked_until;
}

/* Frees the secret and the backend's data, wipes the rest; accepts a zeroed token. */
void mfa_token_clear(struct mfa_token *t);
static inline void mfa_token_clearp(struct mfa_token *t)
{
	mfa_token_clear(t);
}

/* What a confirmed enrollment saves. */
struct mfa_store_enroll {
	const struct mfa_secret *secret;
	enum mfa_algo algorithm;
	unsigned digits, period, window;
	int64_t step; /* the confirming code's step: used, so it is the new watermark */
	int64_t now;
	const char (*recovery)[MFA_RECOVERY_HASH_LEN]; /* hashes (mfa_recovery_generate) */
	unsigned n_recovery;
};

/* One failure to count. In: the policy's lockout, when the count this failure makes is a
 * multiple of every (0: never) the token is locked until until. A store that can (files,
 * under the user's lock) writes that lockout with the count, so no login between the two
 * finds the count reached and the token unlocked; the directory cannot (the count comes
 * back from the increment) and leaves it to ops->lockout. Out: failures, the count this one
 * made; locked, the lockout was written with it; with_count, this store writes every
 * lockout with the count that reached it (so a count this one passed was locked then). */
struct mfa_store_fail {
	unsigned every;
	int64_t until;
	unsigned failures;
	bool locked, with_count;
};

#define MFA_STORE_NOSYNC 0x1u /* reset: the caller makes the batch durable (mfa_store_sync) */

struct mfa_storage;

/* One backend. Every function returns 0 or a negative errno; -ESTALE as above. t is a view
 * from this store's load(), of the same user. */
struct mfa_store_ops {
	/* 0 and *ret loaded (status NONE when the user never enrolled); -EBADMSG corrupt,
	 * -EPERM/-ELOOP unsafe file, -ENOENT (ldap) no such person in the directory,
	 * -ETIMEDOUT/-ECONNREFUSED/... directory unreachable. reterr (may be NULL): where a
	 * state file is corrupt (its line; the message may quote the file: never logged). */
	int (*load)(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		    struct mfa_err *reterr);
	/* The view for a status line: as load, never with the secret (files: from the lock
	 * file's summary when it describes the state file in place, without parsing it). */
	int (*status)(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		      struct mfa_err *reterr);
	/* step becomes the watermark and failures 0, if the token is still enrolled, of
	 * t's generation, its watermark below step and not locked at now. */
	int (*accept)(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		      int64_t step, int64_t now);
	/* One more failure, counted exactly whoever else counts (f: the count this one made;
	 * files also lock in the same write, see struct mfa_store_fail). */
	int (*fail)(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		    int64_t now, struct mfa_store_fail *f);
	int (*lockout)(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		       int64_t until);
	/* Removes recovery hash i of t (once: -ESTALE when it is gone) and restarts the failure
	 * count, as a good code does. */
	int (*use_recovery)(struct mfa_storage *s, const char *user, const struct mfa_token *t,
			    unsigned i);
	/* Saves e, if the token is still t (status and generation): -ESTALE otherwise. */
	int (*claim)(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		     const struct mfa_store_enroll *e);
	/* Secret and recovery hashes removed, status reset, by, at. t may be NULL when the read
	 * failed (reset_blind backends only). flags: MFA_STORE_NOSYNC. */
	int (*reset)(struct mfa_storage *s, const char *user, const struct mfa_token *t,
		     const char *by, int64_t now, unsigned flags);
	/* Failures 0, no lockout. -ENOENT nothing to unlock. */
	int (*unlock)(struct mfa_storage *s, const char *user, const struct mfa_token *t);
	/* cb once per user with a token (no secret in the view), or with r < 0 and t NULL when
	 * that user's token cannot be read (corrupt, unsafe); a cb return < 0 stops. */
	int (*list)(struct mfa_storage *s,
		    int (*cb)(const char *user, int r, const struct mfa_token *t, void *userdata),
		    void *userdata);
	/* Makes the writes made with MFA_STORE_NOSYNC durable. */
	int (*sync)(struct mfa_storage *s);
	void (*close)(struct mfa_storage *s);
	/* Optional (NULL: none): the directory's words for the last failure; a new deadline. */
	const char *(*error)(const struct mfa_storage *s);
	void (*rearm)(struct mfa_storage *s);
	/* A reset replaces whatever is stored, read or not (a corrupt or unsafe state file
	 * too): files. The directory asserts what it read, so a reset needs a good read. */
	bool reset_blind;
};

struct mfa_storage {
	const struct mfa_store_ops *ops;
};

/* Who opens the store: the host (pam_totp.so) or the reset service (mfa-resetd, which
 * resets, unlocks and lists but never reads a secret). Only the ldap store tells them
 * apart (two identities). */
enum mfa_store_role {
	MFA_STORE_ROLE_HOST,
	MFA_STORE_ROLE_RESET,
};

/* Opens cfg->store. files: the state directory (-ENOENT missing, -EPERM/-ELOOP/-EACCES
 * unsafe); ldap: connects and binds (mfa_ldap_connect's returns, reterr says why). */
int mfa_store_open(const struct mfa_config *cfg, enum mfa_store_role role,
		   struct mfa_storage **ret, struct mfa_err *reterr);
int mfa_store_files_open(const char *state_dir, struct mfa_storage **ret);
/* The ldap store's entry point, in mfa_store_ldap.so: mfa_store_open loads that plugin from
 * MFA_LDAP_PLUGIN the first time a config says store = "ldap" (libldap and GnuTLS cost more to
 * load than a whole login on the file store, so no file-store login pays for them). */
typedef int mfa_store_ldap_open_fn(const struct mfa_config *cfg, enum mfa_store_role role,
				   struct mfa_storage **ret, struct mfa_err *reterr);
mfa_store_ldap_open_fn mfa_store_ldap_plugin_open;
/* Set by a program that links the ldap store itself (the tests' drivers); NULL otherwise. */
extern mfa_store_ldap_open_fn *mfa_store_ldap_builtin;
/* The callers' entry points to the read-only operations (the writes go through policy.h):
 * ops->load, ops->status, ops->list and ops->sync. */
int mfa_store_load(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		   struct mfa_err *reterr);
int mfa_store_status(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		     struct mfa_err *reterr);
int mfa_store_list(struct mfa_storage *s,
		   int (*cb)(const char *user, int r, const struct mfa_token *t, void *userdata),
		   void *userdata);
int mfa_store_sync(struct mfa_storage *s);
/* Closes and frees; accepts NULL. */
void mfa_store_close(struct mfa_storage *s);
static inline void mfa_store_closep(struct mfa_storage **s)
{
	mfa_store_close(*s);
	*s = NULL;
}

/* The ldap store's connection, for the caller's log line (the directory's own words) and a
 * fresh deadline after waiting on a person; "" and no-ops with the files store. */
const char *mfa_store_error(const struct mfa_storage *s);
void mfa_store_rearm(struct mfa_storage *s);
