/* User names (validation, file-name mapping), NSS groups and the two policy decisions both
 * sides need: is this user enforced, may this actor reset that user. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Linux's LOGIN_NAME_MAX less the NUL: any name NSS can hand a login (a directory user may have
 * a long non-ASCII name; its file name is then a hash, see mfa_user_to_filename). */
#define MFA_USER_NAME_MAX 255
/* Buffer size for a user's file name, with NUL (see mfa_user_to_filename). */
#define MFA_USER_FILE_MAX (3 * MFA_USER_NAME_MAX + 1)
/* The longest percent-encoding kept as the file name: with the temp prefix and suffix of
 * earlier versions (".tmp-" NAME "-" 12 hex digits) it fits NAME_MAX (255), so every state
 * file ever written is still found under it. */
#define MFA_USER_FILE_PLAIN_MAX (255 - 5 - 1 - 12)
/* The file name of longer names: this prefix, which no percent-encoding contains ('%' always
 * starts an escape of two hex digits), then the hex BLAKE2b-256 of the name. */
#define MFA_USER_FILE_HASH_PREFIX "%%"
#define MFA_USER_FILE_HASH_LEN (2 + 64)

/* 0 if name may be a user name here, -EINVAL otherwise: empty, longer than
 * MFA_USER_NAME_MAX, containing '/', whitespace, control characters or DEL, or starting with
 * '.' or '-'. '@' and '\' (directory users) are allowed. */
int mfa_user_validate(const char *name);

/* Injective name -> file name: bytes outside [A-Za-z0-9._@+-] become %XX, '%' included
 * ("DOM\\bob" -> "DOM%5Cbob"). An encoding longer than MFA_USER_FILE_PLAIN_MAX (e.g. 64
 * Cyrillic letters: 128 bytes, 384 encoded) is replaced by "%%" and the hex BLAKE2b-256 of
 * the name, which no short name's encoding can equal. -EINVAL invalid name, -ENOBUFS buffer
 * too small. */
int mfa_user_to_filename(const char *name, char *buf, size_t size);
/* The inverse; -EINVAL for names that no user maps to (".lock", ".tmp-x", bad escapes),
 * -EREMOTE for a well-formed hashed name: the user is named inside that file only. */
int mfa_user_from_filename(const char *fname, char *buf, size_t size);
/* 1 if fname is what mfa_user_to_filename() gives for some user (hashed form included),
 * else 0. */
int mfa_user_is_filename(const char *fname);

/* 1 if the user is a member (primary or supplementary, via getpwnam_r + getgrouplist) of any
 * group in groups, 0 if not, -ENOENT unknown user, other < 0 lookup failure. Group names that
 * do not resolve are skipped. */
int mfa_user_in_groups(const char *name, const struct mfa_strlist *groups);

/* 1 enforced, 0 not, -ENOENT unknown to NSS (whatever the policy: nothing is enrolled for a
 * name NSS does not know), other < 0 cannot tell (the caller fails closed).
 * enforced = named in enforce.users, or (enforce.all or member of enforce.groups) and not a
 * member of enforce.exempt_groups. Naming a user explicitly beats an exemption. */
int mfa_user_is_enforced(const struct mfa_config *cfg, const char *name);

/* The name of uid through NSS into buf. -ENOENT unknown uid. */
int mfa_user_name_of(uid_t uid, char *buf, size_t size);

/* The name NSS gives the user called name (pw_name of getpwnam(name)) into buf. It differs
 * from name where NSS matches aliases: case-insensitively (sssd's AD provider by default),
 * with or without a domain part. Everything kept per user is kept under this name, so one
 * account has one token whatever spelling logs in. -ENOENT unknown, -EINVAL when name or
 * NSS's name is not a valid user name, -ENOBUFS buf too small. */
int mfa_user_canonical(const char *name, char *buf, size_t size);

enum mfa_reset_verdict {
	MFA_RESET_ALLOWED,
	MFA_RESET_NOT_ADMIN,    /* actor in no reset.admin_groups (and not root) */
	MFA_RESET_SELF,         /* non-root admin resetting themself, allow_self_reset off */
	MFA_RESET_PROTECTED,    /* target is uid 0, or in reset.admin_groups or
				 * reset.protected_groups, and the actor is not root */
	MFA_RESET_INVALID_NAME, /* target fails mfa_user_validate() */
	MFA_RESET_UNKNOWN_USER, /* target unknown to NSS */
};

/* 1 if actor (uid and its NSS name) may administer resets: root, or a *current* member of
 * any reset.admin_groups. 0 no, < 0 cannot tell. */
int mfa_user_is_admin(const struct mfa_config *cfg, uid_t actor_uid, const char *actor);

/* The verdict for actor resetting (or unlocking) target, admin check included; < 0 when a
 * lookup failed (refuse). */
int mfa_user_may_reset(const struct mfa_config *cfg, uid_t actor_uid, const char *actor,
		       const char *target);
/* The same for an actor already found to be an administrator (mfa_user_is_admin) in this
 * request: the target checks only, so a bulk request looks the actor up once, not per target.
 * When allowed, ret_name (size >= MFA_USER_NAME_MAX + 1) holds NSS's own name for the target
 * (see mfa_user_canonical), the name whose state is to be changed. */
int mfa_user_may_reset_target(const struct mfa_config *cfg, uid_t actor_uid, const char *actor,
			      const char *target, char *ret_name, size_t size);
const char *mfa_reset_verdict_to_string(enum mfa_reset_verdict v);

/* Members of group: its member list plus users whose primary group it is (getpwent).
 * -ENOENT unknown group. *ret owns the names; free with mfa_strlist_free(). */
int mfa_user_group_members(const char *group, struct mfa_strlist *ret);
