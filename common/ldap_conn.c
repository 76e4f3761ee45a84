/* Connecting to the directory: our own socket connect under a deadline, TLS verified
 * against the configured CA, then a SASL EXTERNAL or simple bind. libldap is handed the
 * connected socket (ldap_init_fd) and a deadline I/O layer (ldap_io.c) because its own
 * timeouts leave the TLS handshake unbounded (a paused slapd kept ldapwhoami waiting 32 s
 * against a 2 s network timeout). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <sodium.h>

#include "fsutil.h"
#include "ldap_int.h"

#define DEFAULT_LDAPI "/run/slapd/ldapi"
#define PASSWORD_MAX 256

static void urlfreep(LDAPURLDesc **u)
{
	if (*u)
		ldap_free_urldesc(*u);
}

static int poll_connect(struct mfa_ldap *c, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	struct timeval tv;
	int soerr = 0, r;
	socklen_t sl = sizeof(soerr);

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -errno;
	if ((r = mfa_ldapx_arm(c, &tv)) < 0)
		return r;
	r = poll(&p, 1, (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000));
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return -errno;
	return soerr ? -soerr : 0;
}

/* A blocking socket connected to u within the deadline (the kernel bounds its later I/O:
 * mfa_ldapx_arm sets the socket timeouts before every step). */
static int open_socket(struct mfa_ldap *c, const LDAPURLDesc *u, bool ipc, int *ret_fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char port[8];
	int r = -EHOSTUNREACH;

	if (ipc) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		const char *path = u->lud_host && u->lud_host[0] ? u->lud_host : DEFAULT_LDAPI;
		_cleanup_close_ int fd = -1;

		if (strlen(path) >= sizeof(sun.sun_path))
			return -ENAMETOOLONG;
		strcpy(sun.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -errno;
		if ((r = poll_connect(c, fd, (struct sockaddr *)&sun, sizeof(sun))) < 0)
			return r;
		*ret_fd = TAKE_FD(fd);
		return 0;
	}
	snprintf(port, sizeof(port), "%d", u->lud_port);
	/* A host name is resolved by the system resolver, which has timeouts of its own
	 * (resolv.conf): name the directory by address, or keep it in /etc/hosts. */
	if (getaddrinfo(u->lud_host, port, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		_cleanup_close_ int fd = socket(a->ai_family,
						a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		/* What libldap does for the sockets it opens itself (os-ip.c), which ldap_init_fd()
		 * skips: without it Nagle's algorithm holds the bind request behind the TLS
		 * handshake's last small record until the server's delayed ACK, 40 ms a login
		 * (bench/RESULTS.md). Best effort, as there. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if ((r = poll_connect(c, fd, a->ai_addr, a->ai_addrlen)) == 0) {
			*ret_fd = TAKE_FD(fd);
			break;
		}
		if (r == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(ai);
	return r;
}

static int tls_options(const struct mfa_ldap *c, LDAP *ld)
{
	const struct mfa_config_ldap *l = c->cfg;
	int demand = LDAP_OPT_X_TLS_DEMAND, min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, zero = 0;

	/* Per handle, so nothing in ldap.conf (TLS_REQCERT allow, a TLS_CACERTDIR of other
	 * CAs...) weakens it: ca_file is the only trust anchor. */
	if (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTDIR, NULL) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, l->ca_file) != LDAP_OPT_SUCCESS)
		return -EPROTO;
	if (c->id.cert_file[0] &&
	    (ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, c->id.cert_file) != LDAP_OPT_SUCCESS ||
	     ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, c->id.key_file) != LDAP_OPT_SUCCESS))
		return -EPROTO;
	if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS)
		return -EPROTO;
	return 0;
}

