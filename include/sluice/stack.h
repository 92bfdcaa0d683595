/*
 * sluice — the stack: sans-I/O poll interface, events and datagram handles.
 *
 * Life of a program:
 *
 *     sl_config cfg;
 *     sl_config_init(&cfg);                 defaults for every limit
 *     cfg.secret = key; cfg.secret_len = 16;
 *     cfg.tx.send = my_send; cfg.tx.ctx = dev;
 *     sl_allocator heap = sl_allocator_heap();
 *     sl_stack *s = sl_stack_new(&cfg, &heap, &err);
 *     loop:
 *         sl_input(s, pkt, len, now);       for each packet read
 *         while (sl_next_event(s, &ev))     new flows, readable, errors ...
 *             ...sl_dgram_recv / sl_dgram_send...
 *         next = sl_poll(s, now);           transmits, runs timers
 *         sleep until next or input
 *
 * Threading: a stack is not thread-safe; use one stack per thread.  No
 * function may be called from inside a callback (tx, filter) of the same
 * stack.  Several stacks in one process are independent.
 *
 * Handles (sl_dgram, sl_stream) are small values, not pointers.  The stack
 * never invalidates a handle the user holds: after the flow ends the handle
 * still answers (with its sticky error) until the user frees it.  A freed
 * handle is detected (SL_ERR_STALE), never undefined behaviour.
 */
#ifndef SLUICE_STACK_H
#define SLUICE_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/alloc.h"
#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_stack sl_stack;

/* ---------------------------------------------------------------------- */
/* Addresses                                                              */
/* ---------------------------------------------------------------------- */

typedef struct sl_addr {
    uint8_t family;   /* 4 or 6; 0 = unspecified (wildcard where allowed) */
    uint8_t b[16];    /* network order; IPv4 uses b[0..3], rest zero      */
} sl_addr;

typedef struct sl_endpoint {
    sl_addr addr;
    uint16_t port;    /* host order */
} sl_endpoint;

typedef struct sl_prefix {
    sl_addr addr;
    uint8_t len;      /* prefix length in bits */
} sl_prefix;

/* Text to address ("198.18.0.1", "2001:2::1"); SL_ERR_INVAL on bad text. */
sl_error sl_addr_parse(const char *text, sl_addr *out);
/* Address to text; returns `buf` (at least 46 bytes). */
char *sl_addr_format(const sl_addr *a, char *buf, size_t cap);

/* ---------------------------------------------------------------------- */
/* Configuration                                                          */
/* ---------------------------------------------------------------------- */

/* Output.  `send` is required: it transmits one IP packet of `len` bytes
 * at `buf` and must not keep `buf` after returning.  `get_buffer` is
 * optional: when set the stack asks it for a buffer of at least `len`
 * bytes and writes the packet straight into it (a device ring slot, an
 * mbuf) before calling send on that buffer; returning NULL means "device
 * full", and the packet stays queued for the next sl_poll.  Without it the
 * stack writes into its own buffers. */
typedef struct sl_tx {
    uint8_t *(*get_buffer)(void *ctx, size_t len);
    void (*send)(void *ctx, uint8_t *buf, size_t len);
    void *ctx;
    /* Segmentation offload (TSO), used only when sl_config.tso_max is
     * set: a TCP packet longer than the MTU (at most tso_max bytes), whose
     * payload is whole segments of `seg` bytes (the last may be shorter),
     * to be cut by the device into MTU-sized segments: TCP header and
     * options copied, sequence numbers advanced, PSH and FIN on the last
     * only, checksums redone (Linux TUN with a virtio-net header,
     * gso_type TCPV4/TCPV6, gso_size = seg).  The packet's own checksums
     * are complete.  get_buffer must then take lengths up to tso_max. */
    void (*send_tso)(void *ctx, uint8_t *buf, size_t len, uint16_t seg);
} sl_tx;

