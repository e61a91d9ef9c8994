/* format.c -- record format conversion: JSON records in, one Parquet
 * object out, with the columns of a Glue table (Firehose's
 * DataFormatConversionConfiguration).
 *
 * Where it sits: delivery runs it after the processors (Lambda, metadata
 * extraction, delimiter) and before compression and naming; with
 * conversion on, the destination's CompressionFormat is UNCOMPRESSED and
 * the Parquet codec (ParquetSerDe.Compression) compresses inside the file.
 *
 * What it honours (AWS's API reference and developer guide, "Converting
 * your input record format"):
 * - SchemaConfiguration: DatabaseName, TableName, VersionId (LATEST or a
 *   number; default LATEST), CatalogId (this account's only), Region,
 *   RoleARN. The schema is read from the Glue catalog at every run, so an
 *   UpdateTable applies to the next object.
 * - Deserializer: OpenXJsonSerDe (CaseInsensitive, default true: keys match
 *   columns whatever their case; ConvertDotsInJsonKeysToUnderscores: "a.b"
 *   fills column a_b; ColumnToJsonKeyMappings: column -> JSON key, at any
 *   depth) or HiveJsonSerDe (keys matched without case; TimestampFormats:
 *   Joda-Time patterns or "millis", tried in order; none: the
 *   java.sql.Timestamp form "yyyy-MM-dd HH:mm:ss[.f...]").
 *   OpenX timestamps: ISO-8601 text ("yyyy-MM-dd'T'HH:mm:ss[.S]Z",
 *   "yyyy-MM-dd HH:mm:ss[.S]"), epoch seconds (integers below 10^11),
 *   epoch milliseconds (integers from 10^11), fractional epoch seconds.
 * - Serializer: ParquetSerDe (Compression UNCOMPRESSED | GZIP | SNAPPY,
 *   default SNAPPY; BlockSizeBytes >= 64 MiB, default 256 MiB; PageSizeBytes
 *   >= 64 KiB, default 1 MiB; EnableDictionaryCompression, default false;
 *   MaxPaddingBytes >= 0: row groups are never padded, which every maximum
 *   allows; WriterVersion V1 | V2, default V1). OrcSerDe is refused.
 * - A record is one or more JSON objects one after another; each is a row.
 *   One that is not JSON, not an object, or holds a value that does not
 *   convert to its column's type goes to the error output as
 *   format-conversion-failed; a missing table is the batch's error.
 *
 * Reading the JSON: not jansson but the scanner below (an arena, emptied
 * after each row; jansson's allocations were most of a conversion's CPU),
 * checked against jansson by fuzz_parquet. Its tree (struct pq_jv) goes
 * to parquet.c with two callbacks that carry the SerDe's rules (which
 * member a field reads, how a timestamp parses).
 *
 * Threading: pure functions of their arguments plus the Glue catalog
 * (glue.c locks it); safe on several delivery threads at once.
 */
#include "format.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIB (1u << 20)
#define DFC_PATH "dataFormatConversionConfiguration"

static int bad(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return HY_EINVAL;
}

/* Members of obj other than those listed are refused: a setting hydrant
 * does not know is never stored and ignored. */
static int only_members(const json_t *obj, const char *where, const char *const *names,
                        char *msg, size_t len)
{
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        return bad(msg, len, "%s must be a structure.", where);
    json_object_foreach((json_t *)obj, key, v) {
        bool known = false;
        for (size_t i = 0; names[i] && !known; i++)
            known = strcmp(key, names[i]) == 0;
        if (!known)
            return bad(msg, len, "Unknown parameter in %s: \"%s\"", where, key);
        (void)v;
    }
    return HY_OK;
}

static int opt_bool(const json_t *obj, const char *name, const char *path, bool dflt,
                    bool *out, char *msg, size_t len)
{
    json_t *v = json_object_get(obj, name);
    *out = dflt;
    if (!v)
        return HY_OK;
    if (!json_is_boolean(v))
        return bad(msg, len, "1 validation error detected: Value at '%s' failed to satisfy "
                   "constraint: Member must be a boolean", path);
    *out = json_is_true(v);
    return HY_OK;
}

static int opt_string(const json_t *obj, const char *name, const char *path, size_t max,
                      const char **out, char *msg, size_t len)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v)
        return HY_OK;
    const char *s = json_string_value(v);
    if (!s)
        return bad(msg, len, "1 validation error detected: Value at '%s' failed to satisfy "
                   "constraint: Member must be a string", path);
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return bad(msg, len, "1 validation error detected: Value '%.64s' at '%s' failed to "
                   "satisfy constraint: Member must have length %s %zu", s, path,
                   n < 1 ? "greater than or equal to" : "less than or equal to",
                   n < 1 ? (size_t)1 : max);
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p))
            return bad(msg, len, "1 validation error detected: Value '%.64s' at '%s' failed "
                       "to satisfy constraint: Member must satisfy regular expression "
                       "pattern: ^\\S+$", s, path);
    *out = s;
    return HY_OK;
}

static int opt_int(const json_t *obj, const char *name, const char *path, long long min,
                   long long dflt, long long *out, char *msg, size_t len)
{
    json_t *v = json_object_get(obj, name);
    *out = dflt;
    if (!v)
        return HY_OK;
    if (!json_is_integer(v))
        return bad(msg, len, "1 validation error detected: Value at '%s' failed to satisfy "
                   "constraint: Member must be an integer", path);
    long long n = json_integer_value(v);
    if (n < min || n > INT32_MAX)
        return bad(msg, len, "1 validation error detected: Value '%lld' at '%s' failed to "
                   "satisfy constraint: Member must have value %s %lld", n, path,
                   n < min ? "greater than or equal to" : "less than or equal to",
                   n < min ? min : (long long)INT32_MAX);
    *out = n;
    return HY_OK;
}

