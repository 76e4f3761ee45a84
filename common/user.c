/* User names (validation, file-name mapping), NSS group membership, and the policy decisions
 * "is this user enforced" and "may this actor reset that user". */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "user.h"

#define NSS_BUF_MAX (1024 * 1024)

int mfa_user_validate(const char *name)
{
	size_t len;

	if (!name || !*name || name[0] == '.' || name[0] == '-')
		return -EINVAL;
	len = strnlen(name, MFA_USER_NAME_MAX + 1);
	if (len > MFA_USER_NAME_MAX)
		return -EINVAL;
	for (; *name; name++) {
		unsigned char c = (unsigned char)*name;
		if (c == '/' || c <= ' ' || c == 0x7f)
			return -EINVAL;
	}
	return 0;
}

static bool plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
}

/* The percent-encoding of a valid name into buf; its length, or -ENOBUFS. */
static int percent_encode(const char *name, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *name; name++) {
		unsigned char c = (unsigned char)*name;
		if (n + 4 > size)
			return -ENOBUFS;
		if (plain_char(c)) {
			buf[n++] = (char)c;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 0xf];
		}
	}
	buf[n] = '\0';
	return (int)n;
}

int mfa_user_to_filename(const char *name, char *buf, size_t size)
{
	char enc[MFA_USER_FILE_MAX];
	unsigned char h[32];
	int n;

	if (mfa_user_validate(name) < 0)
		return -EINVAL;
	if ((n = percent_encode(name, enc, sizeof(enc))) < 0)
		return n;
	if ((size_t)n <= MFA_USER_FILE_PLAIN_MAX) {
		if ((size_t)n >= size)
			return -ENOBUFS;
		memcpy(buf, enc, (size_t)n + 1);
		return 0;
	}
	if (size < MFA_USER_FILE_HASH_LEN + 1)
		return -ENOBUFS;
	crypto_generichash(h, sizeof(h), (const unsigned char *)name, strlen(name), NULL, 0);
	memcpy(buf, MFA_USER_FILE_HASH_PREFIX, 2);
	sodium_bin2hex(buf + 2, size - 2, h, sizeof(h));
	return 0;
}