/* What the acceptor does with a new inbound flow. */
typedef enum sl_verdict {
    SL_ACCEPT = 0,    /* materialise a handle, deliver a *_NEW event       */
    SL_REFUSE = 1,    /* TCP: RST; UDP: ICMP port unreachable (rate-limited) */
    SL_DROP = 2       /* silently discard                                  */
} sl_verdict;

typedef struct sl_flow_info {
    uint8_t proto;        /* 6 TCP, 17 UDP */
    sl_endpoint local;    /* the address/port the peer sent to             */
    sl_endpoint remote;
} sl_flow_info;

/* Optional filter for new inbound flows; NULL accepts everything.  Must
 * not call into the stack. */
typedef sl_verdict (*sl_filter_fn)(void *ctx, const sl_flow_info *flow);

/* RFC 9293 §3.3.2 connection states. */
typedef enum sl_tcp_state {
    SL_TCP_CLOSED = 0,
    SL_TCP_LISTEN,
    SL_TCP_SYN_SENT,
    SL_TCP_SYN_RECEIVED,
    SL_TCP_ESTABLISHED,
    SL_TCP_FIN_WAIT_1,
    SL_TCP_FIN_WAIT_2,
    SL_TCP_CLOSE_WAIT,
    SL_TCP_CLOSING,
    SL_TCP_LAST_ACK,
    SL_TCP_TIME_WAIT
} sl_tcp_state;

/* Optional trace hook: called on every TCP state change (RFC 9293 names),
 * for logging and tests, with the stream handle's (idx, gen); (0, 0) for a
 * connection the user has freed.  Must not call into the stack. */
typedef void (*sl_trace_fn)(void *ctx, uint32_t stream_idx, uint32_t stream_gen,
                            sl_tcp_state from, sl_tcp_state to);

/* Checksum offload (rx): the device verified incoming checksums. */
#define SL_OFFLOAD_RX_CSUM 0x1u

