/* fuzz_processors.c -- libFuzzer target: every processor of
 * src/processors/ on records made of the input bytes, with several
 * parameter sets each, one at a time and chained in AWS's order.
 *
 * MetadataExtraction runs once per input (in the chain, on the records
 * the earlier stages made, which are also the raw ones when nothing was
 * deaggregated): each run compiles its jq program, ~20 ms, so a run is a
 * few inputs a second. FUZZ_PROC_SKIP_JQ=1 in the environment leaves it
 * out, for a fast campaign on the other processors:
 *   FUZZ_PROC_SKIP_JQ=1 make fuzz FUZZ_TARGETS=processors
 *
 * Input layout: byte 0 is flags (bit 0: a small output ceiling, 512
 * bytes, so the HY_ETOOBIG paths run; bits 1-3 and 4: which MetadataExtraction
 * query); then records, each a 2-byte little-endian length and that many
 * bytes (the last one takes what is left). Every record is also added
 * gzip-compressed, so Decompression and CloudWatchLogProcessing see valid
 * gzip of fuzzed payloads as well as fuzzed bytes.
 *
 * Invariants (a violation is __builtin_trap()):
 *   - run() returns HY_OK for every valid parameter set;
 *   - every output record lies inside the output's data, and names a
 *     source record (src) of the input;
 *   - 1:1 processors (Decompression, MetadataExtraction,
 *     AppendDelimiterToRecord) account for every input record exactly
 *     once, as an output or a failure; the others never both output and
 *     fail the same source record;
 *   - AppendDelimiterToRecord's outputs are the inputs plus "\n";
 *     MetadataExtraction's outputs are the inputs unchanged, with keys;
 *   - nothing leaks (libFuzzer's leak check).
 *
 * Build and run: `make fuzz FUZZ_TARGETS=processors`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pipeline.h"

struct hy_config hy_cfg;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz_processors: invariant failed at line %d: %s\n",   \
                    __LINE__, #cond);                                               \
            __builtin_trap();                                                       \
        }                                                                           \
    } while (0)

#define MAX_RECS 64

static const char *const queries[] = {
    "{customer_id:.customer_id}",
    "{a:.a, b:(.b|tostring)}",
    "{y:(.t|strftime(\"%Y\"))}",
    "{k:(.x // \"d\"), n:(.n|numbers)}",
    "{a:.[0], b:.[1]}",
    "to_entries|map(select(.value|type==\"string\"))|from_entries",
    "{m:(.message|fromjson|.id)}",
    "{s:(.s|ascii_downcase|ltrimstr(\"x\")), d:(.t|todate), i:(.c|implode)}",
    "{g:(.t|gmtime|mktime), l:(.t|localtime|strflocaltime(\"%H\")), b:(.b|@base64d)}",
    "{p:(.d|strptime(\"%Y-%m-%d\")|mktime), r:(.s|test(.r))}",
    "{x:(.[]|tostring)}",
};

struct pset {
    const char *type;
    struct pl_param p[2];
    size_t n;
    bool one_to_one;
};

static size_t gz(const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (uint8_t *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int zrc = deflate(&z, Z_FINISH);
    size_t n = zrc == Z_STREAM_END ? z.total_out : 0;
    deflateEnd(&z);
    return n;
}

static void check_out(const struct pset *ps, const struct pl_batch *in,
                      const struct pl_batch *out, uint32_t nsrc)
{
    const struct pl_rec *r = pl_recs(out);
    const struct pl_fail *f = (const struct pl_fail *)(const void *)out->fails.data;
    static uint8_t seen[1 << 12];
    CHECK(nsrc <= sizeof seen);
    /* the per-source checks need one input record per source (not so
     * after a deaggregation) */
    memset(seen, 0, nsrc);
    bool unique = true;
    for (size_t i = 0; i < in->n && unique; i++) {
        unique = !seen[pl_recs(in)[i].src];
        seen[pl_recs(in)[i].src] = 1;
    }
    memset(seen, 0, nsrc);
    for (size_t i = 0; i < out->n; i++) {
        CHECK(r[i].off <= out->data.len && r[i].len <= out->data.len - r[i].off);
        CHECK(r[i].src < nsrc);
        seen[r[i].src] |= 1;
        CHECK(r[i].query.off + (uint64_t)r[i].query.len <= out->keys.len);
        CHECK(r[i].lambda.off + (uint64_t)r[i].lambda.len <= out->keys.len);
    }
    for (size_t i = 0; i < out->nfail; i++) {
        CHECK(f[i].src < nsrc);
        CHECK(f[i].error_code && f[i].output_type && f[i].message);
        CHECK(!unique || !(seen[f[i].src] & 1)); /* never both */
        seen[f[i].src] |= 2;
    }
    if (ps->one_to_one)
        CHECK(out->n + out->nfail == in->n);
    if (ps->one_to_one && unique) {
        const struct pl_rec *ir = pl_recs(in);
        size_t j = 0;
        for (size_t i = 0; i < in->n; i++) {
            if (j < out->n && r[j].src == ir[i].src && (seen[ir[i].src] & 1)) {
                if (!strcmp(ps->type, "AppendDelimiterToRecord")) {
                    CHECK(r[j].len == ir[i].len + 1);
                    CHECK(!memcmp(pl_data(out, &r[j]), pl_data(in, &ir[i]), ir[i].len));
                    CHECK(pl_data(out, &r[j])[ir[i].len] == '\n');
                } else if (!strcmp(ps->type, "MetadataExtraction")) {
                    CHECK(r[j].len == ir[i].len);
                    CHECK(!memcmp(pl_data(out, &r[j]), pl_data(in, &ir[i]), ir[i].len));
                }
                j++;
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t ceiling = (flags & 1) ? 512 : (size_t)16 << 20;
    const char *query = queries[(((flags >> 1) & 7) + ((flags & 0x10) ? 4 : 0)) % (sizeof queries / sizeof queries[0])];
    struct pset sets[] = {
        {"RecordDeAggregation", {{"SubRecordType", "JSON"}}, 1, false},
        {"RecordDeAggregation", {{"SubRecordType", "DELIMITED"}, {"Delimiter", "IyMjIw=="}}, 2,
         false},
        {"RecordDeAggregation", {{"SubRecordType", "DELIMITED"}, {"Delimiter", "Cg=="}}, 2,
         false},
        {"Decompression", {{"CompressionFormat", "GZIP"}}, 1, true},
        {"CloudWatchLogProcessing", {{"DataMessageExtraction", "true"}}, 1, false},
        {"CloudWatchLogProcessing", {{"DataMessageExtraction", "false"}}, 1, false},
        {"MetadataExtraction", {{"MetadataExtractionQuery", query}, {"JsonParsingEngine", "JQ-1.6"}},
         2, true},
        {"AppendDelimiterToRecord", {{NULL, NULL}}, 0, true},
    };
    const size_t nsets = sizeof sets / sizeof sets[0];
    struct pl_batch in;
    pl_batch_init(&in, (size_t)64 << 20);
    static uint8_t zbuf[1 << 17];
    size_t off = 1;
    uint32_t nsrc = 0;
    while (off < size && nsrc < MAX_RECS) {
        size_t len = size - off;
        if (len >= 2) {
            size_t want = (size_t)data[off] | (size_t)data[off + 1] << 8;
            off += 2;
            len = size - off < want ? size - off : want;
        } else {
            off += len;
            len = 0;
        }
        struct pl_rec like = {.src = nsrc, .arrival_ms = 1000};
        CHECK(pl_add(&in, &in, &like, data + off, len) == HY_OK);
        nsrc++;
        size_t zn = len < sizeof zbuf / 2 ? gz(data + off, len, zbuf, sizeof zbuf) : 0;
        if (zn && nsrc < MAX_RECS) {
            like.src = nsrc++;
            CHECK(pl_add(&in, &in, &like, zbuf, zn) == HY_OK);
        }
        off += len;
    }
    struct pl_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.source = &in;
    char msg[512];
    /* check() once per process and query (a jq compile costs ~20 ms) */
    static unsigned checked_queries;
    unsigned qbit = 1u << ((((flags >> 1) & 7) + ((flags & 0x10) ? 4 : 0)) %
                           (sizeof queries / sizeof queries[0]));
    /* each alone; MetadataExtraction (a jq compile per run) only in the
     * chain below, but with its 1:1 checks there too */
    for (size_t s = 0; s < nsets; s++) {
        const struct processor *p = processor_find(sets[s].type);
        CHECK(p);
        bool jq = !strcmp(sets[s].type, "MetadataExtraction");
        if (!jq || !(checked_queries & qbit))
            CHECK(p->check(sets[s].p, sets[s].n, msg, sizeof msg) == HY_OK);
        if (jq) {
            checked_queries |= qbit;
            continue;
        }
        struct pl_batch out;
        pl_batch_init(&out, ceiling);
        CHECK(p->run(sets[s].p, sets[s].n, &ctx, &in, &out) == HY_OK);
        check_out(&sets[s], &in, &out, nsrc);
        pl_batch_free(&out);
    }
    /* chained, in the table's order: JSON deaggregation, decompression,
     * extraction, keys, delimiter */
    const size_t chain[] = {0, 3, 4, 6, 7};
    static int skip_jq = -1;
    if (skip_jq < 0)
        skip_jq = getenv("FUZZ_PROC_SKIP_JQ") != NULL;
    struct pl_batch cur = in, next;
    bool own = false;
    for (size_t c = 0; c < sizeof chain / sizeof chain[0]; c++) {
        const struct pset *ps = &sets[chain[c]];
        if (skip_jq && chain[c] == 6)
            continue;
        pl_batch_init(&next, ceiling);
        CHECK(processor_find(ps->type)->run(ps->p, ps->n, &ctx, &cur, &next) == HY_OK);
        check_out(ps, &cur, &next, nsrc);
        if (own)
            pl_batch_free(&cur);
        cur = next;
        own = true;
    }
    pl_batch_free(&cur);
    pl_batch_free(&in);
    return 0;
}
