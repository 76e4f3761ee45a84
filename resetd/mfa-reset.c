/* mfa-reset: the administrator's command. Unprivileged: it only talks to mfa-resetd, which
 * decides from the kernel's peer credentials who may do what. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mfa-build.h"
#include "reset.h"
#include "user.h"

static void usage(FILE *f)
{
	fputs("Usage: mfa-reset [OPTIONS] USER...          reset MFA of users\n"
	      "       mfa-reset [OPTIONS] --group GROUP    reset every member of GROUP\n"
	      "       mfa-reset [OPTIONS] --from-file FILE reset the users in FILE (- = stdin)\n"
	      "       mfa-reset --status USER... | --list | --unlock USER...\n"
	      "Options:\n"
	      "  -y, --yes          do not ask for confirmation\n"
	      "  -g, --group GROUP  reset the members of GROUP (repeatable)\n"
	      "  -f, --from-file F  read user names, one per line, from F (- = stdin)\n"
	      "  -s, --status       show the MFA state of the named users\n"
	      "  -l, --list         show the MFA state of every user with state\n"
	      "  -u, --unlock       clear a lockout without re-enrollment\n"
	      "  -j, --json         machine-readable output\n"
	      "  -n, --dry-run      show who would be reset, change nothing\n"
	      "      --socket PATH  daemon socket (default: from the config)\n"
	      "      --config PATH  configuration file (default: " MFA_DEFAULT_CONFIG ")\n"
	      "      --timeout SEC  give up on a silent daemon after SEC seconds (default 30)\n"
	      "      --check-config [FILE]  check the config (default: --config) and exit\n"
	      "  -h, --help         this text\n"
	      "  -V, --version      the version\n"
	      "Exit: 0 all succeeded, 1 some failed, 2 usage, 3 not authorized, 4 daemon unreachable.\n",
	      f);
}

static void set_mode(struct options *o, enum mode m)
{
	o->mode = m;
	o->n_modes++;
}

static int parse_timeout(const char *s, unsigned *ret)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !end || *end || v == 0 || v > 3600 || *s == '-') {
		fprintf(stderr, "mfa-reset: --timeout: want 1 to 3600 seconds, not '%s'\n", esc(s));
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "yes", no_argument, NULL, 'y' },       { "group", required_argument, NULL, 'g' },
		{ "from-file", required_argument, NULL, 'f' },
		{ "status", no_argument, NULL, 's' },    { "list", no_argument, NULL, 'l' },
		{ "unlock", no_argument, NULL, 'u' },    { "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },   { "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'C' }, { "help", no_argument, NULL, 'h' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "check-config", optional_argument, NULL, 'K' },
		{ "version", no_argument, NULL, 'V' },   {}
	};
	int c;

	while ((c = getopt_long(argc, argv, "yg:f:slujnhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'y': o->yes = true; break;
		case 'g':
			if (mfa_strlist_add(&o->groups, optarg, false) < 0)
				return -ENOMEM;
			break;
		case 'f': o->from_file = optarg; break;
		case 's': set_mode(o, MODE_STATUS); break;
		case 'l': set_mode(o, MODE_LIST); break;
		case 'u': set_mode(o, MODE_UNLOCK); break;
		case 'j': o->json = true; break;
		case 'n': o->dry_run = true; break;
		case 'S': o->socket = optarg; break;
		case 'C': o->config = optarg; break;
		case 'K':
			/* "--check-config FILE" as well as "--check-config=FILE". */
			if (!optarg && optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++];
			o->check_config = optarg ? optarg : "";
			break;
		case 'T':
			if (parse_timeout(optarg, &o->timeout_s) < 0)
				return -EINVAL;
			break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("mfa-reset %s\n", PACKAGE_VERSION); exit(0);
		default: return -EINVAL;
		}
	}
	for (int i = optind; i < argc; i++)
		if (mfa_strlist_add(&o->users, argv[i], false) < 0)
			return -ENOMEM;
	return 0;
}

static int check_args(const struct options *o)
{
	bool targets = o->users.n > 0 || o->groups.n > 0 || o->from_file;
	const char *err = NULL;

	if (o->n_modes > 1)
		err = "--status, --list and --unlock exclude each other";
	else if (o->mode != MODE_RESET && (o->groups.n > 0 || o->dry_run))
		err = "--group and --dry-run only go with a reset";
	else if (o->mode == MODE_LIST && targets)
		err = "--list takes no user names";
	else if (o->mode != MODE_LIST && !targets)
		err = "no user named (see --help)";
	if (err) {
		fprintf(stderr, "mfa-reset: %s\n", err);
		return -EINVAL;
	}
	return 0;
}