typedef struct sl_config {
    /* Secret for every keyed hash (flow table, IP IDs, later ISNs and
     * ports).  Required, at least 16 bytes; copied.  Same secret + same
     * inputs => same outputs, byte for byte. */
    const uint8_t *secret;
    size_t secret_len;

    /* Addresses.  any_ip (default true): accept packets to every
     * destination.  Otherwise only destinations inside local_prefixes
     * (copied, at most 16). */
    bool any_ip;
    const sl_prefix *local_prefixes;
    size_t n_local_prefixes;
    /* allow_loopback (default false): treat 127.0.0.0/8 and ::1 like any
     * other address instead of dropping them as martians (RFC 1122
     * §3.2.1.3).  For replaying captures taken on a loopback interface. */
    bool allow_loopback;

    uint16_t mtu;               /* 1500; 576..65535 (IPv6 needs >= 1280) */
    uint8_t ttl;                /* 64: TTL / hop limit of packets sent   */
    unsigned offload;           /* SL_OFFLOAD_* flags, 0                 */
    uint32_t tso_max;           /* 0: off.  Else mtu+1..65535: new TCP data
                                   may leave in packets of up to this
                                   many bytes through tx.send_tso        */

    size_t mem_limit;           /* 64 MiB: bytes the stack may allocate  */
    uint32_t max_flows;         /* 4096: UDP flows + bound handles       */

    uint32_t udp_rx_queue;      /* 64 datagrams queued per UDP handle    */
    size_t udp_rx_bytes;        /* 256 KiB queued per UDP handle         */
    sl_time udp_idle_timeout;   /* 60 s without traffic closes a flow    */

    uint32_t tx_queue;          /* 1024 packets waiting for sl_poll      */
    size_t tx_queue_bytes;      /* 4 MiB waiting for sl_poll             */

    uint32_t reasm_datagrams;   /* 64 datagrams in reassembly at once    */
    size_t reasm_bytes;         /* 1 MiB held by reassembly              */
    uint32_t reasm_frags;       /* 64 fragments per datagram             */
    sl_time reasm_timeout;      /* 30 s (RFC 791 suggests 15 s; RFC 8200
                                   §4.5 says 60 s: one value for both)   */

    /* TCP (RFC 9293 and friends; see docs/tcp.md). */
    uint32_t max_streams;       /* 4096 connections, any state           */
    uint32_t tcp_backlog;       /* 256 half-open (SYN-RECEIVED); beyond
                                   it, SYN cookies (RFC 4987)            */
    bool syn_cookies;           /* true                                  */
    uint32_t tcp_rcvbuf;        /* 65536 bytes receive buffer per stream */
    uint32_t tcp_sndbuf;        /* 65536 bytes send buffer per stream    */
    sl_time tcp_rto_min;        /* 200 ms (RFC 6298 says 1 s; 200 ms as
                                   deployed stacks, see docs/tcp.md)     */
    sl_time tcp_rto_max;        /* 60 s                                  */
    sl_time tcp_rto_initial;    /* 1 s (RFC 6298 §2.1)                   */
    uint32_t tcp_max_retries;   /* 12 retransmissions, then SL_ERR_TIMEDOUT */
    uint32_t tcp_syn_retries;   /* 5 SYN / SYN-ACK retransmissions       */
    sl_time tcp_delack;         /* 40 ms delayed-ACK timer (RFC 1122 <= 500) */
    sl_time tcp_time_wait;      /* 60 s TIME-WAIT (2 x MSL of 30 s)      */
    sl_time tcp_fin_wait2;      /* 60 s in FIN-WAIT-2 after the user freed
                                   the handle                            */
    sl_time tcp_keepalive_idle; /* 0 = keep-alive off (RFC 1122 §4.2.3.6);
                                   else idle time before probes           */
    sl_time tcp_keepalive_intvl;/* 75 s between probes                   */
    uint32_t tcp_keepalive_probes; /* 9 unanswered probes end it         */
    uint16_t tcp_ephemeral_lo;  /* 49152: sl_stream_connect ports         */
    uint16_t tcp_ephemeral_hi;  /* 65535                                  */
    sl_trace_fn tcp_trace;      /* NULL                                  */
    void *tcp_trace_ctx;

    bool icmp_echo;             /* true: answer pings to any local address */
    uint32_t icmp_rate;         /* 100 errors/s generated, token bucket  */
    uint32_t icmp_burst;        /* 50 tokens                             */

    sl_tx tx;
    sl_filter_fn filter;
    void *filter_ctx;
} sl_config;

/* Fill every field with its documented default (secret NULL, tx empty;
 * syn_cookies false in a build without SL_FEAT_SYN_COOKIES). */
void sl_config_init(sl_config *cfg);

/* Features compiled into this library (CMake options SL_WITH_*, see
 * docs/size.md).  Without SL_FEAT_IPV6, IPv6 packets are dropped with
 * SL_ERR_UNSUPPORTED (counter ip_drop_unsupported) and IPv6 endpoints are
 * SL_ERR_INVAL; without SL_FEAT_REASM so are fragments; without SACK or
 * timestamps TCP neither offers nor accepts the option; without SYN
 * cookies sl_stack_new refuses syn_cookies = true (SL_ERR_INVAL); without
 * error texts sl_strerror returns the code's name. */
#define SL_FEAT_IPV6 0x01u
#define SL_FEAT_REASM 0x02u
#define SL_FEAT_SACK 0x04u
#define SL_FEAT_TIMESTAMPS 0x08u
#define SL_FEAT_SYN_COOKIES 0x10u
#define SL_FEAT_ERROR_TEXT 0x20u
#define SL_FEAT_ALL 0x3fu
unsigned sl_features(void);

/* ---------------------------------------------------------------------- */
/* Stack                                                                  */
/* ---------------------------------------------------------------------- */

