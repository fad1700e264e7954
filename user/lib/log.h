/* SPDX-License-Identifier: MIT */
/* One-line diagnostics on stderr, all prefixed "gilwatch: ". */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdio.h>

extern int gw_verbose;

#define gw_err(fmt, ...) fprintf(stderr, "gilwatch: " fmt "\n", ##__VA_ARGS__)
#define gw_info(fmt, ...) fprintf(stderr, "gilwatch: " fmt "\n", ##__VA_ARGS__)
#define gw_debug(fmt, ...)                                                                         \
	do {                                                                                       \
		if (gw_verbose)                                                                    \
			fprintf(stderr, "gilwatch: " fmt "\n", ##__VA_ARGS__);                     \
	} while (0)

#endif
