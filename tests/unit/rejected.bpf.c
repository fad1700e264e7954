// SPDX-License-Identifier: GPL-2.0
/* Programs every kernel refuses, each for another reason, to check that
 * gilwatch names the reason (test_bpf_load_diag.c).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

/* 320 + 320 bytes: each frame passes clang's 512-byte check, the chain
 * fails the verifier's.
 */
static __noinline int inner(int x)
{
	char buf[320];

	bpf_get_current_comm(buf, sizeof(buf));
	return buf[x & 63];
}

SEC("uprobe")
int too_deep(void *ctx)
{
	char buf[320];

	bpf_get_current_comm(buf, sizeof(buf));
	return inner(buf[0]) + buf[1];
}

/* A tracepoint no kernel has: a missing kernel feature. */
SEC("tp_btf/gilwatch_no_such_tracepoint")
int no_such_tracepoint(void *ctx)
{
	return 0;
}