/* Create a stack.  `mem` is copied; all memory comes from it, within
 * cfg->mem_limit.  On failure returns NULL and sets *err (may be NULL):
 * SL_ERR_INVAL (no secret / secret < 16 bytes, no tx.send, limits out of
 * range, mtu out of range), SL_ERR_NOMEM. */
sl_stack *sl_stack_new(const sl_config *cfg, const sl_allocator *mem, sl_error *err);

/* Free the stack and everything it holds, including handles the user has
 * not freed (they become stale).  NULL is ignored. */
void sl_stack_free(sl_stack *s);

/* Hand the stack one IP packet (IPv4 or IPv6, no link header) received at
 * `now`.  The stack copies what it keeps.  Returns SL_OK when the packet
 * was taken (which includes packets deliberately ignored, e.g. an NDP
 * message), or the reason it was dropped: a wire parse error, SL_ERR_LIMIT,
 * SL_ERR_NOMEM, a reassembly error.  Every drop is also counted. */
sl_error sl_input(sl_stack *s, const uint8_t *pkt, size_t len, sl_time now);

/* sl_input with per-packet flags (0 = sl_input).  SL_INPUT_CSUM_OK: do
 * not verify this packet's IP, TCP, UDP or ICMP checksums, because the
 * device verified them or the packet never crossed a wire (Linux TUN with
 * a virtio-net header: VIRTIO_NET_HDR_F_DATA_VALID or _NEEDS_CSUM, the
 * latter for a local sender's packet whose checksum field holds only the
 * pseudo-header sum).  Any segment size is taken: a device that coalesces
 * (GRO, TSO from a local sender) may hand TCP segments of many MSS, which
 * are ACKed at once (RFC 5681 §4.2: they stand for two or more
 * full-sized segments).  Unknown flags: SL_ERR_INVAL, counted as a parse
 * drop. */
#define SL_INPUT_CSUM_OK 0x1u
sl_error sl_input_ex(sl_stack *s, const uint8_t *pkt, size_t len, sl_time now, unsigned flags);

/* Run due timers and transmit everything pending through cfg->tx.
 * Returns the time at which it wants to be polled again, SL_TIME_NEVER if
 * nothing is scheduled; a value <= now means "poll again as soon as the
 * device can take packets". */
sl_time sl_poll(sl_stack *s, sl_time now);

/* The deadline sl_poll would return, without doing anything. */
sl_time sl_poll_at(const sl_stack *s);

/* ---------------------------------------------------------------------- */
/* Events                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct sl_dgram {
    uint32_t idx, gen;  /* {0,0} is never a valid handle */
} sl_dgram;

typedef struct sl_stream {
    uint32_t idx, gen;  /* {0,0} is never a valid handle */
} sl_stream;

/* Events, in the order one handle reports them. */
typedef enum sl_event_type {
    SL_EV_DGRAM_NEW = 1, /* a new inbound UDP flow was accepted           */
    SL_EV_STREAM_NEW,    /* a new inbound TCP connection is established   */
    SL_EV_CONNECTED,     /* sl_stream_connect completed                   */
    SL_EV_READABLE,      /* data is waiting                               */
    SL_EV_WRITABLE,      /* room to send again after SL_ERR_AGAIN         */
    SL_EV_PEER_FIN,      /* the peer closed its side: reads end (0)       */
    SL_EV_ERROR,         /* datagram: an ICMP error, see ev.error;
                            stream: the connection failed (timed out,
                            refused, unreachable), see ev.error          */
    SL_EV_RESET,         /* stream: the peer reset the connection         */
    SL_EV_CLOSED         /* the flow or connection is over; free it       */
} sl_event_type;

typedef struct sl_event {
    sl_event_type type;
    bool is_stream;      /* which of dgram / stream is valid              */
    sl_dgram dgram;
    sl_stream stream;
    void *user;          /* the handle's user pointer                     */
    sl_error error;      /* SL_EV_ERROR: SL_ERR_UNREACH, SL_ERR_REFUSED
                            (port unreachable), SL_ERR_MSGSIZE (too big,
                            see sl_dgram_info.path_mtu), SL_ERR_TIMEDOUT
                            (time exceeded)                              */
} sl_event;

