/*
 * sluice — a from-scratch, sans-I/O TCP/IP stack.  Umbrella header.
 */
#ifndef SLUICE_H
#define SLUICE_H

#define SL_VERSION_MAJOR 0
#define SL_VERSION_MINOR 1
#define SL_VERSION_PATCH 0
#define SL_VERSION_STRING "0.1.0"

#include "sluice/alloc.h"
#include "sluice/error.h"
#include "sluice/stack.h"
#include "sluice/wire.h"

#endif /* SLUICE_H */
