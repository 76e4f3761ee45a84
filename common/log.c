/* Audit event lines from a fixed set of typed fields (see log.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "user.h"

struct out {
	char *buf;
	size_t size;
	size_t len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len + 1 >= o->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	o->len += (size_t)n;
	if (o->len >= o->size)
		o->len = o->size - 1;
}

/* The bytes of s between quotes: printable ASCII as is except ' and \ (backslashed); every
 * other byte (controls, space, DEL, >= 0x80) as \xNN, so a log line is one line of ASCII
 * that nobody can forge fields or terminal escapes into. */
static void put_escaped(struct out *o, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\'' || c == '\\')
			put(o, "\\%c", c);
		else if (c <= ' ' || c >= 0x7f)
			put(o, "\\x%02x", c);
		else
			put(o, "%c", c);
	}
}

/* key='name' escaped, or key=(invalid) for anything that is not a user name: what was typed
 * at a login prompt may be a password and is never logged verbatim. */
static void put_name(struct out *o, const char *key, const char *name)
{
	if (!name)
		return;
	if (mfa_user_validate(name) < 0) {
		put(o, " %s=(invalid)", key);
		return;
	}
	put(o, " %s='", key);
	put_escaped(o, name);
	put(o, "'");
}

/* key='name' escaped, not validated: for names NSS gave (an actor, a group), which nobody
 * typed, so they are shown whatever bytes they hold ("john smith" -> 'john\x20smith'). */
static void put_nss_name(struct out *o, const char *key, const char *name)
{
	if (!name)
		return;
	put(o, " %s='", key);
	put_escaped(o, name);
	put(o, "'");
}

/* until=N until_utc=2026-12-03T13:00:00Z: the number for scripts, the time for people. */
static void put_time(struct out *o, const char *key, long long v)
{
	time_t t = (time_t)v;
	struct tm tm;
	char when[32];

	if (v < 0)
		return;
	put(o, " %s=%lld", key, v);
	if (gmtime_r(&t, &tm) && strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		put(o, " %s_utc=%s", key, when);
}

static void put_word(struct out *o, const char *key, const char *word)
{
	if (word)
		put(o, " %s=%s", key, word);
}

static void put_num(struct out *o, const char *key, long long v)
{
	if (v >= 0)
		put(o, " %s=%lld", key, v);
}

/* key='text' for a string the application hands over (PAM_RHOST, PAM_TTY), escaped like a
name; an empty one is left out. */
static void put_text(struct out *o, const char *key, const char *text)
{
	if (text && *text)
		put_nss_name(o, key, text);
}

size_t mfa_log_format(const struct mfa_event *ev, char *buf, size_t size)
{
	struct out o = { .buf = buf, .size = size, .len = 0 };
	char err[128];

	if (!buf || size == 0)
		return 0;
	buf[0] = '\0';
	put(&o, "event=%s", ev->event ? ev->event : "unknown");
	put_name(&o, "user", ev->user);
	put_nss_name(&o, "actor", ev->actor);
	put_num(&o, "uid", ev->uid);
	put_name(&o, "target", ev->target);
	put_nss_name(&o, "group", ev->group);
	put_word(&o, "result", ev->result);
	put_word(&o, "reason", ev->reason);
	if (ev->more > 0)
		put_num(&o, "more", ev->more);
	put_num(&o, "failures", ev->failures);
	put_time(&o, "until", ev->until);
	put_num(&o, "count", ev->count);
	if (ev->drift != 0)
		put(&o, " drift=%+lld", ev->drift);
	put_text(&o, "rhost", ev->rhost);
	put_text(&o, "tty", ev->tty);
	if (ev->error < 0) {
		const char *msg = strerror_r(-ev->error, err, sizeof(err));
		put(&o, " error='%s'", msg);
	}
	return o.len;
}