/* ---- Joda-Time patterns (HiveJsonSerDe.TimestampFormats) -------------- */

/* The pattern letters hydrant parses: y M d H m s S Z and 'quoted' text;
 * any other letter is refused at check time. */
static int joda_check(const char *pat)
{
    for (const char *p = pat; *p; p++) {
        if (*p == '\'') {
            p++;
            while (*p && *p != '\'')
                p++;
            if (!*p)
                return HY_EINVAL;
            continue;
        }
        if (isalpha((unsigned char)*p) && !strchr("yMdHmsSZ", *p))
            return HY_EINVAL;
    }
    return HY_OK;
}

static int read_num(const char **s, int min_d, int max_d, long *out)
{
    long v = 0;
    int n = 0;
    while (n < max_d && isdigit((unsigned char)**s)) {
        v = v * 10 + (*(*s)++ - '0');
        n++;
    }
    if (n < min_d)
        return HY_EINVAL;
    *out = v;
    return HY_OK;
}

static int joda_parse(const char *pat, const char *s, int64_t *ms)
{
    long y = 1970, mo = 1, d = 1, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
    for (const char *p = pat; *p;) {
        if (*p == '\'') {
            p++;
            if (*p == '\'') { /* '' is a quote */
                if (*s++ != '\'')
                    return HY_EINVAL;
                p++;
                continue;
            }
            while (*p && *p != '\'') {
                if (*s++ != *p++)
                    return HY_EINVAL;
            }
            if (*p)
                p++;
            continue;
        }
        if (!isalpha((unsigned char)*p)) {
            if (*s++ != *p++)
                return HY_EINVAL;
            continue;
        }
        char c = *p;
        int count = 0;
        while (*p == c) {
            p++;
            count++;
        }
        long v;
        int rc = HY_OK;
        switch (c) {
        case 'y':
            rc = read_num(&s, count == 2 ? 2 : 1, count == 2 ? 2 : 9, &v);
            y = count == 2 ? 2000 + v : v;
            break;
        case 'M': rc = read_num(&s, count, 2, &mo); break;
        case 'd': rc = read_num(&s, count, 2, &d); break;
        case 'H': rc = read_num(&s, count, 2, &h); break;
        case 'm': rc = read_num(&s, count, 2, &mi); break;
        case 's': rc = read_num(&s, count, 2, &sec); break;
        case 'S': {
            int n = 0;
            frac = 0;
            while (n < count && isdigit((unsigned char)*s)) {
                if (n < 3)
                    frac = frac * 10 + (*s - '0');
                s++;
                n++;
            }
            if (n == 0)
                return HY_EINVAL;
            for (; n < 3; n++)
                frac *= 10;
            break;
        }
        case 'Z':
            if (*s == 'Z') {
                s++;
                off = 0;
            } else if (*s == '+' || *s == '-') {
                int sign = *s++ == '-' ? -1 : 1;
                long oh, om = 0;
                if (read_num(&s, 2, 2, &oh))
                    return HY_EINVAL;
                if (*s == ':')
                    s++;
                if (isdigit((unsigned char)*s) && read_num(&s, 2, 2, &om))
                    return HY_EINVAL;
                off = sign * (oh * 3600 + om * 60);
            } else {
                return HY_EINVAL;
            }
            break;
        default:
            return HY_EINVAL;
        }
        if (rc)
            return rc;
    }
    if (*s)
        return HY_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return HY_EINVAL;
    int64_t days = pq_days_from_civil(y, (int)mo, (int)d);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - off) * 1000 + frac;
    return HY_OK;
}

/* ---- checking ------------------------------------------------------------ */

bool format_enabled(const json_t *dfc)
{
    return json_is_object(dfc) && !json_is_false(json_object_get(dfc, "Enabled"));
}

