/*
 * The built-in services of sluice-tun and sluice-replay, on any address:
 *
 *   TCP  7 echo, 9 discard, 19 chargen (RFC 862/863/864), 80 HTTP/1.1
 *        (GET / a small page, GET /bytes/N N bytes (byte i = i mod 251),
 *        POST /sha256 the hex digest of the body)
 *   UDP  7 echo
 *
 * Each stream has its own state with backpressure: nothing is read from a
 * stream whose output cannot be written, partial writes are resumed on
 * SL_EV_WRITABLE, nothing is lost.  Optional hooks see every byte a
 * service reads or writes (sluice-replay hashes them).
 */
#define _GNU_SOURCE 1

#include "services.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sha256.h"

#define CHUNK 16384       /* bytes moved per read/write call     */
#define REQ_MAX 8192      /* HTTP request head limit             */
#define BYTES_MAX (1ull << 40)

typedef enum conn_kind { K_ECHO, K_DISCARD, K_CHARGEN, K_HTTP } conn_kind;
typedef enum gen_kind { GEN_NONE, GEN_BYTES, GEN_CHARGEN } gen_kind;
typedef enum http_state { H_HEAD, H_BODY, H_RESPOND, H_DRAIN } http_state;

typedef struct svc_conn {
    int tag; /* SVC_TAG */
    struct svc_conn *prev, *next;
    sl_stream h;
    conn_kind kind;
    bool peer_fin; /* read returned 0                              */
    bool shut;     /* we sent our FIN (sl_stream_shutdown)          */
    /* Output not yet taken by the stack: obuf[ooff..olen), then the
     * generator (gen_left bytes from pattern position gen_pos). */
    uint8_t *obuf;
    size_t olen, ooff, ocap;
    gen_kind gen;
    uint64_t gen_pos, gen_left;
    /* HTTP */
    http_state hs;
    char *req;
    size_t req_len;
    uint64_t body_left;
    sha256_ctx sha;
} conn;

/* ---------------------------------------------------------------------- */
/* Patterns                                                               */
/* ---------------------------------------------------------------------- */

/* /bytes/N: byte i (from 0) is i mod 251.  A table long enough that any
 * CHUNK-byte window starting at offset (pos mod 251) is contiguous. */
static uint8_t g_bytes_tab[CHUNK + 251];
/* chargen (RFC 864): line k is the 72 printable characters starting at
 * character (k mod 95) of the 95 printable ASCII characters 32..126,
 * wrapping, followed by CR LF; the pattern repeats every 95 lines. */
#define CG_LINE 74u
#define CG_CYCLE (95u * CG_LINE)
static uint8_t g_chargen_tab[CG_CYCLE + CHUNK];

static void patterns_init(void)
{
    for (size_t i = 0; i < sizeof g_bytes_tab; i++)
        g_bytes_tab[i] = (uint8_t)(i % 251u);
    for (size_t i = 0; i < sizeof g_chargen_tab; i++) {
        size_t p = i % CG_CYCLE, line = p / CG_LINE, col = p % CG_LINE;
        uint8_t ch;
        if (col == 72)
            ch = '\r';
        else if (col == 73)
            ch = '\n';
        else
            ch = (uint8_t)(32u + (line + col) % 95u);
        g_chargen_tab[i] = ch;
    }
}


/* Every byte a service takes from or gives to a stream goes through these
 * two, so the hooks see the exact streams. */
static long svc_read(svc *a, conn *c, uint8_t *buf, size_t cap)
{
    long n = sl_stream_read(a->s, c->h, buf, cap);
    if (n > 0 && a->hooks.on_read != NULL)
        a->hooks.on_read(a->hooks.ctx, c->h, buf, (size_t)n);
    return n;
}

static long svc_write(svc *a, conn *c, const uint8_t *p, size_t n)
{
    long w = sl_stream_write(a->s, c->h, p, n);
    if (w > 0 && a->hooks.on_write != NULL)
        a->hooks.on_write(a->hooks.ctx, c->h, p, (size_t)w);
    return w;
}

/* ---------------------------------------------------------------------- */
/* Streams                                                                */
/* ---------------------------------------------------------------------- */

static void conn_destroy(svc *a, conn *c)
{
    sl_stream_set_user(a->s, c->h, NULL);
    if (a->hooks.on_release == NULL || !a->hooks.on_release(a->hooks.ctx, c->h))
        sl_stream_free(a->s, c->h); /* an open connection closes gracefully */
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c->obuf);
    free(c->req);
    free(c);
    a->conns_open--;
}

