/* SPDX-License-Identifier: MIT */
/* Leaving without waiting for the kernel. Closing the last reference to a
 * uprobe link detaches it and waits for an RCU grace period; with threads
 * of the target frozen in probed functions one such wait was seen to last
 * 55 s (synchronize_rcu_tasks_trace), while the user asked gilwatch to stop.
 * A child keeps a reference to every open file (links, programs, maps) and
 * lets them go when this process is gone: closes here are then not the
 * last and return at once, and the kernel detaches the probes behind us.
 */
#ifndef GW_DETACH_LATER_H
#define GW_DETACH_LATER_H

/* Forks that child (its stdio on /dev/null, in a session of its own); 0,
 * or -errno when it could not be made (then closes wait as before).
 */
int detach_later__arm(void);

#endif
