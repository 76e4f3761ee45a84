/* A deadline under libldap: a Sockbuf I/O layer between TLS and the socket that waits for
 * the socket with poll() for no longer than the connection's deadline and then fails the
 * read or write with ETIMEDOUT. libldap bounds neither the TLS handshake nor a read in the
 * middle of a record, and once a socket timeout (SO_RCVTIMEO) fires it retries the
 * handshake's EAGAIN in a busy loop (seen against a paused slapd); a hard error from below
 * ends the handshake instead. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "ldap_int.h"

static int io_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int io_remove(Sockbuf_IO_Desc *sbiod)
{
	return 0;
}

static int io_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

static int wait_fd(Sockbuf_IO_Desc *sbiod, short events)
{
	struct pollfd p = { .fd = -1, .events = events };
	int64_t ms;
	int r;

	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &p.fd);
	for (;;) {
		if ((ms = mfa_ldapx_ms_left(sbiod->sbiod_pvt)) <= 0)
			break;
		r = poll(&p, 1, ms > 60000 ? 60000 : (int)ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
	errno = ETIMEDOUT;
	return -1;
}

static ber_slen_t io_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	if (wait_fd(sbiod, POLLIN) < 0)
		return -1;
	return LBER_SBIOD_READ_NEXT(sbiod, buf, len);
}

/* send(MSG_NOSIGNAL) in place of the stream layer's write(): a directory that went away
 * must give EPIPE, not a SIGPIPE that kills the login program hosting the module (seen:
 * slapd killed mid-login, then the unbind's write). */
static ber_slen_t io_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	int fd = -1;

	if (wait_fd(sbiod, POLLOUT) < 0)
		return -1;
	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &fd);
	return send(fd, buf, len, MSG_NOSIGNAL);
}

static int io_close(Sockbuf_IO_Desc *sbiod)
{
	return 0;
}

static Sockbuf_IO deadline_io = {
	.sbi_setup = io_setup,
	.sbi_remove = io_remove,
	.sbi_ctrl = io_ctrl,
	.sbi_read = io_read,
	.sbi_write = io_write,
	.sbi_close = io_close,
};

int mfa_ldapx_install_deadline(struct mfa_ldap *c)
{
	Sockbuf *sb = NULL;

	/* At the transport level before TLS is pushed there: TLS then sits above it. */
	if (ldap_get_option(c->ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || !sb ||
	    ber_sockbuf_add_io(sb, &deadline_io, LBER_SBIOD_LEVEL_TRANSPORT, c) != 0)
		return -EIO;
	return 0;
}
