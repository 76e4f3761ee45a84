/* mfa-reset output: one line per user and a summary, or one JSON document. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reset.h"
#include "user.h"

/* Length of the valid UTF-8 sequence at s, 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = *s >= 0xf0 && *s < 0xf5 ? 4 : *s >= 0xe0 ? 3 : *s >= 0xc2 && *s < 0xe0 ? 2 : 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A valid UTF-8 sequence as \uXXXX (a surrogate pair above U+FFFF): the document stays
 * ASCII, so no byte of a name can act on whatever terminal shows it. */
static void json_codepoint(const unsigned char *p, size_t n)
{
	static const unsigned char lead_mask[] = { 0, 0, 0x1f, 0x0f, 0x07 };
	unsigned long cp = p[0] & lead_mask[n];

	for (size_t i = 1; i < n; i++)
		cp = (cp << 6) | (p[i] & 0x3f);
	if (cp >= 0x10000) {
		cp -= 0x10000;
		printf("\\u%04lx\\u%04lx", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
	} else
		printf("\\u%04lx", cp);
}

static void json_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	putchar('"');
	while (*p) {
		size_t n;

		if (*p == '"' || *p == '\\') {
			printf("\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			printf("\\u%04x", *p++);
		} else if (*p < 0x80) {
			putchar(*p++);
		} else if ((n = utf8_len(p)) > 0) {
			json_codepoint(p, n);
			p += n;
		} else {
			fputs("\\ufffd", stdout);
			p++;
		}
	}
	putchar('"');
}

/* At most ESC_MAX bytes of s are shown (every valid user name fits), then "...". */
#define ESC_MAX (MFA_USER_NAME_MAX + 1)

static const char *escape(const char *s, unsigned char lowest)
{
	static char bufs[4][4 * ESC_MAX + 4];
	static unsigned next;
	char *b = bufs[next++ % 4];
	size_t n = 0, k = 0;

	for (; s && s[k] && k < ESC_MAX; k++) {
		unsigned char ch = (unsigned char)s[k];

		/* A backslash in a name is escaped (names stay unambiguous); in a message,
		 * which may hold names escaped already, it is kept. */
		if (ch >= lowest && ch < 0x7f && (ch != '\\' || lowest == ' '))
			b[n++] = (char)ch;
		else
			n += (size_t)snprintf(b + n, 5, "\\x%02x", ch);
	}
	if (s && s[k])
		n += (size_t)snprintf(b + n, 4, "...");
	b[n] = '\0';
	return b;
}

const char *esc(const char *s)
{
	return escape(s, '!');
}

const char *esc_msg(const char *s)
{
	return escape(s, ' ');
}

void client_set_error(struct client *c, const char *code, const char *msg)
{
	if (c->err_code[0])
		return;
	snprintf(c->err_code, sizeof(c->err_code), "%s", code);
	snprintf(c->err_msg, sizeof(c->err_msg), "%s", msg);
}

static void sep(struct client *c)
{
	if (!c->first)
		putchar(',');
	c->first = false;
}

void out_begin(struct client *c, enum out_mode mode)
{
	c->mode = mode;
	c->first = true;
	if (c->json)
		fputs(mode == OUT_PLAN ? "{\"dry_run\":true,\"results\":[" :
					 "{\"dry_run\":false,\"results\":[", stdout);
}

static void fmt_time(long long t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, size, "-");
}

struct status_fields {
	const char *status, *reset_by;
	long long enrolled_at, reset_at, locked_until, failures;
};

