// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static void vlog(enum gw_log_level level, const char *fmt, va_list args, const char *suffix)
{
	static const char *const prefix[] = {
	    [GW_LOG_ERROR] = "gilwatch: error: ",
	    [GW_LOG_INFO] = "gilwatch: ",
	    [GW_LOG_DEBUG] = "gilwatch: ",
	};

	if (level == GW_LOG_DEBUG && !gw_verbose)
		return;
	/* One write per line: lines of several threads do not interleave. */
	flockfile(stderr);
	fputs(prefix[level], stderr);
	vfprintf(stderr, fmt, args);
	if (suffix)
		fprintf(stderr, ": %s", suffix);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void gw_log(enum gw_log_level level, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vlog(level, fmt, args, NULL);
	va_end(args);
}

int gw_err_errno(int err, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vlog(GW_LOG_ERROR, fmt, args, strerror(-err));
	va_end(args);
	return err;
}