/* Take the next pending event; false when none.  Events of one handle come
 * in the order NEW, READABLE, WRITABLE, ERROR, CLOSED; each is reported
 * once per change.  A freed handle has no further events. */
bool sl_next_event(sl_stack *s, sl_event *ev);

/* ---------------------------------------------------------------------- */
/* Datagram (UDP) handles                                                 */
/* ---------------------------------------------------------------------- */

typedef struct sl_dgram_info {
    sl_endpoint local;   /* for a bound handle: its bind address          */
    sl_endpoint remote;  /* flow handles only                             */
    bool is_flow;        /* inbound flow (true) or bound handle (false)   */
    bool closed;         /* the flow ended (idle timeout)                 */
    sl_error error;      /* sticky: last ICMP error, SL_OK if none        */
    uint32_t path_mtu;   /* from ICMP too-big / frag-needed, 0 if none    */
    uint32_t queued;     /* datagrams waiting to be read                  */
    uint64_t rx_dropped; /* datagrams dropped: queue full                 */
} sl_dgram_info;

/* Open a bound datagram handle.  With `bind` NULL it only sends
 * (sl_dgram_sendto from any address).  With a bind endpoint whose port is
 * non-zero it also receives every datagram to that port and address
 * (addr.family 0 = any address), ahead of the acceptor.
 * Errors: SL_ERR_INVAL, SL_ERR_LIMIT (max_flows or a second bind to the
 * same endpoint), SL_ERR_NOMEM. */
sl_error sl_dgram_open(sl_stack *s, const sl_endpoint *bind, void *user, sl_dgram *out);

/* Receive one datagram into buf (truncated to cap: the rest is lost, as
 * with a socket); returns its full length, or SL_ERR_AGAIN when the queue
 * is empty (a READABLE event follows the next arrival), SL_ERR_CLOSED when
 * empty and closed, SL_ERR_STALE.  from/to (may be NULL) receive the
 * remote and local endpoints. */
long sl_dgram_recv(sl_stack *s, sl_dgram h, uint8_t *buf, size_t cap, sl_endpoint *from,
                   sl_endpoint *to);

/* Send one datagram on a flow handle, from its local to its remote
 * endpoint.  The datagram is copied and leaves at the next sl_poll,
 * fragmented if larger than the MTU.  Errors: SL_ERR_MSGSIZE (over 65507
 * / 65527 bytes, or larger than cfg.tx_queue_bytes), SL_ERR_AGAIN (tx
 * queue full: WRITABLE follows),
 * SL_ERR_CLOSED, SL_ERR_STATE (a bound handle: use sendto), SL_ERR_STALE,
 * SL_ERR_NOMEM. */
sl_error sl_dgram_send(sl_stack *s, sl_dgram h, const uint8_t *data, size_t len);

/* Send from any local endpoint (`from`; NULL = the handle's own local
 * endpoint) to `to`.  Families must match.  Same errors as sl_dgram_send
 * plus SL_ERR_INVAL. */
sl_error sl_dgram_sendto(sl_stack *s, sl_dgram h, const sl_endpoint *from, const sl_endpoint *to,
                         const uint8_t *data, size_t len);

sl_error sl_dgram_info_get(const sl_stack *s, sl_dgram h, sl_dgram_info *info);
sl_error sl_dgram_set_user(sl_stack *s, sl_dgram h, void *user);
void *sl_dgram_user(const sl_stack *s, sl_dgram h); /* NULL if stale */

/* Free a handle: the flow (if still open) ends, queued data is dropped,
 * the handle becomes stale.  SL_ERR_STALE if already freed. */
sl_error sl_dgram_free(sl_stack *s, sl_dgram h);

/* ---------------------------------------------------------------------- */
/* Stream (TCP) handles                                                   */
/* ---------------------------------------------------------------------- */

