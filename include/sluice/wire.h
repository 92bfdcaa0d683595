/*
 * sluice — wire formats: total parsers and exact emitters.
 *
 * Every parser has the shape
 *
 *     sl_error sl_X_parse(const uint8_t *p, size_t len, ..., sl_X_hdr *out);
 *
 * It reads only p[0 .. len-1], checks every length field against `len`
 * before using it, and either returns SL_OK with `*out` filled in, or a
 * specific negative sl_error (in which case `*out` is unspecified).  Parsed
 * views hold pointers into `p` (options, payload); they are valid as long
 * as the caller's buffer is.  No parser allocates, loops without bound,
 * or trusts a field it has not checked.
 *
 * Every emitter has the shape
 *
 *     sl_error sl_X_emit(const sl_X_hdr *h, ..., uint8_t *buf, size_t cap,
 *                        size_t *written);
 *
 * and writes exactly sl_X_emit_len(h) bytes at `buf` (never more), or
 * returns SL_ERR_BUFSZ / SL_ERR_INVAL / SL_ERR_TCP_OPT_SPACE and writes
 * nothing.  Where a header is followed by a payload, `h->payload` may point
 * anywhere, including already in place at buf + header length (the copy is
 * a memmove, so overlap is fine), or be NULL to leave the bytes already at
 * that position untouched and include them in the checksum.
 *
 * Multi-byte fields in the structs are host-order integers; addresses are
 * network-order byte arrays.  Callable from any thread; no state.
 * What each parser accepts and rejects is listed in docs/wire.md.
 */
#ifndef SLUICE_WIRE_H
#define SLUICE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ====================================================================== */
/* Byte order helpers (big-endian load/store, no alignment assumed)       */
/* ====================================================================== */

static inline uint16_t sl_load16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | (unsigned)p[1]);
}
static inline uint32_t sl_load32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline void sl_store16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void sl_store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* IP protocol / IPv6 next-header numbers used by the parsers. */
enum {
    SL_IPPROTO_HOPOPTS = 0,
    SL_IPPROTO_ICMP = 1,
    SL_IPPROTO_TCP = 6,
    SL_IPPROTO_UDP = 17,
    SL_IPPROTO_ROUTING = 43,
    SL_IPPROTO_FRAGMENT = 44,
    SL_IPPROTO_ESP = 50,
    SL_IPPROTO_AH = 51,
    SL_IPPROTO_ICMPV6 = 58,
    SL_IPPROTO_NONE = 59,
    SL_IPPROTO_DSTOPTS = 60
};

/* ====================================================================== */
/* Internet checksum (RFC 1071, RFC 1624)                                  */
/* ====================================================================== */

/*
 * Partial sums are 32-bit host integers holding the one's-complement sum of
 * big-endian 16-bit words, not yet folded or inverted.  Chain them freely
 * (add with sl_csum_add); only the last buffer of a chain may have an odd
 * length.  sl_csum_finish folds and inverts to the value stored on the wire.
 */

/* Add the bytes p[0..len-1] to `sum`.  p may be NULL when len is 0.
 * 64-bit accumulation, unrolled, any alignment. */
uint32_t sl_csum_partial(const void *p, size_t len, uint32_t sum);

/* The reference implementation: a plain 16-bit loop, kept for tests and
 * the benchmark.  Its raw partial sum may differ from sl_csum_partial's
 * (it is not folded), but both give the same sl_csum_finish() value. */
uint32_t sl_csum_partial_ref(const void *p, size_t len, uint32_t sum);

/* One's-complement addition of two partial sums. */
uint32_t sl_csum_add(uint32_t a, uint32_t b);

/* Fold `sum` to 16 bits and invert: the value to store in a header.
 * A buffer whose stored checksum is right gives sl_csum_finish(...) == 0. */
uint16_t sl_csum_finish(uint32_t sum);

/* Checksum of one buffer: sl_csum_finish(sl_csum_partial(p, len, 0)). */
uint16_t sl_csum(const void *p, size_t len);

/* RFC 1624 eqn. 3 incremental update: the new stored checksum after a
 * 16-bit field changed from old_val to new_val.  32-bit variant for a
 * field such as an IPv4 address. */
uint16_t sl_csum_update16(uint16_t csum, uint16_t old_val, uint16_t new_val);
uint16_t sl_csum_update32(uint16_t csum, uint32_t old_val, uint32_t new_val);

/* Pseudo-header partial sums: RFC 793/9293 §3.1 (IPv4) and RFC 8200 §8.1
 * (IPv6).  `len` is the upper-layer length. */
