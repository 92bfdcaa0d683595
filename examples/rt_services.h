/*
 * Thread-per-connection services over N sluice runtimes on a multi-queue
 * TUN device (rt_services.c): `sluice-tun --threads N`.
 */
#ifndef SLUICE_EXAMPLES_RT_SERVICES_H
#define SLUICE_EXAMPLES_RT_SERVICES_H

#include <signal.h>
#include <stdbool.h>

#include <sluice/runtime.h>

enum { RTS_ECHO = 1, RTS_DISCARD = 2, RTS_CHARGEN = 4, RTS_UDP_ECHO = 16 };

typedef struct rt_services_opts {
    const char *dev;        /* TUN device (created multi-queue)      */
    unsigned mtu;
    int threads;            /* runtimes = device queues, 1..64        */
    unsigned services;      /* RTS_* mask                             */
    unsigned long max_seconds; /* 0: until *stop                      */
    bool stats;             /* counters to stderr at exit             */
} rt_services_opts;

/* Run until *stop becomes non-zero (or max_seconds); 0 on a clean exit. */
int rt_services_run(const rt_services_opts *o, volatile sig_atomic_t *stop);

#endif
