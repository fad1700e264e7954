/* SPDX-License-Identifier: MIT */
/* CLOCK_MONOTONIC in nanoseconds: the clock of bpf_ktime_get_ns(), so user
 * space and BPF timestamps compare directly.
 */
#ifndef GW_CLOCK_H
#define GW_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#endif
