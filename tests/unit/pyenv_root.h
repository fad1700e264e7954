/* SPDX-License-Identifier: MIT */
/* Where the pyenv interpreters the unit tests compare against live. */
#ifndef GW_TEST_PYENV_ROOT_H
#define GW_TEST_PYENV_ROOT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline const char *pyenv_root(char *buf, size_t len)
{
	const char *e = getenv("PYENV_ROOT"), *home = getenv("HOME");

	if (e && *e)
		snprintf(buf, len, "%s", e);
	else
		snprintf(buf, len, "%s/.pyenv", home && *home ? home : "/root");
	return buf;
}

/* "<pyenv root>/versions/<rel>", for the life of the process (one string
 * per path asked).
 */
static inline const char *pyenv_path(const char *rel)
{
	static struct {
		const char *rel;
		char path[512];
	} known[16];
	char root[256];
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]) && known[i].rel; i++) {
		if (!strcmp(known[i].rel, rel))
			return known[i].path;
	}
	if (i == sizeof(known) / sizeof(known[0]))
		abort();
	known[i].rel = rel;
	snprintf(known[i].path, sizeof(known[i].path), "%s/versions/%s",
		 pyenv_root(root, sizeof(root)), rel);
	return known[i].path;
}

#endif
