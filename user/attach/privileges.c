// SPDX-License-Identifier: MIT
#include <errno.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/syscall.h>

#include "privileges.h"

int privileges__drop_after_attach(void)
{
	static const int keep[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_BPF, CAP_PERFMON};
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct now[2], left[2] = {};
	size_t i;

	if (syscall(SYS_capget, &hdr, now))
		return -errno;
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		unsigned int word = keep[i] / 32, bit = 1u << (keep[i] % 32);

		left[word].permitted |= now[word].permitted & bit;
		left[word].effective |= now[word].permitted & bit;
	}
	return syscall(SYS_capset, &hdr, left) ? -errno : 0;
}
