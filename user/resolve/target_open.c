// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "exit_codes.h"
#include "log.h"
#include "proc.h"
#include "target_open.h"

/* A process that just started may not have mapped libpython or created its
 * GIL yet: look again for this long (the GIL: while the interpreter starts).
 */
#define STARTUP_GRACE_S 1.0
#define INTERP_INIT_GRACE_S 10.0
#define STARTUP_RETRY_US 50000

/* Maps target__open()'s errors to one line and an exit code. */
static int explain_open_error(const struct gw_target *t, pid_t pid, int err)
{
	switch (err) {
	case -ESRCH:
		gw_err("no process with pid %d", pid);
		return GW_EXIT_NO_PROCESS;
	case -ECHILD:
		gw_err("%d is a thread of process %d: use --pid %d", pid, t->tgid, t->tgid);
		return GW_EXIT_USAGE;
	case -ENOEXEC:
		gw_err("pid %d (%s) is not a CPython process", pid, t->comm);
		return GW_EXIT_NOT_PYTHON;
	case -EPROTONOSUPPORT:
		if (t->build.free_threaded)
			gw_err(
			    "pid %d (%s): free-threaded CPython %u.%ut is not supported yet (%s)",
			    pid, t->comm, t->build.major, t->build.minor, t->python_path);
		else if (t->build.layout_unknown)
			gw_err(
			    "pid %d (%s): %u.%u: debug offsets layout not known to this gilwatch "
			    "(%s); it supports CPython 3.10 to 3.15",
			    pid, t->comm, t->build.major, t->build.minor, t->python_path);
		else
			gw_err("pid %d (%s): python %s (%s) is not supported; gilwatch supports "
			       "CPython 3.10 to 3.15",
			       pid, t->comm, t->build.version, t->python_path);
		return GW_EXIT_UNSUPPORTED;
	case -ENOENT:
		gw_err("pid %d (%s): cannot tell the Python version of %s", pid, t->comm,
		       t->python_path);
		return GW_EXIT_UNSUPPORTED;
	default:
		gw_err("cannot inspect pid %d: %s", pid, strerror(-err));
		return GW_EXIT_ERROR;
	}
}

bool target__still_starting(const struct gw_target *t, int err)
{
	double age = proc__age_s(t->pid);

	if (age < 0)
		return false;
	/* An interpreter that has no GIL yet: its startup (imports, site) can
	 * take seconds on a loaded machine (4 s seen under emulation).
	 */
	if (!err && !t->gil)
		return age <= INTERP_INIT_GRACE_S;
	/* Seen while ld.so is still mapping libraries: no libpython yet, or
	 * libpython but no libc. Soon over, and a process that is no Python
	 * at all must be told so at once.
	 */
	return (err == -ENOEXEC || (!err && t->absent[PY_PROBE_GIL_WAIT])) &&
	       age <= STARTUP_GRACE_S;
}

/* target__open(), with a grace period for processes still starting up. */
int target__open_for_user(struct gw_target *t, pid_t pid)
{
	int err;

	while ((err = target__open(t, pid)), target__still_starting(t, err))
		usleep(STARTUP_RETRY_US);
	return err ? explain_open_error(t, pid, err) : GW_EXIT_OK;
}