uint32_t sl_csum_pseudo4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint16_t len);
uint32_t sl_csum_pseudo6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto, uint32_t len);

/* The addresses an upper-layer checksum covers.  family is 4 or 6; src and
 * dst point at 4 or 16 bytes.  Parsers take a NULL sl_pseudo to mean "do
 * not verify the checksum" (checksum offload); emitters take NULL to mean
 * "leave the checksum field 0 for the device to fill". */
typedef struct sl_pseudo {
    uint8_t family;
    const uint8_t *src;
    const uint8_t *dst;
} sl_pseudo;

/* ====================================================================== */
/* IPv4 (RFC 791)                                                          */
/* ====================================================================== */

#define SL_IPV4_HDR_MIN 20u
#define SL_IPV4_HDR_MAX 60u

/* Parse flags. */
#define SL_PARSE_NO_CSUM 0x1u /* the header checksum was verified already */

typedef struct sl_ipv4_hdr {
    uint8_t ihl;          /* header length in 32-bit words, 5..15        */
    uint8_t tos;          /* DSCP << 2 | ECN                             */
    uint16_t total_len;   /* header + payload, <= bytes given            */
    uint16_t id;
    bool rf;              /* reserved ("evil") flag: reported, not fatal */
    bool df;
    bool mf;
    uint16_t frag_off;    /* in 8-byte units, 0..8191                    */
    uint8_t ttl;
    uint8_t proto;
    uint16_t checksum;    /* as found on the wire (emit recomputes it)   */
    uint8_t src[4];
    uint8_t dst[4];
    /* Options, validated: (ihl-5)*4 bytes. */
    const uint8_t *opts;
    size_t opts_len;
    bool opt_source_route; /* LSRR or SSRR present (RFC 7126: drop)      */
    bool opt_router_alert; /* RFC 2113                                   */
    /* Payload: total_len - ihl*4 bytes (Ethernet padding excluded). */
    const uint8_t *payload;
    size_t payload_len;
} sl_ipv4_hdr;

/* Parse an IPv4 header.  Accepts bytes past total_len (link padding) and
 * leaves them out of payload.  `flags`: SL_PARSE_NO_CSUM or 0.
 * Errors: SL_ERR_TRUNCATED, SL_ERR_IP_VERSION, SL_ERR_IPV4_IHL,
 * SL_ERR_IPV4_HDR_TRUNC, SL_ERR_IPV4_TOTAL_LEN, SL_ERR_IPV4_CHECKSUM,
 * SL_ERR_IPV4_FRAG, SL_ERR_IPV4_OPT_LEN, SL_ERR_IPV4_OPT_FORMAT. */
sl_error sl_ipv4_parse(const uint8_t *p, size_t len, unsigned flags, sl_ipv4_hdr *h);

/* Header length emit will write: 20 + opts_len rounded up to 4.  Returns 0
 * when opts_len > 40 (emit then fails with SL_ERR_INVAL). */
size_t sl_ipv4_hdr_len(const sl_ipv4_hdr *h);
/* sl_ipv4_hdr_len(h) + h->payload_len. */
size_t sl_ipv4_emit_len(const sl_ipv4_hdr *h);

/* Emit header (+ options padded with EOL) + payload.  Uses every field
 * except ihl, total_len and checksum, which it computes.  Errors:
 * SL_ERR_INVAL (opts_len > 40, frag_off > 8191, or total > 65535),
 * SL_ERR_BUFSZ. */
sl_error sl_ipv4_emit(const sl_ipv4_hdr *h, uint8_t *buf, size_t cap, size_t *written);

/* ====================================================================== */
/* IPv6 (RFC 8200) and its extension-header chain                          */
/* ====================================================================== */

#define SL_IPV6_HDR_LEN 40u
#define SL_IPV6_MAX_EXT 8u /* extension headers walked before giving up */

