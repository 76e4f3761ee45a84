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
	if (r == -ETIMEDOUT || r == -EPIPE || r == -ECONNRESET)
		return EXIT_UNREACHABLE;
	if (c->n_unsynced > 0)
		return EXIT_SOME_FAILED;
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

/* Names that cannot travel (named, escaped), and refused --from-file lines (by number). */
static void report_bad(struct client *c, const struct options *o, const struct mfa_strlist *bad)
{
	for (size_t i = 0; i < bad->n; i++)
		out_local_error(c, bad->v[i], "invalid-name", "not a valid user name");
	for (size_t i = 0; o && i < o->bad_lines.n; i++)
		out_local_error(c, o->bad_lines.v[i], "invalid-line", o->bad_why.v[i]);
}

/* Group members from PLAN-GROUP; an unknown group is an error line of its own. */
static int collect_member(struct client *c, const struct mfa_reply *rep, void *userdata)
{
	struct options *o = userdata;
	char label[160];

	if (rep->kind == MFA_REPLY_ERR) {
		snprintf(label, sizeof(label), "group:%s", rep->user);
		if (mfa_strlist_add(&o->bad_lines, label, false) < 0 ||
		    mfa_strlist_add(&o->bad_why, rep->rest, false) < 0)
			return -ENOMEM;
		return 0;
	}
	if (rep->kind != MFA_REPLY_MEMBER)
		return 0;
	/* Named directly and through a group: reset once, counted once. */
	return mfa_strlist_add(&o->plan, rep->user, true);
}

static int plan_groups(struct client *c, struct options *o)
{
	for (size_t i = 0; i < o->groups.n; i++)
		if (!mfa_proto_arg_ok(o->groups.v[i])) {
			fprintf(stderr, "mfa-reset: invalid group name: %s\n", esc(o->groups.v[i]));
			return -EINVAL;
		}
	if (o->groups.n == 0)
		return 0;
	return client_request_all(c, MFA_VERB_PLAN_GROUP, o->groups.v, o->groups.n,
				  collect_member, o);
}

/* Stops the run before anything was sent: the message, and the JSON document with it. */
static int stop_run(struct client *c, const char *code, const char *msg, int status)
{
	fprintf(stderr, "mfa-reset: %s\n", msg);
	if (c->json) {
		client_set_error(c, code, msg);
		out_begin(c, OUT_RESULTS);
		out_end(c, 0);
	}
	return status;
}

static int ask(struct client *c, struct mfa_strlist *all)
{
	int r = confirm_reset(all->v, all->n);

	if (r == -ENXIO)
		return stop_run(c, "no-terminal", "no terminal to confirm on; refusing to reset "
				"without --yes", EXIT_USAGE);
	if (r <= 0)
		return stop_run(c, "not-confirmed", "not confirmed; nothing changed",
				EXIT_SOME_FAILED);
	return 0;
}

/* The reset (or, dry, the daemon's verdict for each user): one request for everyone, groups
 * already expanded, so each user is answered once. */
static int send_plan(struct client *c, struct options *o, const struct mfa_strlist *bad)
{
	int r = 0;

	out_begin(c, o->dry_run ? OUT_PLAN : OUT_RESULTS);
	report_bad(c, o, bad);
	if (o->plan.n > 0)
		r = client_request_all(c, o->dry_run ? MFA_VERB_PLAN : MFA_VERB_RESET, o->plan.v,
				       o->plan.n, out_reply, NULL);
	out_end(c, r);
	return exit_status(c, r);
}

/* "nobody to reset", and why. */
static int nobody(struct client *c, struct options *o, const struct mfa_strlist *bad)
{
	size_t n_bad = bad->n + o->bad_lines.n;

	if (n_bad > 0) {
		send_plan(c, o, bad);
		fprintf(stderr, "mfa-reset: nobody to reset: every name given was refused "
				"(%zu, see above)\n", n_bad);
	} else if (o->groups.n > 0)
		fprintf(stderr, "mfa-reset: nobody to reset: the group%s named %s no members\n",
			o->groups.n == 1 ? "" : "s", o->groups.n == 1 ? "has" : "have");
	else
		fprintf(stderr, "mfa-reset: nobody to reset: %s holds no user names\n",
			o->from_file && strcmp(o->from_file, "-") == 0 ? "standard input" :
			o->from_file ? esc(o->from_file) : "the command line");
	if (c->json && n_bad == 0) {
		client_set_error(c, "nobody", "nobody to reset");
		out_begin(c, OUT_RESULTS);
		out_end(c, 0);
	}
	return EXIT_SOME_FAILED;
}

static int reset_with(struct client *c, struct options *o, const struct mfa_strlist *bad)
{
	int r;

	if ((r = plan_groups(c, o)) < 0) {
		if (r == -EINVAL)
			return EXIT_USAGE;
		out_begin(c, OUT_RESULTS);
		out_end(c, r);
		return exit_status(c, r);
	}
	for (size_t i = 0; i < o->users.n; i++)
		if (mfa_strlist_add(&o->plan, o->users.v[i], true) < 0)
			return EXIT_SOME_FAILED;
	if (o->plan.n == 0)
		return nobody(c, o, bad);
	if (!o->dry_run && !o->yes && (r = ask(c, &o->plan)) != 0)
		return r;
	return send_plan(c, o, bad);
}

int reset_main(struct client *c, struct options *o)
{
	struct mfa_strlist bad = { 0 };
	int ret = EXIT_SOME_FAILED;

	if (split_sendable(&o->users, &bad) == 0)
		ret = reset_with(c, o, &bad);
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
	report_bad(c, o, &bad);
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
