/* The config keys of the ldap store: `store = "files" | "ldap"` and the `ldap = { ... }`
 * group. Parsed here and removed from the tree before config.c's table sees the root, so
 * config.c carries only the hook; the same strictness: unknown keys, wrong types and
 * out-of-range values are errors that name the line. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "config.h"

#define DEFAULT_URI "ldapi:///"
#define DEFAULT_PASSWORD_FILE "/etc/pam_totp.ldap-password"
#define DEFAULT_RESET_PASSWORD_FILE "/etc/pam_totp.ldap-reset-password"
#define DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define DEFAULT_PERSON_FILTER "(&(objectClass=posixAccount)(uid=%s))"

enum lkind { L_STR, L_PATH, L_PATH_OR_EMPTY, L_FILTER, L_BIND, L_MS, L_BOOL };

struct lkey {
	const char *name;
	enum lkind kind;
	size_t off; /* into struct mfa_config_ldap */
};

#define LOFF(f) offsetof(struct mfa_config_ldap, f)

static const struct lkey ldap_keys[] = {
	{ "uri", L_STR, LOFF(uri) },
	{ "bind", L_BIND, LOFF(bind) },
	{ "bind_dn", L_STR, LOFF(bind_dn) },
	{ "bind_password_file", L_PATH, LOFF(bind_password_file) },
	{ "ca_file", L_PATH, LOFF(ca_file) },
	{ "cert_file", L_PATH_OR_EMPTY, LOFF(cert_file) },
	{ "key_file", L_PATH_OR_EMPTY, LOFF(key_file) },
	{ "person_base", L_STR, LOFF(person_base) },
	{ "person_filter", L_FILTER, LOFF(person_filter) },
	{ "token_base", L_STR, LOFF(token_base) },
	{ "timeout_ms", L_MS, LOFF(timeout_ms) },
	{ "allow_plain_simple_bind", L_BOOL, LOFF(allow_plain_simple_bind) },
	{ "reset_bind", L_BIND, LOFF(reset_bind) },
	{ "reset_bind_dn", L_STR, LOFF(reset_bind_dn) },
	{ "reset_bind_password_file", L_PATH, LOFF(reset_bind_password_file) },
	{ "reset_cert_file", L_PATH_OR_EMPTY, LOFF(reset_cert_file) },
	{ "reset_key_file", L_PATH_OR_EMPTY, LOFF(reset_key_file) },
	{ NULL, 0, 0 },
};

static int fail(const config_setting_t *s, const char *key, const char *what,
		struct mfa_err *reterr)
{
	return mfa_err_set(reterr, -EINVAL, config_setting_source_line(s), "%s: %s", key, what);
}

static int dup_into(char **dst, const char *v)
{
	char *n = strdup(v);

	if (!n)
		return -ENOMEM;
	free(*dst);
	*dst = n;
	return 0;
}

int mfa_config_ldap_defaults(struct mfa_config *cfg)
{
	struct mfa_config_ldap *l = &cfg->ldap;

	cfg->store = MFA_STORE_FILES;
	l->bind = MFA_LDAP_BIND_SASL_EXTERNAL;
	l->reset_bind = MFA_LDAP_BIND_SASL_EXTERNAL;
	l->timeout_ms = 3000;
	l->allow_plain_simple_bind = false;
	if (dup_into(&l->uri, DEFAULT_URI) < 0 || dup_into(&l->bind_dn, "") < 0 ||
	    dup_into(&l->bind_password_file, DEFAULT_PASSWORD_FILE) < 0 ||
	    dup_into(&l->ca_file, DEFAULT_CA_FILE) < 0 || dup_into(&l->cert_file, "") < 0 ||
	    dup_into(&l->key_file, "") < 0 || dup_into(&l->person_base, "") < 0 ||
	    dup_into(&l->person_filter, DEFAULT_PERSON_FILTER) < 0 ||
	    dup_into(&l->token_base, "") < 0 || dup_into(&l->reset_bind_dn, "") < 0 ||
	    dup_into(&l->reset_bind_password_file, DEFAULT_RESET_PASSWORD_FILE) < 0 ||
	    dup_into(&l->reset_cert_file, "") < 0 || dup_into(&l->reset_key_file, "") < 0)
		return -ENOMEM;
	return 0;
}

void mfa_config_ldap_free(struct mfa_config *cfg)
{
	struct mfa_config_ldap *l = &cfg->ldap;

	free(l->uri);
	free(l->bind_dn);
	free(l->bind_password_file);
	free(l->ca_file);
	free(l->cert_file);
	free(l->key_file);
	free(l->person_base);
	free(l->person_filter);
	free(l->token_base);
	free(l->reset_bind_dn);
	free(l->reset_bind_password_file);
	free(l->reset_cert_file);
	free(l->reset_key_file);
	memset(l, 0, sizeof(*l));
}

/* A filter with exactly one %s and no other %: the escaped name goes there. */
static bool filter_ok(const char *v)
{
	const char *p = strchr(v, '%');

	return v[0] == '(' && p && p[1] == 's' && !strchr(p + 2, '%');
}

static int check_string(const struct lkey *k, const char *v)
{
	size_t len = strlen(v);

	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -EINVAL;
	if (len >= 1024)
		return -EINVAL;
	if ((k->kind == L_PATH || (k->kind == L_PATH_OR_EMPTY && len > 0)) && v[0] != '/')
		return -EINVAL;
	if (k->kind == L_FILTER && !filter_ok(v))
		return -EINVAL;
	return 0;
}

