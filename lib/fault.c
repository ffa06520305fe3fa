/*
 * fault.c - allocation-failure injection, compiled only into test builds
 * (meson -Dfault_injection=true). Every allocation the library makes calls
 * um_fault_hit() first (lib/internal.h); this counts them, process-wide,
 * and makes one of them fail:
 *
 *   UNMETA_FAIL_ALLOC=n        the n-th allocation (from 1) returns NULL
 *   UNMETA_FAIL_ALLOC_COUNT=1  print "unmeta-fault: N allocations" on
 *                              standard error at exit, so a driver knows
 *                              the range of n to try
 *
 * tests/faults/alloc-sweep runs every operation with every n and checks
 * that each run ends in a clean UNMETA_E_NOMEM, or succeeds with the same
 * output, with no crash and no leak.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static atomic_ulong fault_count;   /* allocations so far */
static unsigned long fault_at;     /* the one to fail; 0 = none */

static void fault_report(void)
{
    fprintf(stderr, "unmeta-fault: %lu allocations\n", (unsigned long)atomic_load(&fault_count));
}

/* Read once, before main and before any thread, so no lock is needed. */
__attribute__((constructor)) static void fault_init(void)
{
    const char *at = getenv("UNMETA_FAIL_ALLOC");
    const char *count = getenv("UNMETA_FAIL_ALLOC_COUNT");
    if (at && *at)
        fault_at = strtoul(at, NULL, 10);
    if (count && *count && *count != '0')
        atexit(fault_report);
}

int um_fault_hit(void)
{
    unsigned long n = atomic_fetch_add(&fault_count, 1) + 1;
    if (fault_at == 0 || n != fault_at)
        return 0;
    errno = ENOMEM; /* as malloc does when it fails */
    return 1;
}
