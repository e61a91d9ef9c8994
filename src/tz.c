/* tz.c -- placeholder until the TZif reader lands: only UTC is known. */
#include "tz.h"

#include <stdlib.h>
#include <string.h>

struct tz {
    int32_t fixed;
};

int tz_load(const char *name, struct tz **out)
{
    if (!name || (strcmp(name, "UTC") && strcmp(name, "Etc/UTC")))
        return HY_ENOTFOUND;
    *out = calloc(1, sizeof **out);
    return *out ? HY_OK : HY_ENOMEM;
}

void tz_free(struct tz *tz)
{
    free(tz);
}

int32_t tz_offset_s(const struct tz *tz, int64_t utc_s)
{
    (void)utc_s;
    return tz ? tz->fixed : 0;
}

int tz_parse(const void *data, size_t len, struct tz **out)
{
    (void)data;
    (void)len;
    (void)out;
    return HY_EINVAL;
}
