/*
 * sluice — runtime: handles usable from any thread (Linux, library
 * `sluice_runtime`; docs/runtime.md).
 *
 * A runtime is one thread that owns one stack (include/sluice/stack.h)
 * and one packet device (a TUN fd, or callbacks).  Every other thread
 * talks to it through bounded lock-free queues; the stack itself is never
 * locked and only ever touched by the runtime thread.
 *
 *   sl_rt_config rc;
 *   sl_rt_config_init(&rc);
 *   rc.stack.secret = key; rc.stack.secret_len = 16;   (tx is set by the runtime)
 *   rc.dev.fd = sl_tun_open("sl0", NULL, 0);
 *   sl_rt *rt = sl_rt_new(&rc, &err);
 *   sl_rt_start(rt);
 *   ... any thread:  sl_rt_accept(rt, &h, -1); sl_rt_read(h, buf, n, -1); ...
 *   sl_rt_stop(rt);       every blocked call returns SL_ERR_SHUTDOWN
 *   ... close every handle ...
 *   sl_rt_free(rt);
 *
 * Timeouts (every `timeout_ms` below): -1 waits forever, 0 never waits
 * (the non-blocking variant), > 0 waits at most that many milliseconds.
 * A call that would wait longer returns SL_ERR_AGAIN.
 *
 * Threading rules (enforced, not assumed):
 *   - at most one thread reads (sl_rt_read / sl_rt_recv) and one thread
 *     writes (sl_rt_write / sl_rt_send) a handle at a time; a second
 *     concurrent reader (or writer) gets SL_ERR_BUSY at once;
 *   - any number of threads may accept and connect on one runtime;
 *   - sl_rt_close / sl_rt_dgram_close release the handle: they return
 *     SL_ERR_BUSY while a read or write is in progress on it (use
 *     sl_rt_abort to wake them first); after close the pointer is gone.
 *   - shutdown, abort, the *_fd and *_poll calls may come from any thread
 *     at any time while the handle is open.
 *
 * Readiness file descriptors (eventfd, for epoll/poll/libuv/libevent):
 * the fd becomes readable whenever the handle's state may have changed
 * (bytes arrived, room to write, end of stream, error, connected,
 * shutdown).  It stays readable until the application reads it (8 bytes,
 * or sl_rt_fd_clear).  Contract: clear the fd, then call the non-blocking
 * operations (timeout 0) until they return SL_ERR_AGAIN; a change after
 * the clear makes it readable again, so no wake-up is lost.  With epoll
 * this works with both level and edge triggering.  sl_rt_stream_poll()
 * gives the current level (SL_RT_POLL_* flags) without clearing anything.
 */
#ifndef SLUICE_RUNTIME_H
#define SLUICE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/stack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_rt sl_rt;
typedef struct sl_rt_stream sl_rt_stream; /* a TCP stream                  */
typedef struct sl_rt_dgram sl_rt_dgram;   /* a UDP flow or bound handle    */

/* The packet device.  Either a non-blocking fd that reads and writes one
 * IP packet per call (a TUN fd or one queue of a multi-queue TUN device),
 * or callbacks (fd = -1):
 *   recv(ctx, buf, cap): copy one packet into buf, return its length; 0
 *       when none is waiting; < 0 on a fatal device error (the runtime
 *       stops).  Called from the runtime thread only.
 *   send(ctx, pkt, len): transmit one packet (copy it; do not keep pkt).
 *       Runtime thread only.
 *   wake_fd: a file descriptor the runtime polls for POLLIN; it calls recv
 *       until it returns 0 whenever wake_fd is readable.  recv must itself
 *       clear wake_fd's readiness before it reports "none", then look
 *       again (the producer: queue the packet, then make wake_fd readable).
 * The runtime does not close fd or wake_fd. */
typedef struct sl_rt_device {
    int fd;
    int (*recv)(void *ctx, uint8_t *buf, size_t cap);
    void (*send)(void *ctx, const uint8_t *pkt, size_t len);
    int wake_fd;
    void *ctx;
} sl_rt_device;

typedef struct sl_rt_config {
    /* The stack's settings (sl_config_init defaults).  tx is replaced by
     * the runtime's; filter (if any) runs on the runtime thread.  The
     * secret is copied by sl_rt_new. */
    sl_config stack;
    sl_rt_device dev;
    uint32_t cmd_queue;      /* 4096 commands (power of two, >= 16)        */
    uint32_t accept_queue;   /* 1024 new streams and 1024 new flows waiting
                                for sl_rt_accept; beyond, new ones are
                                reset (TCP) or dropped (UDP) and counted   */
    uint32_t stream_buf;     /* 65536 bytes per direction per stream,
                                between the app and the stack (power of
                                two, 4 KiB .. 64 MiB)                      */
    uint32_t dgram_buf;      /* 262144 bytes per direction per datagram
                                handle (power of two, >= 131072)           */
} sl_rt_config;

