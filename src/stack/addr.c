/*
 * Address text conversion (RFC 4291 §2.2 input forms; RFC 5952 output).
 * Written here rather than taken from the C library so the core needs
 * nothing from the operating system.
 */
#include <stdio.h>
#include <string.h>

#include "sluice/stack.h"

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Dotted quad at t into out[4]; returns characters used, 0 on error. */
static size_t parse4(const char *t, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (t[i] != '.')
                return 0;
            i++;
        }
        unsigned v = 0;
        size_t digits = 0;
        while (t[i] >= '0' && t[i] <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(t[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && t[i - digits] == '0'))
            return 0;
        out[part] = (uint8_t)v;
    }
    return i;
}

static bool parse6(const char *t, uint8_t out[16])
{
    uint16_t w[8] = {0};
    int n = 0;         /* groups written */
    int gap = -1;      /* index where "::" was */
    size_t i = 0;
    if (t[0] == ':') {
        if (t[1] != ':')
            return false;
        gap = 0;
        i = 2;
        if (t[i] == '\0')
            goto done;
    }
    for (;;) {
        /* An embedded IPv4 address ends the text. */
        const char *dot = strchr(t + i, '.');
        if (dot != NULL && strchr(t + i, ':') == NULL) {
            uint8_t v4[4];
            size_t used = parse4(t + i, v4);
            if (used == 0 || t[i + used] != '\0' || n > 6)
                return false;
            w[n++] = (uint16_t)(v4[0] << 8 | v4[1]);
            w[n++] = (uint16_t)(v4[2] << 8 | v4[3]);
            break;
        }
        unsigned v = 0;
        size_t digits = 0;
        int h;
        while ((h = hexval(t[i])) >= 0 && digits < 5) {
            v = v << 4 | (unsigned)h;
            i++;
            digits++;
        }
        if (digits == 0 || digits > 4 || n >= 8)
            return false;
        w[n++] = (uint16_t)v;
        if (t[i] == '\0')
            break;
        if (t[i] != ':')
            return false;
        i++;
        if (t[i] == ':') {
            if (gap >= 0)
                return false;
            gap = n;
            i++;
            if (t[i] == '\0')
                break;
        }
    }
done:
    if (gap < 0 && n != 8)
        return false;
    if (gap >= 0 && n > 7)
        return false;
    uint16_t full[8] = {0};
    if (gap < 0) {
        memcpy(full, w, sizeof full);
    } else {
        int tail = n - gap;
        for (int k = 0; k < gap; k++)
            full[k] = w[k];
        for (int k = 0; k < tail; k++)
            full[8 - tail + k] = w[gap + k];
    }
    for (size_t k = 0; k < 8; k++) {
        out[2 * k] = (uint8_t)(full[k] >> 8);
        out[2 * k + 1] = (uint8_t)full[k];
    }
    return true;
}

sl_error sl_addr_parse(const char *text, sl_addr *out)
{
    if (text == NULL || out == NULL)
        return SL_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (strchr(text, ':') != NULL) {
        if (strlen(text) > 45 || !parse6(text, out->b))
            return SL_ERR_INVAL;
        out->family = 6;
        return SL_OK;
    }
    size_t used = parse4(text, out->b);
    if (used == 0 || text[used] != '\0')
        return SL_ERR_INVAL;
    out->family = 4;
    return SL_OK;
}

char *sl_addr_format(const sl_addr *a, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    if (a->family == 4) {
        (void)snprintf(buf, cap, "%u.%u.%u.%u", a->b[0], a->b[1], a->b[2], a->b[3]);
        return buf;
    }
    if (a->family != 6) {
        (void)snprintf(buf, cap, "?");
        return buf;
    }
    uint16_t w[8];
    for (size_t k = 0; k < 8; k++)
        w[k] = (uint16_t)(a->b[2 * k] << 8 | a->b[2 * k + 1]);
    /* RFC 5952 §4.2: compress the longest run (>= 2) of zero groups, the
     * first one on a tie. */
    int best = -1, best_len = 0;
    for (int k = 0; k < 8;) {
        if (w[k] != 0) {
            k++;
            continue;
        }
        int start = k;
        while (k < 8 && w[k] == 0)
            k++;
        if (k - start > best_len) {
            best = start;
            best_len = k - start;
        }
    }
    if (best_len < 2)
        best = -1;
    size_t o = 0;
    buf[0] = '\0';
    for (int k = 0; k < 8; k++) {
        if (k == best) {
            o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, "::");
            k += best_len - 1;
            continue;
        }
        bool sep = k > 0 && !(best >= 0 && k == best + best_len);
        o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, "%s%x", sep ? ":" : "", w[k]);
        if (o >= cap)
            break;
    }
    return buf;
}
