/* SPDX-License-Identifier: MIT */
/* Process exit codes of gilwatch (README "Exit codes"). */
#ifndef GW_EXIT_CODES_H
#define GW_EXIT_CODES_H

enum gw_exit {
	GW_EXIT_OK = 0,
	GW_EXIT_ERROR = 1,	   /* unexpected runtime failure */
	GW_EXIT_USAGE = 2,	   /* bad command line */
	GW_EXIT_NO_PROCESS = 3,	   /* no such pid */
	GW_EXIT_NOT_PYTHON = 4,	   /* the process runs no CPython */
	GW_EXIT_UNSUPPORTED = 5,   /* a CPython gilwatch does not support */
	GW_EXIT_TARGET_EXITED = 6, /* the process exited while gilwatch attached */
	GW_EXIT_BPF = 7,	   /* BPF programs cannot be loaded or attached */
};

#endif