void sl_rt_config_init(sl_rt_config *rc);

/* Create a runtime (the thread does not run yet).  NULL on failure with
 * *err: SL_ERR_INVAL (bad config, no device), SL_ERR_NOMEM, or the error
 * of sl_stack_new. */
sl_rt *sl_rt_new(const sl_rt_config *rc, sl_error *err);

/* Start the runtime thread.  SL_ERR_STATE if started before, SL_ERR_NOMEM
 * if the thread cannot be created. */
sl_error sl_rt_start(sl_rt *rt);

/* Stop the runtime thread and wait for it.  Every call blocked in another
 * thread returns SL_ERR_SHUTDOWN (within about 100 ms at most), and every
 * later call on the runtime or its handles does too (close still releases
 * the handle).  Idempotent; call it from one thread at a time, never from
 * the runtime's own (a filter callback).  The runtime thread also stops by
 * itself, with the same effect, if the device fails (read error, or recv
 * returning < 0). */
void sl_rt_stop(sl_rt *rt);

/* Free the runtime (stops it first).  Every handle must have been closed
 * (after sl_rt_stop, closing never waits).  NULL is ignored. */
void sl_rt_free(sl_rt *rt);

/* The stack, for counters (sl_stats_get) once the runtime has stopped;
 * never call into it while the runtime runs. */
sl_stack *sl_rt_stack(sl_rt *rt);

/* Runtime counters, readable at any time. */
typedef struct sl_rt_stats {
    uint64_t loops;            /* turns of the runtime loop               */
    uint64_t commands;         /* commands executed                       */
    uint64_t pkts_in, pkts_out;
    uint64_t dev_tx_drops;     /* device full (EAGAIN) or send error      */
    uint64_t accept_overflow;  /* new streams/flows refused: queue full   */
} sl_rt_stats;
void sl_rt_stats_get(const sl_rt *rt, sl_rt_stats *out);

/* ---- streams ------------------------------------------------------------ */

/* Wait for a new inbound TCP connection (every SYN the stack's filter
 * accepts, any port unless cfg.stack.filter says otherwise; ESTABLISHED).
 * SL_OK and *out, SL_ERR_AGAIN (timeout), SL_ERR_SHUTDOWN. */
sl_error sl_rt_accept(sl_rt *rt, sl_rt_stream **out, int timeout_ms);

/* Readable (poll, epoll) when sl_rt_accept or sl_rt_dgram_accept may
 * succeed; same clear-then-drain contract as the handle fds. */
int sl_rt_accept_fd(sl_rt *rt);

/* Active open from local (address required, port 0 = ephemeral) to
 * remote.  timeout 0: returns SL_ERR_AGAIN at once with *out set, the
 * connection in progress (its fd turns readable when it completes; reads
 * and writes work meanwhile, writes are queued).  Otherwise waits until
 * ESTABLISHED: SL_OK and *out; on failure (SL_ERR_REFUSED,
 * SL_ERR_TIMEDOUT, SL_ERR_UNREACH, SL_ERR_AGAIN when the wait timed out,
 * SL_ERR_SHUTDOWN, SL_ERR_LIMIT, SL_ERR_INVAL) the handle is already
 * released and *out is NULL. */
sl_error sl_rt_connect(sl_rt *rt, const sl_endpoint *local, const sl_endpoint *remote,
                       sl_rt_stream **out, int timeout_ms);

/* Read up to cap bytes: waits until at least one byte, the end of the
 * stream or an error.  Returns the count; 0 = end of stream (the peer's
 * FIN, every byte read); SL_ERR_AGAIN (timeout); SL_ERR_BUSY (another
 * thread is reading); the connection's error (SL_ERR_RESET,
 * SL_ERR_TIMEDOUT, ...) once the bytes before it are read; SL_ERR_CLOSED
 * after sl_rt_abort; SL_ERR_SHUTDOWN. */
long sl_rt_read(sl_rt_stream *h, void *buf, size_t cap, int timeout_ms);

/* Write len bytes.  Blocking (timeout -1): returns len once every byte is
 * queued for the stack, or an error.  With a timeout: the bytes queued
 * before it expired (partial), or SL_ERR_AGAIN if none (timeout 0: as many
 * as fit now).  Errors: SL_ERR_BUSY (another thread is writing),
 * SL_ERR_CLOSED (after shutdown/abort), the connection's error,
 * SL_ERR_SHUTDOWN. */
long sl_rt_write(sl_rt_stream *h, const void *data, size_t len, int timeout_ms);