int format_check(const json_t *dfc, char *msg, size_t len)
{
    static const char *const top[] = {"Enabled", "SchemaConfiguration",
                                      "InputFormatConfiguration",
                                      "OutputFormatConfiguration", NULL};
    static const char *const schema_m[] = {"RoleARN", "CatalogId", "DatabaseName", "TableName",
                                           "Region", "VersionId", NULL};
    static const char *const in_m[] = {"Deserializer", NULL};
    static const char *const deser_m[] = {"OpenXJsonSerDe", "HiveJsonSerDe", NULL};
    static const char *const openx_m[] = {"ConvertDotsInJsonKeysToUnderscores",
                                          "CaseInsensitive", "ColumnToJsonKeyMappings", NULL};
    static const char *const hive_m[] = {"TimestampFormats", NULL};
    static const char *const out_m[] = {"Serializer", NULL};
    static const char *const ser_m[] = {"ParquetSerDe", "OrcSerDe", NULL};
    static const char *const pq_m[] = {"BlockSizeBytes", "PageSizeBytes", "Compression",
                                       "EnableDictionaryCompression", "MaxPaddingBytes",
                                       "WriterVersion", NULL};
    int rc;
    bool b;
    if ((rc = only_members(dfc, "DataFormatConversionConfiguration", top, msg, len)) ||
        (rc = opt_bool(dfc, "Enabled", DFC_PATH ".enabled", true, &b, msg, len)))
        return rc;
    const json_t *sc = json_object_get(dfc, "SchemaConfiguration");
    const json_t *ic = json_object_get(dfc, "InputFormatConfiguration");
    const json_t *oc = json_object_get(dfc, "OutputFormatConfiguration");
    if (b && !sc)
        return bad(msg, len, "SchemaConfiguration is required when data format conversion is "
                   "enabled.");
    if (b && !ic)
        return bad(msg, len, "InputFormatConfiguration is required when data format conversion "
                   "is enabled.");
    if (b && !oc)
        return bad(msg, len, "OutputFormatConfiguration is required when data format "
                   "conversion is enabled.");
    if (sc) {
        const char *db, *table, *role, *catalog, *region, *version;
        if ((rc = only_members(sc, "SchemaConfiguration", schema_m, msg, len)) ||
            (rc = opt_string(sc, "DatabaseName", DFC_PATH ".schemaConfiguration.databaseName",
                             1024, &db, msg, len)) ||
            (rc = opt_string(sc, "TableName", DFC_PATH ".schemaConfiguration.tableName", 1024,
                             &table, msg, len)) ||
            (rc = opt_string(sc, "RoleARN", DFC_PATH ".schemaConfiguration.roleARN", 512, &role,
                             msg, len)) ||
            (rc = opt_string(sc, "CatalogId", DFC_PATH ".schemaConfiguration.catalogId", 1024,
                             &catalog, msg, len)) ||
            (rc = opt_string(sc, "Region", DFC_PATH ".schemaConfiguration.region", 1024,
                             &region, msg, len)) ||
            (rc = opt_string(sc, "VersionId", DFC_PATH ".schemaConfiguration.versionId", 1024,
                             &version, msg, len)))
            return rc;
        if (b && (!db || !table))
            return bad(msg, len, "SchemaConfiguration needs DatabaseName and TableName when "
                       "data format conversion is enabled.");
        if (role && strncmp(role, "arn:", 4) != 0)
            return bad(msg, len, "1 validation error detected: Value '%.64s' at '"
                       DFC_PATH ".schemaConfiguration.roleARN' failed to satisfy constraint: "
                       "Member must satisfy regular expression pattern: arn:.*:iam::\\d{12}:"
                       "role/[a-zA-Z_0-9+=,.@\\-_/]+", role);
        if (catalog && strcmp(catalog, HY_ACCOUNT_ID) != 0)
            return bad(msg, len, "CatalogId %.64s is another account's Glue Data Catalog; this "
                       "server holds only account %s's.", catalog, HY_ACCOUNT_ID);
        if (version && strcmp(version, "LATEST") != 0) {
            for (const char *p = version; *p; p++)
                if (!isdigit((unsigned char)*p))
                    return bad(msg, len, "VersionId must be LATEST or a table version number, "
                               "not '%.64s'.", version);
        }
    }
    if (ic) {
        if ((rc = only_members(ic, "InputFormatConfiguration", in_m, msg, len)))
            return rc;
        const json_t *de = json_object_get(ic, "Deserializer");
        if (b && !de)
            return bad(msg, len, "InputFormatConfiguration.Deserializer is required.");
        if (de) {
            if ((rc = only_members(de, "Deserializer", deser_m, msg, len)))
                return rc;
            const json_t *ox = json_object_get(de, "OpenXJsonSerDe");
            const json_t *hv = json_object_get(de, "HiveJsonSerDe");
            if ((ox != NULL) == (hv != NULL))
                return bad(msg, len, "Exactly one deserializer (OpenXJsonSerDe or "
                           "HiveJsonSerDe) must be specified.");
            if (ox) {
                bool x;
                if ((rc = only_members(ox, "OpenXJsonSerDe", openx_m, msg, len)) ||
                    (rc = opt_bool(ox, "ConvertDotsInJsonKeysToUnderscores", "openXJsonSerDe."
                                   "convertDotsInJsonKeysToUnderscores", false, &x, msg, len)) ||
                    (rc = opt_bool(ox, "CaseInsensitive", "openXJsonSerDe.caseInsensitive", true,
                                   &x, msg, len)))
                    return rc;
                const json_t *m = json_object_get(ox, "ColumnToJsonKeyMappings");
                if (m) {
                    const char *k;
                    json_t *v;
                    if (!json_is_object(m))
                        return bad(msg, len, "ColumnToJsonKeyMappings must be a map of column "
                                   "names to JSON keys.");
                    json_object_foreach((json_t *)m, k, v) {
                        size_t kl = strlen(k);
                        if (kl < 1 || kl > 1024 || !json_is_string(v) ||
                            json_string_length(v) < 1 || json_string_length(v) > 1024)
                            return bad(msg, len, "ColumnToJsonKeyMappings: each column name "
                                       "and JSON key must be 1-1024 characters.");
                        for (const char *p = k; *p; p++)
                            if (isspace((unsigned char)*p))
                                return bad(msg, len, "ColumnToJsonKeyMappings: column name "
                                           "'%.64s' must not contain white space.", k);
                    }
                }
            } else {
                if ((rc = only_members(hv, "HiveJsonSerDe", hive_m, msg, len)))
                    return rc;
                const json_t *tf = json_object_get(hv, "TimestampFormats");
                if (tf && !json_is_array(tf))
                    return bad(msg, len, "HiveJsonSerDe.TimestampFormats must be a list.");
                for (size_t i = 0; i < json_array_size(tf); i++) {
                    const char *f = json_string_value(json_array_get(tf, i));
                    if (!f || !*f || strlen(f) > 1024)
                        return bad(msg, len, "TimestampFormats: each format must be 1-1024 "
                                   "characters.");
                    if (strcmp(f, "millis") != 0 && joda_check(f))
                        return bad(msg, len, "TimestampFormats: '%.64s' uses a Joda-Time "
                                   "pattern letter hydrant does not parse (it parses y M d H m "
                                   "s S Z and quoted text).", f);
                }
            }
        }
    }
    if (oc) {
        if ((rc = only_members(oc, "OutputFormatConfiguration", out_m, msg, len)))
            return rc;
        const json_t *se = json_object_get(oc, "Serializer");
        if (b && !se)
            return bad(msg, len, "OutputFormatConfiguration.Serializer is required.");
        if (se) {
            if ((rc = only_members(se, "Serializer", ser_m, msg, len)))
                return rc;
            const json_t *pq = json_object_get(se, "ParquetSerDe");
            const json_t *orc = json_object_get(se, "OrcSerDe");
            if (pq && orc)
                return bad(msg, len, "Exactly one serializer (ParquetSerDe or OrcSerDe) must be "
                           "specified.");
            if (orc)
                return bad(msg, len, "OrcSerDe is not supported by this server: hydrant writes "
                           "Parquet only. Use OutputFormatConfiguration.Serializer.ParquetSerDe.");
            if (!pq)
                return bad(msg, len, "Exactly one serializer (ParquetSerDe or OrcSerDe) must be "
                           "specified.");
            long long v;
            bool x;
            if ((rc = only_members(pq, "ParquetSerDe", pq_m, msg, len)) ||
                (rc = opt_int(pq, "BlockSizeBytes", "parquetSerDe.blockSizeBytes", 64 * MIB,
                              256 * MIB, &v, msg, len)) ||
                (rc = opt_int(pq, "PageSizeBytes", "parquetSerDe.pageSizeBytes", 64 * 1024, MIB,
                              &v, msg, len)) ||
                (rc = opt_int(pq, "MaxPaddingBytes", "parquetSerDe.maxPaddingBytes", 0, 0, &v,
                              msg, len)) ||
                (rc = opt_bool(pq, "EnableDictionaryCompression",
                               "parquetSerDe.enableDictionaryCompression", false, &x, msg, len)))
                return rc;
            const char *c = json_string_value(json_object_get(pq, "Compression"));
            if (json_object_get(pq, "Compression") &&
                (!c || (strcmp(c, "UNCOMPRESSED") && strcmp(c, "GZIP") && strcmp(c, "SNAPPY"))))
                return bad(msg, len, "1 validation error detected: Value '%.32s' at "
                           "'parquetSerDe.compression' failed to satisfy constraint: Member "
                           "must satisfy enum value set: [UNCOMPRESSED, GZIP, SNAPPY]",
                           c ? c : "?");
            const char *wv = json_string_value(json_object_get(pq, "WriterVersion"));
            if (json_object_get(pq, "WriterVersion") &&
                (!wv || (strcmp(wv, "V1") && strcmp(wv, "V2"))))
                return bad(msg, len, "1 validation error detected: Value '%.32s' at "
                           "'parquetSerDe.writerVersion' failed to satisfy constraint: Member "
                           "must satisfy enum value set: [V1, V2]", wv ? wv : "?");
        }
    }
    return HY_OK;
}

