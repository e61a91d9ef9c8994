/* decompression.c -- the Decompression processor: gunzips each record
 * (CloudWatch Logs subscription payloads reach Firehose gzip-compressed).
 *
 * AWS behaviour honoured:
 *   - Parameter CompressionFormat, value GZIP (AWS API reference,
 *     ProcessorParameter / ProcessorParameterName, and the CDK's
 *     DecompressionProcessorCompressionFormat.GZIP); it is the only
 *     parameter of the type. botocore 1.29's model predates the type, so
 *     firehose.c has to accept it from raw requests.
 *   - "If Amazon Data Firehose is not able to decompress the record, the
 *     record is delivered as is (in compressed format) to error S3 bucket
 *     ... an S3 bucket prefix called decompression-failed. Firehose will
 *     continue to process other records after a failed decompression of a
 *     record." (Troubleshoot decompression in Firehose, decomp-faq.html):
 *     output type "decompression-failed", the other records go on. The
 *     errorCode string DECOMP_ERROR_CODE is hydrant's (AWS names none in
 *     its documentation; unverified).
 *   - CompressionFormat is required: without it the type means nothing
 *     (AWS's console always sends it).
 *
 * Design: zlib's inflate with windowBits 15+16 (gzip only: a zlib or raw
 * deflate stream is not gzip and fails). Concatenated gzip members
 * (RFC 1952 allows them) decompress to their concatenation; bytes after
 * the last member that are not another member fail the record. Output
 * goes into one scratch buffer per run whose ceiling is the room left
 * under the output batch's ceiling, so a gzip bomb fails its record with
 * "too large" as soon as it passes the room and never takes more memory
 * than the batch may hold (the scratch buffer doubles as it grows, so at
 * most about twice the room, once per run).
 *
 * Threading: no state outside a run; runs concurrently on any threads.
 */
#include "proc.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define DECOMP_TYPE "Decompression"
#define DECOMP_ERROR_CODE "Decompression.Failed"
#define DECOMP_OUTPUT_TYPE "decompression-failed"

static const char *const decomp_names[] = {"CompressionFormat"};

static int decomp_check(const struct pl_param *p, size_t n, char *msg, size_t msg_len)
{
    int rc = proc_check_names(DECOMP_TYPE, p, n, decomp_names, 1, msg, msg_len);
    if (rc)
        return rc;
    const char *fmt = pl_param_get(p, n, "CompressionFormat");
    if (!fmt) {
        snprintf(msg, msg_len, "CompressionFormat is required for processor type '%s'.",
                 DECOMP_TYPE);
        return HY_EINVAL;
    }
    if (strcmp(fmt, "GZIP")) {
        snprintf(msg, msg_len,
                 "Invalid CompressionFormat '%.64s' for processor type '%s'. Valid values: GZIP.",
                 fmt, DECOMP_TYPE);
        return HY_EINVAL;
    }
    return HY_OK;
}

/* Gunzips src into dst (reset first; dst->max bounds it). HY_OK,
 * HY_EINVAL (not gzip, corrupt, truncated; why set), HY_ETOOBIG, HY_ENOMEM. */
