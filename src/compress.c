/* compress.c -- compression of delivered buffers, in the formats Firehose
 * writes to S3:
 *
 *   GZIP           a gzip member (RFC 1952), zlib's deflate, level 6
 *   ZIP            a ZIP archive holding one deflated entry named after the
 *                  object (local header, data, central directory, end record)
 *   Snappy         the Snappy framing format: stream identifier chunk, then
 *                  compressed chunks of at most 64 KiB input each, every one
 *                  with the masked CRC-32C of its uncompressed bytes
 *   HADOOP_SNAPPY  Hadoop's block stream: per block the big-endian
 *                  uncompressed length, then per sub-block the big-endian
 *                  compressed length and the raw snappy bytes
 *
 * Threading: pure functions; zlib and snappy keep no global state.
 */
#include "compress.h"
#include "stream.h"

#include <snappy-c.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

/* Feeds all of in through a deflate stream set up by the caller. */
static int deflate_all(z_stream *zs, const void *in, size_t n, struct buf *out)
{
    zs->next_in = (Bytef *)in;
    int rc = HY_OK, zrc;
    size_t left = n;
    do {
        uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
        zs->next_in = (Bytef *)in + (n - left);
        zs->avail_in = chunk;
        left -= chunk;
        int flush = left ? Z_NO_FLUSH : Z_FINISH;
        do {
            size_t room = deflateBound(zs, chunk) + 64;
            if ((rc = buf_reserve(out, room)))
                return rc;
            zs->next_out = (Bytef *)out->data + out->len;
            zs->avail_out = (uInt)(out->cap - out->len - 1);
            zrc = deflate(zs, flush);
            out->len = (size_t)((char *)zs->next_out - out->data);
            if (zrc == Z_STREAM_ERROR)
                return HY_EIO;
        } while (zs->avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
    } while (left > 0);
    out->data[out->len] = 0;
    return HY_OK;
}

static int deflate_with(int window_bits, const void *in, size_t n, struct buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return HY_ENOMEM;
    int rc = deflate_all(&zs, in, n, out);
    deflateEnd(&zs);
    return rc;
}

int compress_gzip(const void *in, size_t n, struct buf *out)
{
    return deflate_with(15 + 16, in, n, out); /* +16: gzip wrapper */
}

/* ---- ZIP ------------------------------------------------------------- */
static int put16(struct buf *b, unsigned v)
{
    unsigned char p[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    return buf_append(b, p, 2);
}

static int put32(struct buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    return buf_append(b, p, 4);
}

static int zip_one(const void *in, size_t n, const char *name, struct buf *out)
{
    if (n > 0xfffffffeu)
        return HY_ETOOBIG; /* buffers are at most 128 MiB; no ZIP64 needed */
    uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), in, (uInt)n);
    size_t name_len = strlen(name);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    unsigned dos_time = (unsigned)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
    unsigned dos_date = (unsigned)((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);

    size_t local_off = out->len;
    int rc = put32(out, 0x04034b50);
    rc = rc ? rc : put16(out, 20);        /* version needed */
    rc = rc ? rc : put16(out, 0);         /* flags */
    rc = rc ? rc : put16(out, 8);         /* deflate */
    rc = rc ? rc : put16(out, dos_time);
    rc = rc ? rc : put16(out, dos_date);
    rc = rc ? rc : put32(out, crc);
    size_t csize_at = out->len;
    rc = rc ? rc : put32(out, 0);         /* compressed size, patched below */
    rc = rc ? rc : put32(out, (uint32_t)n);
    rc = rc ? rc : put16(out, (unsigned)name_len);
    rc = rc ? rc : put16(out, 0);
    rc = rc ? rc : buf_append(out, name, name_len);
    if (rc)
        return rc;
    size_t data_off = out->len;
    if ((rc = deflate_with(-15, in, n, out))) /* raw deflate */
        return rc;
    uint32_t csize = (uint32_t)(out->len - data_off);
    for (int i = 0; i < 4; i++)
        out->data[csize_at + (size_t)i] = (char)(csize >> (8 * i));

    size_t cd_off = out->len;
    rc = put32(out, 0x02014b50);
    rc = rc ? rc : put16(out, 20);        /* made by */
    rc = rc ? rc : put16(out, 20);        /* needed */
    rc = rc ? rc : put16(out, 0);
    rc = rc ? rc : put16(out, 8);
    rc = rc ? rc : put16(out, dos_time);
    rc = rc ? rc : put16(out, dos_date);
    rc = rc ? rc : put32(out, crc);
    rc = rc ? rc : put32(out, csize);
    rc = rc ? rc : put32(out, (uint32_t)n);
    rc = rc ? rc : put16(out, (unsigned)name_len);
    rc = rc ? rc : put16(out, 0);         /* extra */
    rc = rc ? rc : put16(out, 0);         /* comment */
    rc = rc ? rc : put16(out, 0);         /* disk */
    rc = rc ? rc : put16(out, 0);         /* internal attrs */
    rc = rc ? rc : put32(out, 0);         /* external attrs */
    rc = rc ? rc : put32(out, (uint32_t)(local_off));
    rc = rc ? rc : buf_append(out, name, name_len);
    size_t cd_len = out->len - cd_off;
    rc = rc ? rc : put32(out, 0x06054b50);
    rc = rc ? rc : put16(out, 0);
    rc = rc ? rc : put16(out, 0);
    rc = rc ? rc : put16(out, 1);
    rc = rc ? rc : put16(out, 1);
    rc = rc ? rc : put32(out, (uint32_t)cd_len);
    rc = rc ? rc : put32(out, (uint32_t)cd_off);
    rc = rc ? rc : put16(out, 0);
    return rc;
}

/* ---- Snappy ---------------------------------------------------------- */
static uint32_t crc32c_table[256];

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc32c_table[i] = c;
    }
}

