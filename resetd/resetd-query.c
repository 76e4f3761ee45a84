/* mfa-resetd: the read-only requests STATUS, LIST and PLAN-GROUP, and group expansion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "resetd.h"

static const char *status_name(const struct mfa_token *t)
{
	switch (t->status) {
	case MFA_TOKEN_ENROLLED: return "enrolled";
	case MFA_TOKEN_RESET: return "reset";
	default: return "none";
	}
}

/* reset_by as one protocol word: bytes that cannot travel (space, controls, >= 0x80) and '%'
 * as %XX, so any actor name NSS gave ("john smith") reaches the client whole. */
static void put_actor(FILE *out, const char *by)
{
	if (!by || !*by) {
		fputc('-', out);
		return;
	}
	for (; *by; by++) {
		unsigned char ch = (unsigned char)*by;

		if (ch > ' ' && ch < 0x7f && ch != '%')
			fputc(ch, out);
		else
			fprintf(out, "%%%02X", ch);
	}
}

/* locked_until as logins decide it (a lockout due but not written yet included). */
static void status_line(const struct resetd_ctx *c, FILE *out, const char *user,
			const struct mfa_token *t)
{
	fprintf(out, "status %s status=%s enrolled_at=%lld reset_at=%lld reset_by=", user,
		status_name(t), (long long)t->enrolled_at, (long long)t->reset_at);
	put_actor(out, t->reset_by);
	fprintf(out, " locked_until=%lld failures=%u\n",
		(long long)mfa_policy_locked_until(&c->pol, t), t->failures);
}

/* A token that cannot be read, as its err line. The directory failing is the request's
 * (resetd_store_failed), not this user's. */
static void read_error(const struct resetd_ctx *c, const char *user, int r)
{
	struct resetd_outcome o = resetd_store_outcome(c, r);

	if (c->cfg->store == MFA_STORE_FILES)
		fprintf(c->out, "err %s %s cannot read the state\n", user,
			r == -EBADMSG ? "corrupt-state" : "unsafe-state");
	else
		fprintf(c->out, "err %s %s %s\n", user, o.code, o.msg);
}

/* One status line (or err line); 0 ok, -1 failed. A name asked for (by_nss) is read under
 * NSS's own name for it, as the module keeps it ("ALICE" in a case-insensitive directory
 * shows alice); a name NSS does not know shows its left-behind state, if any. */
static int status_one(struct resetd_ctx *c, const char *user)
{
	_cleanup_(mfa_token_clearp) struct mfa_token t = { 0 };
	char name[MFA_USER_NAME_MAX + 1];
	const char *key = user;
	int r = c->down, known;

	if (mfa_user_validate(user) < 0) {
		fprintf(c->out, "err %s invalid-name not a valid user name\n", user);
		return -1;
	}
	known = mfa_user_canonical(user, name, sizeof(name));
	if (known == 0)
		key = name;
	if (r == 0 && (r = resetd_store_get(c)) == 0) {
		resetd_store_rearm(c);
		r = resetd_store_failed(c, mfa_store_status(c->store, key, &t, NULL));
	}
	if (r == 0 && t.status == MFA_TOKEN_NONE && known == -ENOENT) {
		fprintf(c->out, "err %s unknown-user no such user\n", user);
		return -1;
	}
	if (r < 0) {
		read_error(c, user, r);
		return -1;
	}
	status_line(c, c->out, user, &t);
	return 0;
}

int resetd_status(struct resetd_ctx *c, char *const *targets, size_t n)
{
	size_t failed = 0;

	if (!resetd_require_admin(c, "status", targets, n, false))
		return 0;
	resetd_log_request(c, "status", "ok", NULL, (long long)n);
	c->down = 0;
	for (size_t i = 0; i < n; i++)
		if (status_one(c, targets[i]) < 0)
			failed++;
	fprintf(c->out, "end ok=%zu failed=%zu\n", n - failed, failed);
	return 0;
}

struct list_ctx {
	struct resetd_ctx *c;
	size_t ok, failed;
};

static int list_cb(const char *user, int r, const struct mfa_token *t, void *userdata)
{
	struct list_ctx *l = userdata;
	FILE *out = l->c->out;

	if (mfa_user_validate(user) < 0) {
		/* Not echoed: a name the store holds (a token's cn, which a host may have
		 * written) could carry a space or a newline, and forge reply lines. */
		fprintf(out, "err (invalid) invalid-name a stored token's name is not a user name\n");
		l->failed++;
	} else if (r < 0 || !t) {
		read_error(l->c, user, r < 0 ? r : -EBADMSG);
		l->failed++;
	} else {
		status_line(l->c, out, user, t);
		l->ok++;
	}
	return ferror(out) ? -EPIPE : 0;
}

/* Every token the store holds: files, the state directory; ldap, one paged search (not a
 * query per person), which the directory answers page by page within the timeout each. */
int resetd_list(struct resetd_ctx *c)
{
	struct list_ctx l = { .c = c };
	int r;

	if (!resetd_require_admin(c, "list", NULL, 0, false))
		return 0;
	resetd_log_request(c, "list", "ok", NULL, -1);
	c->down = 0;
	if ((r = resetd_store_get(c)) == 0) {
		resetd_store_rearm(c);
		r = mfa_store_list(c->store, list_cb, &l);
		if (r == -EPIPE)
			return r; /* the client went away: nothing of the directory's */
		r = resetd_store_failed(c, r);
	}
	if (r < 0) {
		struct resetd_outcome o = resetd_store_outcome(c, r);

		if (c->cfg->store == MFA_STORE_FILES)
			fprintf(c->out, "error io-error cannot read the state directory\n");
		else
			fprintf(c->out, "error %s %s\n", o.code, o.msg);
		return 0;
	}
	fprintf(c->out, "end ok=%zu failed=%zu\n", l.ok, l.failed);
	return 0;
}

int resetd_expand_groups(struct resetd_ctx *c, char *const *groups, size_t n,
			 struct mfa_strlist *all, size_t *ret_bad)
{
	size_t bad = 0;
	int r = 0;

	for (size_t i = 0; i < n && r >= 0; i++) {
		struct mfa_strlist m = { 0 };

		if (mfa_user_group_members(groups[i], &m) < 0) {
			fprintf(c->out, "err %s unknown-group no such group\n", groups[i]);
			resetd_log_target(c, "reset-group", NULL, "refused", "unknown-group");
			bad++;
			continue;
		}
		for (size_t j = 0; j < m.n && r >= 0; j++)
			r = mfa_strlist_add(all, m.v[j], true);
		mfa_strlist_free(&m);
	}
	*ret_bad = bad;
	return r;
}

int resetd_plan_group(struct resetd_ctx *c, char *const *groups, size_t n)
{
	struct mfa_strlist all = { 0 };
	size_t bad = 0;
	int r;

	if (!resetd_require_admin(c, "plan", groups, n, true))
		return 0;
	r = resetd_expand_groups(c, groups, n, &all, &bad);
	if (r >= 0) {
		for (size_t i = 0; i < all.n; i++)
			fprintf(c->out, "member %s\n", all.v[i]);
		fprintf(c->out, "end ok=%zu failed=%zu\n", all.n, bad);
	}
	mfa_strlist_free(&all);
	return r;
}
