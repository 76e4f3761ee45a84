/* What both backends share: the view's destructor and the choice of backend. */
#include <dlfcn.h>
#include <errno.h>

#include <sodium.h>

#include "mfa-build.h"
#include "store.h"

mfa_store_ldap_open_fn *mfa_store_ldap_builtin;

void mfa_token_clear(struct mfa_token *t)
{
	if (!t)
		return;
	if (t->secret)
		(t->free_secret ? t->free_secret : mfa_secret_free)(t->secret);
	if (t->priv && t->free_priv)
		t->free_priv(t->priv);
	/* the hashes are not secrets, but a view of a token is wiped like one */
	sodium_memzero(t, sizeof(*t));
}

/* The ldap store's entry point: built in, or from the plugin, loaded once with RTLD_LOCAL (its
 * symbols never meet the host's) and kept for the life of the process. */
static mfa_store_ldap_open_fn *ldap_entry(struct mfa_err *reterr)
{
	static mfa_store_ldap_open_fn *entry;
	void *h;

	if (mfa_store_ldap_builtin)
		return mfa_store_ldap_builtin;
	if (entry)
		return entry;
	h = dlopen(MFA_LDAP_PLUGIN, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		mfa_err_set(reterr, -ELIBACC, 0, "cannot load the ldap store: %s", dlerror());
		return NULL;
	}
	entry = (mfa_store_ldap_open_fn *)dlsym(h, "mfa_store_ldap_plugin_open");
	if (!entry) {
		mfa_err_set(reterr, -ELIBBAD, 0, "%s: no ldap store entry point", MFA_LDAP_PLUGIN);
		dlclose(h);
	}
	return entry;
}

int mfa_store_open(const struct mfa_config *cfg, enum mfa_store_role role,
		   struct mfa_storage **ret, struct mfa_err *reterr)
{
	switch (cfg->store) {
	case MFA_STORE_FILES:
		return mfa_store_files_open(cfg->state_dir, ret);
	case MFA_STORE_LDAP: {
		mfa_store_ldap_open_fn *open_ldap = ldap_entry(reterr);

		return open_ldap ? open_ldap(cfg, role, ret, reterr) : -ELIBACC;
	}
	}
	return -EINVAL;
}

int mfa_store_load(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		   struct mfa_err *reterr)
{
	return s->ops->load(s, user, ret, reterr);
}

int mfa_store_status(struct mfa_storage *s, const char *user, struct mfa_token *ret,
		     struct mfa_err *reterr)
{
	return s->ops->status(s, user, ret, reterr);
}

int mfa_store_list(struct mfa_storage *s,
		   int (*cb)(const char *user, int r, const struct mfa_token *t, void *userdata),
		   void *userdata)
{
	return s->ops->list(s, cb, userdata);
}

int mfa_store_sync(struct mfa_storage *s)
{
	return s->ops->sync(s);
}

void mfa_store_close(struct mfa_storage *s)
{
	if (s)
		s->ops->close(s);
}

const char *mfa_store_error(const struct mfa_storage *s)
{
	return s && s->ops->error ? s->ops->error(s) : "";
}

void mfa_store_rearm(struct mfa_storage *s)
{
	if (s && s->ops->rearm)
		s->ops->rearm(s);
}