/* Half-close: FIN once every byte written so far is sent; reads go on. */
sl_error sl_rt_shutdown(sl_rt_stream *h);

/* Reset the connection (RST, data dropped); blocked calls on the handle
 * return SL_ERR_CLOSED.  The handle still needs sl_rt_close. */
sl_error sl_rt_abort(sl_rt_stream *h);

/* Graceful close and release: waits until every byte written is handed to
 * the stack (which sends it and the FIN in the background, like close(2)
 * on a socket), at most timeout_ms.  SL_OK, SL_ERR_AGAIN (timed out: the
 * rest is still sent in the background), the connection's error,
 * SL_ERR_SHUTDOWN; in all these cases the handle is released.
 * SL_ERR_BUSY (a read or write is in progress): nothing done. */
sl_error sl_rt_close(sl_rt_stream *h, int timeout_ms);

/* The handle's readiness eventfd (created on first use, owned by the
 * handle, closed by sl_rt_close); -1 if eventfd() failed. */
int sl_rt_stream_fd(sl_rt_stream *h);

#define SL_RT_POLL_IN 0x1u   /* sl_rt_read would not wait              */
#define SL_RT_POLL_OUT 0x2u  /* sl_rt_write would take a byte now      */
#define SL_RT_POLL_ERR 0x4u  /* failed, aborted or runtime stopped     */
#define SL_RT_POLL_HUP 0x8u  /* end of stream reached in the buffer    */
unsigned sl_rt_stream_poll(const sl_rt_stream *h);

/* Endpoints (fixed for the handle's life); either may be NULL. */
void sl_rt_stream_endpoints(const sl_rt_stream *h, sl_endpoint *local, sl_endpoint *remote);

/* Read one value from a readiness fd (clears it).  Never blocks. */
void sl_rt_fd_clear(int fd);

/* ---- datagrams ---------------------------------------------------------- */

/* Wait for a new inbound UDP flow (as sl_rt_accept). */
sl_error sl_rt_dgram_accept(sl_rt *rt, sl_rt_dgram **out, int timeout_ms);

/* A bound datagram handle (sl_dgram_open): bind NULL = send only.
 * Errors: those of sl_dgram_open, SL_ERR_SHUTDOWN. */
sl_error sl_rt_dgram_open(sl_rt *rt, const sl_endpoint *bind, sl_rt_dgram **out);

/* Receive one datagram (truncated to cap); returns its full length.
 * from/to may be NULL.  SL_ERR_AGAIN (timeout), SL_ERR_BUSY, SL_ERR_CLOSED
 * (flow ended, queue empty), SL_ERR_SHUTDOWN. */
long sl_rt_recv(sl_rt_dgram *h, void *buf, size_t cap, sl_endpoint *from, sl_endpoint *to,
                int timeout_ms);

/* Send one datagram: on a flow handle to its peer (to = NULL), on a bound
 * handle to `to` from its bound endpoint.  Returns len once queued for the
 * stack.  SL_ERR_MSGSIZE (over 65507 bytes), SL_ERR_AGAIN (timeout, queue
 * full), SL_ERR_BUSY, SL_ERR_INVAL, SL_ERR_CLOSED, SL_ERR_SHUTDOWN.  Errors
 * the stack reports later (ICMP) are not returned here. */
long sl_rt_send(sl_rt_dgram *h, const void *data, size_t len, const sl_endpoint *to,
                int timeout_ms);

/* Release the handle (the flow ends).  SL_ERR_BUSY while a recv or send
 * is in progress. */
sl_error sl_rt_dgram_close(sl_rt_dgram *h);

int sl_rt_dgram_fd(sl_rt_dgram *h);
unsigned sl_rt_dgram_poll(const sl_rt_dgram *h);
/* Flow handles: the flow's endpoints; bound handles: the bind endpoint. */
void sl_rt_dgram_endpoints(const sl_rt_dgram *h, sl_endpoint *local, sl_endpoint *remote);

/* ---- in-memory link ------------------------------------------------------ */

/* Two callback devices joined back to back (for tests and benchmarks: two
 * runtimes in one process, no kernel device): packets sent on side 0 are
 * received on side 1 and the other way, through two lock-free rings of
 * `bytes` each (power of two, >= 131072); a packet that does not fit is
 * dropped and counted, as a full device queue would. */
typedef struct sl_rt_link sl_rt_link;
sl_rt_link *sl_rt_link_new(size_t bytes);
/* The device of side 0 or 1, to put in sl_rt_config.dev. */
void sl_rt_link_device(sl_rt_link *l, int side, sl_rt_device *out);
uint64_t sl_rt_link_drops(const sl_rt_link *l);
/* After both runtimes using it are stopped.  NULL is ignored. */
void sl_rt_link_free(sl_rt_link *l);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_RUNTIME_H */
