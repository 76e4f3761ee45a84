/* /etc/pam_totp.conf: one strict libconfig loader shared by the module, daemon and client.
 * Unknown keys, wrong types and out-of-range values are errors naming the line and the key;
 * nothing is ever logged-and-defaulted. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "config.h"
#include "conftext.h"
#include "fsutil.h"
#include "secret.h"
#include "user.h"

static void config_destroyp(config_t *c)
{
	config_destroy(c);
}

const char *mfa_algo_to_string(enum mfa_algo a)
{
	switch (a) {
	case MFA_ALGO_SHA256:
		return "SHA256";
	case MFA_ALGO_SHA512:
		return "SHA512";
	case MFA_ALGO_SHA1:
	default:
		return "SHA1";
	}
}

int mfa_algo_from_string(const char *s, enum mfa_algo *ret_algo)
{
	if (strcmp(s, "SHA1") == 0)
		*ret_algo = MFA_ALGO_SHA1;
	else if (strcmp(s, "SHA256") == 0)
		*ret_algo = MFA_ALGO_SHA256;
	else if (strcmp(s, "SHA512") == 0)
		*ret_algo = MFA_ALGO_SHA512;
	else
		return -EINVAL;
	return 0;
}

int mfa_strlist_contains(const struct mfa_strlist *list, const char *name)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->v[i], name) == 0)
			return 1;
	return 0;
}

void mfa_strlist_free(struct mfa_strlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int mfa_strlist_add(struct mfa_strlist *l, const char *name, bool unique)
{
	char **v;

	if (unique && mfa_strlist_contains(l, name))
		return 0;
	v = realloc(l->v, sizeof(char *) * (l->n + 1));
	if (!v)
		return -ENOMEM;
	l->v = v;
	if (!(l->v[l->n] = strdup(name)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static int strlist_set1(struct mfa_strlist *l, const char *s)
{
	mfa_strlist_free(l);
	return mfa_strlist_add(l, s, false);
}

void mfa_config_free(struct mfa_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->issuer);
	free(cfg->state_dir);
	free(cfg->reset.socket);
	mfa_strlist_free(&cfg->enforce.users);
	mfa_strlist_free(&cfg->enforce.groups);
	mfa_strlist_free(&cfg->enforce.exempt_groups);
	mfa_strlist_free(&cfg->reset.admin_groups);
	mfa_strlist_free(&cfg->reset.protected_groups);
	mfa_config_ldap_free(cfg);
	memset(cfg, 0, sizeof(*cfg));
}

int mfa_config_defaults(struct mfa_config *cfg)
{
	char host[HOST_NAME_MAX + 1] = "";

	memset(cfg, 0, sizeof(*cfg));
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		strcpy(host, "localhost");
	cfg->totp.algorithm = MFA_ALGO_SHA1;
	cfg->totp.digits = 6;
	cfg->totp.period = 30;
	cfg->totp.window = 1;
	cfg->enrollment.allow = true;
	cfg->enrollment.qr = true;
	cfg->enrollment.recovery_codes = 5;
	cfg->lockout.max_failures = 5;
	cfg->lockout.lock_seconds = 300;
	if (!(cfg->issuer = strdup(host)) ||
	    !(cfg->state_dir = strdup(MFA_CONFIG_DEFAULT_STATE_DIR)) ||
	    !(cfg->reset.socket = strdup(MFA_CONFIG_DEFAULT_SOCKET)) ||
	    strlist_set1(&cfg->enforce.groups, "mfa-users") < 0 ||
	    strlist_set1(&cfg->reset.admin_groups, "mfa-admins") < 0 ||
	    mfa_config_ldap_defaults(cfg) < 0) {
		mfa_config_free(cfg);
		return -ENOMEM;
	}
	return 0;
}

enum kind { K_STR, K_PATH, K_BOOL, K_UINT, K_INT64, K_GROUPS, K_USERS, K_ALGO, K_SECTION };

struct key {
	const char *name;
	enum kind kind;
	size_t off; /* into struct mfa_config */
	long long min, max;
	const struct key *children; /* K_SECTION, NULL-name terminated */
};

