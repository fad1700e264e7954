// SPDX-License-Identifier: MIT
#include <capstone/capstone.h>
#include <errno.h>

#include "disasm.h"

int disasm__jump_targets(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t *out, size_t max)
{
	const uint8_t *p = code;
	uint64_t addr = vaddr;
	size_t n = 0, left = len;
	cs_insn *insn;
	csh h;

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOTSUP;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	insn = cs_malloc(h);
	if (!insn) {
		cs_close(&h);
		return -ENOMEM;
	}
	while (n < max && cs_disasm_iter(h, &p, &left, &addr, insn)) {
		const cs_x86 *x = &insn->detail->x86;

		if (cs_insn_group(h, insn, CS_GRP_JUMP) && x->op_count == 1 &&
		    x->operands[0].type == X86_OP_IMM)
			out[n++] = x->operands[0].imm;
	}
	cs_free(insn, 1);
	cs_close(&h);
	return n;
}