int format_check_destination(const json_t *dest, char *msg, size_t len)
{
    const json_t *dfc = json_object_get(dest, "DataFormatConversionConfiguration");
    if (!dfc)
        return HY_OK;
    int rc = format_check(dfc, msg, len);
    if (rc || !format_enabled(dfc))
        return rc;
    const json_t *bh = json_object_get(dest, "BufferingHints");
    const json_t *size = json_object_get(bh, "SizeInMBs");
    if (size && json_is_integer(size) && json_integer_value(size) < 64)
        return bad(msg, len, "BufferingHints.SizeInMBs must be at least 64 when data format "
                   "conversion is enabled.");
    const char *comp = json_string_value(json_object_get(dest, "CompressionFormat"));
    if (comp && strcmp(comp, "UNCOMPRESSED") != 0)
        return bad(msg, len, "CompressionFormat must be UNCOMPRESSED when data format "
                   "conversion is enabled; compress inside the file with "
                   "ParquetSerDe.Compression.");
    return HY_OK;
}

int format_params_from(const json_t *dfc, struct format_params *p, char *msg, size_t len)
{
    int rc = format_check(dfc, msg, len);
    if (rc)
        return rc;
    memset(p, 0, sizeof *p);
    const json_t *sc = json_object_get(dfc, "SchemaConfiguration");
    p->database = json_string_value(json_object_get(sc, "DatabaseName"));
    p->table = json_string_value(json_object_get(sc, "TableName"));
    p->version = json_string_value(json_object_get(sc, "VersionId"));
    if (!p->version)
        p->version = "LATEST";
    const json_t *de = json_object_get(json_object_get(dfc, "InputFormatConfiguration"),
                                       "Deserializer");
    const json_t *ox = json_object_get(de, "OpenXJsonSerDe");
    const json_t *hv = json_object_get(de, "HiveJsonSerDe");
    p->hive = hv != NULL;
    p->case_insensitive = true;
    if (ox) {
        p->case_insensitive = !json_is_false(json_object_get(ox, "CaseInsensitive"));
        p->dots_to_underscores =
            json_is_true(json_object_get(ox, "ConvertDotsInJsonKeysToUnderscores"));
        p->mappings = json_object_get(ox, "ColumnToJsonKeyMappings");
    } else if (hv) {
        p->timestamp_formats = json_object_get(hv, "TimestampFormats");
    }
    const json_t *pq = json_object_get(json_object_get(json_object_get(dfc,
                                       "OutputFormatConfiguration"), "Serializer"),
                                       "ParquetSerDe");
    const char *c = json_string_value(json_object_get(pq, "Compression"));
    p->pq.codec = !c || !strcmp(c, "SNAPPY") ? PQ_SNAPPY : !strcmp(c, "GZIP") ? PQ_GZIP
                                                                         : PQ_UNCOMPRESSED;
    const char *wv = json_string_value(json_object_get(pq, "WriterVersion"));
    p->pq.writer_version = wv && !strcmp(wv, "V2") ? 2 : 1;
    p->pq.dictionary = json_is_true(json_object_get(pq, "EnableDictionaryCompression"));
    json_t *bs = json_object_get(pq, "BlockSizeBytes"), *ps = json_object_get(pq,
                                                                             "PageSizeBytes");
    p->pq.block_size = bs ? (size_t)json_integer_value(bs) : 256 * MIB;
    p->pq.page_size = ps ? (size_t)json_integer_value(ps) : MIB;
    return HY_OK;
}

