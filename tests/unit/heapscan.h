/* A scanner of the heap blocks a process hands back: this executable defines free() and
 * realloc() (exported with -Wl,--export-dynamic-symbol), so every library's calls, liboath's
 * and libconfig's included, come here first; while armed, each block is searched for the
 * needles before the real allocator gets it. A block handed back with a secret in it stays in
 * the heap unwiped until reused: what a core dump or a later bug in the host process shows.
 * realloc() is scanned too, since a block it moves is freed without free(). Included by one
 * test file per executable. */
#pragma once

#include <dlfcn.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEAPSCAN_NEEDLES 16
/* free() runs before AddressSanitizer has mapped its shadow memory (its own start-up frees
 * blocks): the functions on that path are not instrumented. */
#define HEAPSCAN_RAW __attribute__((no_sanitize("address", "undefined")))

static struct {
	const void *needle[HEAPSCAN_NEEDLES];
	size_t len[HEAPSCAN_NEEDLES];
	unsigned n;
	bool armed;
	unsigned hits; /* blocks that held a needle */
} heapscan;

static void (*heapscan_free)(void *);
static void *(*heapscan_realloc)(void *, size_t);
static bool heapscan_resolving;

/* The next free()/realloc() after this executable's: libc's, libasan's, or valgrind's. */
HEAPSCAN_RAW static bool heapscan_resolve(void)
{
	if (heapscan_free && heapscan_realloc)
		return true;
	if (heapscan_resolving)
		return false;
	heapscan_resolving = true;
	heapscan_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	heapscan_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	heapscan_resolving = false;
	return heapscan_free && heapscan_realloc;
}

HEAPSCAN_RAW static void heapscan_block(const void *p)
{
	size_t size;

	if (!heapscan.armed || !p)
		return;
	size = malloc_usable_size((void *)(uintptr_t)p);
	for (unsigned i = 0; i < heapscan.n; i++)
		if (memmem(p, size, heapscan.needle[i], heapscan.len[i])) {
			heapscan.hits++;
			return;
		}
}

__attribute__((visibility("default"))) void free(void *p);
HEAPSCAN_RAW __attribute__((visibility("default"))) void free(void *p)
{
	if (!heapscan_resolve())
		return; /* a block freed while dlsym() runs: kept, never reused */
	heapscan_block(p);
	heapscan_free(p);
}

__attribute__((visibility("default"))) void *realloc(void *p, size_t n);
HEAPSCAN_RAW __attribute__((visibility("default"))) void *realloc(void *p, size_t n)
{
	if (!heapscan_resolve())
		return NULL;
	heapscan_block(p);
	return heapscan_realloc(p, n);
}

/* Adds a needle (kept by pointer: static or live for the scan). Halves count as copies too:
 * each half of a text of 16 or more bytes is a needle of its own. */
static inline void heapscan_add(const void *needle, size_t len)
{
	const unsigned char *b = needle;

	assert_true(heapscan.n + 3 <= HEAPSCAN_NEEDLES);
	heapscan.needle[heapscan.n] = b;
	heapscan.len[heapscan.n++] = len;
	if (len < 16)
		return;
	heapscan.needle[heapscan.n] = b;
	heapscan.len[heapscan.n++] = len / 2;
	heapscan.needle[heapscan.n] = b + len / 2;
	heapscan.len[heapscan.n++] = len - len / 2;
}

/* Arms the scanner, after checking that it sees a freed block at all (a scanner that does not
 * fails the case, never passes it). false, unarmed, under valgrind: memcheck would rightly
 * report the scan's reads of never-written bytes, and the case runs for its memory use only. */
static inline bool heapscan_arm(void)
{
	static const char canary[] = "heapscan canary 0f3c9a";
	/* through volatile pointers: the compiler may drop a malloc() that is only freed */
	void *(*volatile alloc)(size_t) = malloc;
	void (*volatile release)(void *) = free;
	const char *preload = getenv("LD_PRELOAD");
	char *p;

	if (preload && strstr(preload, "vgpreload"))
		return false;
	assert_non_null(p = alloc(64));
	memcpy(p, canary, sizeof(canary));
	heapscan.needle[heapscan.n] = canary;
	heapscan.len[heapscan.n] = sizeof(canary) - 1;
	heapscan.hits = 0;
	heapscan.armed = true;
	heapscan.n++;
	release(p);
	heapscan.n--;
	if (heapscan.hits != 1) {
		heapscan.armed = false;
		fail_msg("the free() scanner did not see a freed block");
	}
	heapscan.hits = 0;
	return true;
}

/* Stops scanning: the number of blocks that held a needle since heapscan_arm(). */
static inline unsigned heapscan_disarm(void)
{
	heapscan.armed = false;
	return heapscan.hits;
}

static inline void heapscan_reset(void)
{
	heapscan.armed = false;
	heapscan.n = 0;
	heapscan.hits = 0;
}