/* "ESTABLISHED", ... ; "?" out of range. */
const char *sl_tcp_state_name(sl_tcp_state st);

typedef struct sl_stream_info {
    sl_endpoint local, remote;
    sl_tcp_state state;
    sl_error error;      /* sticky: why it failed or was reset, SL_OK    */
    uint32_t readable;   /* bytes waiting to be read                     */
    uint32_t unsent;     /* bytes written but not yet sent               */
    uint32_t unacked;    /* bytes sent, not yet acknowledged             */
    uint32_t send_space; /* bytes sl_stream_write would take now         */
    uint16_t mss;        /* send MSS in use                              */
    uint8_t snd_wscale, rcv_wscale; /* 0xff: window scaling not in use   */
    bool sack, timestamps;
    uint32_t srtt_us, rto_us, cwnd, ssthresh;
    uint64_t retransmits;
} sl_stream_info;

/* Active open (RFC 9293 §3.10.1) from local (its address is required; port
 * 0 picks an ephemeral port, RFC 6056) to remote.  SL_EV_CONNECTED or
 * SL_EV_ERROR (SL_ERR_REFUSED, SL_ERR_TIMEDOUT, SL_ERR_UNREACH) follows.
 * Errors: SL_ERR_INVAL, SL_ERR_LIMIT (max_streams, no free port),
 * SL_ERR_NOMEM. */
sl_error sl_stream_connect(sl_stack *s, const sl_endpoint *local, const sl_endpoint *remote,
                           void *user, sl_stream *out);

/* Read up to cap bytes: returns the count, 0 at end of stream (the peer's
 * FIN, all data read), SL_ERR_AGAIN (nothing yet: READABLE follows),
 * SL_ERR_RESET / SL_ERR_TIMEDOUT / ... (the connection failed), or
 * SL_ERR_STALE. */
long sl_stream_read(sl_stack *s, sl_stream h, uint8_t *buf, size_t cap);

/* Queue up to len bytes for sending; returns how many were taken (a
 * partial write when the send buffer fills), SL_ERR_AGAIN when none
 * (WRITABLE follows), SL_ERR_CLOSED after shutdown/close, the sticky
 * error of a failed connection, or SL_ERR_STALE.  Data written before the
 * handshake completes is queued and sent once it does. */
long sl_stream_write(sl_stack *s, sl_stream h, const uint8_t *data, size_t len);

/* Send FIN once the queued data is out (half-close: reads go on). */
sl_error sl_stream_shutdown(sl_stack *s, sl_stream h);

/* Graceful close: shutdown, and the user will read no more (data that
 * still arrives is answered with RST, RFC 9293 §3.10.7.4 / RFC 1122
 * §4.2.2.13).  The handle stays valid until sl_stream_free. */
sl_error sl_stream_close(sl_stack *s, sl_stream h);

/* Abort: send RST, drop all data, state CLOSED (RFC 9293 §3.10.5). */
sl_error sl_stream_abort(sl_stack *s, sl_stream h);

/* Release the handle (it becomes stale).  An open connection is closed
 * gracefully first and finishes in the background (bounded by
 * tcp_fin_wait2 and the retransmission limits). */
sl_error sl_stream_free(sl_stack *s, sl_stream h);

sl_error sl_stream_info_get(const sl_stack *s, sl_stream h, sl_stream_info *info);
sl_error sl_stream_set_user(sl_stack *s, sl_stream h, void *user);
void *sl_stream_user(const sl_stack *s, sl_stream h);
/* Nagle's algorithm (RFC 1122 §4.2.3.4), on by default. */
sl_error sl_stream_set_nodelay(sl_stack *s, sl_stream h, bool nodelay);

/* Keep-alive for this stream (RFC 1122 §4.2.3.6), with the timings of
 * cfg.tcp_keepalive_*; an idle time of 0 in the config means 2 hours.
 * Errors: SL_ERR_STALE. */
