/* Memory for the secrets a login reads: locked pages of their own, without libsodium's
 * initialisation (see locked.c). */
#pragma once

#include <stddef.h>

/* size bytes, zeroed, 16-byte aligned, in pages of their own that are locked in memory and
 * left out of core dumps (sodium_mlock()); NULL with errno on failure. */
void *mfa_locked_alloc(size_t size);
/* Wipes the whole block (sodium_munlock()), unlocks and unmaps it; accepts NULL. */
void mfa_locked_free(void *p);
