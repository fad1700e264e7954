/* SPDX-License-Identifier: MIT */
/* Default mode's GIL and lock waits: a task iterator over one process's
 * threads (bpf/wait_sampler.bpf.h) run at each GIL sample. No probe in the
 * target: timing every wait with uprobes made a threaded service 1.4-1.8x
 * slower (bench/). --deep times each wait instead.
 */
#ifndef GW_WAIT_SAMPLER_H
#define GW_WAIT_SAMPLER_H

#include <stdint.h>
#include <sys/types.h>

struct gilwatch_bpf;
struct bpf_link;

struct wait_sampler {
	struct gilwatch_bpf *skel;
	struct bpf_link *link; /* NULL: not sampling */
	uint64_t runs, failures;
};

/* -errno if the iterator cannot be attached (the kernel lacks task
 * iterators with a pid filter, 6.1+).
 */
int wait_sampler__open(struct wait_sampler *s, struct gilwatch_bpf *skel, pid_t pid);
/* One sample of pid's threads, standing for weight_ns each; holder: the
 * GIL's holder now (0 if none or unknown).
 */
void wait_sampler__sample(struct wait_sampler *s, uint64_t weight_ns, pid_t holder);
void wait_sampler__close(struct wait_sampler *s);

#endif
