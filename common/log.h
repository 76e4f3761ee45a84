/* Audit event lines: a fixed set of typed fields, so no free text (and so no secret, code or
 * unvalidated name) can reach the log by accident. common/ never logs: it formats; the module
 * sends the line with pam_syslog(), the daemon with syslog(LOG_AUTHPRIV). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mfa_event {
	const char *event;  /* literal: "verify", "enroll", "reset", "unlock", "lockout", ... */
	const char *user;   /* user the event is about; printed only if mfa_user_validate() */
	const char *actor;  /* daemon: who asked */
	long long uid;      /* actor uid, -1 = none (designated initialisers: set explicitly) */
	const char *target; /* daemon: whom it was about */
	const char *result; /* literal: "ok", "fail", "refused", "error" */
	const char *reason; /* literal: "wrong-code", "replay", "not-admin", ... */
	long long failures; /* -1 = none */
	long long until;    /* unix time, -1 = none */
	long long count;    /* -1 = none */
	long long more;     /* targets not named on their own line; 0 = none */
	const char *group;  /* daemon: a group named as the target */
	int error;          /* -errno, 0 = none; printed as its strerror text */
	/* login events (the module): where from, PAM_RHOST and PAM_TTY; any bytes, escaped */
	const char *rhost;  /* NULL = none */
	const char *tty;    /* NULL = none */
	long long drift;    /* steps from now to the step a code matched; 0 = none (no drift) */
};

/* An event with every numeric field set to "none"; callers then fill in what applies. */
static inline struct mfa_event mfa_event_new(const char *event)
{
	return (struct mfa_event){ .event = event, .uid = -1, .failures = -1, .until = -1,
				   .count = -1 };
}

/* "event=verify user='alice' result=fail reason=wrong-code failures=2" into buf (always
 * NUL-terminated, truncated if short). Names that fail validation print as (invalid).
 * Returns the length written. */
size_t mfa_log_format(const struct mfa_event *ev, char *buf, size_t size);
