#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS under -std=c11 */
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void sl_guard_init(sl_guard *g, size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (cap + page - 1) / page * page;
    if (data == 0)
        data = page;
    void *m = mmap(NULL, data + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        abort();
    }
    if (mprotect((uint8_t *)m + data, page, PROT_NONE) != 0) {
        perror("mprotect");
        abort();
    }
    g->base = m;
    g->map_len = data + page;
    g->data_cap = data;
}

void sl_guard_fini(sl_guard *g)
{
    if (g->base != NULL)
        munmap(g->base, g->map_len);
    g->base = NULL;
}

const uint8_t *sl_guard_put(sl_guard *g, const uint8_t *src, size_t len)
{
    if (len > g->data_cap)
        abort();
    uint8_t *dst = g->base + g->data_cap - len;
    if (len > 0)
        memcpy(dst, src, len);
    return dst;
}
