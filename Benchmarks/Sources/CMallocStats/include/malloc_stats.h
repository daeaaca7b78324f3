#pragma once
#include <malloc.h>
#include <stddef.h>

/// Bytes in use through malloc (arena + mmapped blocks).
static inline size_t met_heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/// Returns free heap memory to the system, so RSS baselines are comparable.
static inline void met_malloc_trim(void) { malloc_trim(0); }

/// Allocation calls (malloc, calloc, realloc, memalign family) made by this process so far.
/// The bench executable wraps glibc's allocator to count them (malloc_stats.c).
unsigned long met_allocation_count(void);
