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
