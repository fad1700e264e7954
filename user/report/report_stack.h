/* SPDX-License-Identifier: MIT */
/* Stacks in reports: "python_stack"/"native_stack" JSON members and the
 * indented text form (docs/events.md).
 */
#ifndef GW_REPORT_STACK_H
#define GW_REPORT_STACK_H

#include <stdio.h>
#include "json_writer.h"
#include "stack_collector.h"

void report_stack__json(struct json_writer *w, const struct thread_stacks *s);
void report_stack__text(FILE *out, const struct thread_stacks *s, const char *indent);

#endif
