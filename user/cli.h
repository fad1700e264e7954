/* SPDX-License-Identifier: MIT */
/* Command line: `gilwatch COMMAND [OPTION...]`. */
#ifndef GW_CLI_H
#define GW_CLI_H

#include "watch.h"

enum cli_command {
	CLI_WATCH,
};

struct cli {
	enum cli_command command;
	struct watch_opts watch;
};

/* Parses argv into cli. Returns 0, or a gw_exit code after printing one
 * line (GW_EXIT_USAGE), or -1 when help/version was printed (exit 0).
 */
int cli__parse(int argc, char **argv, struct cli *cli);

#endif
