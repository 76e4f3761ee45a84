/* mfa-resetd: RESET, RESET-GROUP and UNLOCK. The actor is checked once per request
 * (resetd_require_admin: current NSS groups), every target on its own
 * (mfa_user_may_reset_target), then the policy resets (mfa_policy_reset, without fsync) or
 * unlocks it in the store, and the whole batch is made durable (mfa_store_sync: one syncfs
 * for the files store) before any "ok" goes out. */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "resetd.h"

/* One target: its outcome, and NSS's own name for it once authorized (the token changed is
 * that name's, and the audit line names it). */
struct target {
	struct resetd_outcome o;
	char name[MFA_USER_NAME_MAX + 1];
};

typedef int (*target_op)(struct resetd_ctx *c, const char *name, int64_t now);

/* "mfa-admins, wheel-mfa": the groups that would authorize, for the refusal line. */
static void admin_groups_text(const struct mfa_config *cfg, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cfg->reset.admin_groups.n && len + 1 < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
					cfg->reset.admin_groups.v[i]);
	if (cfg->reset.admin_groups.n == 0)
		snprintf(buf, size, "(none configured: only root)");
}

/* The refused targets, each on its own line (at most RESETD_LOG_TARGETS_MAX, then one line
 * with more=N). A name NSS does not know is not written: it may be a mistyped password. */
static void log_refused_targets(const struct resetd_ctx *c, const char *event, const char *why,
				char *const *t, size_t n, bool is_group)
{
	struct mfa_event ev = mfa_event_new(event);
	char name[MFA_USER_NAME_MAX + 1];

	ev.actor = c->actor[0] ? c->actor : NULL;
	ev.uid = c->uid;
	ev.result = "refused";
	ev.reason = why;
	if (n == 0)
		resetd_log(&ev);
	for (size_t i = 0; i < n && i < RESETD_LOG_TARGETS_MAX; i++) {
		bool known = is_group ? getgrnam(t[i]) != NULL :
					mfa_user_canonical(t[i], name, sizeof(name)) == 0;

		ev.target = !is_group && known ? name : NULL;
		ev.group = is_group && known ? t[i] : NULL;
		resetd_log(&ev);
	}
	if (n > RESETD_LOG_TARGETS_MAX) {
		ev.target = ev.group = NULL;
		ev.more = (long long)(n - RESETD_LOG_TARGETS_MAX);
		resetd_log(&ev);
	}
}

int resetd_require_admin(struct resetd_ctx *c, const char *event, char *const *targets,
			 size_t n, bool is_group)
{
	int r = mfa_user_is_admin(c->cfg, c->uid, c->actor);
	char groups[256];

	if (r > 0)
		return 1;
	c->refused = true;
	if (resetd_limit_take())
		log_refused_targets(c, event, r == 0 ? "not-admin" : "lookup-failed", targets, n,
				    is_group);
	admin_groups_text(c->cfg, groups, sizeof(groups));
	if (r == 0)
		fprintf(c->out, "denied not-authorized you are not root nor a member of any group "
				"in reset.admin_groups (%s)\n", groups);
	else
		fprintf(c->out, "denied lookup-failed cannot check your group membership\n");
	return 0;
}

#define OUTCOME(code, msg, hide) ((struct resetd_outcome){ code, msg, hide, false })

static struct resetd_outcome verdict_outcome(int v)
{
	switch (v) {
	case MFA_RESET_ALLOWED: return OUTCOME(NULL, NULL, false);
	case MFA_RESET_NOT_ADMIN: return OUTCOME("not-authorized", "not authorized", false);
	case MFA_RESET_SELF:
		return OUTCOME("self-reset", "resetting yourself is not allowed", false);
	case MFA_RESET_PROTECTED: return OUTCOME("protected", "user is in a protected group", false);
	case MFA_RESET_INVALID_NAME: return OUTCOME("invalid-name", "not a valid user name", true);
	case MFA_RESET_UNKNOWN_USER: return OUTCOME("unknown-user", "no such user", true);
	default: return OUTCOME("lookup-failed", "cannot look the user up", true);
	}
}

/* The policy removes the secret and recovery codes (files: whatever is there, even a corrupt
 * or unsafe state; ldap: one asserted modify, re-read and retried when a login moved the
 * token meanwhile), records who and when, and the next login on any host enrolls anew. */
static int reset_one(struct resetd_ctx *c, const char *name, int64_t now)
{
	return mfa_policy_reset(&c->pol, name, c->actor, now, MFA_STORE_NOSYNC);
}

static int unlock_one(struct resetd_ctx *c, const char *name, int64_t now)
{
	(void)now;
	return mfa_policy_unlock(&c->pol, name);
}

/* op on one authorized target, unless the directory already failed in this request: then
 * that failure is its answer too, without waiting for another timeout. */
