/* SPDX-License-Identifier: MIT */
/* CPython's _Py_DebugOffsets (3.13+): the table at the start of _PyRuntime
 * (section .PyRuntime) that says where the interpreter keeps its state, the
 * contract CPython's own remote debugger and pystack read. Its values come
 * from the build at hand; its layout changes with every minor version, so
 * one struct per minor version is known here, each checked for size.
 */
#ifndef GW_DEBUG_OFFSETS_H
#define GW_DEBUG_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>

struct python_layout;

/* The largest table known (3.15): what a caller reads before parsing. */
#define DEBUG_OFFSETS_MAX 888

/* What the table's header says, whether or not its layout is known. */
struct debug_offsets_id {
	unsigned major, minor;
	bool free_threaded; /* a free-threaded (3.13t, 3.14t...) build */
};

/* Fills *l from the raw table (len bytes, more is fine) and *id from its
 * header. -ENOENT: no cookie; -EPROTONOSUPPORT: a minor version whose
 * layout is not known here, or a free-threaded build (id says which);
 * -EINVAL: too short, or offsets that contradict the sizes beside them.
 */
int debug_offsets__parse(const void *raw, size_t len, struct python_layout *l,
			 struct debug_offsets_id *id);

#endif
