/* Error names and descriptions (include/sluice/error.h). */
#include "sluice/error.h"

#include <stddef.h>

#include "core/features.h"

/* Without SL_FEATURE_ERROR_TEXT the descriptions are not in the binary
 * (about 1.7 KiB on a Cortex-M3): sl_strerror gives the name. */
#if SL_FEATURE_ERROR_TEXT
#define E(code, name, text) {code, name, text}
#else
#define E(code, name, text) {code, name}
#endif

typedef struct err_entry {
    int code;
    const char *name;
#if SL_FEATURE_ERROR_TEXT
    const char *text;
#endif
} err_entry;

static const err_entry errs[] = {
    E(SL_OK, "OK", "success"),
    E(SL_ERR_INVAL, "ERR_INVAL", "invalid argument"),
    E(SL_ERR_NOMEM, "ERR_NOMEM", "out of memory or over a configured limit"),
    E(SL_ERR_BUFSZ, "ERR_BUFSZ", "output buffer too small"),
    E(SL_ERR_AGAIN, "ERR_AGAIN", "nothing to do now, try again later"),
    E(SL_ERR_STALE, "ERR_STALE", "handle was freed"),
    E(SL_ERR_LIMIT, "ERR_LIMIT", "configured limit reached"),
    E(SL_ERR_STATE, "ERR_STATE", "not valid in the current state"),
    E(SL_ERR_CLOSED, "ERR_CLOSED", "flow is closed"),
    E(SL_ERR_RESET, "ERR_RESET", "connection reset by peer"),
    E(SL_ERR_TIMEDOUT, "ERR_TIMEDOUT", "timed out"),
    E(SL_ERR_REFUSED, "ERR_REFUSED", "refused by peer"),
    E(SL_ERR_UNREACH, "ERR_UNREACH", "destination unreachable"),
    E(SL_ERR_MSGSIZE, "ERR_MSGSIZE", "message too large"),
    E(SL_ERR_BUSY, "ERR_BUSY", "another thread is using the handle that way"),
    E(SL_ERR_SHUTDOWN, "ERR_SHUTDOWN", "runtime stopped"),
    E(SL_ERR_UNSUPPORTED, "ERR_UNSUPPORTED", "feature not compiled into this build"),
    E(SL_ERR_TRUNCATED, "ERR_TRUNCATED", "packet shorter than its fixed header"),
    E(SL_ERR_IP_VERSION, "ERR_IP_VERSION", "IP version field is wrong"),
    E(SL_ERR_IPV4_IHL, "ERR_IPV4_IHL", "IPv4 header length (IHL) below 5"),
    E(SL_ERR_IPV4_HDR_TRUNC, "ERR_IPV4_HDR_TRUNC", "IPv4 header runs past the packet"),
    E(SL_ERR_IPV4_TOTAL_LEN, "ERR_IPV4_TOTAL_LEN",
     "IPv4 total length below the header or past the packet"),
    E(SL_ERR_IPV4_CHECKSUM, "ERR_IPV4_CHECKSUM", "IPv4 header checksum mismatch"),
    E(SL_ERR_IPV4_FRAG, "ERR_IPV4_FRAG", "IPv4 fragment ends past 65535 bytes"),
    E(SL_ERR_IPV4_OPT_LEN, "ERR_IPV4_OPT_LEN", "IPv4 option length below 2 or past the header"),
    E(SL_ERR_IPV4_OPT_FORMAT, "ERR_IPV4_OPT_FORMAT", "IPv4 option malformed (length or pointer)"),
    E(SL_ERR_IPV6_PAYLOAD_LEN, "ERR_IPV6_PAYLOAD_LEN", "IPv6 payload length past the packet"),
    E(SL_ERR_IPV6_EXT_TRUNC, "ERR_IPV6_EXT_TRUNC", "IPv6 extension header runs past the payload"),
    E(SL_ERR_IPV6_EXT_CHAIN, "ERR_IPV6_EXT_CHAIN", "IPv6 extension header chain too long"),
    E(SL_ERR_IPV6_HBH_ORDER, "ERR_IPV6_HBH_ORDER",
     "IPv6 Hop-by-Hop header not directly after the fixed header"),
    E(SL_ERR_IPV6_OPT_LEN, "ERR_IPV6_OPT_LEN", "IPv6 option runs past its header"),
    E(SL_ERR_IPV6_JUMBO, "ERR_IPV6_JUMBO", "IPv6 jumbogram not supported"),
    E(SL_ERR_IPV6_FRAG, "ERR_IPV6_FRAG", "IPv6 fragment header malformed"),
    E(SL_ERR_TCP_OFFSET, "ERR_TCP_OFFSET", "TCP data offset below 5"),
    E(SL_ERR_TCP_HDR_TRUNC, "ERR_TCP_HDR_TRUNC", "TCP header runs past the segment"),
    E(SL_ERR_TCP_OPT_LEN, "ERR_TCP_OPT_LEN", "TCP option length below 2 or past the header"),
    E(SL_ERR_TCP_OPT_FIXED, "ERR_TCP_OPT_FIXED", "TCP option has the wrong length for its kind"),
    E(SL_ERR_TCP_CHECKSUM, "ERR_TCP_CHECKSUM", "TCP checksum mismatch"),
    E(SL_ERR_TCP_OPT_SPACE, "ERR_TCP_OPT_SPACE", "TCP options do not fit in 40 bytes"),
    E(SL_ERR_UDP_LEN, "ERR_UDP_LEN", "UDP length below 8 or past the packet"),
    E(SL_ERR_UDP_CHECKSUM, "ERR_UDP_CHECKSUM", "UDP checksum mismatch"),
    E(SL_ERR_UDP_ZERO_CSUM, "ERR_UDP_ZERO_CSUM", "UDP zero checksum over IPv6"),
    E(SL_ERR_ICMP_CHECKSUM, "ERR_ICMP_CHECKSUM", "ICMP checksum mismatch"),
    E(SL_ERR_ICMP_QUOTE, "ERR_ICMP_QUOTE", "ICMP error quotes no valid IP header and 8 bytes"),
    E(SL_ERR_FRAG_OVERLAP, "ERR_FRAG_OVERLAP", "overlapping fragments"),
    E(SL_ERR_FRAG_TOO_BIG, "ERR_FRAG_TOO_BIG", "reassembled datagram over 65535 bytes"),
    E(SL_ERR_FRAG_LIMIT, "ERR_FRAG_LIMIT", "reassembly limit reached"),
    E(SL_ERR_FRAG_INCONSISTENT, "ERR_FRAG_INCONSISTENT", "fragments disagree on the datagram end"),
    E(SL_ERR_FRAG_CHAIN, "ERR_FRAG_CHAIN", "IPv6 first fragment without the whole header chain"),
};

static const err_entry *find(int e)
{
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        if (errs[i].code == e)
            return &errs[i];
    }
    return NULL;
}

const char *sl_strerror(int e)
{
    const err_entry *x = find(e);
#if SL_FEATURE_ERROR_TEXT
    return x != NULL ? x->text : "unknown error";
#else
    return x != NULL ? x->name : "unknown error";
#endif
}

const char *sl_error_name(int e)
{
    const err_entry *x = find(e);
    return x != NULL ? x->name : "?";
}
