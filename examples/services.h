/*
 * The built-in services shared by sluice-tun and sluice-replay
 * (services.c; docs/sluice-tun.md describes what each answers).
 */
#ifndef SLUICE_EXAMPLES_SERVICES_H
#define SLUICE_EXAMPLES_SERVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/sluice.h>

enum {
    SVC_ECHO = 1,
    SVC_DISCARD = 2,
    SVC_CHARGEN = 4,
    SVC_HTTP = 8,
    SVC_UDP_ECHO = 16,
    SVC_ALL = 31
};

/* The first int of every per-stream object the services hang on a
 * stream's user pointer; programs tag their own objects differently. */
#define SVC_TAG 1

/* Optional observers (any may be NULL). */
typedef struct svc_hooks {
    void *ctx;
    /* Bytes a service read from / wrote to (accepted by) a stream. */
    void (*on_read)(void *ctx, sl_stream h, const uint8_t *p, size_t n);
    void (*on_write)(void *ctx, sl_stream h, const uint8_t *p, size_t n);
    /* A datagram the UDP echo received (in) or sent back (!in). */
    void (*on_dgram)(void *ctx, sl_dgram h, const uint8_t *p, size_t n, bool in);
    /* The service is done with a stream.  Return true to keep the handle
     * (the hook's owner frees it later); false: the service frees it. */
    bool (*on_release)(void *ctx, sl_stream h);
} svc_hooks;

struct svc_conn;

typedef struct svc {
    sl_stack *s;
    unsigned services; /* SVC_* mask */
    svc_hooks hooks;
    struct svc_conn *conns;
    uint64_t conns_open, conns_total, udp_echo_dropped;
} svc;

/* Set up (the stack may be attached later: v->s). */
void svc_init(svc *v, sl_stack *s, unsigned services);

/* "echo,discard,chargen,http,udp-echo,all,none" -> SVC_* mask. */
bool svc_parse_list(const char *list, unsigned *out);

/* Whether an enabled service answers this protocol (6/17) and port. */
bool svc_local(const svc *v, uint8_t proto, uint16_t port);

/* A new stream (SL_EV_STREAM_NEW) for a service: on its local port. */
void svc_stream_new(svc *v, sl_stream h);

/* Events of streams the services own (ev->user tagged SVC_TAG) and of
 * datagram flows answered by the UDP echo (any datagram event). */
void svc_stream_event(svc *v, const sl_event *ev);
void svc_dgram_event(svc *v, const sl_event *ev);

/* Release every stream (graceful close) and its state. */
void svc_free_all(svc *v);

#endif
