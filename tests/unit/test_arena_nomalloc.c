/*
 * Arena mode never touches the heap.
 *
 * This executable replaces the C library's malloc family.  Before the test
 * starts (and after it ends) they serve the C runtime (stdio buffers) from
 * a small static pool; while `in_stack_work` is set every one of them
 * aborts.  Two stacks run over sl_arena_init on static 4 MiB arrays and
 * exchange traffic: UDP v4/v6 flows and echo, pings, fragmented datagrams
 * reassembled by the other stack, idle timeouts.  sl_allocator_heap is in
 * the same library and references malloc: linking must still succeed.
 *
 * No libcheck (it allocates); prints "N passed, M failed".
 * Built only without sanitizers (their interceptors own malloc).
 */
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_util.h"

/* ---- the malloc family ------------------------------------------------ */

static volatile int in_stack_work;
static alignas(16) unsigned char pre_pool[(size_t)1 << 20];
static size_t pre_used;

static void *pre_alloc(size_t align, size_t size)
{
    if (in_stack_work) {
        static const char msg[] = "heap allocation during arena stack work\n";
        fwrite(msg, 1, sizeof msg - 1, stderr);
        abort();
    }
    if (align < 16)
        align = 16;
    /* Keep the size in the 16 bytes in front of the block (for realloc). */
    size_t off = (pre_used + 16 + align - 1) & ~(align - 1);
    if (size > sizeof pre_pool || off > sizeof pre_pool - size)
        return NULL;
    memcpy(pre_pool + off - sizeof(size_t), &size, sizeof(size_t));
    pre_used = off + size;
    return pre_pool + off;
}

static void heap_forbidden(void)
{
    if (in_stack_work) {
        static const char msg[] = "heap free during arena stack work\n";
        fwrite(msg, 1, sizeof msg - 1, stderr);
        abort();
    }
}

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);
void *aligned_alloc(size_t align, size_t size);
int posix_memalign(void **out, size_t align, size_t size);

void *malloc(size_t size)
{
    return pre_alloc(16, size);
}

