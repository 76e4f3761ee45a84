/* Secrets on a login's path (the state file's text, the secret's line, the secret) live in
 * pages of their own, locked and kept out of core dumps with sodium_mlock() and wiped by
 * sodium_munlock() before they are unmapped: the "sodium_mlock()ed memory" of SPEC section 4.
 *
 * Why not sodium_malloc(): it needs sodium_init() first, and sodium_init() probes the CPU with
 * the cpuid instruction, which traps to the hypervisor on a virtual machine. PAM loads the
 * module afresh for every login, so every login paid for it: about 60 us on the machine of
 * bench/RESULTS.md, a tenth of a whole login of pam_google_authenticator. A login that verifies
 * a code needs nothing else that depends on it (hex decoding, constant-time comparison, BLAKE2b
 * and sodium_mlock() work without it, with libsodium's portable implementations);
 * sodium_malloc() and the random generator are still used, after sodium_init()
 * (mfa_sodium_ready), where a token is made: enrollment, recovery codes, state writes.
 * What these pages lack is sodium_malloc()'s guard pages and canary; what they keep is what
 * keeps a secret out of swap and core dumps, and the wipe. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "locked.h"

/* In front of the caller's bytes: the length of the mapping and a check of it (the length
 * mixed with the address), 16 bytes to keep them aligned. A write before the block, or a pointer
 * that did not come from here, would otherwise have mfa_locked_free() wipe and unmap a length
 * read from whatever lies there: it aborts instead, as sodium_free() does on its canary. */
#define HEADER 16
#define CHECK_MIX ((size_t)0x9e3779b97f4a7c15u)

static size_t check_of(const unsigned char *base, size_t len)
{
	return len ^ (size_t)(uintptr_t)base ^ CHECK_MIX;
}

void *mfa_locked_alloc(size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len;
	unsigned char *base;

	if (page <= 0 || size > SIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
	len = (HEADER + size + (size_t)page - 1) & ~((size_t)page - 1);
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	/* As sodium_malloc(): a process over RLIMIT_MEMLOCK still gets the memory, and the
	 * core-dump exclusion is applied before the lock is tried. */
	(void)sodium_mlock(base, len);
	((size_t *)(void *)base)[0] = len;
	((size_t *)(void *)base)[1] = check_of(base, len);
	return base + HEADER;
}

void mfa_locked_free(void *p)
{
	unsigned char *base;
	size_t len;

	if (!p)
		return;
	base = (unsigned char *)p - HEADER;
	if (((uintptr_t)base & ((uintptr_t)sysconf(_SC_PAGESIZE) - 1)) != 0)
		abort(); /* not from mfa_locked_alloc() (a sodium_malloc() block, say) */
	len = ((size_t *)(void *)base)[0];
	if (((size_t *)(void *)base)[1] != check_of(base, len))
		abort();
	(void)sodium_munlock(base, len); /* wipes all of it first */
	munmap(base, len);
}
