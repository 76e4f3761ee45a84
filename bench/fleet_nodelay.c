/* pam_totp benchmark, fleet part: a diagnostic, not the product. Preloaded into pam_bench,
 * sets TCP_NODELAY on every TCP socket the process connects, as libldap's own connect does
 * (ldap_int_prepare_socket) and the ldap store's socket (common/ldap_conn.c, open_socket)
 * does not; the fleet table's "TCP_NODELAY shim" row shows what that costs an ldaps://
 * login. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	int one = 1;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "connect");
	if (!real)
		return -1;
	if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return real(fd, sa, len);
}