static uint32_t crc32c(const unsigned char *p, size_t n)
{
    static int ready;
    if (!ready) { /* idempotent; a race only repeats the same writes */
        crc32c_init();
        ready = 1;
    }
    uint32_t c = 0xffffffffu;
    while (n--)
        c = crc32c_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static int snappy_framed(const unsigned char *in, size_t n, struct buf *out)
{
    static const unsigned char ident[] = {0xff, 0x06, 0x00, 0x00, 's', 'N', 'a', 'P', 'p', 'Y'};
    int rc = buf_append(out, ident, sizeof ident);
    for (size_t off = 0; rc == HY_OK && off < n;) {
        size_t len = n - off > 65536 ? 65536 : n - off;
        size_t max = snappy_max_compressed_length(len);
        if ((rc = buf_reserve(out, 8 + max)))
            break;
        char *hdr = out->data + out->len;
        size_t clen = max;
        if (snappy_compress((const char *)in + off, len, hdr + 8, &clen) != SNAPPY_OK)
            return HY_EIO;
        uint32_t c = crc32c(in + off, len);
        uint32_t masked = ((c >> 15) | (c << 17)) + 0xa282ead8u;
        size_t chunk = clen + 4;
        hdr[0] = 0x00; /* compressed data chunk */
        hdr[1] = (char)chunk;
        hdr[2] = (char)(chunk >> 8);
        hdr[3] = (char)(chunk >> 16);
        for (int i = 0; i < 4; i++)
            hdr[4 + i] = (char)(masked >> (8 * i));
        out->len += 8 + clen;
        out->data[out->len] = 0;
        off += len;
    }
    return rc;
}

static int put32be(struct buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    return buf_append(b, p, 4);
}

static int snappy_hadoop(const unsigned char *in, size_t n, struct buf *out)
{
    const size_t block = 256 * 1024; /* Hadoop's default buffer size */
    int rc = HY_OK;
    for (size_t off = 0; rc == HY_OK && off < n;) {
        size_t len = n - off > block ? block : n - off;
        size_t max = snappy_max_compressed_length(len);
        rc = put32be(out, (uint32_t)len);
        if (rc == HY_OK)
            rc = buf_reserve(out, 4 + max);
        if (rc)
            break;
        size_t clen = max;
        if (snappy_compress((const char *)in + off, len, out->data + out->len + 4,
                            &clen) != SNAPPY_OK)
            return HY_EIO;
        char *p = out->data + out->len;
        p[0] = (char)(clen >> 24);
        p[1] = (char)(clen >> 16);
        p[2] = (char)(clen >> 8);
        p[3] = (char)clen;
        out->len += 4 + clen;
        out->data[out->len] = 0;
        off += len;
    }
    return rc;
}

int compress_buffer(int compression, const void *in, size_t n,
                    const char *entry_name, struct buf *out)
{
    switch (compression) {
    case COMP_UNCOMPRESSED: return buf_append(out, in, n);
    case COMP_GZIP: return compress_gzip(in, n, out);
    case COMP_ZIP: return zip_one(in, n, entry_name ? entry_name : "data", out);
    case COMP_SNAPPY: return snappy_framed(in, n, out);
    case COMP_HADOOP_SNAPPY: return snappy_hadoop(in, n, out);
    }
    return HY_EINVAL;
}

int compress_format(const char *name)
{
    if (!name)
        return COMP_UNCOMPRESSED;
    if (!strcmp(name, "GZIP"))
        return COMP_GZIP;
    if (!strcmp(name, "ZIP"))
        return COMP_ZIP;
    if (!strcmp(name, "Snappy"))
        return COMP_SNAPPY;
    if (!strcmp(name, "HADOOP_SNAPPY"))
        return COMP_HADOOP_SNAPPY;
    return COMP_UNCOMPRESSED;
}