static bool out_append(conn *c, const void *data, size_t len)
{
    if (c->ooff > 0 && c->ooff == c->olen)
        c->ooff = c->olen = 0;
    if (c->olen + len > c->ocap) {
        if (c->ooff > 0) {
            memmove(c->obuf, c->obuf + c->ooff, c->olen - c->ooff);
            c->olen -= c->ooff;
            c->ooff = 0;
        }
        if (c->olen + len > c->ocap) {
            size_t cap = c->olen + len + 1024;
            uint8_t *p = realloc(c->obuf, cap);
            if (p == NULL)
                return false;
            c->obuf = p;
            c->ocap = cap;
        }
    }
    memcpy(c->obuf + c->olen, data, len);
    c->olen += len;
    return true;
}

typedef enum flush_result { F_DONE, F_BLOCKED, F_ERROR } flush_result;

/* Hand the stack as much pending output as it takes.  A partial write is
 * followed by another write, so that the stack answers SL_ERR_AGAIN and
 * arms SL_EV_WRITABLE before we stop. */
static flush_result flush_out(svc *a, conn *c)
{
    for (unsigned guard = 0; guard < 100000; guard++) {
        const uint8_t *p;
        size_t n;
        if (c->ooff < c->olen) {
            p = c->obuf + c->ooff;
            n = c->olen - c->ooff;
        } else if (c->gen != GEN_NONE && c->gen_left > 0) {
            n = c->gen_left < CHUNK ? (size_t)c->gen_left : CHUNK;
            p = c->gen == GEN_BYTES ? g_bytes_tab + c->gen_pos % 251u
                                    : g_chargen_tab + c->gen_pos % CG_CYCLE;
        } else {
            return F_DONE;
        }
        long w = svc_write(a, c, p, n);
        if (w == SL_ERR_AGAIN)
            return F_BLOCKED;
        if (w < 0)
            return F_ERROR;
        if (c->ooff < c->olen) {
            c->ooff += (size_t)w;
        } else {
            c->gen_pos += (uint64_t)w;
            c->gen_left -= (uint64_t)w;
        }
    }
    return F_BLOCKED; /* bounded; WRITABLE or the next event resumes */
}

/* Our side is done writing: FIN once the queued data is out. */
static void conn_shutdown(svc *a, conn *c)
{
    if (!c->shut) {
        sl_stream_shutdown(a->s, c->h);
        c->shut = true;
    }
}

/* Read and throw away whatever is waiting; notes the peer's FIN. */
static bool drain_input(svc *a, conn *c)
{
    uint8_t buf[CHUNK];
    for (unsigned guard = 0; guard < 100000; guard++) {
        long n = svc_read(a, c, buf, sizeof buf);
        if (n > 0)
            continue;
        if (n == 0)
            c->peer_fin = true;
        return n == 0 || n == SL_ERR_AGAIN;
    }
    return true;
}

/* ---- echo (RFC 862): read only what can be written back ----------------- */
static bool pump_echo(svc *a, conn *c)
{
    for (unsigned guard = 0; guard < 100000; guard++) {
        flush_result f = flush_out(a, c);
        if (f == F_ERROR)
            return false;
        if (f == F_BLOCKED)
            return true; /* SL_EV_WRITABLE resumes; input waits in the stack */
        if (c->peer_fin) {
            conn_shutdown(a, c);
            return true;
        }
        c->ooff = c->olen = 0;
        long n = svc_read(a, c, c->obuf, c->ocap);
        if (n > 0)
            c->olen = (size_t)n;
        else if (n == 0)
            c->peer_fin = true;
        else
            return n == SL_ERR_AGAIN;
    }
    return true;
}

/* ---- HTTP/1.1 ------------------------------------------------------------ */

static const char g_index_html[] =
    "<!doctype html>\n"
    "<html><head><title>sluice</title></head>\n"
    "<body>\n"
    "<h1>Hello from sluice</h1>\n"
    "<p>This page was served by a user-space TCP/IP stack (sluice) running on a TUN "
    "device.</p>\n"
    "<ul>\n"
    "<li><code>GET /bytes/N</code>: N bytes, byte i = i mod 251</li>\n"
    "<li><code>POST /sha256</code>: the hex SHA-256 of the request body</li>\n"
    "</ul>\n"
    "</body></html>\n";

