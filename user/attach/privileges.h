/* SPDX-License-Identifier: MIT */
/* Capabilities gilwatch no longer needs once attached, given up. */
#ifndef GW_PRIVILEGES_H
#define GW_PRIVILEGES_H

/* Keeps, of the calling thread's capabilities, only CAP_SYS_PTRACE and
 * CAP_DAC_READ_SEARCH (the target's memory and files, a thread stopped for
 * a native unwind), CAP_BPF and CAP_PERFMON (stacks load a task iterator
 * that reads the return addresses uretprobes hide): no CAP_SYS_ADMIN, which
 * only attaching uprobes needed, nor any other. For `watch`, which runs one
 * thread and attaches nothing more; the agent attaches new processes all
 * along and keeps its set. 0 or -errno.
 */
int privileges__drop_after_attach(void);

#endif