typedef struct sl_ipv6_hdr {
    uint8_t tclass;
    uint32_t flow;        /* 20 bits                                    */
    uint16_t plen;        /* payload length field, <= bytes given - 40  */
    uint8_t next_header;  /* first next-header value                    */
    uint8_t hop_limit;
    uint8_t src[16];
    uint8_t dst[16];

    /* Result of walking the extension-header chain. */
    uint8_t proto;        /* upper-layer protocol: TCP, UDP, ICMPv6, or
                             ESP/AH/NONE (not parsed further), or the
                             next header after a non-atomic fragment    */
    uint8_t n_ext;        /* extension headers walked                   */
    uint16_t nh_off;      /* offset of the next-header byte naming
                             `proto` (for ICMPv6 Parameter Problem)     */
    size_t ext_len;       /* their total length in bytes                */
    bool has_hbh, has_routing, has_dstopts;
    uint8_t routing_type, segments_left;
    bool router_alert;    /* RFC 2711 option seen                       */
    /* Action of the first unrecognised TLV option whose action is not
     * "skip" (RFC 8200 §4.2: the type's two top bits, 1 .. 3; options are
     * processed strictly in order, so the first one decides), 0 if none,
     * and its offset from the start of the IPv6 header (for ICMPv6
     * Parameter Problem).  Parsing succeeds; the IP layer acts on it. */
    uint8_t opt_action;
    uint16_t opt_ptr;

    /* Fragment header (RFC 8200 §4.5).  When is_fragment is set (offset or
     * M flag non-zero) the chain walk stops at it: proto is its next
     * header and payload is the fragment data.  An atomic fragment
     * (RFC 6946: offset 0, M 0) is walked through as if unfragmented. */
    bool has_frag;
    bool is_fragment;
    bool atomic_frag;
    uint16_t frag_off;    /* 8-byte units                                */
    bool frag_more;
    uint32_t frag_id;
    size_t unfrag_len;    /* bytes from IPv6 header start to the fragment
                             header (the "unfragmentable part")          */

    const uint8_t *payload; /* upper-layer data after the chain          */
    size_t payload_len;
} sl_ipv6_hdr;

/* Parse the IPv6 header and walk its extension headers.  Accepts bytes
 * past 40 + plen and leaves them out.  Errors: SL_ERR_TRUNCATED,
 * SL_ERR_IP_VERSION, SL_ERR_IPV6_PAYLOAD_LEN, SL_ERR_IPV6_EXT_TRUNC,
 * SL_ERR_IPV6_EXT_CHAIN, SL_ERR_IPV6_HBH_ORDER, SL_ERR_IPV6_OPT_LEN,
 * SL_ERR_IPV6_JUMBO, SL_ERR_IPV6_FRAG. */
sl_error sl_ipv6_parse(const uint8_t *p, size_t len, sl_ipv6_hdr *h);

/* Emit the fixed 40-byte header followed by the payload (no extension
 * headers: a caller wanting them puts them at the start of the payload and
 * sets next_header).  Uses tclass, flow, next_header, hop_limit, src, dst,
 * payload, payload_len; plen is payload_len.  Errors: SL_ERR_INVAL
 * (payload_len > 65535 or flow > 20 bits), SL_ERR_BUFSZ. */
size_t sl_ipv6_emit_len(const sl_ipv6_hdr *h);
sl_error sl_ipv6_emit(const sl_ipv6_hdr *h, uint8_t *buf, size_t cap, size_t *written);

/* ====================================================================== */
/* TCP (RFC 9293) and its options                                          */
/* ====================================================================== */

#define SL_TCP_HDR_MIN 20u
#define SL_TCP_OPT_MAX 40u
#define SL_TCP_MAX_SACK 4u

enum {
    SL_TCP_FIN = 0x01,
    SL_TCP_SYN = 0x02,
    SL_TCP_RST = 0x04,
    SL_TCP_PSH = 0x08,
    SL_TCP_ACK = 0x10,
    SL_TCP_URG = 0x20,
    SL_TCP_ECE = 0x40,
    SL_TCP_CWR = 0x80
};

typedef struct sl_tcp_sack {
    uint32_t left;
    uint32_t right;
} sl_tcp_sack;

/* Parsed options.  A repeated option: the last one wins. */
typedef struct sl_tcp_opts {
    bool has_mss;
    bool has_wscale;
    bool sack_perm;
    bool has_ts;
    uint16_t mss;         /* raw; the TCP layer clamps (RFC 6691)        */
    uint8_t wscale;       /* raw shift; the TCP layer clamps to 14       */
    uint8_t n_sack;       /* 0..4 blocks                                 */
    uint32_t ts_val, ts_ecr;
    sl_tcp_sack sack[SL_TCP_MAX_SACK];
    uint8_t n_unknown;    /* unknown options skipped by length (saturates) */
} sl_tcp_opts;

typedef struct sl_tcp_hdr {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t doff;         /* data offset in 32-bit words, 5..15          */
    uint8_t flags;        /* SL_TCP_FIN .. SL_TCP_CWR                     */
    uint8_t reserved;     /* the 4 bits before the flags (incl. AE)      */
    uint16_t window;      /* raw, unscaled                                */
    uint16_t checksum;    /* as found on the wire                         */
    uint16_t urgent;      /* raw: never trust it as an index (RFC 6093); */
                          /* see sl_tcp_urgent_len                        */
    const uint8_t *opts;  /* (doff-5)*4 bytes                             */
    size_t opts_len;
    sl_tcp_opts o;
    const uint8_t *payload;
    size_t payload_len;
} sl_tcp_hdr;

