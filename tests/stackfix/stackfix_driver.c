/*
 * stackfix driver: runs the packets written by stackfix.py through one
 * stack and writes every packet the stack sends.
 *
 *     stackfix_driver IN OUT
 *
 * IN:  one input per line, "<id> <hex>" (blank lines and '#' comments
 *      ignored).  Input i is given to sl_input at time (i + 1) ms.
 * OUT: one output per line, "<id> <hex>", id being the input after which
 *      the packet was sent.
 *
 * The stack: defaults, any_ip, a filter that refuses UDP ports 1000-1999
 * (ICMP port unreachable) and accepts the rest.  After every input it
 * echoes every datagram received (sl_dgram_recv -> sl_dgram_send, so from
 * the flow's local to its remote endpoint) and polls.  Exit status 0 when
 * every line was read and fed (sl_input errors are reported, not fatal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/stack.h"

#define MAX_LINE (2 * 70000 + 256)

typedef struct out_ctx {
    FILE *f;
    const char *id;
    unsigned long n;
} out_ctx;

static void tx_send(void *ctx, uint8_t *buf, size_t len)
{
    out_ctx *o = ctx;
    fprintf(o->f, "%s ", o->id);
    for (size_t i = 0; i < len; i++)
        fprintf(o->f, "%02x", buf[i]);
    fputc('\n', o->f);
    o->n++;
}

static sl_verdict filter(void *ctx, const sl_flow_info *fi)
{
    (void)ctx;
    if (fi->local.port >= 1000 && fi->local.port <= 1999)
        return SL_REFUSE;
    return SL_ACCEPT;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode hex text into out; returns the length or -1. */
static long unhex(const char *t, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (t[0] != '\0' && t[0] != '\n' && t[0] != '\r') {
        int hi = hexval((unsigned char)t[0]);
        int lo = t[1] == '\0' ? -1 : hexval((unsigned char)t[1]);
        if (hi < 0 || lo < 0 || n >= cap)
            return -1;
        out[n++] = (uint8_t)(hi << 4 | lo);
        t += 2;
    }
    return (long)n;
}

static void echo_all(sl_stack *s, unsigned long *echoed)
{
    static uint8_t buf[65536];
    sl_event ev;
    while (sl_next_event(s, &ev)) {
        if (ev.is_stream)
            continue;
        if (ev.type == SL_EV_DGRAM_NEW || ev.type == SL_EV_READABLE) {
            long n;
            while ((n = sl_dgram_recv(s, ev.dgram, buf, sizeof buf, NULL, NULL)) >= 0) {
                sl_error e = sl_dgram_send(s, ev.dgram, buf, (size_t)n);
                if (e != SL_OK)
                    fprintf(stderr, "stackfix: send: %s\n", sl_error_name(e));
                else
                    (*echoed)++;
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    FILE *outf = fopen(argv[2], "w");
    if (in == NULL || outf == NULL) {
        perror("stackfix: open");
        return 2;
    }
    static const uint8_t secret[16] = {'s', 't', 'a', 'c', 'k', 'f', 'i', 'x',
                                       '-', 's', 'e', 'c', 'r', 'e', 't', '!'};
    out_ctx o = {outf, "-", 0};
    sl_config cfg;
    sl_config_init(&cfg);
    cfg.secret = secret;
    cfg.secret_len = sizeof secret;
    cfg.tx.send = tx_send;
    cfg.tx.ctx = &o;
    cfg.filter = filter;
    sl_allocator heap = sl_allocator_heap();
    sl_error err = SL_OK;
    sl_stack *s = sl_stack_new(&cfg, &heap, &err);
    if (s == NULL) {
        fprintf(stderr, "stackfix: sl_stack_new: %s\n", sl_error_name(err));
        return 2;
    }

    static char line[MAX_LINE];
    static char id[256];
    static uint8_t pkt[70000];
    unsigned long n_in = 0, n_err = 0, echoed = 0;
    sl_time now = 0;
    while (fgets(line, sizeof line, in) != NULL) {
        if (line[0] == '#' || line[0] == '\n' || line[0] == '\0')
            continue;
        char *sp = strchr(line, ' ');
        if (sp == NULL || (size_t)(sp - line) >= sizeof id) {
            fprintf(stderr, "stackfix: bad line %lu\n", n_in + 1);
            return 2;
        }
        memcpy(id, line, (size_t)(sp - line));
        id[sp - line] = '\0';
        long len = unhex(sp + 1, pkt, sizeof pkt);
        if (len < 0) {
            fprintf(stderr, "stackfix: bad hex for %s\n", id);
            return 2;
        }
        n_in++;
        now += 1000;
        o.id = id;
        sl_error e = sl_input(s, pkt, (size_t)len, now);
        if (e != SL_OK) {
            n_err++;
            fprintf(stderr, "stackfix: %s: sl_input: %s\n", id, sl_error_name(e));
        }
        echo_all(s, &echoed);
        (void)sl_poll(s, now);
    }
    fprintf(stderr, "stackfix: %lu inputs (%lu refused by sl_input), %lu echoed, %lu outputs\n",
            n_in, n_err, echoed, o.n);
    sl_stack_free(s);
    fclose(in);
    if (fclose(outf) != 0) {
        perror("stackfix: write");
        return 2;
    }
    return 0;
}
