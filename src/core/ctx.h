/*
 * The state every layer of one stack shares (internal).  There is no
 * global state: each sl_stack owns one sl_ctx, and every layer function
 * takes it as its first argument.
 */
#ifndef SL_CORE_CTX_H
#define SL_CORE_CTX_H

#include <stdint.h>

#include "core/features.h"
#include "core/flowtab.h"
#include "core/handle.h"
#include "core/mem.h"
#include "core/timer.h"
#include "core/txq.h"
#include "sluice/stack.h"

#define SL_MAX_PREFIXES 16u
/* Parse-error counters cover the wire error codes -100 .. -227. */
#define SL_PARSE_ERR_BASE 100
#define SL_PARSE_ERR_SLOTS 128

/* Timer kinds (sl_timer.kind), dispatched by the stack. */
enum { SL_TK_UDP_IDLE = 1, SL_TK_TCP = 2 };

typedef struct sl_ctx {
    sl_config cfg;                       /* copy; pointers cleared      */
    sl_prefix prefixes[SL_MAX_PREFIXES];
    sl_mem mem;
    sl_time now;
    bool rx_csum_ok;          /* this sl_input_ex packet's checksums are
                                 trusted (SL_INPUT_CSUM_OK)             */
    uint64_t cnt[SL_CNT__COUNT];
    uint64_t parse_err[SL_PARSE_ERR_SLOTS];
    uint8_t key_flow[16];                /* flow-table hash key         */
    uint8_t key_ipid[16];                /* IP identification key       */
    uint32_t ipid_seq;
    uint64_t icmp_tokens;                /* micro-tokens                */
    sl_time icmp_last;
    sl_wheel wheel;
    sl_flowtab flows;
    sl_handles handles;
    sl_txq txq;
    uint32_t n_flows;                    /* live UDP flows + bound      */
    uint8_t *tx_scratch;                 /* sl_tx_max bytes: fragments,
                                            TCP segments built          */
    void *udp_all;                       /* owned by udp/: all objects  */
    void *udp_waiters;                   /* owned by udp/: want WRITABLE*/
    /* Owned by tcp/: */
    uint8_t key_isn[16], key_cookie[16], key_port[16];
    void *tcp_all;                       /* every tcb                   */
    void *tcp_out_head, *tcp_out_tail;   /* tcbs with output pending    */
    uint32_t n_streams;                  /* tcbs alive                  */
    uint32_t n_backlog;                  /* tcbs in SYN-RECEIVED        */
    uint32_t n_listeners;
    void *tcp_listeners;                 /* list of sl_listener         */
    uint32_t port_counter;               /* RFC 6056 attempts           */
    uint32_t challenge_acks;             /* sent in the current second  */
    sl_time challenge_second;            /* start of that second        */
} sl_ctx;

/* struct sl_stack (src/stack/) begins with its sl_ctx, so the layers that
 * implement public functions reach the context from the handle the user
 * passes without knowing the rest of the stack. */
static inline sl_ctx *sl_ctx_of(sl_stack *s)
{
    return (sl_ctx *)(void *)s;
}
static inline const sl_ctx *sl_ctx_ofc(const sl_stack *s)
{
    return (const sl_ctx *)(const void *)s;
}

/* Skip checksum verification of the packet being input: the whole stack
 * was told the device verifies them (SL_OFFLOAD_RX_CSUM), or this packet
 * came with SL_INPUT_CSUM_OK. */
static inline bool sl_rx_csum_trusted(const sl_ctx *c)
{
    return (c->cfg.offload & SL_OFFLOAD_RX_CSUM) != 0 || c->rx_csum_ok;
}

/* The longest packet the stack hands the device: the MTU, or tso_max. */
static inline size_t sl_tx_max(const sl_ctx *c)
{
    return c->cfg.tso_max > c->cfg.mtu ? c->cfg.tso_max : c->cfg.mtu;
}

static inline void sl_count(sl_ctx *c, sl_counter k)
{
    c->cnt[k]++;
}

static inline void sl_count_parse(sl_ctx *c, sl_error e)
{
    int i = -(int)e - SL_PARSE_ERR_BASE;
    if (i >= 0 && i < (int)SL_PARSE_ERR_SLOTS)
        c->parse_err[i]++;
}

#endif