static void parse_fields(const char *rest, struct status_fields *f)
{
	_cleanup_free_ char *copy = strdup(rest);
	char *save = NULL;

	*f = (struct status_fields){ "?", "-", 0, 0, 0, 0 };
	for (char *t = copy ? strtok_r(copy, " ", &save) : NULL; t; t = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(t, '=');

		if (!eq)
			continue;
		*eq++ = '\0';
		if (strcmp(t, "status") == 0)
			f->status = strcmp(eq, "enrolled") == 0 ? "enrolled" :
				    strcmp(eq, "reset") == 0    ? "reset" :
				    strcmp(eq, "none") == 0     ? "none" : "?";
		else if (strcmp(t, "reset_by") == 0)
			f->reset_by = strstr(rest, "reset_by=") + 9; /* up to the next space */
		else if (strcmp(t, "enrolled_at") == 0)
			f->enrolled_at = atoll(eq);
		else if (strcmp(t, "reset_at") == 0)
			f->reset_at = atoll(eq);
		else if (strcmp(t, "locked_until") == 0)
			f->locked_until = atoll(eq);
		else if (strcmp(t, "failures") == 0)
			f->failures = atoll(eq);
	}
}

/* A time that never happened (0 on the wire) is null, not 1970. */
static void json_time(const char *key, long long t)
{
	if (t > 0)
		printf(",\"%s\":%lld", key, t);
	else
		printf(",\"%s\":null", key);
}

/* reset_by from the wire (one word, %XX for what cannot travel) into by. */
static void decode_actor(const char *w, char *by, size_t size)
{
	size_t n = 0;

	for (; *w && *w != ' ' && n + 1 < size; w++) {
		char hex[3] = { w[0] ? w[1] : 0, w[0] && w[1] ? w[2] : 0, 0 };
		unsigned long v;

		if (*w == '%' && isxdigit((unsigned char)hex[0]) && isxdigit((unsigned char)hex[1]) &&
		    (v = strtoul(hex, NULL, 16)) > 0) {
			by[n++] = (char)v;
			w += 2;
		} else
			by[n++] = *w;
	}
	by[n] = '\0';
}

static void status_json(const char *user, const struct status_fields *f)
{
	char by[256];

	decode_actor(f->reset_by, by, sizeof(by));
	fputs("{\"user\":", stdout);
	json_str(user);
	printf(",\"result\":\"ok\",\"status\":\"%s\"", f->status);
	json_time("enrolled_at", f->enrolled_at);
	json_time("reset_at", f->reset_at);
	fputs(",\"reset_by\":", stdout);
	if (strcmp(by, "-") == 0)
		fputs("null", stdout);
	else
		json_str(by);
	json_time("locked_until", f->locked_until);
	printf(",\"failures\":%lld}", f->failures);
}

static void status_text(const char *user, const struct status_fields *f)
{
	char t1[64], t2[64];

	if (strcmp(f->status, "reset") == 0) {
		fmt_time(f->reset_at, t1, sizeof(t1));
		char by[256];

		decode_actor(f->reset_by, by, sizeof(by));
		printf("%-20s reset pending (by %s at %s)", esc(user), esc(by), t1);
	} else if (strcmp(f->status, "enrolled") == 0) {
		fmt_time(f->enrolled_at, t1, sizeof(t1));
		printf("%-20s enrolled (since %s)", esc(user), t1);
	} else
		printf("%-20s not enrolled", esc(user));
	if (f->locked_until > (long long)time(NULL)) {
		fmt_time(f->locked_until, t2, sizeof(t2));
		printf(", locked out until %s", t2);
	} else if (f->failures > 0)
		printf(", %lld failed code%s", f->failures, f->failures == 1 ? "" : "s");
	putchar('\n');
}

void out_local_error(struct client *c, const char *user, const char *code, const char *msg)
{
	c->n_failed++;
	if (!c->json) {
		printf("%s: failed: %s (%s)\n", esc(user), esc_msg(msg), esc(code));
		return;
	}
	sep(c);
	fputs("{\"user\":", stdout);
	json_str(user);
	printf(",\"result\":\"error\",\"error\":\"%s\",\"message\":", code);
	json_str(msg);
	putchar('}');
}

