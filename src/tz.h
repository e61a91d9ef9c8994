/* tz.h -- IANA time zones for CustomTimeZone: the offset from UTC of a
 * named zone at an instant, read from the system's compiled tz database
 * (/usr/share/zoneinfo, TZif files) without touching the process's TZ
 * (setenv/tzset are not thread-safe). Owned by tz.c. */
#ifndef HYDRANT_TZ_H
#define HYDRANT_TZ_H

#include "server.h"

struct tz;

/* Loads zone `name` ("Asia/Jakarta", "America/New_York", "UTC").
 * HY_OK and *out (free with tz_free), HY_ENOTFOUND when the name is not a
 * zone of the database (or is not a valid zone name: no "..", no leading
 * '/'), HY_EINVAL when its file is damaged, HY_ENOMEM. Thread-safe. */
int tz_load(const char *name, struct tz **out);
void tz_free(struct tz *tz); /* accepts NULL */

/* Seconds east of UTC in force at utc_s (seconds since the epoch):
 * local time = utc_s + tz_offset_s(tz, utc_s). NULL tz: 0 (UTC).
 * Thread-safe on a loaded zone. */
int32_t tz_offset_s(const struct tz *tz, int64_t utc_s);

/* The same from a TZif image in memory (tests and fuzzing); HY_EINVAL
 * for anything that is not a well-formed TZif v1/v2/v3 file. */
int tz_parse(const void *data, size_t len, struct tz **out);

#endif
