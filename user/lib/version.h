/* SPDX-License-Identifier: MIT */
#ifndef GW_VERSION_H
#define GW_VERSION_H

#define GW_VERSION "0.2.0"

#endif