#define OFF(f) offsetof(struct mfa_config, f)

static const struct key totp_keys[] = {
	{ "algorithm", K_ALGO, OFF(totp.algorithm), 0, 0, NULL },
	{ "digits", K_UINT, OFF(totp.digits), 6, 8, NULL },
	{ "period", K_UINT, OFF(totp.period), 10, 300, NULL },
	{ "window", K_UINT, OFF(totp.window), 0, 10, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};
static const struct key enforce_keys[] = {
	{ "all", K_BOOL, OFF(enforce.all), 0, 0, NULL },
	{ "users", K_USERS, OFF(enforce.users), 0, 0, NULL },
	{ "groups", K_GROUPS, OFF(enforce.groups), 0, 0, NULL },
	{ "exempt_groups", K_GROUPS, OFF(enforce.exempt_groups), 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};
static const struct key enrollment_keys[] = {
	{ "allow", K_BOOL, OFF(enrollment.allow), 0, 0, NULL },
	{ "qr", K_BOOL, OFF(enrollment.qr), 0, 0, NULL },
	{ "recovery_codes", K_UINT, OFF(enrollment.recovery_codes), 0, MFA_RECOVERY_MAX, NULL },
	{ "reset_expires", K_INT64, OFF(enrollment.reset_expires), 0, 10LL * 366 * 86400, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};
static const struct key lockout_keys[] = {
	{ "max_failures", K_UINT, OFF(lockout.max_failures), 0, 1000, NULL },
	{ "lock_seconds", K_UINT, OFF(lockout.lock_seconds), 1, 7 * 86400, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};
static const struct key reset_keys[] = {
	{ "admin_groups", K_GROUPS, OFF(reset.admin_groups), 0, 0, NULL },
	{ "socket", K_PATH, OFF(reset.socket), 0, 0, NULL },
	{ "allow_self_reset", K_BOOL, OFF(reset.allow_self_reset), 0, 0, NULL },
	{ "protected_groups", K_GROUPS, OFF(reset.protected_groups), 0, 0, NULL },
	{ NULL, 0, 0, 0, 0, NULL },
};
static const struct key root_keys[] = {
	{ "issuer", K_STR, OFF(issuer), 1, 64, NULL },
	{ "state_dir", K_PATH, OFF(state_dir), 0, 0, NULL },
	{ "totp", K_SECTION, 0, 0, 0, totp_keys },
	{ "enforce", K_SECTION, 0, 0, 0, enforce_keys },
	{ "enrollment", K_SECTION, 0, 0, 0, enrollment_keys },
	{ "lockout", K_SECTION, 0, 0, 0, lockout_keys },
	{ "reset", K_SECTION, 0, 0, 0, reset_keys },
	{ NULL, 0, 0, 0, 0, NULL },
};

struct ctx {
	struct mfa_config *cfg;
	struct mfa_err *err;
	char path[96]; /* dotted key for messages */
};

static int fail(struct ctx *c, const config_setting_t *s, const char *what)
{
	return mfa_err_set(c->err, -EINVAL, config_setting_source_line(s), "%s: %s", c->path,
			   what);
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int set_string(struct ctx *c, const config_setting_t *s, const struct key *k)
{
	const char *v = config_setting_get_string(s);
	char **dst = (char **)((char *)c->cfg + k->off);
	size_t len;

	if (config_setting_type(s) != CONFIG_TYPE_STRING || !v)
		return fail(c, s, "must be a string");
	len = strlen(v);
	if (k->kind == K_PATH && (v[0] != '/' || len >= PATH_MAX))
		return fail(c, s, "must be an absolute path");
	if (k->kind == K_STR && ((long long)len < k->min || (long long)len > k->max))
		return fail(c, s, "must be 1 to 64 characters");
	if (!printable(v))
		return fail(c, s, "must not contain control characters");
	free(*dst);
	if (!(*dst = strdup(v)))
		return -ENOMEM;
	return 0;
}

static int get_integer(struct ctx *c, const config_setting_t *s, const struct key *k,
		       long long *ret)
{
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_INT)
		*ret = config_setting_get_int(s);
	else if (t == CONFIG_TYPE_INT64)
		*ret = config_setting_get_int64(s);
	else
		return fail(c, s, "must be an integer");
	if (*ret < k->min || *ret > k->max) {
		char msg[80];
		snprintf(msg, sizeof(msg), "must be %lld to %lld", k->min, k->max);
		return fail(c, s, msg);
	}
	return 0;
}

static int set_list(struct ctx *c, const config_setting_t *s, const struct key *k)
{
	struct mfa_strlist *dst = (struct mfa_strlist *)(void *)((char *)c->cfg + k->off);
	int n, i;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return fail(c, s, "must be a list of strings, e.g. [ \"name\" ]");
	n = config_setting_length(s);
	mfa_strlist_free(dst);
	if (n > 0 && !(dst->v = calloc((size_t)n, sizeof(char *))))
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (config_setting_type(e) != CONFIG_TYPE_STRING || !v)
			return fail(c, s, "must be a list of strings");
		if (mfa_user_validate(v) < 0)
			return fail(c, s, k->kind == K_USERS ? "invalid user name"
							     : "invalid group name");
		if (!(dst->v[i] = strdup(v)))
			return -ENOMEM;
		dst->n++;
	}
	return 0;
}

static int apply_section(struct ctx *c, const config_setting_t *sect, const struct key *keys);

static int apply_key(struct ctx *c, const config_setting_t *s, const struct key *k)
{
	long long v = 0;
	int r, t = config_setting_type(s);

	switch (k->kind) {
	case K_STR:
	case K_PATH:
		return set_string(c, s, k);
	case K_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			return fail(c, s, "must be true or false");
		*(bool *)((char *)c->cfg + k->off) = config_setting_get_bool(s);
		return 0;
	case K_UINT:
	case K_INT64:
		if ((r = get_integer(c, s, k, &v)) < 0)
			return r;
		if (k->kind == K_UINT)
			*(unsigned *)(void *)((char *)c->cfg + k->off) = (unsigned)v;
		else
			*(int64_t *)(void *)((char *)c->cfg + k->off) = v;
		return 0;
	case K_ALGO:
		if (t != CONFIG_TYPE_STRING ||
		    mfa_algo_from_string(config_setting_get_string(s),
					 (enum mfa_algo *)(void *)((char *)c->cfg + k->off)) < 0)
			return fail(c, s, "must be \"SHA1\", \"SHA256\" or \"SHA512\"");
		return 0;
	case K_GROUPS:
	case K_USERS:
		return set_list(c, s, k);
	case K_SECTION:
		if (t != CONFIG_TYPE_GROUP)
			return fail(c, s, "must be a group { ... }");
		return apply_section(c, s, k->children);
	}
	return -EINVAL;
}

static int apply_section(struct ctx *c, const config_setting_t *sect, const struct key *keys)
{
	size_t base = strlen(c->path);
	int n = config_setting_length(sect), r;

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(sect, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct key *k = keys;

		snprintf(c->path + base, sizeof(c->path) - base, "%s%s", base ? "." : "",
			 name ? name : "?");
		while (k->name && (!name || strcmp(k->name, name) != 0))
			k++;
		if (!k->name)
			return fail(c, s, "unknown key");
		if ((r = apply_key(c, s, k)) < 0)
			return r;
		c->path[base] = '\0';
	}
	return 0;
}

/* The 1-based line of the first line whose first non-blank byte is '@', 0 when none. This is
 * wider than libconfig's own include rule (a directive at the start of a line), so no spelling
 * of @include gets through; '@' cannot start a line of valid syntax otherwise (names and
 * values start with letters, digits, quotes or brackets). */
static unsigned directive_line(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	unsigned line = 1;

	/* line by line (memchr): it runs on the whole file at every login */
	for (; p < end; line++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' || *p == '\v'))
			p++;
		if (p < end && *p == '@' && (!eol || p < eol))
			return line;
		if (!eol)
			break;
		p = eol + 1;
	}
	return 0;
}

int mfa_libconfig_read(struct config_t *lc, const char *text, size_t len, int r,
		       struct mfa_err *reterr)
{
	unsigned line;

	if ((line = mfa_fs_nul_line(text, len)) != 0)
		return mfa_err_set(reterr, r, line, "NUL byte in the file");
	if ((line = directive_line(text, len)) != 0)
		return mfa_err_set(reterr, r, line,
				   "@include and other directives are not allowed");
	if (config_read_string(lc, text) != CONFIG_TRUE)
		return mfa_err_set(reterr, r, (unsigned)config_error_line(lc), "%s",
				   config_error_text(lc) ? config_error_text(lc) : "syntax error");
	return 0;
}

int mfa_config_parse_n(const char *text, size_t len, struct mfa_config *ret_cfg,
		       struct mfa_err *reterr)
{
	_cleanup_(config_destroyp) config_t lc;
	_cleanup_free_ char *compact = NULL;
	struct mfa_config cfg;
	struct ctx c = { .cfg = &cfg, .err = reterr };
	unsigned line;
	size_t clen;
	int r;

	config_init(&lc);
	/* on the file as it is: a NUL or an '@' line in a comment is still an error (compaction
	 * drops it; pam_totp.conf(5) refuses both anywhere); mfa_libconfig_read() checks the
	 * compact text too, where a block comment before '@' has become a blank */
	if ((line = mfa_fs_nul_line(text, len)) != 0)
		return mfa_err_set(reterr, -EINVAL, line, "NUL byte in the file");
	if ((line = directive_line(text, len)) != 0)
		return mfa_err_set(reterr, -EINVAL, line,
				   "@include and other directives are not allowed");
	if (!(compact = malloc(len + 1)))
		return -ENOMEM;
	clen = mfa_config_compact(text, len, compact); /* conftext.c says why */
	if ((r = mfa_config_defaults(&cfg)) < 0)
		return r;
	if ((r = mfa_libconfig_read(&lc, compact, clen, -EINVAL, reterr)) < 0 ||
	    (r = mfa_config_ldap_take(&lc, &cfg, reterr)) < 0 ||
	    (r = apply_section(&c, config_root_setting(&lc), root_keys)) < 0) {
		mfa_config_free(&cfg);
		return r;
	}
	*ret_cfg = cfg;
	return 0;
}

int mfa_config_parse(const char *text, struct mfa_config *ret_cfg, struct mfa_err *reterr)
{
	return mfa_config_parse_n(text, strlen(text), ret_cfg, reterr);
}

int mfa_config_load(const char *path, struct mfa_config *ret_cfg, struct mfa_err *reterr)
{
	/* O_NONBLOCK: a FIFO (or a device) is refused by the check below, never waited on */
	_cleanup_close_ int fd =
		open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *text = NULL;
	unsigned line;
	size_t len, size;
	int r;

	if (fd < 0)
		return mfa_err_set(reterr, -errno, 0, "cannot open: %m");
	if ((r = mfa_fs_check_fd(fd, false, false)) < 0)
		return mfa_err_set(reterr, r, 0, "unsafe file (owner, mode or type)");
	/* a file of MFA_CONFIG_MAX_SIZE bytes is allowed (pam_totp.conf(5): at most 64 KiB) */
	if ((r = mfa_fs_text_buffer_size(fd, MFA_CONFIG_MAX_SIZE, &size)) < 0)
		return mfa_err_set(reterr, r, 0, "cannot read whole: %s",
				   r == -EFBIG ? "file too large" : "read error");
	if (!(text = malloc(size)))
		return -ENOMEM;
	r = mfa_fs_read_text(fd, text, size, &len, &line);
	if (r == -EBADMSG)
		return mfa_err_set(reterr, -EINVAL, line, "NUL byte in the file");
	/* more bytes than fstat said (at most 64 KiB): the file grew while read, or its size
	 * is not its length (/proc) */
	if (r == -EFBIG || r == -EIO)
		return mfa_err_set(reterr, -EIO, 0,
				   "cannot read whole: changed while read, or I/O error");
	if (r < 0)
		return mfa_err_set(reterr, r, 0, "cannot read whole: read error");
	return mfa_config_parse_n(text, len, ret_cfg, reterr);
}
