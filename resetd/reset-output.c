/* mfa-reset output: one line per user and a summary, or one JSON document. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reset.h"

/* Length of the valid UTF-8 sequence at s, 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = *s >= 0xf0 && *s < 0xf5 ? 4 : *s >= 0xe0 ? 3 : *s >= 0xc2 && *s < 0xe0 ? 2 : 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
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
			fwrite(p, 1, n, stdout);
			p += n;
		} else {
			fputs("\\ufffd", stdout);
			p++;
		}
	}
	putchar('"');
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
		fputs(mode == OUT_PLAN ? "{\"dry_run\":true,\"users\":[" : "{\"results\":[", stdout);
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

static void status_json(const char *user, const struct status_fields *f)
{
	size_t bylen = strcspn(f->reset_by, " ");
	char by[256];

	snprintf(by, sizeof(by), "%.*s", (int)bylen, f->reset_by);
	fputs("{\"user\":", stdout);
	json_str(user);
	printf(",\"result\":\"ok\",\"status\":\"%s\",\"enrolled_at\":%lld,\"reset_at\":%lld,"
	       "\"reset_by\":",
	       f->status, f->enrolled_at, f->reset_at);
	if (strcmp(by, "-") == 0)
		fputs("null", stdout);
	else
		json_str(by);
	printf(",\"locked_until\":%lld,\"failures\":%lld}", f->locked_until, f->failures);
}

static void status_text(const char *user, const struct status_fields *f)
{
	size_t bylen = strcspn(f->reset_by, " ");
	char t1[64], t2[64];

	if (strcmp(f->status, "reset") == 0) {
		fmt_time(f->reset_at, t1, sizeof(t1));
		printf("%-20s reset pending (by %.*s at %s)", user, (int)bylen, f->reset_by, t1);
	} else if (strcmp(f->status, "enrolled") == 0) {
		fmt_time(f->enrolled_at, t1, sizeof(t1));
		printf("%-20s enrolled (since %s)", user, t1);
	} else
		printf("%-20s not enrolled", user);
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
		printf("%s: failed: %s (%s)\n", user, msg, code);
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
			printf("%s: would be reset\n", rep->user);
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
	if (c->json) {
		sep(c);
		fputs("{\"user\":", stdout);
		json_str(rep->user);
		printf(",\"result\":\"ok\",\"done\":\"%s\"}", rep->code ? rep->code : "");
	} else
		printf("%s: %s\n", rep->user, rep->code ? rep->code : "ok");
	return 0;
}

void out_end(struct client *c, int r)
{
	const char *what = c->mode == OUT_STATUS ? "shown" : c->mode == OUT_PLAN ? "would be reset" :
										      "succeeded";

	if (c->json) {
		printf("],\"ok\":%lu,\"failed\":%lu}\n", c->n_ok, c->n_failed);
		return;
	}
	if (r == -EACCES)
		return;
	printf("%lu %s, %lu failed\n", c->n_ok, what, c->n_failed);
}
