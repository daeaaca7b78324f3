// CLibUV: the libuv headers, imported only by the MetUV wrapper module, and the one system call
// the loop's thread makes about itself.
#ifndef MET_CLIBUV_SHIM_H
#define MET_CLIBUV_SHIM_H

#include <uv.h>

#ifdef __linux__
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/// `struct sched_attr` of the `sched_setattr(2)` system call (its first version, 48 bytes),
/// which glibc does not declare.
struct met_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

/// Asks the kernel to schedule the calling thread with a slice of `slice_ns` nanoseconds
/// (the EEVDF scheduler of Linux 6.12 and later: a shorter slice means an earlier deadline, so
/// the thread runs soon after it wakes even when every core is busy). Keeps the thread's policy
/// (SCHED_OTHER) and nice value; needs no privilege. Returns 0, or the errno (EINVAL on
/// kernels without custom slices, which ignore nothing else).
static inline int met_request_slice(uint64_t slice_ns) {
#ifdef SYS_sched_setattr
    struct met_sched_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.sched_policy = 0;  // SCHED_OTHER
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);  // on Linux, the calling thread's
    if (nice == -1 && errno != 0) return errno;
    attr.sched_nice = nice;
    attr.sched_runtime = slice_ns;
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return errno;
    return 0;
#else
    return ENOSYS;
#endif
}

/// The calling thread's slice as the kernel holds it (nanoseconds; 0 when not set or unknown).
static inline uint64_t met_current_slice(void) {
#ifdef SYS_sched_getattr
    struct met_sched_attr attr;
    memset(&attr, 0, sizeof attr);
    if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0) return 0;
    return attr.sched_runtime;
#else
    return 0;
#endif
}
#endif

#endif
