/* mfa-resetd: the read-only requests STATUS, LIST and PLAN-GROUP, and group expansion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "resetd.h"
#include "state.h"

static const char *status_name(const struct mfa_state *st)
{
	if (!st)
		return "none";
	return st->status == MFA_STATUS_RESET ? "reset" : "enrolled";
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

static void status_line(FILE *out, const char *user, const struct mfa_state *st)
{
	fprintf(out, "status %s status=%s enrolled_at=%lld reset_at=%lld reset_by=", user,
		status_name(st), st ? (long long)st->enrolled_at : 0LL,
		st ? (long long)st->reset_at : 0LL);
	put_actor(out, st ? st->reset_by : NULL);
	fprintf(out, " locked_until=%lld failures=%u\n", st ? (long long)st->locked_until : 0LL,
		st ? st->failures : 0u);
}

/* One status line (or err line); 0 ok, -1 failed. lock_dir: see mfa_state_load_summary().
 * A name asked for (by_nss) is read under NSS's own name for it, as the module keeps it
 * ("ALICE" in a case-insensitive directory shows alice); a name NSS does not know shows its
 * left-behind state, if any. Names from the state directory are read as they are. */
static int status_one(FILE *out, int dir_fd, int lock_dir, const char *user, bool by_nss)
{
	struct mfa_state st = { 0 };
	char name[MFA_USER_NAME_MAX + 1];
	const char *key = user;
	int r, known = 1;

	if (mfa_user_validate(user) < 0) {
		fprintf(out, "err %s invalid-name not a valid user name\n", user);
		return -1;
	}
	if (by_nss) {
		known = mfa_user_canonical(user, name, sizeof(name));
		if (known == 0)
			key = name;
	}
	r = mfa_state_load_summary(dir_fd, lock_dir, key, &st, NULL);
	if (r == -ENOENT && known == -ENOENT) {
		fprintf(out, "err %s unknown-user no such user\n", user);
		return -1;
	}
	if (r < 0 && r != -ENOENT) {
		fprintf(out, "err %s %s cannot read the state\n", user,
			r == -EBADMSG ? "corrupt-state" : "unsafe-state");
		return -1;
	}
	status_line(out, user, r == 0 ? &st : NULL);
	mfa_state_clear(&st);
	return 0;
}

/* The .lock directory once per request (-1 if it cannot be opened: then per user). */
static int lock_dir_of(const struct resetd_ctx *c)
{
	int fd = -1;

	return mfa_state_open_lock_dir(c->dir_fd, &fd) < 0 ? -1 : fd;
}

int resetd_status(struct resetd_ctx *c, char *const *targets, size_t n)
{
	_cleanup_close_ int lock_dir = -1;
	size_t failed = 0;

	if (!resetd_require_admin(c, "status", targets, n, false))
		return 0;
	resetd_log_request(c, "status", "ok", NULL, (long long)n);
	lock_dir = lock_dir_of(c);
	for (size_t i = 0; i < n; i++)
		if (status_one(c->out, c->dir_fd, lock_dir, targets[i], true) < 0)
			failed++;
	fprintf(c->out, "end ok=%zu failed=%zu\n", n - failed, failed);
	return 0;
}

struct list_ctx {
	struct resetd_ctx *c;
	int lock_dir;
	size_t ok, failed;
};

static int list_cb(const char *user, void *userdata)
{
	struct list_ctx *l = userdata;

	if (status_one(l->c->out, l->c->dir_fd, l->lock_dir, user, false) < 0)
		l->failed++;
	else
		l->ok++;
	return ferror(l->c->out) ? -EPIPE : 0;
}

int resetd_list(struct resetd_ctx *c)
{
	_cleanup_close_ int lock_dir = -1;
	struct list_ctx l = { .c = c, .lock_dir = -1 };
	int r;

	if (!resetd_require_admin(c, "list", NULL, 0, false))
		return 0;
	resetd_log_request(c, "list", "ok", NULL, -1);
	l.lock_dir = lock_dir = lock_dir_of(c);
	r = mfa_state_foreach_user(c->dir_fd, list_cb, &l);
	if (r == -EPIPE)
		return r;
	if (r < 0) {
		fprintf(c->out, "error io-error cannot read the state directory\n");
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