int out_reply(struct client *c, const struct mfa_reply *rep, void *userdata)
{
	struct status_fields f;
	bool unsynced;

	if (rep->kind == MFA_REPLY_ERR) {
		out_local_error(c, rep->user, rep->code, rep->rest);
		return 0;
	}
	c->n_ok++;
	if (rep->kind == MFA_REPLY_MEMBER) {
		if (c->json) {
			sep(c);
			json_str(rep->user);
		} else
			printf("%s: would be reset\n", esc(rep->user));
		return 0;
	}
	if (rep->kind == MFA_REPLY_STATUS) {
		parse_fields(rep->rest, &f);
		if (c->json) {
			sep(c);
			status_json(rep->user, &f);
		} else
			status_text(rep->user, &f);
		return 0;
	}
	if (c->mode == OUT_PLAN) {
		if (c->json) {
			sep(c);
			fputs("{\"user\":", stdout);
			json_str(rep->user);
			fputs(",\"result\":\"would-reset\"}", stdout);
		} else
			printf("%s: would be reset\n", esc(rep->user));
		return 0;
	}
	/* "ok alice reset not-synced": done, but the daemon could not make it durable. */
	unsynced = strcmp(rep->rest, "not-synced") == 0;
	c->n_unsynced += unsynced;
	if (c->json) {
		sep(c);
		fputs("{\"user\":", stdout);
		json_str(rep->user);
		fputs(",\"result\":\"ok\",\"done\":", stdout);
		json_str(rep->code ? rep->code : "");
		printf(",\"synced\":%s}", unsynced ? "false" : "true");
	} else
		printf("%s: %s%s\n", esc(rep->user), esc(rep->code ? rep->code : "ok"),
		       unsynced ? " (done, but not yet safe on disk: the daemon's syncfs failed)" : "");
	return 0;
}

/* The names whose result is unknown after a lost connection (and those never sent). */
static void unknown_text(const struct client *c)
{
	if (c->n_unknown > 0) {
		fprintf(stderr, "mfa-reset: results unknown for %zu user%s (no answer came; they "
				"may or may not have been done: check with --status):",
			c->n_unknown, c->n_unknown == 1 ? "" : "s");
		for (size_t i = 0; i < c->n_unknown && i < 20; i++)
			fprintf(stderr, " %s", esc(c->unknown_from[i]));
		fprintf(stderr, "%s\n", c->n_unknown > 20 ? " ..." : "");
	}
	if (c->n_unsent > 0)
		fprintf(stderr, "mfa-reset: %zu user%s not attempted (never sent)\n", c->n_unsent,
			c->n_unsent == 1 ? "" : "s");
}

static void unknown_json(const struct client *c)
{
	printf(",\"unknown\":[");
	for (size_t i = 0; i < c->n_unknown; i++) {
		if (i)
			putchar(',');
		json_str(c->unknown_from[i]);
	}
	printf("],\"not_sent\":%zu,\"error\":", c->n_unsent);
	if (!c->err_code[0]) {
		fputs("null", stdout);
		return;
	}
	fputs("{\"code\":", stdout);
	json_str(c->err_code);
	fputs(",\"message\":", stdout);
	json_str(c->err_msg);
	putchar('}');
}

void out_end(struct client *c, int r)
{
	const char *what = c->mode == OUT_STATUS ? "shown" : c->mode == OUT_PLAN ? "would be reset" :
										      "succeeded";

	if (c->json) {
		printf("],\"ok\":%lu,\"failed\":%lu,\"not_synced\":%lu", c->n_ok, c->n_failed,
		       c->n_unsynced);
		unknown_json(c);
		puts("}");
		return;
	}
	unknown_text(c);
	if (r == -EACCES)
		return;
	printf("%lu %s, %lu failed", c->n_ok, what, c->n_failed);
	if (c->n_unknown + c->n_unsent > 0)
		printf(", %zu unknown", c->n_unknown + c->n_unsent);
	if (c->n_unsynced > 0)
		printf(" (%lu not yet safe on disk)", c->n_unsynced);
	putchar('\n');
}
