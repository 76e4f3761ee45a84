/* What both backends share: the view's destructor and the choice of backend. */
#include <errno.h>

#include <sodium.h>

#include "store.h"

void mfa_token_clear(struct mfa_token *t)
{
	if (!t)
		return;
	mfa_secret_free(t->secret);
	if (t->priv && t->free_priv)
		t->free_priv(t->priv);
	/* the hashes are not secrets, but a view of a token is wiped like one */
	sodium_memzero(t, sizeof(*t));
}

int mfa_store_open(const struct mfa_config *cfg, enum mfa_store_role role,
		   struct mfa_storage **ret, struct mfa_err *reterr)
{
	switch (cfg->store) {
	case MFA_STORE_FILES:
		return mfa_store_files_open(cfg->state_dir, ret);
	case MFA_STORE_LDAP:
		return mfa_store_ldap_open(cfg, role, ret, reterr);
	}
	return -EINVAL;
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