/* Why line (len bytes, NULs included) cannot be a name, or NULL. */
static const char *bad_line_reason(const char *s, size_t len)
{
	if (memchr(s, '\0', len))
		return "NUL byte in the line";
	if (len > MFA_USER_NAME_MAX)
		return "longer than a user name may be";
	if (mfa_user_validate(s) < 0 || !mfa_proto_arg_ok(s))
		return "not a valid user name";
	return NULL;
}

static int add_bad_line(struct options *o, const char *path, unsigned long n, const char *s,
			const char *why)
{
	char label[64], msg[512];

	snprintf(label, sizeof(label), "%s:%lu", strcmp(path, "-") == 0 ? "stdin" : path, n);
	snprintf(msg, sizeof(msg), "%s: %s", why, esc(s));
	if (mfa_strlist_add(&o->bad_lines, label, false) < 0 ||
	    mfa_strlist_add(&o->bad_why, msg, false) < 0)
		return -ENOMEM;
	return 0;
}

/* One name per line; blank lines and '#' comments skipped, surrounding blanks trimmed. A line
 * that is no name (a NUL byte, too long, invalid) is an error of its own, named by its line
 * number; the other lines still go. */
static int read_names(const char *path, struct options *o)
{
	_cleanup_fclose_ FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "re");
	FILE *in = strcmp(path, "-") == 0 ? stdin : f;
	_cleanup_free_ char *line = NULL;
	unsigned long n = 0;
	size_t cap = 0;
	ssize_t len;

	if (!in) {
		fprintf(stderr, "mfa-reset: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while ((len = getline(&line, &cap, in)) >= 0) {
		char *s = line, *e = line + len;
		const char *why;
		int r;

		n++;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && strchr(" \t\r\n", e[-1]) && e[-1])
			e--;
		*e = '\0';
		if (s == e || *s == '#')
			continue;
		why = bad_line_reason(s, (size_t)(e - s));
		r = why ? add_bad_line(o, path, n, s, why) : mfa_strlist_add(&o->users, s, false);
		if (r < 0)
			return r;
	}
	if (ferror(in)) {
		fprintf(stderr, "mfa-reset: %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

static const char *socket_path(const struct options *o, struct mfa_config *cfg)
{
	struct mfa_err err = { 0 };

	if (o->socket)
		return o->socket;
	if (mfa_config_load(o->config, cfg, &err) == 0)
		return cfg->reset.socket;
	if (o->config && strcmp(o->config, MFA_DEFAULT_CONFIG) != 0)
		fprintf(stderr, "mfa-reset: %s: %s; using %s\n", o->config,
			err.msg[0] ? err.msg : "unreadable", MFA_CONFIG_DEFAULT_SOCKET);
	return MFA_CONFIG_DEFAULT_SOCKET;
}

static void options_free(struct options *o)
{
	mfa_strlist_free(&o->users);
	mfa_strlist_free(&o->groups);
	mfa_strlist_free(&o->bad_lines);
	mfa_strlist_free(&o->bad_why);
	mfa_strlist_free(&o->plan);
}

/* "cannot reach mfa-resetd" with what to do about it; in JSON too. */
static void unreachable(struct client *c, const char *path, int r)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "cannot reach mfa-resetd at %s: %s", path,
		 r == -ETIMEDOUT ? "no answer in time" : strerror(-r));
	fprintf(stderr, "mfa-reset: %s\n"
			"mfa-reset: is the daemon running? Start it with "
			"'systemctl start mfa-resetd.socket' (or run mfa-resetd as root), "
			"or name its socket with --socket\n", msg);
	if (!c->json)
		return;
	client_set_error(c, "unreachable", msg);
	out_begin(c, OUT_RESULTS);
	out_end(c, -EHOSTUNREACH);
}

static int run(struct options *o)
{
	struct mfa_config cfg = { 0 };
	struct client c = { .fd = -1, .json = o->json, .timeout_s = o->timeout_s };
	const char *path = socket_path(o, &cfg);
	int r, ret;

	if ((r = client_connect(&c, path)) < 0) {
		unreachable(&c, path, r);
		mfa_config_free(&cfg);
		return EXIT_UNREACHABLE;
	}
	ret = o->mode == MODE_RESET ? reset_main(&c, o) : query_main(&c, o);
	client_close(&c);
	mfa_config_free(&cfg);
	return ret;
}

int main(int argc, char **argv)
{
	_cleanup_(options_free) struct options o = { .config = MFA_DEFAULT_CONFIG,
						     .timeout_s = 30 };
	int ret;

	/* A daemon that closes first must be an error with a reason, not a silent death. */
	signal(SIGPIPE, SIG_IGN);

	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.check_config)
		return check_config_main(o.check_config[0] ? o.check_config : o.config);
	if (check_args(&o) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.from_file && read_names(o.from_file, &o) < 0)
		return EXIT_USAGE;
	ret = run(&o);
	if (fflush(stdout) != 0 && ret == 0)
		ret = EXIT_SOME_FAILED;
	return ret;
}