static void http_respond(conn *c, int code, const char *reason, const char *ctype,
                         const void *body, size_t body_len, uint64_t gen_len)
{
    char head[512];
    uint64_t clen = body_len + gen_len;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n"
                     "Server: sluice-tun\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %" PRIu64 "\r\n"
                     "Connection: close\r\n"
                     "\r\n",
                     code, reason, ctype, clen);
    bool ok = n > 0 && (size_t)n < sizeof head && out_append(c, head, (size_t)n) &&
              (body_len == 0 || out_append(c, body, body_len));
    if (!ok) { /* out of memory: give up on this connection quietly */
        c->olen = c->ooff = 0;
        gen_len = 0;
    }
    if (gen_len > 0) {
        c->gen = GEN_BYTES;
        c->gen_pos = 0;
        c->gen_left = gen_len;
    }
    c->hs = H_RESPOND;
}

static void http_error(conn *c, int code, const char *reason)
{
    char body[128];
    int n = snprintf(body, sizeof body, "%d %s\n", code, reason);
    http_respond(c, code, reason, "text/plain", body, n > 0 ? (size_t)n : 0, 0);
}

static bool ieq_prefix(const char *line, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(line, name, n) == 0;
}

/* Parse the request head in c->req[0..head_len).  Sets up the response or
 * the body phase. */
static void http_parse_head(conn *c, size_t head_len)
{
    char *req = c->req;
    req[head_len] = '\0';
    char *eol = strstr(req, "\r\n");
    if (eol == NULL) {
        http_error(c, 400, "Bad Request");
        return;
    }
    *eol = '\0';
    char method[16], target[1024], version[16];
    if (sscanf(req, "%15s %1023s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        http_error(c, 400, "Bad Request");
        return;
    }
    bool have_len = false, chunked = false, expect_continue = false;
    uint64_t clen = 0;
    for (char *line = eol + 2; *line != '\0';) {
        char *e = strstr(line, "\r\n");
        if (e == NULL)
            break;
        *e = '\0';
        if (ieq_prefix(line, "content-length:")) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(line + 15, &end, 10);
            if (errno != 0 || end == line + 15) {
                http_error(c, 400, "Bad Request");
                return;
            }
            have_len = true;
            clen = v;
        } else if (ieq_prefix(line, "transfer-encoding:")) {
            chunked = true;
        } else if (ieq_prefix(line, "expect:") && strcasestr(line, "100-continue") != NULL) {
            expect_continue = true;
        }
        line = e + 2;
    }
    if (strcmp(method, "GET") == 0) {
        if (strcmp(target, "/") == 0 || strcmp(target, "/index.html") == 0) {
            http_respond(c, 200, "OK", "text/html; charset=utf-8", g_index_html,
                         sizeof g_index_html - 1, 0);
        } else if (strncmp(target, "/bytes/", 7) == 0) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(target + 7, &end, 10);
            if (errno != 0 || end == target + 7 || *end != '\0' || target[7] == '-' ||
                n > BYTES_MAX)
                http_error(c, 400, "Bad Request");
            else
                http_respond(c, 200, "OK", "application/octet-stream", NULL, 0, n);
        } else {
            http_error(c, 404, "Not Found");
        }
        return;
    }
    if (strcmp(method, "POST") == 0 && strcmp(target, "/sha256") == 0) {
        if (chunked) {
            http_error(c, 501, "Not Implemented");
            return;
        }
        if (!have_len) {
            http_error(c, 411, "Length Required");
            return;
        }
        if (expect_continue) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            out_append(c, cont, sizeof cont - 1);
        }
        sha256_init(&c->sha);
        c->body_left = clen;
        c->hs = H_BODY;
        return;
    }
    if (strcmp(target, "/sha256") == 0 || strcmp(method, "GET") != 0)
        http_error(c, 405, "Method Not Allowed");
    else
        http_error(c, 404, "Not Found");
}

static void http_body(conn *c, const uint8_t *p, size_t n)
{
    size_t take = n < c->body_left ? n : (size_t)c->body_left;
    sha256_update(&c->sha, p, take);
    c->body_left -= take;
    if (c->body_left == 0) {
        uint8_t d[32];
        char hex[66];
        sha256_final(&c->sha, d);
        sha256_hex(d, hex);
        hex[64] = '\n';
        hex[65] = '\0';
        http_respond(c, 200, "OK", "text/plain", hex, 65, 0);
    }
}

