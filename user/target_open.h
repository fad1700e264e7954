/* SPDX-License-Identifier: MIT */
/* Opening the process a user named: a grace period for one that is still
 * starting, and one line plus an exit code for each way it can fail.
 */
#ifndef GW_TARGET_OPEN_H
#define GW_TARGET_OPEN_H

#include "target.h"

/* A gw_exit code; GW_EXIT_OK when t is ready. */
int target__open_for_user(struct gw_target *t, pid_t pid);

#endif
