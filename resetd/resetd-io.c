/* mfa-resetd: one connection's reads and writes, all non-blocking and all charged to one
 * budget (RESETD_IO_BUDGET_MS of waiting on the client, reads and writes together), so a
 * client that drips requests or never reads its replies cannot hold a slot for long. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "resetd.h"

int64_t resetd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events, at most until deadline (ms) and what is left of the
 * budget, which pays for the wait. 0 ready, -ETIMEDOUT, other -errno. */
static int wait_fd(struct resetd_ctx *c, short events, int64_t deadline)
{
	int64_t start = resetd_now_ms();
	int64_t limit = deadline < start + c->io_left ? deadline : start + c->io_left;
	struct pollfd p = { .fd = c->fd, .events = events };
	int n;

	if (limit <= start)
		return -ETIMEDOUT;
	n = poll(&p, 1, (int)(limit - start));
	c->io_left -= resetd_now_ms() - start;
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return 0;
}

/* The cookie writer under c->out: short writes and EAGAIN are waited out within the budget;
 * after a timeout or a vanished client every write fails at once. */
static ssize_t write_out(void *cookie, const char *buf, size_t size)
{
	struct resetd_ctx *c = cookie;
	size_t done = 0;

	while (done < size && !c->io_dead) {
		ssize_t n = send(c->fd, buf + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			c->io_dead = true;
			break;
		}
		if ((r = wait_fd(c, POLLOUT, INT64_MAX)) < 0)
			c->io_dead = true;
	}
	if (done == 0 && size > 0) {
		errno = EPIPE;
		return -1;
	}
	return (ssize_t)done;
}

int resetd_io_open(struct resetd_ctx *c, int fd)
{
	static const cookie_io_functions_t fns = { .write = write_out };

	c->fd = fd;
	c->io_left = RESETD_IO_BUDGET_MS;
	c->out = fopencookie(c, "w", fns);
	return c->out ? 0 : -ENOMEM;
}

int resetd_read_line(struct resetd_ctx *c, struct resetd_linebuf *lb, char **ret_line,
		     size_t *ret_len)
{
	int64_t deadline = resetd_now_ms() + RESETD_READ_TIMEOUT_MS;
	size_t scanned = 0;
	char *nl;
	int r;

	memmove(lb->buf, lb->buf + lb->consumed, lb->len - lb->consumed);
	lb->len -= lb->consumed;
	lb->consumed = 0;
	for (;;) {
		ssize_t n;

		nl = memchr(lb->buf + scanned, '\n', lb->len - scanned);
		if (nl)
			break;
		scanned = lb->len;
		if (lb->len > MFA_PROTO_LINE_MAX)
			return -EMSGSIZE;
		n = recv(c->fd, lb->buf + lb->len, MFA_PROTO_LINE_MAX + 1 - lb->len, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n > 0) {
			lb->len += (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((r = wait_fd(c, POLLIN, deadline)) < 0)
			return r;
	}
	*nl = '\0';
	*ret_line = lb->buf;
	*ret_len = (size_t)(nl - lb->buf);
	lb->consumed = *ret_len + 1;
	return 0;
}
