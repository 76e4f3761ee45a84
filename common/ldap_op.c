/* One LDAP operation under the connection's deadline: arm the socket, wait for the answer,
 * map the result; and the two formats every ldap_*.c file needs (times, modify). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ldap_int.h"

int64_t mfa_ldapx_ms_left(const struct mfa_ldap *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(c->deadline.tv_sec - now.tv_sec) * 1000 +
	       (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
}

int mfa_ldapx_arm(struct mfa_ldap *c, struct timeval *ret_tv)
{
	int64_t ms = mfa_ldapx_ms_left(c);
	struct timeval tv;
	int fd = -1;

	if (ms <= 0) {
		snprintf(c->err, sizeof(c->err), "no answer within %u ms", c->cfg->timeout_ms);
		return -ETIMEDOUT;
	}
	tv = (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	if (c->ld && ldap_get_option(c->ld, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS && fd >= 0) {
		/* Not SO_RCVTIMEO: its EAGAIN sends libldap's TLS handshake into a loop. */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
			return -errno;
	}
	if (ret_tv)
		*ret_tv = tv;
	return 0;
}

int mfa_ldapx_errno(int rc)
{
	switch (rc) {
	case LDAP_SUCCESS:
		return 0;
	case LDAP_ASSERTION_FAILED:
	case LDAP_NO_SUCH_ATTRIBUTE:
		return -ESTALE;
	case LDAP_NO_SUCH_OBJECT:
		return -ENOENT;
	case LDAP_ALREADY_EXISTS:
	case LDAP_TYPE_OR_VALUE_EXISTS:
		return -EEXIST;
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
	case LDAP_UNWILLING_TO_PERFORM:
		return -EACCES;
	case LDAP_TIMEOUT:
	case LDAP_TIMELIMIT_EXCEEDED:
		return -ETIMEDOUT;
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
		return -ECONNRESET;
	case LDAP_BUSY:
	case LDAP_UNAVAILABLE:
		return -EBUSY;
	case LDAP_NO_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static int ld_errno(struct mfa_ldap *c, const char *what)
{
	int rc = LDAP_OTHER;

	ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &rc);
	snprintf(c->err, sizeof(c->err), "%s: %s (%d)", what, ldap_err2string(rc), rc);
	/* A read that SO_RCVTIMEO cut short shows as a lost connection. */
	if (mfa_ldapx_ms_left(c) <= 0)
		return -ETIMEDOUT;
	return mfa_ldapx_errno(rc) ?: -EIO;
}

int mfa_ldapx_wait(struct mfa_ldap *c, int msgid, LDAPMessage **ret_res)
{
	LDAPMessage *res = NULL;
	struct timeval tv;
	int r;

	if ((r = mfa_ldapx_arm(c, &tv)) < 0) {
		ldap_abandon_ext(c->ld, msgid, NULL, NULL);
		return r;
	}
	r = ldap_result(c->ld, msgid, LDAP_MSG_ALL, &tv, &res);
	if (r == 0) {
		snprintf(c->err, sizeof(c->err), "no answer within %u ms", c->cfg->timeout_ms);
		ldap_abandon_ext(c->ld, msgid, NULL, NULL);
		return -ETIMEDOUT;
	}
	if (r < 0)
		return ld_errno(c, "connection");
	*ret_res = res;
	return 0;
}

int mfa_ldapx_result(struct mfa_ldap *c, int msgid, LDAPControl ***ret_ctrls)
{
	_cleanup_(ldap_memfreep) char *msg = NULL;
	LDAPMessage *res = NULL;
	LDAPControl **ctrls = NULL;
	int rc = LDAP_OTHER, r;

	if ((r = mfa_ldapx_wait(c, msgid, &res)) < 0)
		return r;
	if (ldap_parse_result(c->ld, res, &rc, NULL, &msg, NULL, ret_ctrls ? &ctrls : NULL, 1) !=
	    LDAP_SUCCESS)
		return ld_errno(c, "result");
	if (rc != LDAP_SUCCESS) {
		snprintf(c->err, sizeof(c->err), "%s (%d)%s%.80s", ldap_err2string(rc), rc,
			 msg && msg[0] ? ": " : "", msg ? msg : "");
		if (ctrls)
			ldap_controls_free(ctrls);
		return mfa_ldapx_errno(rc);
	}
	if (ret_ctrls)
		*ret_ctrls = ctrls;
	return 0;
}

int mfa_ldapx_modify(struct mfa_ldap *c, const char *dn, LDAPMod **mods, const char *assertion,
		     LDAPControl *extra, LDAPControl ***ret_ctrls)
{
	LDAPControl *assert_ctrl = NULL, *ctrls[3] = { NULL, NULL, NULL };
	size_t n = 0;
	int msgid, rc, r;

	if ((r = mfa_ldapx_arm(c, NULL)) < 0)
		return r;
	if (assertion) {
		/* Critical: a server that ignored it would make the write unconditional. */
		rc = ldap_create_assertion_control(c->ld, (char *)(uintptr_t)assertion, 1,
						   &assert_ctrl);
		if (rc != LDAP_SUCCESS)
			return mfa_ldapx_errno(rc) ?: -EIO;
		ctrls[n++] = assert_ctrl;
	}
	if (extra)
		ctrls[n++] = extra;
	rc = ldap_modify_ext(c->ld, dn, mods, ctrls, NULL, &msgid);
	if (assert_ctrl)
		ldap_control_free(assert_ctrl);
	if (rc != LDAP_SUCCESS)
		return ld_errno(c, "modify");
	return mfa_ldapx_result(c, msgid, ret_ctrls);
}

int mfa_ldapx_time_parse(const char *s, int64_t *ret)
{
	struct tm tm = { 0 };
	const char *end;
	time_t t;

	end = strptime(s, "%Y%m%d%H%M%S", &tm);
	if (!end || strcmp(end, "Z") != 0)
		return -EBADMSG;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -EBADMSG;
	*ret = t;
	return 0;
}

void mfa_ldapx_time_format(int64_t t, char buf[16])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm) || strftime(buf, 16, "%Y%m%d%H%M%SZ", &tm) != 15)
		strcpy(buf, "19700101000000Z");
}
