/* mfa-resetd: the refusal log rate limit, shared by the listener and every connection child
 * (one page of shared anonymous memory, updated with atomics), so that no caller can flood
 * the journal: at most RESETD_LOG_BURST refusals per RESETD_LOG_INTERVAL_S seconds are
 * logged, then one line says how many were suppressed. */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <syslog.h>
#include <time.h>

#include "resetd.h"

struct resetd_limit {
	int64_t window; /* start of the current interval, CLOCK_MONOTONIC seconds */
	uint32_t used;
	uint32_t suppressed;
};

static struct resetd_limit *limit;

static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int resetd_limit_init(void)
{
	void *p = mmap(NULL, sizeof(*limit), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	limit = p;
	limit->window = now_s();
	return 0;
}

/* Starts a new interval when the current one is over; the one process that wins the switch
 * reports what the old interval suppressed. */
static void rotate(int64_t now)
{
	int64_t w = __atomic_load_n(&limit->window, __ATOMIC_ACQUIRE);
	uint32_t n;

	if (now - w < RESETD_LOG_INTERVAL_S)
		return;
	if (!__atomic_compare_exchange_n(&limit->window, &w, now, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	n = __atomic_exchange_n(&limit->suppressed, 0, __ATOMIC_ACQ_REL);
	__atomic_store_n(&limit->used, 0, __ATOMIC_RELEASE);
	if (n > 0)
		syslog(LOG_NOTICE, "event=ratelimit result=suppressed count=%u interval=%d", n,
		       RESETD_LOG_INTERVAL_S);
}

bool resetd_limit_take(void)
{
	if (!limit)
		return true;
	rotate(now_s());
	if (__atomic_fetch_add(&limit->used, 1, __ATOMIC_ACQ_REL) < RESETD_LOG_BURST)
		return true;
	__atomic_fetch_add(&limit->suppressed, 1, __ATOMIC_ACQ_REL);
	return false;
}

void resetd_limit_flush(void)
{
	if (limit)
		rotate(now_s());
}
