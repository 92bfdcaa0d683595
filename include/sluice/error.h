/*
 * sluice — error codes.
 *
 * One enum for the whole library: 0 is success, every error is negative.
 * Wire-format parse errors are specific: each names the field and the rule
 * that a packet broke, so a drop can be counted by reason.
 */
#ifndef SLUICE_ERROR_H
#define SLUICE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sl_error {
    SL_OK = 0,

    /* ---- generic (-1 .. -99) ---- */
    SL_ERR_INVAL = -1,  /* an argument is out of its documented range      */
    SL_ERR_NOMEM = -2,  /* the allocator or a configured limit said no     */
    SL_ERR_BUFSZ = -3,  /* the output buffer is too small for the emit     */
    SL_ERR_AGAIN = -4,  /* nothing to do now; try again after an event     */
    SL_ERR_STALE = -5,  /* the handle was freed (generation mismatch)      */
    SL_ERR_LIMIT = -6,  /* a configured limit (flows, queue, bytes) is hit */
    SL_ERR_STATE = -7,  /* not valid in the handle's current state         */
    SL_ERR_CLOSED = -8, /* the flow is closed                              */
    SL_ERR_RESET = -9,  /* the peer reset the connection                   */
    SL_ERR_TIMEDOUT = -10, /* retransmissions or idle timeout gave up      */
    SL_ERR_REFUSED = -11,  /* the peer refused (RST to SYN, ICMP port unr.) */
    SL_ERR_UNREACH = -12,  /* ICMP destination unreachable received        */
    SL_ERR_MSGSIZE = -13,  /* datagram larger than the stack can carry     */
    SL_ERR_BUSY = -14,     /* runtime: another thread is already reading
                              (or writing) this handle                    */
    SL_ERR_SHUTDOWN = -15, /* runtime: the runtime was stopped             */
    SL_ERR_UNSUPPORTED = -16, /* needs a feature this build left out
                                 (IPv6, reassembly: sl_features())   */

    /* ---- any wire parser (-100 ..) ---- */
    SL_ERR_TRUNCATED = -100, /* buffer shorter than the fixed header        */

    /* ---- IPv4 (-110 ..) ---- */
    SL_ERR_IP_VERSION = -110,       /* version nibble is not 4 (or 6)     */
    SL_ERR_IPV4_IHL = -111,         /* IHL < 5                            */
    SL_ERR_IPV4_HDR_TRUNC = -112,   /* IHL*4 > bytes given                */
    SL_ERR_IPV4_TOTAL_LEN = -113,   /* total length < IHL*4 or > buffer   */
    SL_ERR_IPV4_CHECKSUM = -114,    /* header checksum does not verify    */
    SL_ERR_IPV4_FRAG = -115,        /* offset*8 + payload > 65535         */
    SL_ERR_IPV4_OPT_LEN = -116,     /* option length < 2 or past header   */
    SL_ERR_IPV4_OPT_FORMAT = -117,  /* option with a wrong fixed length
                                       or pointer                         */

    /* ---- IPv6 (-130 ..) ---- */
    SL_ERR_IPV6_PAYLOAD_LEN = -130, /* payload length > bytes given       */
    SL_ERR_IPV6_EXT_TRUNC = -131,   /* (hdrlen+1)*8 past the payload end  */
    SL_ERR_IPV6_EXT_CHAIN = -132,   /* more than SL_IPV6_MAX_EXT headers  */
    SL_ERR_IPV6_HBH_ORDER = -133,   /* Hop-by-Hop not first (RFC 8200 §4.3)*/
    SL_ERR_IPV6_OPT_LEN = -134,     /* TLV option past its header's end   */
    SL_ERR_IPV6_JUMBO = -135,       /* jumbogram (RFC 2675), unsupported  */
    SL_ERR_IPV6_FRAG = -136,        /* fragment header: bad length/offset */

    /* ---- TCP (-150 ..) ---- */
    SL_ERR_TCP_OFFSET = -150,       /* data offset < 5                    */
    SL_ERR_TCP_HDR_TRUNC = -151,    /* data offset*4 > bytes given        */
    SL_ERR_TCP_OPT_LEN = -152,      /* option length < 2 or past header   */
    SL_ERR_TCP_OPT_FIXED = -153,    /* known option with a wrong length   */
    SL_ERR_TCP_CHECKSUM = -154,     /* checksum does not verify           */
    SL_ERR_TCP_OPT_SPACE = -155,    /* emit: options need > 40 bytes      */

    /* ---- UDP (-170 ..) ---- */
    SL_ERR_UDP_LEN = -170,          /* length < 8 or > bytes given        */
    SL_ERR_UDP_CHECKSUM = -171,     /* checksum does not verify           */
    SL_ERR_UDP_ZERO_CSUM = -172,    /* zero checksum over IPv6 (RFC 8200 §8.1) */

    /* ---- ICMPv4 / ICMPv6 (-190 ..) ---- */
    SL_ERR_ICMP_CHECKSUM = -190,    /* checksum does not verify           */
    SL_ERR_ICMP_QUOTE = -191,       /* error message whose quoted packet
                                       is not a valid IP header + 8 bytes */

    /* ---- fragment reassembly (-210 ..) ---- */
    SL_ERR_FRAG_OVERLAP = -210,     /* fragments overlap (RFC 5722)       */
    SL_ERR_FRAG_TOO_BIG = -211,     /* reassembled size over 65535        */
    SL_ERR_FRAG_LIMIT = -212,       /* datagram/byte/fragment limit hit   */
    SL_ERR_FRAG_INCONSISTENT = -213,/* two last fragments, or data past the
                                       last fragment's end               */
    SL_ERR_FRAG_CHAIN = -214        /* IPv6 first fragment without the
                                       whole header chain (RFC 7112)     */
} sl_error;

/* A static, human-readable description of `e`; never NULL.  Unknown values
 * give "unknown error". */
const char *sl_strerror(int e);

/* The enumerator's name without the "SL_" prefix ("ERR_TCP_OPT_LEN"), for
 * logs and tests; "?" for an unknown value. */
const char *sl_error_name(int e);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_ERROR_H */