/* Parse a TCP segment of exactly `len` bytes (the IP payload).  With a
 * non-NULL `ph`, verifies the checksum over the pseudo-header.  Errors:
 * SL_ERR_TRUNCATED, SL_ERR_TCP_OFFSET, SL_ERR_TCP_HDR_TRUNC,
 * SL_ERR_TCP_OPT_LEN, SL_ERR_TCP_OPT_FIXED, SL_ERR_TCP_CHECKSUM, and
 * SL_ERR_INVAL when ph->family is not 4 or 6 (or 4 with len > 65535). */
sl_error sl_tcp_parse(const uint8_t *p, size_t len, const sl_pseudo *ph, sl_tcp_hdr *h);

/* Parse an options area alone (used by sl_tcp_parse).  Errors:
 * SL_ERR_TCP_OPT_LEN, SL_ERR_TCP_OPT_FIXED. */
sl_error sl_tcp_opts_parse(const uint8_t *p, size_t len, sl_tcp_opts *o);

/* Urgent data in this segment: 0 without URG, else min(urgent, payload). */
size_t sl_tcp_urgent_len(const sl_tcp_hdr *h);

/* Bytes the options in h->o take when emitted (multiple of 4), or 0 with
 * *err set to SL_ERR_TCP_OPT_SPACE when they do not fit in 40 bytes.
 * Layout: NOP-aligned as common stacks send it when it fits, otherwise
 * packed. */
size_t sl_tcp_opts_len(const sl_tcp_opts *o, sl_error *err);
/* 20 + options + payload_len, or 0 when the options do not fit. */
size_t sl_tcp_emit_len(const sl_tcp_hdr *h);

/* Emit header + options from h->o (h->opts/opts_len and doff are ignored)
 * + payload; checksum over `ph` (NULL: 0, for offload).  Errors:
 * SL_ERR_TCP_OPT_SPACE, SL_ERR_INVAL (n_sack > 4), SL_ERR_BUFSZ. */
sl_error sl_tcp_emit(const sl_tcp_hdr *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                     size_t *written);

/* ====================================================================== */
/* UDP (RFC 768)                                                           */
/* ====================================================================== */

#define SL_UDP_HDR_LEN 8u

typedef struct sl_udp_hdr {
    uint16_t sport, dport;
    uint16_t length;      /* header + payload, 8..bytes given             */
    uint16_t checksum;    /* as on the wire; 0 = none (IPv4 only)         */
    const uint8_t *payload;
    size_t payload_len;   /* length - 8                                   */
} sl_udp_hdr;

/* Parse a UDP datagram from `len` bytes (the IP payload; bytes past the
 * length field are ignored).  With a non-NULL `ph` verifies the checksum:
 * over IPv4 a zero checksum means "none"; over IPv6 it is an error.
 * Errors: SL_ERR_TRUNCATED, SL_ERR_UDP_LEN, SL_ERR_UDP_CHECKSUM,
 * SL_ERR_UDP_ZERO_CSUM, SL_ERR_INVAL (ph->family not 4 or 6). */
sl_error sl_udp_parse(const uint8_t *p, size_t len, const sl_pseudo *ph, sl_udp_hdr *h);

/* 8 + payload_len. */
size_t sl_udp_emit_len(const sl_udp_hdr *h);
/* Emit header + payload.  `length` is computed; the checksum is computed
 * over `ph` (a computed 0 is sent as 0xffff), or left 0 when ph is NULL.
 * Errors: SL_ERR_INVAL (payload_len > 65527), SL_ERR_BUFSZ. */
sl_error sl_udp_emit(const sl_udp_hdr *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                     size_t *written);

/* ====================================================================== */
/* ICMPv4 (RFC 792) and ICMPv6 (RFC 4443, NDP RFC 4861)                    */
/* ====================================================================== */

#define SL_ICMP_HDR_LEN 8u

/* What a message is, for both versions. */
typedef enum sl_icmp_kind {
    SL_ICMP_OTHER = 0,
    SL_ICMP_ECHO_REQUEST,
    SL_ICMP_ECHO_REPLY,
    SL_ICMP_DEST_UNREACH,
    SL_ICMP_TIME_EXCEEDED,
    SL_ICMP_PARAM_PROBLEM,
    SL_ICMP_PKT_TOO_BIG,   /* ICMPv6 type 2; ICMPv4 "fragmentation needed"
                              is DEST_UNREACH code 4 with mtu set        */
    SL_ICMP_NDP_RS,        /* ICMPv6 133..137 */
    SL_ICMP_NDP_RA,
    SL_ICMP_NDP_NS,
    SL_ICMP_NDP_NA,
    SL_ICMP_NDP_REDIRECT
} sl_icmp_kind;

