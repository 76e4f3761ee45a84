/* mfa-reset: the administrator's command. Unprivileged: it only talks to mfa-resetd, which
 * decides from the kernel's peer credentials who may do what. */
#include <errno.h>
#include <getopt.h>
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
	      "  -h, --help         this text\n"
	      "  -V, --version      the version\n"
	      "Exit: 0 all succeeded, 1 some failed, 2 usage, 3 not authorized, 4 no daemon.\n",
	      f);
}

static void set_mode(struct options *o, enum mode m)
{
	o->mode = m;
	o->n_modes++;
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

/* One name per line; blank lines and '#' comments skipped, surrounding blanks trimmed. */
static int read_names(const char *path, struct mfa_strlist *l)
{
	_cleanup_fclose_ FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "re");
	FILE *in = strcmp(path, "-") == 0 ? stdin : f;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!in) {
		fprintf(stderr, "mfa-reset: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while ((len = getline(&line, &cap, in)) >= 0) {
		char *s = line, *e = line + len;

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && strchr(" \t\r\n", e[-1]))
			e--;
		*e = '\0';
		if (!*s || *s == '#')
			continue;
		if (mfa_strlist_add(l, s, false) < 0)
			return -ENOMEM;
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
}

static int run(struct options *o)
{
	struct mfa_config cfg = { 0 };
	struct client c = { .fd = -1, .json = o->json };
	const char *path = socket_path(o, &cfg);
	int r, ret;

	if ((r = client_connect(&c, path)) < 0) {
		fprintf(stderr, "mfa-reset: cannot reach mfa-resetd at %s: %s\n", path,
			strerror(-r));
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
	_cleanup_(options_free) struct options o = { .config = MFA_DEFAULT_CONFIG };
	int ret;

	if (parse_args(argc, argv, &o) < 0 || check_args(&o) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (o.from_file && read_names(o.from_file, &o.users) < 0)
		return EXIT_USAGE;
	ret = run(&o);
	if (fflush(stdout) != 0 && ret == 0)
		ret = EXIT_SOME_FAILED;
	return ret;
}