static struct resetd_outcome run_one(struct resetd_ctx *c, target_op op, const char *name,
				     int64_t now)
{
	int r;

	if (c->down == 0 && resetd_store_get(c) == 0) {
		resetd_store_rearm(c);
		r = resetd_store_failed(c, op(c, name, now));
		if (c->down == 0)
			return resetd_store_outcome(c, r == -ENOENT ? resetd_store_why_none(c, name)
								    : r);
	}
	return resetd_store_outcome(c, c->down);
}

/* Replies name the target as requested; audit lines name the account whose state changed.
 * unsynced: the changes were made (the old secrets are gone) but syncfs() failed, so a crash
 * could still undo them: each is "ok ... not-synced", never a false "error". */
static void finish(struct resetd_ctx *c, const char *event, const char *what, char *const *t,
		   struct target *tg, size_t n, size_t pre_failed, bool unsynced)
{
	size_t n_ok = 0;

	for (size_t i = 0; i < n; i++) {
		const struct resetd_outcome *o = &tg[i].o;
		const char *logged = tg[i].name[0] ? tg[i].name : t[i];

		if (!o->code) {
			fprintf(c->out, "ok %s %s%s\n", t[i], what, unsynced ? " not-synced" : "");
			if (strcmp(event, "plan") != 0)
				resetd_log_target(c, event, logged, "ok",
						  unsynced ? "not-synced" : NULL);
			n_ok++;
			continue;
		}
		fprintf(c->out, "err %s %s %s\n", t[i], o->code, o->msg);
		if (strcmp(event, "plan") != 0)
			resetd_log_target(c, event, o->hide_name ? NULL : logged,
					  o->error ? "error" : "refused", o->code);
	}
	fprintf(c->out, "end ok=%zu failed=%zu\n", n_ok, n - n_ok + pre_failed);
}

static int run_targets(struct resetd_ctx *c, const char *event, const char *what, target_op op,
		       char *const *t, size_t n, size_t pre_failed)
{
	_cleanup_free_ struct target *tg = calloc(n ? n : 1, sizeof(*tg));
	int64_t now = (int64_t)time(NULL);
	bool any_ok = false, unsynced = false;
	int r;

	if (!tg)
		return -ENOMEM;
	c->down = 0;
	resetd_log_request(c, event, op ? "accepted" : "ok", NULL, (long long)n);
	for (size_t i = 0; i < n; i++) {
		/* The actor's admin membership was checked for this request
		 * (resetd_require_admin); each target is checked on its own. */
		int v = mfa_user_may_reset_target(c->cfg, c->uid, c->actor, t[i], tg[i].name,
						  sizeof(tg[i].name));

		tg[i].o = verdict_outcome(v);
		if (tg[i].o.code) {
			tg[i].name[0] = '\0';
			continue;
		}
		if (op)
			tg[i].o = run_one(c, op, tg[i].name, now);
		any_ok |= !tg[i].o.code;
	}
	/* Durable before anyone is told "ok": one syncfs for the whole batch (the directory
	 * made each modify durable before it answered, and its store is gone if it failed
	 * since). If it fails, the resets were made (the old secrets are gone) but a crash
	 * could undo them: each says so. */
	if (any_ok && op == reset_one && c->store && (r = mfa_store_sync(c->store)) < 0) {
		syslog(LOG_ERR, "event=sync result=error error='%s'", strerror(-r));
		unsynced = true;
	}
	finish(c, event, what, t, tg, n, pre_failed, unsynced);
	return 0;
}

int resetd_reset(struct resetd_ctx *c, char *const *targets, size_t n)
{
	if (!resetd_require_admin(c, "reset", targets, n, false))
		return 0;
	return run_targets(c, "reset", "reset", reset_one, targets, n, 0);
}

int resetd_unlock(struct resetd_ctx *c, char *const *targets, size_t n)
{
	if (!resetd_require_admin(c, "unlock", targets, n, false))
		return 0;
	return run_targets(c, "unlock", "unlocked", unlock_one, targets, n, 0);
}

int resetd_plan(struct resetd_ctx *c, char *const *targets, size_t n)
{
	if (!resetd_require_admin(c, "plan", targets, n, false))
		return 0;
	return run_targets(c, "plan", "would-reset", NULL, targets, n, 0);
}

int resetd_reset_group(struct resetd_ctx *c, char *const *groups, size_t n)
{
	struct mfa_strlist all = { 0 };
	size_t bad = 0;
	int r;

	if (!resetd_require_admin(c, "reset", groups, n, true))
		return 0;
	r = resetd_expand_groups(c, groups, n, &all, &bad);
	if (r >= 0)
		r = run_targets(c, "reset", "reset", reset_one, all.v, all.n, bad);
	mfa_strlist_free(&all);
	return r;
}