/* The packet an error message quotes (RFC 792 / RFC 4443 §2.4): an IP
 * header (IPv4 options, IPv6 extension headers walked) and at least the
 * first 8 bytes of its transport header when it is a first fragment —
 * fewer only when the quote holds the whole original packet. */
typedef struct sl_icmp_quote {
    uint8_t family;       /* 4 or 6                                      */
    uint8_t proto;        /* upper-layer protocol of the quoted packet   */
    uint8_t src[16];      /* 4 or 16 bytes used                          */
    uint8_t dst[16];
    bool is_fragment;     /* quoted packet is a non-first fragment:
                             no transport header                          */
    bool has_ports;       /* TCP or UDP: sport/dport valid               */
    uint16_t sport, dport;
    bool has_seq;         /* TCP: seq valid (RFC 5927 check)             */
    uint32_t seq;
    bool has_echo;        /* quoted ICMP echo: id/seq valid              */
    uint16_t echo_id, echo_seq;
    const uint8_t *ip;    /* the quoted bytes                            */
    size_t ip_len;
    const uint8_t *l4;    /* its transport header (may be cut short)     */
    size_t l4_len;
} sl_icmp_quote;

typedef struct sl_icmp_hdr {
    uint8_t type, code;
    uint16_t checksum;    /* as on the wire                              */
    uint32_t rest;        /* bytes 4..7, raw                             */
    sl_icmp_kind kind;
    /* Derived from `rest` by kind: */
    uint16_t echo_id, echo_seq; /* echo request/reply                    */
    uint32_t mtu;         /* PKT_TOO_BIG; v4 DEST_UNREACH code 4 (16 bits) */
    uint32_t pointer;     /* PARAM_PROBLEM (v4: 8 bits)                  */
    const uint8_t *body;  /* bytes after the first 8                     */
    size_t body_len;
    bool has_quote;       /* error kinds: quote is valid                 */
    sl_icmp_quote quote;
} sl_icmp_hdr;

/* Parse an ICMPv4 message of exactly `len` bytes.  Verifies the checksum
 * unless flags has SL_PARSE_NO_CSUM.  Error kinds (unreachable, time
 * exceeded, parameter problem) must quote a valid IPv4 header and, for a
 * first fragment, 8 bytes of it.  Errors: SL_ERR_TRUNCATED,
 * SL_ERR_ICMP_CHECKSUM, SL_ERR_ICMP_QUOTE. */
sl_error sl_icmp4_parse(const uint8_t *p, size_t len, unsigned flags, sl_icmp_hdr *h);

/* Parse an ICMPv6 message of exactly `len` bytes; verifies the checksum
 * when ph is non-NULL.  Error kinds (1..4) must quote a valid IPv6 header
 * (the quote may be cut short of its payload length; extension headers
 * that are present are walked) and 8 transport bytes for a first fragment.
 * The walk of a quoted fragment stops at its Fragment header: extension
 * headers after it are not walked, so ports are found only when the
 * transport header follows the Fragment header directly.
 * Errors: SL_ERR_TRUNCATED, SL_ERR_ICMP_CHECKSUM, SL_ERR_ICMP_QUOTE,
 * SL_ERR_INVAL (ph->family not 6). */
sl_error sl_icmp6_parse(const uint8_t *p, size_t len, const sl_pseudo *ph, sl_icmp_hdr *h);

/* Bytes 4..7 for an echo message. */
static inline uint32_t sl_icmp_rest_echo(uint16_t id, uint16_t seq)
{
    return (uint32_t)id << 16 | seq;
}

/* 8 + body_len. */
size_t sl_icmp_emit_len(const sl_icmp_hdr *h);
/* Emit type, code, rest and body with the checksum computed (ICMPv6: over
 * `ph`; NULL leaves it 0).  Errors: SL_ERR_INVAL (length > 65535),
 * SL_ERR_BUFSZ. */
sl_error sl_icmp4_emit(const sl_icmp_hdr *h, uint8_t *buf, size_t cap, size_t *written);
sl_error sl_icmp6_emit(const sl_icmp_hdr *h, const sl_pseudo *ph, uint8_t *buf, size_t cap,
                       size_t *written);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_WIRE_H */
