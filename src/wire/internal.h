/*
 * Helpers shared between the wire parsers; not part of the public API.
 */
#ifndef SL_WIRE_INTERNAL_H
#define SL_WIRE_INTERNAL_H

#include "sluice/wire.h"

/* Fill the fixed-header fields of `h` from the 40 bytes at p (len >= 40,
 * version already checked) and walk the extension-header chain over
 * p[40 .. end-1].  Used by sl_ipv6_parse (end = 40 + payload length) and
 * by the ICMPv6 quote parser (end = bytes quoted, `quoted` true: the
 * fragment length checks, meaningless on a cut-short quote, are skipped). */
sl_error sl_ipv6_walk(const uint8_t *p, size_t end, bool quoted, sl_ipv6_hdr *h);

#endif