static int decomp_gunzip(z_stream *zs, const unsigned char *src, size_t len, struct buf *dst,
                         const char **why)
{
    buf_reset(dst);
    if (len < 2 || src[0] != 0x1f || src[1] != 0x8b) {
        *why = "the record is not in GZIP format";
        return HY_EINVAL;
    }
    if (inflateReset2(zs, 15 + 16) != Z_OK) {
        *why = "inflate reset failed";
        return HY_ENOMEM;
    }
    zs->next_in = (unsigned char *)src;
    zs->avail_in = (uInt)len;
    for (;;) {
        size_t chunk = dst->max - dst->len < 65536 ? dst->max - dst->len : 65536;
        if (chunk == 0) {
            /* full: one more byte out means too big */
            unsigned char probe;
            zs->next_out = &probe;
            zs->avail_out = 1;
            int zrc = inflate(zs, Z_NO_FLUSH);
            if (zs->avail_out == 0) {
                *why = "the decompressed record passes the batch's size ceiling";
                return HY_ETOOBIG;
            }
            if (zrc == Z_STREAM_END && zs->avail_in == 0)
                return HY_OK;
            if (zrc == Z_STREAM_END) {
                if (zs->avail_in < 2 || zs->next_in[0] != 0x1f || zs->next_in[1] != 0x8b) {
                    *why = "trailing bytes after the GZIP data";
                    return HY_EINVAL;
                }
                if (inflateReset(zs) != Z_OK)
                    return HY_ENOMEM;
                continue;
            }
            *why = zrc == Z_MEM_ERROR ? "out of memory" : "the GZIP data is corrupt or truncated";
            return zrc == Z_MEM_ERROR ? HY_ENOMEM : HY_EINVAL;
        }
        int rc = buf_reserve(dst, chunk);
        if (rc)
            return rc;
        zs->next_out = (unsigned char *)dst->data + dst->len;
        zs->avail_out = (uInt)chunk;
        int zrc = inflate(zs, Z_NO_FLUSH);
        dst->len += chunk - zs->avail_out;
        dst->data[dst->len] = 0;
        if (zrc == Z_STREAM_END) {
            if (zs->avail_in == 0)
                return HY_OK;
            /* another member, or trailing garbage */
            if (zs->avail_in < 2 || zs->next_in[0] != 0x1f || zs->next_in[1] != 0x8b) {
                *why = "trailing bytes after the GZIP data";
                return HY_EINVAL;
            }
            if (inflateReset(zs) != Z_OK)
                return HY_ENOMEM;
            continue;
        }
        if (zrc == Z_MEM_ERROR)
            return HY_ENOMEM;
        if (zrc == Z_BUF_ERROR && zs->avail_out != 0) {
            /* no progress with output room left: the input ended early */
            *why = "the GZIP data is truncated";
            return HY_EINVAL;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            *why = zs->msg ? zs->msg : "the GZIP data is corrupt";
            return HY_EINVAL;
        }
        if (zs->avail_in == 0 && zs->avail_out != 0) {
            *why = "the GZIP data is truncated";
            return HY_EINVAL;
        }
    }
}

static int decomp_run(const struct pl_param *p, size_t n, const struct pl_ctx *ctx,
                      const struct pl_batch *in, struct pl_batch *out)
{
    char msg[256];
    int rc = decomp_check(p, n, msg, sizeof msg);
    if (rc) {
        log_error("decomp", "refusing to run with bad parameters: %s", msg);
        return rc;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return HY_ENOMEM;
    struct buf scratch;
    buf_init(&scratch, 0);
    const struct pl_rec *recs = pl_recs(in);
    for (size_t i = 0; i < in->n; i++) {
        const struct pl_rec *r = &recs[i];
        const char *why = NULL;
        scratch.max = proc_room(out);
        rc = decomp_gunzip(&zs, pl_data(in, r), r->len, &scratch, &why);
        if (rc == HY_OK) {
            rc = pl_add(out, in, r, scratch.len ? scratch.data : "", scratch.len);
            if (rc == HY_ETOOBIG)
                why = "the decompressed record passes the batch's size ceiling";
        }
        if (rc == HY_OK)
            continue;
        if (rc != HY_EINVAL && rc != HY_ETOOBIG)
            goto out_free_scratch;
        rc = pl_fail_add(out, r->src, DECOMP_ERROR_CODE, DECOMP_OUTPUT_TYPE, 1, NULL,
                         "Decompression (GZIP) failed: %s.", why ? why : "error");
        if (rc)
            goto out_free_scratch;
    }
    rc = HY_OK;
out_free_scratch:
    buf_free(&scratch);
    inflateEnd(&zs);
    return rc;
}

const struct processor processor_decompression = {
    .type = DECOMP_TYPE,
    .check = decomp_check,
    .run = decomp_run,
    .deterministic = true,
};