static bool pump_http(svc *a, conn *c)
{
    for (unsigned guard = 0; guard < 100000; guard++) {
        if (c->hs == H_HEAD) {
            long n = svc_read(a, c, (uint8_t *)c->req + c->req_len,
                                    REQ_MAX - 1 - c->req_len);
            if (n == SL_ERR_AGAIN)
                return flush_out(a, c) != F_ERROR;
            if (n < 0)
                return false;
            if (n == 0) { /* closed before a full request */
                c->peer_fin = true;
                conn_shutdown(a, c);
                return true;
            }
            c->req_len += (size_t)n;
            c->req[c->req_len] = '\0';
            char *end = strstr(c->req, "\r\n\r\n");
            if (end == NULL) {
                if (c->req_len >= REQ_MAX - 1)
                    http_error(c, 431, "Request Header Fields Too Large");
                continue;
            }
            size_t head_len = (size_t)(end - c->req) + 4;
            size_t extra = c->req_len - head_len;
            uint8_t rest[REQ_MAX];
            memcpy(rest, c->req + head_len, extra);
            http_parse_head(c, head_len);
            if (c->hs == H_BODY && extra > 0)
                http_body(c, rest, extra);
            continue;
        }
        if (c->hs == H_BODY) {
            if (flush_out(a, c) == F_ERROR) /* 100 Continue */
                return false;
            uint8_t buf[CHUNK];
            long n = svc_read(a, c, buf, sizeof buf);
            if (n == SL_ERR_AGAIN)
                return true;
            if (n < 0)
                return false;
            if (n == 0) {
                c->peer_fin = true;
                http_error(c, 400, "Bad Request"); /* body cut short */
                continue;
            }
            http_body(c, buf, (size_t)n);
            continue;
        }
        if (c->hs == H_RESPOND) {
            flush_result f = flush_out(a, c);
            if (f == F_ERROR)
                return false;
            if (!drain_input(a, c)) /* keep the window open, notice FIN */
                return false;
            if (f == F_BLOCKED)
                return true;
            conn_shutdown(a, c); /* Connection: close */
            c->hs = H_DRAIN;
            continue;
        }
        /* H_DRAIN: wait for the peer's FIN */
        return drain_input(a, c);
    }
    return true;
}

/* Run a stream's service as far as it goes.  Returns false when the
 * connection should be torn down. */
static bool conn_pump(svc *a, conn *c)
{
    switch (c->kind) {
    case K_ECHO:
        return pump_echo(a, c);
    case K_DISCARD: /* RFC 863 */
        if (!drain_input(a, c))
            return false;
        if (c->peer_fin)
            conn_shutdown(a, c);
        return true;
    case K_CHARGEN: { /* RFC 864: send until the peer closes */
        if (!drain_input(a, c))
            return false;
        if (c->peer_fin) {
            c->gen_left = 0; /* what is queued still goes, then FIN */
            conn_shutdown(a, c);
            return true;
        }
        return flush_out(a, c) != F_ERROR;
    }
    case K_HTTP:
        return pump_http(a, c);
    }
    return false;
}

void svc_stream_new(svc *a, sl_stream h)
{
    sl_stream_info info;
    if (sl_stream_info_get(a->s, h, &info) != SL_OK) {
        sl_stream_free(a->s, h);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        sl_stream_abort(a->s, h);
        sl_stream_free(a->s, h);
        return;
    }
    c->tag = SVC_TAG;
    c->h = h;
    bool ok = true;
    switch (info.local.port) {
    case 7:
        c->kind = K_ECHO;
        c->ocap = CHUNK;
        c->obuf = malloc(c->ocap);
        ok = c->obuf != NULL;
        break;
    case 9:
        c->kind = K_DISCARD;
        break;
    case 19:
        c->kind = K_CHARGEN;
        c->gen = GEN_CHARGEN;
        c->gen_left = UINT64_MAX;
        break;
    default:
        c->kind = K_HTTP;
        c->req = malloc(REQ_MAX);
        ok = c->req != NULL;
        break;
    }
    if (!ok) {
        free(c->obuf);
        free(c->req);
        free(c);
        sl_stream_abort(a->s, h);
        sl_stream_free(a->s, h);
        return;
    }
    c->next = a->conns;
    if (a->conns != NULL)
        a->conns->prev = c;
    a->conns = c;
    a->conns_open++;
    a->conns_total++;
    sl_stream_set_user(a->s, h, c);
    if (!conn_pump(a, c)) {
        sl_stream_abort(a->s, c->h);
        conn_destroy(a, c);
    }
}

