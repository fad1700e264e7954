/* SPDX-License-Identifier: MIT */
/* Where the pyenv interpreters the unit tests compare against live. */
#ifndef GW_TEST_PYENV_ROOT_H
#define GW_TEST_PYENV_ROOT_H

#include <stdio.h>
#include <stdlib.h>

static inline const char *pyenv_root(char *buf, size_t len)
{
	const char *e = getenv("PYENV_ROOT"), *home = getenv("HOME");

	if (e && *e)
		snprintf(buf, len, "%s", e);
	else
		snprintf(buf, len, "%s/.pyenv", home && *home ? home : "/root");
	return buf;
}

#endif
