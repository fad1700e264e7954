/* SPDX-License-Identifier: MIT */
/* A child forked before gilwatch came, told after the fact: it did not
 * exec (target__forked_copy()); the parent's threads that had started
 * before it were alive at the fork, and all but one were lost; the one that
 * forked is the one whose thread state the child runs on (the GIL's last
 * holder in the child, a copy of the parent's memory).
 */
#ifndef GW_FORK_INFERENCE_H
#define GW_FORK_INFERENCE_H

#include <sys/types.h>
#include "forks.h"
#include "target.h"

/* Fills out (inferred) for child of parent. -ECHILD if child exec'd,
 * -ESRCH if either is gone.
 */
int fork_inference__infer(const struct gw_target *parent, pid_t child, struct fork_record *out);

#endif
