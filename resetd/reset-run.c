/* mfa-reset: the request sequences behind each mode. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "reset.h"
#include "user.h"

static int exit_status(const struct client *c, int r)
{
	if (r == -EACCES)
		return EXIT_NOT_AUTHORIZED;
	if (r < 0 || c->n_failed > 0)
		return EXIT_SOME_FAILED;
	return 0;
}

/* Moves the names that cannot travel in a request out of l into bad. */
static int split_sendable(struct mfa_strlist *l, struct mfa_strlist *bad)
{
	size_t j = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (mfa_proto_arg_ok(l->v[i])) {
			l->v[j++] = l->v[i];
			continue;
		}
		if (mfa_strlist_add(bad, l->v[i], false) < 0)
			return -ENOMEM;
		free(l->v[i]);
	}
	l->n = j;
	return 0;
}

static void report_bad(struct client *c, const struct mfa_strlist *bad)
{
	for (size_t i = 0; i < bad->n; i++)
		out_local_error(c, "(invalid)", "invalid-name", "not a valid user name");
}

static int collect_member(struct client *c, const struct mfa_reply *rep, void *userdata)
{
	struct mfa_strlist *plan = userdata;

	if (rep->kind == MFA_REPLY_ERR) {
		fprintf(stderr, "mfa-reset: group %s: %s\n", rep->user, rep->rest);
		return 0;
	}
	if (rep->kind != MFA_REPLY_MEMBER)
		return 0;
	return mfa_strlist_add(plan, rep->user, false);
}

static int plan_groups(struct client *c, struct options *o, struct mfa_strlist *plan)
{
	for (size_t i = 0; i < o->groups.n; i++)
		if (!mfa_proto_arg_ok(o->groups.v[i])) {
			fprintf(stderr, "mfa-reset: invalid group name\n");
			return -EINVAL;
		}
	if (o->groups.n == 0)
		return 0;
	return client_request_all(c, MFA_VERB_PLAN_GROUP, o->groups.v, o->groups.n,
				  collect_member, plan);
}

static int dry_run(struct client *c, const struct mfa_strlist *all, const struct mfa_strlist *bad)
{
	struct mfa_reply rep = { .kind = MFA_REPLY_MEMBER };

	out_begin(c, OUT_PLAN);
	report_bad(c, bad);
	for (size_t i = 0; i < all->n; i++) {
		rep.user = all->v[i];
		out_reply(c, &rep, NULL);
	}
	out_end(c, 0);
	return exit_status(c, 0);
}

static int ask(struct mfa_strlist *all)
{
	int r = confirm_reset(all->v, all->n);

	if (r == -ENXIO) {
		fprintf(stderr, "mfa-reset: no terminal to confirm on; refusing to reset without "
				"--yes\n");
		return EXIT_USAGE;
	}
	if (r <= 0) {
		fprintf(stderr, "mfa-reset: not confirmed; nothing changed\n");
		return EXIT_SOME_FAILED;
	}
	return 0;
}

static int do_reset(struct client *c, struct options *o, const struct mfa_strlist *bad)
{
	int r = 0;

	out_begin(c, OUT_RESULTS);
	report_bad(c, bad);
	if (o->users.n > 0)
		r = client_request_all(c, MFA_VERB_RESET, o->users.v, o->users.n, out_reply, NULL);
	if (r >= 0 && o->groups.n > 0)
		r = client_request_all(c, MFA_VERB_RESET_GROUP, o->groups.v, o->groups.n,
				       out_reply, NULL);
	out_end(c, r);
	return exit_status(c, r);
}

static int reset_with(struct client *c, struct options *o, struct mfa_strlist *all,
		      const struct mfa_strlist *bad)
{
	int r;

	if ((r = plan_groups(c, o, all)) < 0)
		return r == -EINVAL ? EXIT_USAGE : exit_status(c, r);
	for (size_t i = 0; i < o->users.n; i++)
		if (mfa_strlist_add(all, o->users.v[i], false) < 0)
			return EXIT_SOME_FAILED;
	if (o->dry_run)
		return dry_run(c, all, bad);
	if (all->n == 0) {
		fprintf(stderr, "mfa-reset: nobody to reset\n");
		return EXIT_SOME_FAILED;
	}
	if (!o->yes && (r = ask(all)) != 0)
		return r;
	return do_reset(c, o, bad);
}

int reset_main(struct client *c, struct options *o)
{
	struct mfa_strlist all = { 0 }, bad = { 0 };
	int ret = EXIT_SOME_FAILED;

	if (split_sendable(&o->users, &bad) == 0)
		ret = reset_with(c, o, &all, &bad);
	mfa_strlist_free(&all);
	mfa_strlist_free(&bad);
	return ret;
}

int query_main(struct client *c, struct options *o)
{
	struct mfa_strlist bad = { 0 };
	int r;

	if (split_sendable(&o->users, &bad) < 0)
		return EXIT_SOME_FAILED;
	out_begin(c, o->mode == MODE_UNLOCK ? OUT_RESULTS : OUT_STATUS);
	report_bad(c, &bad);
	if (o->mode == MODE_LIST)
		r = client_request(c, MFA_VERB_LIST, NULL, 0, out_reply, NULL);
	else if (o->users.n == 0)
		r = 0;
	else
		r = client_request_all(c, o->mode == MODE_UNLOCK ? MFA_VERB_UNLOCK : MFA_VERB_STATUS,
				       o->users.v, o->users.n, out_reply, NULL);
	out_end(c, r);
	mfa_strlist_free(&bad);
	return exit_status(c, r);
}
