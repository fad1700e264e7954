// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "detach_later.h"

/* The child: holds every inherited file until the parent's end of the pipe
 * closes (the parent is gone), then exits, closing them last.
 */
_Noreturn static void hold_until_parent_exits(int wait_fd)
{
	int null = open("/dev/null", O_RDWR);
	ssize_t n;
	char c;

	setsid();
	/* Not the caller's pipes: whoever reads our output sees its end. */
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	do
		n = read(wait_fd, &c, 1);
	while (n > 0 || (n < 0 && errno == EINTR));
	_exit(0);
}

int detach_later__arm(void)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (!pid) {
		close(p[1]);
		hold_until_parent_exits(p[0]);
	}
	/* p[1] stays open until this process exits. */
	close(p[0]);
	return 0;
}
