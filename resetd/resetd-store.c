/* mfa-resetd and the token store: opened as the reset service, the directory's failures told
 * apart from a user's own (a request whose directory went away answers every target with
 * that, at once), and store errors as protocol codes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "macro.h"
#include "resetd.h"

static bool is_ldap(const struct resetd_ctx *c)
{
	return c->cfg->store == MFA_STORE_LDAP;
}

/* What a directory says may quote the server: one line of ASCII, quoted like log.c's names
 * (' and \ backslashed, every other byte outside '!'..'~' as \xNN), so no field can be forged. */
static void escape(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	for (; s && *s && n + 5 < size; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '\'' || ch == '\\')
			n += (size_t)snprintf(buf + n, size - n, "\\%c", ch);
		else if (ch <= ' ' || ch >= 0x7f)
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch);
		else
			buf[n++] = (char)ch;
	}
	buf[n] = '\0';
}

static void log_directory(const char *what, int r, const char *detail)
{
	char esc[512];

	escape(detail, esc, sizeof(esc));
	syslog(LOG_ERR, "event=directory result=error op=%s error='%s' detail='%s'", what,
	       strerror(-r), esc);
}

int resetd_store_get(struct resetd_ctx *c)
{
	struct mfa_err err = { 0 };
	int r;

	if (c->store)
		return 0;
	r = mfa_store_open(c->cfg, MFA_STORE_ROLE_RESET, &c->store, &err);
	if (r < 0) {
		c->store = NULL;
		log_directory("connect", r, err.msg);
		c->down = r;
		return r;
	}
	mfa_policy_init(&c->pol, c->cfg, c->store);
	return 0;
}

void resetd_store_rearm(struct resetd_ctx *c)
{
	mfa_store_rearm(c->store);
}

void resetd_store_close(struct resetd_ctx *c)
{
	mfa_store_closep(&c->store);
}

/* The directory itself failed (no answer in time, connection lost, TLS, refused), rather
 * than one user's token (none, moved meanwhile, malformed) or the identity's rights. */
static bool directory_failed(int r)
{
	switch (r) {
	case 0:
	case -ENOENT:
	case -ESTALE:
	case -EBADMSG:
	case -EACCES:
	case -ENOMEM:
	case -EINVAL:
		return false;
	default:
		return true;
	}
}

int resetd_store_failed(struct resetd_ctx *c, int r)
{
	if (!is_ldap(c) || !directory_failed(r))
		return r;
	log_directory("request", r, mfa_store_error(c->store));
	c->down = r;
	/* its state after a timeout is unknown: the next request connects anew */
	resetd_store_close(c);
	return r;
}

int resetd_store_why_none(struct resetd_ctx *c, const char *name)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };

	if (!is_ldap(c) || !c->store)
		return -ENOENT;
	resetd_store_rearm(c);
	if (resetd_store_failed(c, mfa_store_status(c->store, name, &t, NULL)) == 0 && t.no_entry)
		return -ENXIO;
	return c->down ? c->down : -ENOENT;
}

#define OUT(code, msg) ((struct resetd_outcome){ code, msg, false, false })
#define OUT_ERROR(code, msg) ((struct resetd_outcome){ code, msg, false, true })

/* Unchanged from the files-only daemon: scripts match these codes. */
static struct resetd_outcome files_outcome(int r)
{
	switch (r) {
	case 0: return OUT(NULL, NULL);
	case -ENOENT: return OUT("not-enrolled", "user has no MFA state");
	case -ETIMEDOUT:
	case -ESTALE: return OUT("busy", "state locked by a login, retry");
	case -EBADMSG: return OUT("corrupt-state", "state file is corrupt");
	default: return OUT_ERROR("io-error", "cannot write the state");
	}
}

static struct resetd_outcome ldap_outcome(int r)
{
	switch (r) {
	case 0: return OUT(NULL, NULL);
	case -ENOENT: return OUT("not-enrolled", "user has no MFA token");
	case -ENXIO: return OUT("no-entry", "no such person in the MFA directory");
	case -ESTALE: return OUT("busy", "the token kept changing (logins elsewhere), retry");
	case -EBADMSG: return OUT("corrupt-state", "the token entry in the directory is malformed");
	case -EACCES:
		return OUT_ERROR("directory-denied", "the MFA directory refused the reset service");
	default: return OUT_ERROR("directory", "cannot reach the MFA directory");
	}
}

struct resetd_outcome resetd_store_outcome(const struct resetd_ctx *c, int r)
{
	if (!is_ldap(c))
		return files_outcome(r);
	/* the directory failed in this request (connect included: its -ENOENT is a missing
	 * ldapi socket, not a missing token) */
	if (c->down < 0 && r == c->down)
		return r == -EACCES ? ldap_outcome(-EACCES) : ldap_outcome(-EIO);
	return ldap_outcome(r);
}
