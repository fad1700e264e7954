/* SPDX-License-Identifier: MIT */
/* One-line diagnostics on stderr. An error says so ("gilwatch: error: ..."),
 * as bpftool's p_err and git's do: it is why gilwatch stops or leaves
 * something undone; information ("gilwatch: ...") is what it sees and does;
 * debug output waits for -v.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

extern int gw_verbose;

enum gw_log_level {
	GW_LOG_ERROR,
	GW_LOG_INFO,
	GW_LOG_DEBUG,
};

void gw_log(enum gw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs "<fmt>: <strerror(-err)>" as an error and returns err (< 0), as
 * systemd's log_error_errno(): `return gw_err_errno(-errno, "...")`.
 */
int gw_err_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define gw_err(...) gw_log(GW_LOG_ERROR, __VA_ARGS__)
#define gw_info(...) gw_log(GW_LOG_INFO, __VA_ARGS__)
#define gw_debug(...) gw_log(GW_LOG_DEBUG, __VA_ARGS__)

#endif