static int start_tls(struct mfa_ldap *c, bool ldaps)
{
	struct timeval tv;
	int rc, r;

	if ((r = tls_options(c, c->ld)) < 0) {
		snprintf(c->err, sizeof(c->err), "TLS setup failed (ca_file, cert_file?)");
		return r;
	}
	if ((r = mfa_ldapx_arm(c, &tv)) < 0)
		return r;
	/* ldap_start_tls_s waits for the StartTLS answer up to LDAP_OPT_TIMEOUT. */
	if (ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS)
		return -EIO;
	rc = ldaps ? ldap_install_tls(c->ld) : ldap_start_tls_s(c->ld, NULL, NULL);
	if ((r = mfa_ldapx_arm(c, NULL)) < 0)
		return r;
	if (rc != LDAP_SUCCESS || !ldap_tls_inplace(c->ld)) {
		snprintf(c->err, sizeof(c->err), "TLS handshake failed: %s (%d)",
			 ldap_err2string(rc), rc);
		return -EPROTO;
	}
	return 0;
}

static void password_freep(char **p)
{
	if (*p)
		sodium_free(*p); /* wipes */
}

/* The bind password: a regular file, not a link, owned by us, no group/world bits (as the
 * state files), its first line. O_NONBLOCK as for the config: a FIFO in its place is refused
 * by the check, never waited on (open() would block past every timeout). */
static int read_password(struct mfa_ldap *c, char **ret)
{
	_cleanup_close_ int fd = open(c->id.password_file,
				      O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	_cleanup_(password_freep) char *pw = NULL;
	size_t len;
	int r;

	if (fd < 0) {
		snprintf(c->err, sizeof(c->err), "cannot open bind_password_file: %s",
			 strerror(errno));
		return -errno;
	}
	if ((r = mfa_fs_check_fd(fd, false, true)) < 0) {
		snprintf(c->err, sizeof(c->err), "bind_password_file: unsafe owner, mode or type");
		return -EPERM;
	}
	if (!(pw = sodium_malloc(PASSWORD_MAX)))
		return -ENOMEM;
	r = mfa_fs_read_fd(fd, pw, PASSWORD_MAX, &len);
	if (r == 0)
		pw[strcspn(pw, "\r\n")] = '\0';
	if (r == 0 && !pw[0])
		r = -EINVAL;
	if (r < 0) { /* the log must name the file, not only "Invalid argument" */
		snprintf(c->err, sizeof(c->err), "bind_password_file: %s",
			 r == -EINVAL ? "empty first line" : r == -EFBIG ? "too long" : strerror(-r));
		return r;
	}
	*ret = TAKE_PTR(pw);
	return 0;
}

static int do_bind(struct mfa_ldap *c)
{
	_cleanup_(password_freep) char *pw = NULL;
	struct berval cred = { 0, NULL };
	const char *mech = LDAP_SASL_SIMPLE, *dn = NULL;
	int msgid, r;

	if (c->id.bind == MFA_LDAP_BIND_SIMPLE) {
		if ((r = read_password(c, &pw)) < 0)
			return r;
		cred = (struct berval){ strlen(pw), pw };
		dn = c->id.dn;
	} else {
		/* An empty initial response: without one slapd asks for it (14, in progress). */
		mech = "EXTERNAL";
		cred = (struct berval){ 0, (char *)(uintptr_t) "" };
	}
	if ((r = mfa_ldapx_arm(c, NULL)) < 0)
		return r;
	if (ldap_sasl_bind(c->ld, dn, mech, &cred, NULL, NULL, &msgid) != LDAP_SUCCESS)
		return -ECONNRESET;
	if ((r = mfa_ldapx_result(c, msgid, NULL)) < 0 && r != -ETIMEDOUT) {
		char why[sizeof(c->err)];
		memcpy(why, c->err, sizeof(why));
		snprintf(c->err, sizeof(c->err), "bind refused: %.140s", why);
	}
	return r;
}

static int open_one(struct mfa_ldap *c, const char *uri)
{
	_cleanup_(urlfreep) LDAPURLDesc *u = NULL;
	_cleanup_close_ int fd = -1;
	int v3 = LDAP_VERSION3, r;
	bool ipc, ldaps, plain;

	if (ldap_url_parse(uri, &u) != LDAP_URL_SUCCESS)
		return -EINVAL;
	ipc = strcmp(u->lud_scheme, "ldapi") == 0;
	ldaps = strcmp(u->lud_scheme, "ldaps") == 0;
	plain = !ipc && !ldaps && c->cfg->allow_plain_simple_bind;
	if ((r = open_socket(c, u, ipc, &fd)) < 0)
		return r;
	if (ldap_init_fd(fd, ipc ? LDAP_PROTO_IPC : LDAP_PROTO_TCP, uri, &c->ld) != LDAP_SUCCESS)
		return -ENOMEM;
	TAKE_FD(fd); /* the handle owns it now: ldap_unbind closes it */
	if ((r = mfa_ldapx_install_deadline(c)) < 0)
		return r;
	if (ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS)
		return -EIO;
	/* ldap:// always goes through StartTLS unless plain was explicitly allowed: the bind
	 * password and the secrets would otherwise cross the network in clear. */
	if (!ipc && !plain && (r = start_tls(c, ldaps)) < 0)
		return r;
	return do_bind(c);
}

void mfa_ldap_rearm(struct mfa_ldap *c)
{
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += c->cfg->timeout_ms / 1000;
	c->deadline.tv_nsec += (long)(c->cfg->timeout_ms % 1000) * 1000000;
	if (c->deadline.tv_nsec >= 1000000000) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000;
	}
}

