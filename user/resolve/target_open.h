/* SPDX-License-Identifier: MIT */
/* Opening the process a user named: a grace period for one that is still
 * starting, and one line plus an exit code for each way it can fail.
 */
#ifndef GW_TARGET_OPEN_H
#define GW_TARGET_OPEN_H

#include <stdbool.h>
#include "target.h"

/* Whether target__open()'s result err may change in a moment: a process
 * younger than a second still mapping libraries or creating its GIL.
 */
bool target__still_starting(const struct gw_target *t, int err);
/* A gw_exit code; GW_EXIT_OK when t is ready. */
int target__open_for_user(struct gw_target *t, pid_t pid);

#endif