void *calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = pre_alloc(16, n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *realloc(void *p, size_t size)
{
    void *q = pre_alloc(16, size);
    if (q != NULL && p != NULL) {
        size_t old;
        memcpy(&old, (unsigned char *)p - sizeof(size_t), sizeof old);
        memcpy(q, p, old < size ? old : size);
    }
    return q;
}

void free(void *p)
{
    (void)p;
    heap_forbidden(); /* the pool never reuses memory */
}

void *aligned_alloc(size_t align, size_t size)
{
    return pre_alloc(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    void *p = pre_alloc(align, size);
    if (p == NULL)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

/* ---- checks ----------------------------------------------------------- */

static unsigned n_pass, n_fail;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (cond) {                                                                        \
            n_pass++;                                                                      \
        } else {                                                                           \
            n_fail++;                                                                      \
            in_stack_work = 0;                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            in_stack_work = 1;                                                             \
        }                                                                                  \
    } while (0)

/* ---- static storage: arenas, captures --------------------------------- */

#define ARENA_BYTES ((size_t)4 << 20)
static alignas(16) uint8_t arena_a[ARENA_BYTES];
static alignas(16) uint8_t arena_b[ARENA_BYTES];
static uint8_t pool_a[(size_t)2 << 20], pool_b[(size_t)2 << 20];
static su_pkt pkts_a[2048], pkts_b[2048];
static su_cap cap_a, cap_b;
static uint8_t pkt[70000], buf[70000], data[65600];

#define SEC ((sl_time)1000000u)

static sl_stack *new_arena_stack(uint8_t *mem, su_cap *cap, const uint8_t *secret)
{
    sl_allocator al;
    CHECK(sl_arena_init(mem, ARENA_BYTES, &al) == SL_OK);
    sl_config cfg;
    su_config(&cfg, cap);
    cfg.secret = secret;
    cfg.udp_idle_timeout = 10 * SEC;
    cfg.mem_limit = ARENA_BYTES;
    sl_error err = SL_OK;
    sl_stack *s = sl_stack_new(&cfg, &al, &err);
    CHECK(s != NULL);
    CHECK(err == SL_OK);
    return s;
}

/* Take every event of s; remember the last new flow handle; echo every
 * datagram on flows.  Returns the datagrams read. */
static unsigned serve(sl_stack *s, unsigned *closed)
{
    unsigned got = 0;
    sl_event ev;
    while (sl_next_event(s, &ev)) {
        if (ev.type == SL_EV_CLOSED) {
            (*closed)++;
            CHECK(sl_dgram_free(s, ev.dgram) == SL_OK);
            continue;
        }
        if (ev.type != SL_EV_READABLE)
            continue;
        long n;
        while ((n = sl_dgram_recv(s, ev.dgram, buf, sizeof buf, NULL, NULL)) >= 0) {
            got++;
            CHECK(sl_dgram_send(s, ev.dgram, buf, (size_t)n) == SL_OK);
        }
        CHECK(n == SL_ERR_AGAIN);
    }
    return got;
}

static void run(void)
{
    sl_stack *a = new_arena_stack(arena_a, &cap_a, su_secret_a);
    sl_stack *b = new_arena_stack(arena_b, &cap_b, su_secret_b);
    if (a == NULL || b == NULL)
        return;
    sl_time now = 1000;
    unsigned closed_a = 0, closed_b = 0;

    for (int fi = 0; fi < 2; fi++) {
        int fam = fi == 0 ? 4 : 6;
        sl_endpoint ea = su_ep(fam == 4 ? "198.18.0.1" : "2001:2::a", 1111);
        sl_endpoint eb = su_ep(fam == 4 ? "198.19.0.2" : "2001:2::b", 2222);
        sl_dgram ha;
        CHECK(sl_dgram_open(a, &ea, NULL, &ha) == SL_OK);

        /* 200 datagrams A -> B (B echoes on its flow), sizes up to 5000:
         * fragments both ways. */
        unsigned a_got = 0, b_got = 0;
        for (unsigned i = 0; i < 200; i++) {
            size_t n = (size_t)(i * 97u) % 5000u;
            su_fill(data, n, i);
            CHECK(sl_dgram_sendto(a, ha, NULL, &eb, data, n) == SL_OK);
            now += 1000;
            sl_poll(a, now);
            su_cap_feed(&cap_a, b, now);
            b_got += serve(b, &closed_b);
            sl_poll(b, now);
            su_cap_feed(&cap_b, a, now);
            sl_event ev;
            while (sl_next_event(a, &ev)) {
                CHECK(ev.type == SL_EV_READABLE);
                long r;
                sl_endpoint f;
                while ((r = sl_dgram_recv(a, ha, buf, sizeof buf, &f, NULL)) >= 0) {
                    CHECK(r == (long)n);
                    CHECK(memcmp(buf, data, n) == 0);
                    CHECK(su_ep_eq(&f, &eb));
                    a_got++;
                }
            }
        }
        CHECK(a_got == 200);
        CHECK(b_got == 200);

        /* Largest datagram. */
        size_t max = fam == 4 ? 65507u : 65527u;
        su_fill(data, max, 9);
        CHECK(sl_dgram_sendto(a, ha, NULL, &eb, data, max) == SL_OK);
        sl_poll(a, now);
        CHECK(cap_a.n > 40);
        su_cap_feed(&cap_a, b, now);
        b_got += serve(b, &closed_b);
        CHECK(b_got == 201);
        sl_poll(b, now);
        su_cap_feed(&cap_b, a, now);
        long r = sl_dgram_recv(a, ha, buf, sizeof buf, NULL, NULL);
        CHECK(r == (long)max);
        CHECK(memcmp(buf, data, max) == 0);
        while (sl_next_event(a, &(sl_event){0}))
            ;

        /* Ping B from A's address. */
        size_t pl = su_icmp_echo(pkt, sizeof pkt, &ea.addr, &eb.addr, 42, 7, data, 64);
        CHECK(pl > 0);
        CHECK(sl_input(b, pkt, pl, now) == SL_OK);
        sl_poll(b, now);
        CHECK(cap_b.n == 1);
        su_icmp_pkt m;
        CHECK(su_parse_icmp(su_cap_pkt(&cap_b, 0, NULL), cap_b.pkts[0].len, &m) == SL_OK);
        CHECK(m.icmp.kind == SL_ICMP_ECHO_REPLY);
        CHECK(m.icmp.echo_id == 42 && m.icmp.echo_seq == 7);
        su_cap_clear(&cap_b);
        CHECK(sl_dgram_free(a, ha) == SL_OK);
    }

    /* Idle timeouts: B's two flows close. */
    now += 60 * SEC;
    sl_poll(a, now);
    sl_poll(b, now);
    serve(a, &closed_a);
    serve(b, &closed_b);
    CHECK(closed_b == 2);
    CHECK(sl_stats_get(b, SL_CNT_UDP_FLOW_IDLE) == 2);
    CHECK(sl_stats_get(b, SL_CNT_IP_REASM_OK) > 0);
    CHECK(sl_stats_get(a, SL_CNT_IP_REASM_OK) > 0);
    CHECK(sl_stats_get(a, SL_CNT_MEM_FAIL) == 0);
    CHECK(sl_stats_get(b, SL_CNT_MEM_FAIL) == 0);

    /* Memory comes back to the arena: a second round of flows after the
     * first closed does not grow the arena's high-water mark by much. */
    sl_mem_stats ms;
    sl_stats_mem(b, &ms);
    CHECK(ms.peak <= ARENA_BYTES);
    sl_stack_free(a);
    sl_stack_free(b);
}

int main(void)
{
    /* Link check: the heap allocator exists in the same library. */
    sl_allocator (*volatile heap_fn)(void) = sl_allocator_heap;
    (void)heap_fn;
    su_cap_init(&cap_a, pool_a, sizeof pool_a, pkts_a, 2048, NULL, 0);
    su_cap_init(&cap_b, pool_b, sizeof pool_b, pkts_b, 2048, NULL, 0);
    printf("arena_nomalloc: starting\n");
    fflush(stdout);
    in_stack_work = 1;
    run();
    in_stack_work = 0;
    printf("%u passed, %u failed\n", n_pass, n_fail);
    return n_fail == 0 && n_pass > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