/* ---- the SerDes' rules --------------------------------------------------- */

static bool key_matches(const struct format_params *p, const char *key, const char *name)
{
    for (; *key && *name; key++, name++) {
        char k = *key;
        if (p->dots_to_underscores && k == '.')
            k = '_';
        if (p->case_insensitive || p->hive)
            k = (char)tolower((unsigned char)k);
        if (k != *name)
            return false;
    }
    return !*key && !*name;
}

static const struct pq_jv *serde_field(void *ctx, const struct pq_jv *obj,
                                       const struct glue_type *f, int depth)
{
    const struct format_params *p = ctx;
    (void)depth;
    if (p->mappings) {
        const char *k = json_string_value(json_object_get(p->mappings, f->name));
        if (!k) { /* mapping keys are column names: any case */
            const char *mk;
            json_t *mv;
            json_object_foreach((json_t *)p->mappings, mk, mv) {
                if (!strcasecmp(mk, f->name)) {
                    k = json_string_value(mv);
                    break;
                }
            }
        }
        if (k)
            return pq_jv_get(obj, k);
    }
    const struct pq_jv *v = pq_jv_get(obj, f->name);
    if (v || (!p->case_insensitive && !p->dots_to_underscores && !p->hive))
        return v;
    for (size_t i = obj->len; i-- > 0;)
        if (key_matches(p, obj->keys[i], f->name))
            return &obj->kids[i];
    return NULL;
}

static int epoch_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return HY_EINVAL;
    *out = n;
    return HY_OK;
}

static int serde_timestamp(void *ctx, const struct pq_jv *v, int64_t *ms)
{
    const struct format_params *p = ctx;
    if (p->hive) {
        const json_t *tf = p->timestamp_formats;
        if (json_array_size(tf) == 0)
            return v->type == PQ_JSTR ? pq_parse_timestamp(v->s, ms) : HY_EINVAL;
        for (size_t i = 0; i < json_array_size(tf); i++) {
            const char *f = json_string_value(json_array_get(tf, i));
            if (!strcmp(f, "millis")) {
                if (((v->type == PQ_JNUM && v->is_int) || v->type == PQ_JSTR) &&
                    epoch_int(v->s, ms) == HY_OK)
                    return HY_OK;
                continue;
            }
            if (v->type == PQ_JSTR && joda_parse(f, v->s, ms) == HY_OK)
                return HY_OK;
        }
        return HY_EINVAL;
    }
    if (v->type == PQ_JNUM && v->is_int) {
        int64_t n;
        if (epoch_int(v->s, &n))
            return HY_EINVAL;
        if (n < -9000000000000000LL / 1000 || n > 9000000000000000LL / 1000)
            return HY_EINVAL;
        *ms = (n >= 100000000000LL || n <= -100000000000LL) ? n : n * 1000;
        return HY_OK;
    }
    if (v->type == PQ_JNUM) {
        double d = strtod(v->s, NULL) * 1000.0;
        if (!isfinite(d) || fabs(d) > 9e18)
            return HY_EINVAL;
        *ms = (int64_t)llround(d);
        return HY_OK;
    }
    if (v->type == PQ_JSTR)
        return pq_parse_timestamp(v->s, ms);
    return HY_EINVAL;
}

/* ---- the JSON scanner ------------------------------------------------------ *
 *
 * Why not jansson here: a profile of bench/parquet_rate showed jansson's
 * parse (and the malloc/free of its objects and hash tables) at ~60% of a
 * conversion's CPU. This scanner builds the same tree in an arena that is
 * emptied after each row, with objects as member arrays (the last of two
 * equal keys wins, as in jansson). It accepts exactly RFC 8259 JSON in
 * UTF-8 (no NUL in strings, as jansson without JSON_ALLOW_NUL); integers
 * of any size are kept as text (the column's type decides). fuzz_parquet
 * compares it with jansson on every input. */

#define JS_MAX_DEPTH 512

struct jblock {
    struct jblock *next;
    size_t cap, used;
    max_align_t data[];
};

struct jscan {
    const char *p, *end, *start;
    struct jblock *blocks;
    size_t arena_bytes, arena_max;
    struct pq_jv *sv;            /* the members being collected, all levels */
    const char **sk;
    uint32_t *skl;
    size_t sn, scap;
    const char *err;
    int rc;                      /* HY_EINVAL (syntax) or HY_ENOMEM / HY_ETOOBIG */
};