/* Done when we sent FIN, the peer sent FIN and nothing is pending. */
static void conn_after_pump(svc *a, conn *c, bool ok)
{
    if (!ok) {
        sl_stream_abort(a->s, c->h);
        conn_destroy(a, c);
        return;
    }
    if (c->shut && c->peer_fin)
        conn_destroy(a, c); /* the stack finishes the close in the background */
}

/* ---------------------------------------------------------------------- */
/* Datagrams: UDP echo                                                    */
/* ---------------------------------------------------------------------- */

static void udp_echo(svc *a, sl_dgram h)
{
    static uint8_t buf[65536];
    for (unsigned guard = 0; guard < 1024; guard++) {
        long n = sl_dgram_recv(a->s, h, buf, sizeof buf, NULL, NULL);
        if (n < 0)
            return;
        if (a->hooks.on_dgram != NULL)
            a->hooks.on_dgram(a->hooks.ctx, h, buf, (size_t)n, true);
        if (sl_dgram_send(a->s, h, buf, (size_t)n) != SL_OK)
            a->udp_echo_dropped++;
        else if (a->hooks.on_dgram != NULL)
            a->hooks.on_dgram(a->hooks.ctx, h, buf, (size_t)n, false);
    }
}

/* Whether a built-in service (enabled by --services) answers this port. */
bool svc_local(const svc *a, uint8_t proto, uint16_t port)
{
    unsigned need = 0;
    if (proto == 6) {
        switch (port) {
        case 7:
            need = SVC_ECHO;
            break;
        case 9:
            need = SVC_DISCARD;
            break;
        case 19:
            need = SVC_CHARGEN;
            break;
        case 80:
            need = SVC_HTTP;
            break;
        default:
            break;
        }
    } else if (proto == 17 && port == 7) {
        need = SVC_UDP_ECHO;
    }
    return need != 0 && (a->services & need) != 0;
}

bool svc_parse_list(const char *list, unsigned *out)
{
    unsigned m = 0;
    char buf[256];
    if (strlen(list) >= sizeof buf)
        return false;
    strcpy(buf, list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "echo") == 0)
            m |= SVC_ECHO;
        else if (strcmp(t, "discard") == 0)
            m |= SVC_DISCARD;
        else if (strcmp(t, "chargen") == 0)
            m |= SVC_CHARGEN;
        else if (strcmp(t, "http") == 0)
            m |= SVC_HTTP;
        else if (strcmp(t, "udp-echo") == 0)
            m |= SVC_UDP_ECHO;
        else if (strcmp(t, "all") == 0)
            m |= SVC_ALL;
        else if (strcmp(t, "none") == 0)
            m |= 0;
        else
            return false;
    }
    *out = m;
    return true;
}

void svc_init(svc *v, sl_stack *s, unsigned services)
{
    memset(v, 0, sizeof *v);
    v->s = s;
    v->services = services;
    patterns_init();
}

void svc_stream_event(svc *v, const sl_event *ev)
{
    conn *c = ev->user;
    switch (ev->type) {
    case SL_EV_READABLE:
    case SL_EV_WRITABLE:
    case SL_EV_PEER_FIN:
        if (c != NULL)
            conn_after_pump(v, c, conn_pump(v, c));
        break;
    case SL_EV_ERROR:
    case SL_EV_RESET:
    case SL_EV_CLOSED:
        if (c != NULL)
            conn_destroy(v, c);
        break;
    case SL_EV_STREAM_NEW:
    case SL_EV_DGRAM_NEW:
    case SL_EV_CONNECTED:
        break;
    }
}

void svc_dgram_event(svc *v, const sl_event *ev)
{
    switch (ev->type) {
    case SL_EV_DGRAM_NEW:
    case SL_EV_READABLE:
        udp_echo(v, ev->dgram);
        break;
    case SL_EV_CLOSED:
        sl_dgram_free(v->s, ev->dgram);
        break;
    case SL_EV_STREAM_NEW:
    case SL_EV_CONNECTED:
    case SL_EV_WRITABLE:
    case SL_EV_PEER_FIN:
    case SL_EV_ERROR:
    case SL_EV_RESET:
        break;
    }
}

void svc_free_all(svc *v)
{
    while (v->conns != NULL)
        conn_destroy(v, v->conns);
}