const char *mfa_ldap_error(const struct mfa_ldap *c)
{
	return c ? c->err : "";
}

void mfa_ldap_close(struct mfa_ldap *c)
{
	if (!c)
		return;
	if (c->ld) {
		mfa_ldapx_arm(c, NULL); /* an unbind to a paused server must not hang either */
		ldap_unbind_ext(c->ld, NULL, NULL);
	}
	free(c);
}

static void set_identity(struct mfa_ldap *c, enum mfa_ldap_role role)
{
	const struct mfa_config_ldap *l = c->cfg;

	if (role == MFA_LDAP_ROLE_RESET) {
		c->id.bind = l->reset_bind;
		c->id.dn = l->reset_bind_dn;
		c->id.password_file = l->reset_bind_password_file;
		c->id.cert_file = l->reset_cert_file;
		c->id.key_file = l->reset_key_file;
	} else {
		c->id.bind = l->bind;
		c->id.dn = l->bind_dn;
		c->id.password_file = l->bind_password_file;
		c->id.cert_file = l->cert_file;
		c->id.key_file = l->key_file;
	}
}

int mfa_ldap_connect(const struct mfa_config *cfg, enum mfa_ldap_role role,
		     struct mfa_ldap **ret_conn, struct mfa_err *reterr)
{
	_cleanup_free_ char *uris = strdup(cfg->ldap.uri);
	struct mfa_ldap *c = NULL;
	char *save = NULL;
	int r = -EINVAL;

	if (!uris)
		return -ENOMEM;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->cfg = &cfg->ldap;
	set_identity(c, role);
	mfa_ldap_rearm(c);
	/* One deadline for the whole list: a dead first server leaves the rest less time. */
	for (char *uri = strtok_r(uris, " ,", &save); uri; uri = strtok_r(NULL, " ,", &save)) {
		if ((r = open_one(c, uri)) == 0) {
			*ret_conn = c;
			return 0;
		}
		mfa_err_set(reterr, r, 0, "%s: %s", uri, c->err[0] ? c->err : strerror(-r));
		if (c->ld)
			ldap_unbind_ext(c->ld, NULL, NULL);
		c->ld = NULL;
		if (r == -ETIMEDOUT || r == -EPERM)
			break;
	}
	free(c);
	return r;
}