static void *js_alloc(struct jscan *j, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct jblock *b = j->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (j->arena_bytes + cap > j->arena_max) {
            j->rc = HY_ETOOBIG;
            return NULL;
        }
        b = malloc(sizeof *b + cap);
        if (!b) {
            j->rc = HY_ENOMEM;
            return NULL;
        }
        b->cap = cap;
        b->used = 0;
        b->next = j->blocks;
        j->blocks = b;
        j->arena_bytes += cap;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

/* Empties the arena, keeping its newest block. */
static void js_reset(struct jscan *j)
{
    struct jblock *b = j->blocks;
    if (!b)
        return;
    struct jblock *rest = b->next;
    while (rest) {
        struct jblock *n = rest->next;
        j->arena_bytes -= rest->cap;
        free(rest);
        rest = n;
    }
    b->next = NULL;
    b->used = 0;
}

static void js_free(struct jscan *j)
{
    js_reset(j);
    free(j->blocks);
    free(j->sv);
    free(j->sk);
    free(j->skl);
}

static int js_fail(struct jscan *j, const char *what)
{
    if (!j->err) {
        j->err = what;
        j->rc = HY_EINVAL;
    }
    return -1;
}

static void js_ws(struct jscan *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
        j->p++;
}

static int js_push(struct jscan *j, const struct pq_jv *v, const char *k, uint32_t kl)
{
    if (j->sn == j->scap) {
        size_t nc = j->scap ? j->scap * 2 : 256;
        struct pq_jv *a = realloc(j->sv, nc * sizeof *a);
        if (a)
            j->sv = a;
        const char **b = a ? realloc(j->sk, nc * sizeof *b) : NULL;
        if (b)
            j->sk = b;
        uint32_t *c = b ? realloc(j->skl, nc * sizeof *c) : NULL;
        if (!c) {
            j->rc = HY_ENOMEM;
            return -1;
        }
        j->skl = c;
        j->scap = nc;
    }
    j->sv[j->sn] = *v;
    j->sk[j->sn] = k;
    j->skl[j->sn] = kl;
    j->sn++;
    return 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* A string at j->p (after its opening quote): unescaped, NUL-terminated,
 * in the arena. */
static int js_string(struct jscan *j, const char **out, uint32_t *out_len)
{
    const char *q = j->p;
    bool plain = true, high = false;
    while (q < j->end && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c == '\\') {
            plain = false;
            q += 2;
            continue;
        }
        if (c < 0x20)
            return js_fail(j, "control character in a string");
        high |= c >= 0x80;
        q++;
    }
    if (q >= j->end)
        return js_fail(j, "unterminated string");
    size_t n = (size_t)(q - j->p);
    if (n > UINT32_MAX)
        return js_fail(j, "string too long");
    char *d = js_alloc(j, n + 1);
    if (!d)
        return -1;
    size_t o = 0;
    if (plain) {
        memcpy(d, j->p, n);
        o = n;
    } else {
        for (const char *s = j->p; s < q;) {
            if (*s != '\\') {
                d[o++] = *s++;
                continue;
            }
            s++;
            char e = *s++;
            switch (e) {
            case '"': d[o++] = '"'; break;
            case '\\': d[o++] = '\\'; break;
            case '/': d[o++] = '/'; break;
            case 'b': d[o++] = '\b'; break;
            case 'f': d[o++] = '\f'; break;
            case 'n': d[o++] = '\n'; break;
            case 'r': d[o++] = '\r'; break;
            case 't': d[o++] = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (q - s < 4 || hex4(s, &cp))
                    return js_fail(j, "invalid \\u escape");
                s += 4;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (q - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) ||
                        lo < 0xdc00 || lo > 0xdfff)
                        return js_fail(j, "invalid Unicode surrogate pair");
                    s += 6;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return js_fail(j, "invalid Unicode surrogate");
                }
                if (cp == 0)
                    return js_fail(j, "\\u0000 is not allowed");
                /* a \uXXXX escape is never longer in UTF-8 than its 6 (or 12) bytes */
                if (cp < 0x80) {
                    d[o++] = (char)cp;
                } else if (cp < 0x800) {
                    d[o++] = (char)(0xc0 | cp >> 6);
                    d[o++] = (char)(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                    d[o++] = (char)(0xe0 | cp >> 12);
                    d[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    d[o++] = (char)(0x80 | (cp & 0x3f));
                } else {
                    d[o++] = (char)(0xf0 | cp >> 18);
                    d[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                    d[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    d[o++] = (char)(0x80 | (cp & 0x3f));
                }
                break;
            }
            default:
                return js_fail(j, "invalid escape");
            }
        }
    }
    d[o] = 0;
    if (high) {
        for (size_t i = 0; i < o;) {
            size_t cl = utf8_char_len(d + i);
            if (!cl)
                return js_fail(j, "invalid UTF-8 in a string");
            i += cl;
        }
    }
    j->p = q + 1;
    *out = d;
    *out_len = (uint32_t)o;
    return 0;
}

static int js_value(struct jscan *j, struct pq_jv *out, int depth)
{
    memset(out, 0, sizeof *out);
    js_ws(j);
    if (j->p >= j->end)
        return js_fail(j, "unexpected end of input");
    if (depth > JS_MAX_DEPTH)
        return js_fail(j, "nested too deeply");
    char c = *j->p;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        size_t base = j->sn;
        j->p++;
        js_ws(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
        } else {
            for (;;) {
                const char *k = NULL;
                uint32_t kl = 0;
                struct pq_jv v;
                if (obj) {
                    js_ws(j);
                    if (j->p >= j->end || *j->p != '"')
                        return js_fail(j, "a member name expected");
                    j->p++;
                    if (js_string(j, &k, &kl))
                        return -1;
                    js_ws(j);
                    if (j->p >= j->end || *j->p != ':')
                        return js_fail(j, "':' expected");
                    j->p++;
                }
                if (js_value(j, &v, depth + 1) || js_push(j, &v, k, kl))
                    return -1;
                js_ws(j);
                if (j->p < j->end && *j->p == ',') {
                    j->p++;
                    continue;
                }
                if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
                    j->p++;
                    break;
                }
                return js_fail(j, obj ? "',' or '}' expected" : "',' or ']' expected");
            }
        }
        size_t n = j->sn - base;
        out->type = obj ? PQ_JOBJ : PQ_JARR;
        out->len = (uint32_t)n;
        if (n) {
            out->kids = js_alloc(j, n * sizeof *out->kids);
            if (!out->kids)
                return -1;
            memcpy(out->kids, j->sv + base, n * sizeof *out->kids);
            if (obj) {
                out->keys = js_alloc(j, n * sizeof *out->keys);
                out->key_lens = js_alloc(j, n * sizeof *out->key_lens);
                if (!out->keys || !out->key_lens)
                    return -1;
                memcpy(out->keys, j->sk + base, n * sizeof *out->keys);
                memcpy(out->key_lens, j->skl + base, n * sizeof *out->key_lens);
            }
        }
        j->sn = base;
        return 0;
    }
    if (c == '"') {
        j->p++;
        out->type = PQ_JSTR;
        return js_string(j, &out->s, &out->len);
    }
    static const struct { const char *w; size_t n; uint8_t t; } lit[] = {
        {"true", 4, PQ_JTRUE}, {"false", 5, PQ_JFALSE}, {"null", 4, PQ_JNULL}};
    for (size_t i = 0; i < 3; i++)
        if ((size_t)(j->end - j->p) >= lit[i].n && !memcmp(j->p, lit[i].w, lit[i].n)) {
            const char *after = j->p + lit[i].n;
            if (after < j->end && ((*after >= 'a' && *after <= 'z') ||
                                   (*after >= 'A' && *after <= 'Z')))
                return js_fail(j, "invalid token"); /* "falsey" is one token */
            j->p += lit[i].n;
            out->type = lit[i].t;
            return 0;
        }
    if (c == '-' || (c >= '0' && c <= '9')) {
        const char *s = j->p, *q = j->p;
        bool is_int = true;
        if (*q == '-')
            q++;
        if (q >= j->end || !isdigit((unsigned char)*q))
            return js_fail(j, "invalid number");
        if (*q == '0') {
            q++;
            if (q < j->end && isdigit((unsigned char)*q))
                return js_fail(j, "invalid number (leading zero)");
        } else
            while (q < j->end && isdigit((unsigned char)*q))
                q++;
        if (q < j->end && *q == '.') {
            is_int = false;
            q++;
            if (q >= j->end || !isdigit((unsigned char)*q))
                return js_fail(j, "invalid number");
            while (q < j->end && isdigit((unsigned char)*q))
                q++;
        }
        if (q < j->end && (*q == 'e' || *q == 'E')) {
            is_int = false;
            q++;
            if (q < j->end && (*q == '+' || *q == '-'))
                q++;
            if (q >= j->end || !isdigit((unsigned char)*q))
                return js_fail(j, "invalid number");
            while (q < j->end && isdigit((unsigned char)*q))
                q++;
        }
        size_t n = (size_t)(q - s);
        char *d = js_alloc(j, n + 1);
        if (!d)
            return -1;
        memcpy(d, s, n);
        d[n] = 0;
        out->type = PQ_JNUM;
        out->is_int = is_int;
        out->s = d;
        out->len = (uint32_t)n;
        j->p = q;
        return 0;
    }
    return js_fail(j, "invalid token");
}

