/* The one place where -errno becomes a PAM code, and where event lines are sent. Anything
 * unexpected fails closed; nothing maps to success. */
#include <errno.h>
#include <stdio.h>
#include <syslog.h>

#include <security/pam_ext.h>

#include "pam_totp.h"

int totp_pam_code(int r)
{
	switch (r) {
	case 0:
		return PAM_SUCCESS;
	case -ENOMEM:
		return PAM_BUF_ERR;
	case -ENOTCONN:
	case -EIO:
	case -ETIMEDOUT:
		/* the conversation, the disk or the lock: the service is unavailable */
		return PAM_AUTHINFO_UNAVAIL;
	default:
		return PAM_AUTH_ERR;
	}
}

/* Every event of the module is about a login: where it came from goes with it (PAM_RHOST,
 * PAM_TTY; set by the application, escaped by mfa_log_format), for fail2ban and auditors. */
void totp_log_extra(struct totp_ctx *ctx, int prio, const struct mfa_event *event,
		    const char *extra)
{
	struct mfa_event ev = *event;
	const void *item;
	char line[768];

	if (prio == LOG_DEBUG && !ctx->args.debug)
		return;
	if (pam_get_item(ctx->pamh, PAM_RHOST, &item) == PAM_SUCCESS)
		ev.rhost = item;
	if (pam_get_item(ctx->pamh, PAM_TTY, &item) == PAM_SUCCESS)
		ev.tty = item;
	mfa_log_format(&ev, line, sizeof(line));
	pam_syslog(ctx->pamh, prio, "%s%s%s", line, extra ? " " : "", extra ? extra : "");
}

void totp_log(struct totp_ctx *ctx, int prio, const struct mfa_event *event)
{
	totp_log_extra(ctx, prio, event, NULL);
}

/* The directory's own words for the log, quoted: anything but printable ASCII, a quote or a
 * backslash becomes '?', so the text cannot forge another field or line. */
static void quote_detail(const char *in, char *out, size_t size)
{
	size_t i = 0;

	for (; in && *in && i + 1 < size; in++, i++)
		out[i] = *in >= 0x20 && *in < 0x7f && *in != '\'' && *in != '\\' ? *in : '?';
	out[i] = '\0';
}

int totp_store_failed(struct totp_ctx *ctx, const char *event, const char *detail, int r)
{
	bool ldap = ctx->cfg.store == MFA_STORE_LDAP;
	struct mfa_event ev = totp_event(event, ctx->user, "error", ldap ? "directory" : "state");
	char quoted[256], extra[sizeof(quoted) + 16];

	ev.error = r;
	if (!ldap) {
		totp_log(ctx, LOG_ERR, &ev);
		return totp_pam_code(r);
	}
	quote_detail(detail, quoted, sizeof(quoted));
	snprintf(extra, sizeof(extra), "detail='%s'", quoted);
	totp_log_extra(ctx, LOG_ERR, &ev, extra);
	if (r == -EBADMSG || r == -ENOTUNIQ || r == -EREMOTE) {
		/* the entry is there but not a token pam_totp can read, the name is two people's,
		 * or the directory sends the search elsewhere: not an outage, and waiting will not
		 * mend it (the log line says which) */
		totp_error(ctx, "The authenticator token cannot be read; contact an administrator.");
		return PAM_AUTH_ERR;
	}
	totp_error(ctx, "The MFA directory cannot be reached; try again later or contact an "
			"administrator.");
	return PAM_AUTHINFO_UNAVAIL;
}