/* "%%" and 64 lower-case hex digits, as sodium_bin2hex() writes them. */
static bool is_hashed_filename(const char *fname)
{
	return strncmp(fname, MFA_USER_FILE_HASH_PREFIX, 2) == 0 &&
	       strlen(fname) == MFA_USER_FILE_HASH_LEN &&
	       strspn(fname + 2, "0123456789abcdef") == MFA_USER_FILE_HASH_LEN - 2;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mfa_user_from_filename(const char *fname, char *buf, size_t size)
{
	const char *orig = fname;
	size_t n = 0;
	char check[MFA_USER_FILE_MAX];

	if (is_hashed_filename(fname))
		return -EREMOTE;
	for (; *fname; fname++) {
		int c = (unsigned char)*fname;
		if (n + 1 >= size)
			return -ENOBUFS;
		if (c == '%') {
			int hi = hexval(fname[1]), lo = hi < 0 ? -1 : hexval(fname[2]);
			if (lo < 0)
				return -EINVAL;
			c = hi * 16 + lo;
			fname += 2;
		}
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	/* Only the canonical encoding names a user: "%41" or a raw '%' maps to nobody, nor does
	 * the plain encoding of a name that is kept under its hash. */
	if (mfa_user_to_filename(buf, check, sizeof(check)) < 0 || strcmp(check, orig) != 0)
		return -EINVAL;
	return 0;
}

int mfa_user_is_filename(const char *fname)
{
	char name[MFA_USER_NAME_MAX + 1];

	return is_hashed_filename(fname) || mfa_user_from_filename(fname, name, sizeof(name)) == 0;
}

/* getpwnam_r/getpwuid_r/getgrnam_r with a buffer grown on ERANGE. */
struct pwbuf {
	struct passwd pw;
	char *buf;
};

static void pwbuf_free(struct pwbuf *p)
{
	free(p->buf);
}

/* A too-small buffer is ERANGE from real NSS and -1 from nss_wrapper for large entries: both
 * mean "grow and retry", up to NSS_BUF_MAX. Returns the final getXXnam_r() status. */
static int nss_retry(int r, size_t *size)
{
	if ((r == ERANGE || r < 0) && *size < NSS_BUF_MAX) {
		*size *= 2;
		return 1;
	}
	return 0;
}

static int nss_result(int r, const void *res)
{
	if (r > 0)
		return -r;
	if (r < 0)
		return -EIO;
	return res ? 0 : -ENOENT;
}

static int lookup_pw(const char *name, uid_t uid, struct pwbuf *ret)
{
	size_t size = 1024;
	struct passwd *res = NULL;
	int r;

	do {
		free(ret->buf);
		if (!(ret->buf = malloc(size)))
			return -ENOMEM;
		r = name ? getpwnam_r(name, &ret->pw, ret->buf, size, &res)
			 : getpwuid_r(uid, &ret->pw, ret->buf, size, &res);
	} while (nss_retry(r, &size));
	return nss_result(r, res);
}

struct grbuf {
	struct group gr;
	char *buf;
};

static void grbuf_free(struct grbuf *g)
{
	free(g->buf);
}

static int lookup_gr(const char *name, struct grbuf *ret)
{
	size_t size = 1024;
	struct group *res = NULL;
	int r;

	do {
		free(ret->buf);
		if (!(ret->buf = malloc(size)))
			return -ENOMEM;
		r = getgrnam_r(name, &ret->gr, ret->buf, size, &res);
	} while (nss_retry(r, &size));
	return nss_result(r, res);
}

/* A user resolved once, with its gids looked up on first need (primary first). */
struct member {
	struct pwbuf pw;
	gid_t *gids;
	int n;
};

static void member_free(struct member *m)
{
	pwbuf_free(&m->pw);
	free(m->gids);
}

static int member_lookup(const char *name, struct member *m)
{
	return lookup_pw(name, 0, &m->pw);
}

static int member_gids(struct member *m)
{
	int n = 32;

	while (!m->gids) {
		gid_t *g = malloc(sizeof(gid_t) * (size_t)n);
		int want = n;
		if (!g)
			return -ENOMEM;
		if (getgrouplist(m->pw.pw.pw_name, m->pw.pw.pw_gid, g, &want) >= 0) {
			m->gids = g;
			m->n = want;
			break;
		}
		free(g);
		if (want <= n || want > 65536)
			return -EIO;
		n = want;
	}
	return 0;
}

/* 1 if m is in any of groups; groups that do not resolve have no members. */
static int member_of_any(struct member *m, const struct mfa_strlist *groups)
{
	int r;

	if (groups->n == 0)
		return 0;
	if ((r = member_gids(m)) < 0)
		return r;
	for (size_t i = 0; i < groups->n; i++) {
		_cleanup_(grbuf_free) struct grbuf gr = { .buf = NULL };
		r = lookup_gr(groups->v[i], &gr);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		for (int k = 0; k < m->n; k++)
			if (m->gids[k] == gr.gr.gr_gid)
				return 1;
	}
	return 0;
}

int mfa_user_in_groups(const char *name, const struct mfa_strlist *groups)
{
	_cleanup_(member_free) struct member m = { .pw.buf = NULL };
	int r;

	if ((r = member_lookup(name, &m)) < 0)
		return r;
	return member_of_any(&m, groups);
}

/* An unknown user is -ENOENT whatever the policy, so the module never enrolls (and never
 * writes a state file for) a name NSS does not know. */
int mfa_user_is_enforced(const struct mfa_config *cfg, const char *name)
{
	_cleanup_(member_free) struct member m = { .pw.buf = NULL };
	int r;

	if (mfa_user_validate(name) < 0)
		return -EINVAL;
	if ((r = member_lookup(name, &m)) < 0)
		return r;
	if (mfa_strlist_contains(&cfg->enforce.users, name))
		return 1;
	if (!cfg->enforce.all) {
		r = member_of_any(&m, &cfg->enforce.groups);
		if (r <= 0)
			return r;
	}
	r = member_of_any(&m, &cfg->enforce.exempt_groups);
	if (r < 0)
		return r;
	return r == 0;
}

static int copy_name(const struct pwbuf *pw, char *buf, size_t size)
{
	if (strlen(pw->pw.pw_name) >= size)
		return -ENOBUFS;
	strcpy(buf, pw->pw.pw_name);
	return 0;
}

int mfa_user_name_of(uid_t uid, char *buf, size_t size)
{
	_cleanup_(pwbuf_free) struct pwbuf pw = { .buf = NULL };
	int r;

	if ((r = lookup_pw(NULL, uid, &pw)) < 0)
		return r;
	return copy_name(&pw, buf, size);
}

int mfa_user_canonical(const char *name, char *buf, size_t size)
{
	_cleanup_(pwbuf_free) struct pwbuf pw = { .buf = NULL };
	int r;

	if (mfa_user_validate(name) < 0)
		return -EINVAL;
	if ((r = lookup_pw(name, 0, &pw)) < 0)
		return r;
	if (mfa_user_validate(pw.pw.pw_name) < 0)
		return -EINVAL;
	return copy_name(&pw, buf, size);
}

int mfa_user_is_admin(const struct mfa_config *cfg, uid_t actor_uid, const char *actor)
{
	if (actor_uid == 0)
		return 1;
	if (!actor)
		return 0;
	return mfa_user_in_groups(actor, &cfg->reset.admin_groups);
}

int mfa_user_may_reset(const struct mfa_config *cfg, uid_t actor_uid, const char *actor,
		       const char *target)
{
	char name[MFA_USER_NAME_MAX + 1];
	int r;

	if ((r = mfa_user_is_admin(cfg, actor_uid, actor)) < 0)
		return r;
	if (r == 0)
		return MFA_RESET_NOT_ADMIN;
	return mfa_user_may_reset_target(cfg, actor_uid, actor, target, name, sizeof(name));
}

/* 1 if only root may reset m: uid 0 under any name, a member of reset.admin_groups or of
 * reset.protected_groups. Admins are protected by default because otherwise one stolen admin
 * password would reset every other admin's second factor, and root's. */
static int is_protected(const struct mfa_config *cfg, struct member *m)
{
	int r;

	if (m->pw.pw.pw_uid == 0)
		return 1;
	r = member_of_any(m, &cfg->reset.admin_groups);
	if (r != 0)
		return r;
	return member_of_any(m, &cfg->reset.protected_groups);
}

/* The verdict for target m, whom NSS knows. Self comes first: with allow_self_reset an admin
 * may reset their own token (it gives no power over anyone else) although admins are
 * otherwise protected; a member of protected_groups still may not. */
static int target_verdict(const struct mfa_config *cfg, uid_t actor_uid, const char *actor,
			  const char *target, struct member *m)
{
	bool self;
	int r;

	if (actor_uid == 0)
		return MFA_RESET_ALLOWED;
	/* Themself by name, or through another name for the same uid. */
	self = (actor && strcmp(actor, target) == 0) || m->pw.pw.pw_uid == actor_uid;
	if (self && !cfg->reset.allow_self_reset)
		return MFA_RESET_SELF;
	r = self ? member_of_any(m, &cfg->reset.protected_groups) : is_protected(cfg, m);
	if (r < 0)
		return r;
	return r ? MFA_RESET_PROTECTED : MFA_RESET_ALLOWED;
}

int mfa_user_may_reset_target(const struct mfa_config *cfg, uid_t actor_uid, const char *actor,
			      const char *target, char *ret_name, size_t size)
{
	_cleanup_(member_free) struct member m = { .pw.buf = NULL };
	int r;

	if (mfa_user_validate(target) < 0)
		return MFA_RESET_INVALID_NAME;
	r = member_lookup(target, &m);
	if (r == -ENOENT)
		return MFA_RESET_UNKNOWN_USER;
	if (r < 0)
		return r;
	if (mfa_user_validate(m.pw.pw.pw_name) < 0)
		return MFA_RESET_INVALID_NAME;
	r = target_verdict(cfg, actor_uid, actor, target, &m);
	if (r == MFA_RESET_ALLOWED && (r = copy_name(&m.pw, ret_name, size)) == 0)
		return MFA_RESET_ALLOWED;
	return r;
}

const char *mfa_reset_verdict_to_string(enum mfa_reset_verdict v)
{
	switch (v) {
	case MFA_RESET_ALLOWED:
		return "allowed";
	case MFA_RESET_NOT_ADMIN:
		return "not-authorized";
	case MFA_RESET_SELF:
		return "self-reset";
	case MFA_RESET_PROTECTED:
		return "protected";
	case MFA_RESET_INVALID_NAME:
		return "invalid-name";
	case MFA_RESET_UNKNOWN_USER:
		return "unknown-user";
	}
	return "unknown";
}

/* One pass over every user, adding those whose primary group is gid. 1 when an entry did not
 * fit buf: glibc would return it again, but nss_wrapper moves past it, so the caller restarts
 * the whole pass with a larger buffer (names already added are not added twice). */
static int primary_pass(gid_t gid, char *buf, size_t size, struct mfa_strlist *l)
{
	struct passwd pw, *res;
	int r = 0, e;

	setpwent();
	while (r == 0) {
		e = getpwent_r(&pw, buf, size, &res);
		if (e == ERANGE || (e < 0 && size < NSS_BUF_MAX)) {
			r = 1;
		} else if (e == ENOENT || (e == 0 && !res)) {
			break;
		} else if (e != 0) {
			r = e > 0 ? -e : -EIO;
		} else if (pw.pw_gid == gid) {
			r = mfa_strlist_add(l, pw.pw_name, true);
		}
	}
	endpwent();
	return r;
}

static int add_primary_members(gid_t gid, struct mfa_strlist *l)
{
	size_t size = 4096;
	int r;

	do {
		_cleanup_free_ char *buf = malloc(size);
		if (!buf)
			return -ENOMEM;
		r = primary_pass(gid, buf, size, l);
	} while (r == 1 && (size *= 2) <= NSS_BUF_MAX);
	return r == 1 ? -ERANGE : r;
}

int mfa_user_group_members(const char *group, struct mfa_strlist *ret)
{
	_cleanup_(grbuf_free) struct grbuf gr = { .buf = NULL };
	struct mfa_strlist l = { NULL, 0 };
	int r;

	if ((r = lookup_gr(group, &gr)) < 0)
		return r;
	for (char **m = gr.gr.gr_mem; m && *m && r == 0; m++)
		r = mfa_strlist_add(&l, *m, true);
	if (r == 0)
		r = add_primary_members(gr.gr.gr_gid, &l);
	if (r < 0) {
		mfa_strlist_free(&l);
		return r;
	}
	*ret = l;
	return 0;
}