/* The next JSON value of [*off, len) of data: HY_OK (*v, *off past it),
 * HY_EINVAL (why: a sentence), HY_ENOMEM / HY_ETOOBIG. */
static int js_next(struct jscan *j, const char *data, size_t len, size_t *off,
                   struct pq_jv *v, char *why, size_t why_len)
{
    j->start = data;
    j->p = data + *off;
    j->end = data + len;
    j->err = NULL;
    j->rc = HY_OK;
    j->sn = 0;
    js_reset(j);
    if (js_value(j, v, 0)) {
        if (j->rc == HY_EINVAL)
            snprintf(why, why_len, "The record is not valid JSON: %s at byte %zu.", j->err,
                     (size_t)(j->p - data));
        return j->rc ? j->rc : HY_EINVAL;
    }
    *off = (size_t)(j->p - data);
    return HY_OK;
}

/* ---- the scanner against jansson (fuzz_parquet) -------------------------- */

static bool same_tree(const struct pq_jv *a, const json_t *b, int depth)
{
    if (depth > JS_MAX_DEPTH)
        return false;
    switch (json_typeof(b)) {
    case JSON_NULL: return a->type == PQ_JNULL;
    case JSON_TRUE: return a->type == PQ_JTRUE;
    case JSON_FALSE: return a->type == PQ_JFALSE;
    case JSON_INTEGER:
        return a->type == PQ_JNUM && a->is_int &&
               strtoll(a->s, NULL, 10) == json_integer_value(b);
    case JSON_REAL: {
        if (a->type != PQ_JNUM || a->is_int)
            return false;
        double x = strtod(a->s, NULL), y = json_real_value(b);
        return x == y;
    }
    case JSON_STRING:
        return a->type == PQ_JSTR && a->len == json_string_length(b) &&
               memcmp(a->s, json_string_value(b), a->len) == 0;
    case JSON_ARRAY:
        if (a->type != PQ_JARR || a->len != json_array_size(b))
            return false;
        for (size_t i = 0; i < a->len; i++)
            if (!same_tree(&a->kids[i], json_array_get(b, i), depth + 1))
                return false;
        return true;
    case JSON_OBJECT: {
        if (a->type != PQ_JOBJ || a->len < json_object_size(b))
            return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)b, k, v) {
            const struct pq_jv *m = pq_jv_get(a, k);
            if (!m || !same_tree(m, v, depth + 1))
                return false;
        }
        /* every member of ours is one of jansson's (duplicates collapse) */
        for (size_t i = 0; i < a->len; i++)
            if (!json_object_get(b, a->keys[i]))
                return false;
        return true;
    }
    }
    return false;
}