sl_error sl_stream_set_keepalive(sl_stack *s, sl_stream h, bool on);

/* Buffer sizes for this stream (1 KiB .. 1 GiB each; 0 keeps the current
 * one).  A buffer can change only while it holds no data (rings are
 * allocated on first use).  A larger receive buffer than the config's is
 * advertised only as far as the window scale negotiated in the handshake
 * allows.  Errors: SL_ERR_INVAL, SL_ERR_STATE (a buffer holds data),
 * SL_ERR_STALE. */
sl_error sl_stream_set_buffers(sl_stack *s, sl_stream h, uint32_t rcvbuf, uint32_t sndbuf);

/* A specific listener: SYNs to this endpoint (addr.family 0 = any address)
 * are accepted ahead of the filter; new streams come as SL_EV_STREAM_NEW
 * with `user` as their user pointer.  Errors: SL_ERR_INVAL, SL_ERR_LIMIT
 * (already listening there, or too many listeners). */
sl_error sl_stream_listen(sl_stack *s, const sl_endpoint *local, void *user);
sl_error sl_stream_unlisten(sl_stack *s, const sl_endpoint *local);

/* ---------------------------------------------------------------------- */
/* Counters                                                               */
/* ---------------------------------------------------------------------- */

/* Every counter the stack keeps, by layer.  *_DROP_* are drop reasons. */
typedef enum sl_counter {
    SL_CNT_IP_RX,               /* packets given to sl_input            */
    SL_CNT_IP_DROP_PARSE,       /* failed a wire parser (see parse errs)*/
    SL_CNT_IP_DROP_NOT_LOCAL,   /* destination not a local address      */
    SL_CNT_IP_DROP_MARTIAN,     /* multicast/broadcast/unspecified src  */
    SL_CNT_IP_DROP_SOURCE_ROUTE,/* IPv4 LSRR/SSRR option (RFC 7126)     */
    SL_CNT_IP_DROP_OPTION,      /* IPv6 unknown option: discard action  */
    SL_CNT_IP_DROP_ROUTING,     /* IPv6 routing header, segments left   */
    SL_CNT_IP_DROP_PROTO,       /* no handler for the protocol          */
    SL_CNT_IP_DROP_UNSUPPORTED, /* IPv6 or a fragment, compiled out of
                                   this build (sl_features)             */
    SL_CNT_IP_FRAGS_RX,         /* fragments received                   */
    SL_CNT_IP_REASM_OK,         /* datagrams reassembled                */
    SL_CNT_IP_REASM_DROP,       /* fragments/datagrams dropped (overlap,
                                   too big, limit, memory, inconsistent)*/
    SL_CNT_IP_REASM_TIMEOUT,    /* datagrams timed out                  */
    SL_CNT_IP_TX,               /* packets sent                         */
    SL_CNT_IP_FRAGS_TX,         /* fragments sent                       */
    SL_CNT_IP_TX_BYTES,
    SL_CNT_TX_QUEUE_FULL,       /* packets refused: tx queue limits     */
    SL_CNT_TX_DEVICE_FULL,      /* get_buffer said no (retried later)   */
    SL_CNT_ICMP_RX,
    SL_CNT_ICMP_ECHO_REPLIED,
    SL_CNT_ICMP_ERR_RX,         /* ICMP errors received                 */
    SL_CNT_ICMP_ERR_DELIVERED,  /* ... matched to a flow                */
    SL_CNT_ICMP_ERR_NO_FLOW,    /* ... quoting no flow of ours: dropped */
    SL_CNT_ICMP_ERR_TX,         /* ICMP errors sent                     */
    SL_CNT_ICMP_RATE_LIMITED,   /* errors not sent: token bucket empty  */
    SL_CNT_ICMP_IGNORED,        /* other types (NDP, MLD, ...) ignored  */
    SL_CNT_UDP_RX,
    SL_CNT_UDP_TX,
    SL_CNT_UDP_DROP_QUEUE_FULL, /* datagrams dropped: handle queue full */
    SL_CNT_UDP_FLOW_NEW,
    SL_CNT_UDP_FLOW_REFUSED,    /* filter said refuse (ICMP sent)       */
    SL_CNT_UDP_FLOW_DROPPED,    /* filter said drop                     */
    SL_CNT_UDP_FLOW_LIMIT,      /* max_flows reached: datagram dropped  */
    SL_CNT_UDP_FLOW_IDLE,       /* flows closed by idle timeout         */
    SL_CNT_TCP_RX,              /* segments received (parsed)           */
    SL_CNT_TCP_TX,              /* segments sent                        */
    SL_CNT_TCP_TSO_TX,          /* of which longer than the MTU (TSO)   */
    SL_CNT_TCP_RST_RX,          /* resets accepted                      */
    SL_CNT_TCP_RST_TX,          /* resets sent                          */
    SL_CNT_TCP_DROP_NO_CONN,    /* segment for no connection (RST sent) */
    SL_CNT_TCP_DROP_UNACCEPTABLE, /* outside the window (ACK sent)      */
    SL_CNT_TCP_DROP_PAWS,       /* old timestamp (RFC 7323 §5)          */
    SL_CNT_TCP_DROP_BAD_ACK,    /* ACK of data never sent               */
    SL_CNT_TCP_CHALLENGE_ACK,   /* RFC 5961 challenge ACKs sent         */
    SL_CNT_TCP_CONN_ACCEPTED,   /* passive opens established            */
    SL_CNT_TCP_CONN_CONNECTED,  /* active opens established             */
    SL_CNT_TCP_CONN_REFUSED,    /* filter said refuse (RST sent)        */
    SL_CNT_TCP_CONN_DROPPED,    /* filter said drop                     */
    SL_CNT_TCP_CONN_LIMIT,      /* max_streams reached: SYN dropped     */
    SL_CNT_TCP_BACKLOG_FULL,    /* backlog full, no cookies: SYN dropped*/
    SL_CNT_TCP_COOKIE_SENT,     /* SYN-ACKs carrying SYN cookies        */
    SL_CNT_TCP_COOKIE_OK,       /* connections made from a cookie       */
    SL_CNT_TCP_COOKIE_BAD,      /* ACKs with an invalid cookie          */
    SL_CNT_TCP_RETRANSMIT,      /* segments retransmitted by timeout    */
    SL_CNT_TCP_FAST_RETRANSMIT, /* fast retransmits (RFC 5681 §3.2)     */
    SL_CNT_TCP_TIMEOUT,         /* connections ended: retries exhausted */
    SL_CNT_TCP_OOO_DROP,        /* out-of-order segments not kept       */
    SL_CNT_TCP_DATA_AFTER_CLOSE,/* data after close: RST (RFC 1122)     */
    SL_CNT_TCP_DROP_LAND,       /* source address and port = destination
                                   (LAND): dropped, never answered      */
    SL_CNT_MEM_FAIL,            /* allocations refused                  */
    SL_CNT__COUNT
} sl_counter;

uint64_t sl_stats_get(const sl_stack *s, sl_counter c);
/* The counter's name ("ip_drop_parse"), or "?" out of range. */
const char *sl_counter_name(sl_counter c);
/* How many packets were dropped by the parsers with wire error `e`. */
uint64_t sl_stats_parse_error(const sl_stack *s, sl_error e);

/* in_use: bytes held by the stack's objects and buffers; cached: freed
 * TCP buffers kept for reuse (at most 16, at most limit / 4; they count
 * against the limit and are released first when it is reached; in_use +
 * cached is what the allocator has handed out; peak is its high-water
 * mark). */
typedef struct sl_mem_stats {
    size_t in_use, peak, limit;
    uint64_t allocs, fails;
    size_t cached;
} sl_mem_stats;
void sl_stats_mem(const sl_stack *s, sl_mem_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_STACK_H */