static int apply_ldap_key(const config_setting_t *s, const struct lkey *k,
			  struct mfa_config_ldap *l, const char *path, struct mfa_err *reterr)
{
	const char *v = config_setting_get_string(s);
	void *dst = (char *)l + k->off;
	long long n;

	switch (k->kind) {
	case L_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return fail(s, path, "must be true or false", reterr);
		*(bool *)dst = config_setting_get_bool(s);
		return 0;
	case L_MS:
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64)
			return fail(s, path, "must be an integer", reterr);
		n = config_setting_get_int64(s); /* libconfig widens a plain int */
		if (n < 100 || n > 60000)
			return fail(s, path, "must be 100 to 60000", reterr);
		*(unsigned *)dst = (unsigned)n;
		return 0;
	case L_BIND:
		if (!v || config_setting_type(s) != CONFIG_TYPE_STRING ||
		    (strcmp(v, "sasl_external") != 0 && strcmp(v, "simple") != 0))
			return fail(s, path, "must be \"sasl_external\" or \"simple\"", reterr);
		*(enum mfa_ldap_bind *)dst = v[0] == 's' && v[1] == 'a'
						     ? MFA_LDAP_BIND_SASL_EXTERNAL
						     : MFA_LDAP_BIND_SIMPLE;
		return 0;
	default:
		if (!v || config_setting_type(s) != CONFIG_TYPE_STRING)
			return fail(s, path, "must be a string", reterr);
		if (check_string(k, v) < 0)
			return fail(s, path,
				    k->kind == L_FILTER ? "must be a filter with one %s"
				    : k->kind == L_STR  ? "must be printable, under 1024 bytes"
							: "must be an absolute path",
				    reterr);
		return dup_into((char **)dst, v);
	}
}

static int apply_ldap(const config_setting_t *g, struct mfa_config_ldap *l,
		      struct mfa_err *reterr)
{
	int n = config_setting_length(g), r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return fail(g, "ldap", "must be a group { ... }", reterr);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct lkey *k = ldap_keys;
		char path[64];

		snprintf(path, sizeof(path), "ldap.%s", name ? name : "?");
		while (k->name && (!name || strcmp(k->name, name) != 0))
			k++;
		if (!k->name)
			return fail(s, path, "unknown key", reterr);
		if ((r = apply_ldap_key(s, k, l, path, reterr)) < 0)
			return r;
	}
	return 0;
}

static int apply_store(const config_setting_t *s, struct mfa_config *cfg, struct mfa_err *reterr)
{
	const char *v = config_setting_get_string(s);

	if (config_setting_type(s) != CONFIG_TYPE_STRING || !v ||
	    (strcmp(v, "files") != 0 && strcmp(v, "ldap") != 0))
		return fail(s, "store", "must be \"files\" or \"ldap\"", reterr);
	cfg->store = strcmp(v, "ldap") == 0 ? MFA_STORE_LDAP : MFA_STORE_FILES;
	return 0;
}

/* What store = "ldap" cannot work without; checked once the whole group is read. */
static int check_complete(const config_setting_t *g, const struct mfa_config *cfg,
			  struct mfa_err *reterr)
{
	const struct mfa_config_ldap *l = &cfg->ldap;
	unsigned line = g ? (unsigned)config_setting_source_line(g) : 0;

	if (cfg->store != MFA_STORE_LDAP)
		return 0;
	if (!l->person_base[0] || !l->token_base[0])
		return mfa_err_set(reterr, -EINVAL, line,
				   "ldap: person_base and token_base are required with store = "
				   "\"ldap\"");
	if (l->bind == MFA_LDAP_BIND_SIMPLE && !l->bind_dn[0])
		return mfa_err_set(reterr, -EINVAL, line,
				   "ldap.bind_dn: required with bind = \"simple\"");
	if (!l->cert_file[0] != !l->key_file[0])
		return mfa_err_set(reterr, -EINVAL, line,
				   "ldap: cert_file and key_file go together");
	if (l->reset_bind == MFA_LDAP_BIND_SIMPLE && !l->reset_bind_dn[0])
		return mfa_err_set(reterr, -EINVAL, line,
				   "ldap.reset_bind_dn: required with reset_bind = \"simple\"");
	if (!l->reset_cert_file[0] != !l->reset_key_file[0])
		return mfa_err_set(reterr, -EINVAL, line,
				   "ldap: reset_cert_file and reset_key_file go together");
	return 0;
}

int mfa_config_ldap_take(struct config_t *lc, struct mfa_config *cfg, struct mfa_err *reterr)
{
	config_setting_t *root = config_root_setting(lc);
	config_setting_t *store = config_setting_get_member(root, "store");
	config_setting_t *group = config_setting_get_member(root, "ldap");
	int r;

	if (store && (r = apply_store(store, cfg, reterr)) < 0)
		return r;
	if (group && (r = apply_ldap(group, &cfg->ldap, reterr)) < 0)
		return r;
	if ((r = check_complete(group, cfg, reterr)) < 0)
		return r;
	if (store)
		config_setting_remove(root, "store");
	if (group)
		config_setting_remove(root, "ldap");
	return 0;
}