int format_scan_check(const char *data, size_t len)
{
    struct jscan js = {.arena_max = 64 * (size_t)MIB + 16 * (len + 1)};
    struct pq_jv v;
    size_t off = 0;
    char why[160];
    json_error_t jerr;
    int ours = js_next(&js, data, len, &off, &v, why, sizeof why);
    json_t *theirs = json_loadb(data, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &jerr);
    int rc = 0;
    if (ours == HY_ENOMEM || ours == HY_ETOOBIG) {
        rc = 0;
    } else if (!theirs) {
        /* jansson refuses integers past int64 and reals past double; the
         * scanner keeps them as text */
        if (ours == HY_OK && !strstr(jerr.text, "too big") && !strstr(jerr.text, "overflow") &&
            !strstr(jerr.text, "nesting"))
            rc = -1;
    } else if (ours != HY_OK) {
        rc = -1;
    } else if (off != (size_t)jerr.position || !same_tree(&v, theirs, 0)) {
        rc = -1;
    }
    json_decref(theirs);
    js_free(&js);
    return rc;
}

/* ---- conversion -------------------------------------------------------- */

int format_convert(const struct glue_schema *s, const struct format_params *p,
                   const struct pl_batch *in, struct buf *out, struct pl_batch *fails,
                   uint64_t *rows)
{
    struct pq_reader rd = {.field = serde_field, .timestamp = serde_timestamp,
                           .ctx = (void *)p};
    struct pq_writer *w = NULL;
    /* the arena holds one JSON value's tree: a record (at most the batch) a few times over */
    struct jscan js = {.arena_max = 64 * (size_t)MIB + 16 * (in->data.len + 1)};
    char msg[512];
    size_t start = out->len;
    int rc = pq_writer_new(s, &p->pq, &rd, out, &w, msg, sizeof msg);
    if (rows)
        *rows = 0;
    if (rc) {
        js_free(&js);
        return rc;
    }
    const struct pl_rec *recs = pl_recs(in);
    for (size_t i = 0; i < in->n; i++) {
        const char *data = (const char *)pl_data(in, &recs[i]);
        size_t len = recs[i].len, off = 0;
        int nobj = 0;
        const char *why = NULL;
        char jmsg[320];
        while (!why) {
            while (off < len && isspace((unsigned char)data[off]))
                off++;
            if (off == len)
                break;
            struct pq_jv row;
            rc = js_next(&js, data, len, &off, &row, jmsg, sizeof jmsg);
            if (rc == HY_EINVAL) {
                why = jmsg;
                rc = HY_OK;
                break;
            }
            if (rc)
                goto out_free_writer;
            nobj++;
            rc = pq_write_row(w, &row, msg, sizeof msg);
            if (rc == HY_EINVAL) {
                why = msg;
                rc = HY_OK;
            } else if (rc) {
                goto out_free_writer;
            }
        }
        if (!why && nobj == 0)
            why = "The record holds no JSON object.";
        if (why && (rc = pl_fail_add(fails, recs[i].src, FORMAT_ERROR_CODE, FORMAT_OUTPUT_TYPE,
                                     1, NULL, "%s", why)))
            goto out_free_writer;
    }
    if (pq_rows(w) == 0) {
        out->len = start;
        if (out->data)
            out->data[start] = 0;
        goto out_free_writer;
    }
    if ((rc = pq_finish(w)))
        goto out_free_writer;
    if (rows)
        *rows = pq_rows(w);
out_free_writer:
    if (rc)
        out->len = start;
    pq_writer_free(w);
    js_free(&js);
    return rc;
}

int format_run(const json_t *dfc, const struct pl_batch *in, struct buf *out,
               struct pl_batch *fails, uint64_t *rows, char *why, size_t why_len)
{
    struct format_params p;
    struct glue_schema *s = NULL;
    int rc = format_params_from(dfc, &p, why, why_len);
    if (rc)
        return rc;
    rc = glue_table_schema(p.database, p.table, p.version, &s, why, why_len);
    if (rc)
        return rc;
    rc = format_convert(s, &p, in, out, fails, rows);
    if (rc)
        snprintf(why, why_len, "format conversion: %s", hy_strerror(rc));
    glue_schema_free(s);
    return rc;
}

const char *format_extension(const json_t *dest)
{
    const char *ext = json_string_value(json_object_get(dest, "FileExtension"));
    return ext ? ext : "";
}
