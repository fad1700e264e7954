/* SPDX-License-Identifier: MIT */
/* CPython's line tables: which source line an instruction belongs to.
 * Decoders of untrusted bytes read from another process: every read is
 * bounded by the table's length.
 */
#ifndef GW_LINETABLE_H
#define GW_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* Line of the instruction at byte offset `addr` of the bytecode, or -1 when
 * the table says none or is malformed. `addr` < 0 (a frame that has not
 * started) gives the first line, as CPython's PyCode_Addr2Line() does.
 *
 * 3.10: co_linetable pairs (bytecode delta, signed line delta; -128 = none).
 * 3.11+: the location table (PEP 657): entries of 1-8 code units whose
 * first byte has the top bit set, with varint line deltas.
 */
int linetable__line_310(const uint8_t *t, size_t len, int firstlineno, int addr);
int linetable__line_311(const uint8_t *t, size_t len, int firstlineno, int addr);

#endif
