/* sts.c -- temporary credentials: the session token format, its server
 * key, and the secret of a temporary access key id. The STS Query
 * actions (AssumeRole, GetSessionToken, GetCallerIdentity) are answered
 * by iam.c, which shares the Query protocol; this file only mints and
 * checks what they hand out.
 *
 * Design: nothing is stored per session. A token is
 *
 *     base64(payload) "." base64(HMAC-SHA256(K, payload))
 *     payload = "1|" AKID "|" EXPIRY_MS "|" KIND "|" ARN "|" SESSION
 *
 * KIND is r (an assumed role: ARN is the role's), u (GetSessionToken of a
 * user: the user's ARN) or a (GetSessionToken of the account root). The
 * secret of the temporary key is base64(HMAC-SHA256(K, "secret|" AKID)),
 * its first 40 characters, so a request signed with it proves it holds
 * credentials K minted. K is 32 random bytes in <data_dir>/sts.key
 * (0600), made at the first start: tokens survive a restart and cannot be
 * forged without the file. A token is refused when its MAC does not
 * verify, when it is for another key id, and, once its expiry has
 * passed, as expired.
 *
 * Threading: the key is written once by sts_open before the listener
 * starts; everything after only reads it.
 */
#include "iam.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STS_KEY_LEN 32
#define STS_MAX_TOKEN 4096

static unsigned char sts_key[STS_KEY_LEN];
static bool sts_ready;

int sts_open(const char *dir)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/sts.key", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return HY_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read(fd, sts_key, sizeof sts_key);
        close(fd);
        if (got != (ssize_t)sizeof sts_key) {
            log_error("sts", "%s is not %d bytes: remove it to make a new key (every "
                      "session token then ends)", path, STS_KEY_LEN);
            return HY_EIO;
        }
        sts_ready = true;
        return HY_OK;
    }
    if (errno != ENOENT) {
        log_error("sts", "cannot read %s: %s", path, strerror(errno));
        return HY_EIO;
    }
    int rc = hy_random(sts_key, sizeof sts_key);
    if (rc)
        return rc;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return HY_EIO;
    rc = write_all(fd, sts_key, sizeof sts_key);
    if (!rc && fsync(fd) != 0)
        rc = HY_EIO;
    close(fd);
    if (!rc && rename(tmp, path) != 0)
        rc = HY_EIO;
    if (!rc)
        rc = hy_fsync_dir(dir);
    if (rc) {
        unlink(tmp);
        log_error("sts", "cannot write %s: %s", path, hy_strerror(rc));
        return rc;
    }
    sts_ready = true;
    return HY_OK;
}

void sts_close(void)
{
    OPENSSL_cleanse(sts_key, sizeof sts_key);
    sts_ready = false;
}

static int mac(const void *msg, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    if (!sts_ready || !HMAC(EVP_sha256(), sts_key, sizeof sts_key, msg, len, out, &n) ||
        n != 32)
        return HY_EIO;
    return HY_OK;
}

int sts_secret(const char *akid, char secret[41])
{
    char msg[64];
    unsigned char m[32];
    char b64[48];
    int n = snprintf(msg, sizeof msg, "secret|%s", akid);
    if (n < 0 || (size_t)n >= sizeof msg)
        return HY_EINVAL;
    int rc = mac(msg, (size_t)n, m);
    if (rc)
        return rc;
    base64_encode(b64, m, sizeof m);
    memcpy(secret, b64, 40);
    secret[40] = 0;
    /* '/' and '+' are fine in a secret; keep them as AWS's are */
    return HY_OK;
}

int sts_mint(char kind, const char *arn, const char *session, int64_t expires_ms,
             char akid[21], char secret[41], char **token)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char rnd[16];
    int rc = hy_random(rnd, sizeof rnd);
    if (rc)
        return rc;
    memcpy(akid, "ASIA", 4);
    for (int i = 0; i < 16; i++)
        akid[4 + i] = alphabet[rnd[i] & 31];
    akid[20] = 0;
    if ((rc = sts_secret(akid, secret)))
        return rc;
    char payload[1200];
    int n = snprintf(payload, sizeof payload, "1|%s|%lld|%c|%s|%s", akid,
                     (long long)expires_ms, kind, arn, session ? session : "");
    if (n < 0 || (size_t)n >= sizeof payload)
        return HY_EINVAL;
    unsigned char m[32];
    if ((rc = mac(payload, (size_t)n, m)))
        return rc;
    size_t plen = base64_encoded_len((size_t)n), mlen = base64_encoded_len(sizeof m);
    char *t = malloc(plen + 1 + mlen + 1);
    if (!t)
        return HY_ENOMEM;
    base64_encode(t, payload, (size_t)n);
    size_t at = strlen(t);
    t[at++] = '.';
    base64_encode(t + at, m, sizeof m);
    *token = t;
    return HY_OK;
}

int sts_token_check(const char *akid, const char *token, int64_t now_ms, char *kind,
                    char *arn, size_t arn_len, char *session, size_t session_len,
                    int64_t *expires_ms)
{
    size_t tlen = strlen(token);
    const char *dot = strchr(token, '.');
    if (!dot || tlen > STS_MAX_TOKEN)
        return STS_TOKEN_INVALID;
    char payload[STS_MAX_TOKEN];
    unsigned char got[48], want[32];
    long plen = base64_decode(payload, token, (size_t)(dot - token));
    long mlen = base64_decode(got, dot + 1, strlen(dot + 1));
    if (plen <= 0 || (size_t)plen >= sizeof payload || mlen != 32)
        return STS_TOKEN_INVALID;
    payload[plen] = 0;
    if (mac(payload, (size_t)plen, want) != HY_OK || CRYPTO_memcmp(got, want, 32) != 0)
        return STS_TOKEN_INVALID;
    /* one spelling per token: base64 with other unused bits (or padding)
     * would decode alike, and a token must not be malleable */
    char canon[STS_MAX_TOKEN * 2];
    size_t clen = base64_encoded_len((size_t)plen);
    if (clen + 1 + base64_encoded_len(32) + 1 > sizeof canon)
        return STS_TOKEN_INVALID;
    base64_encode(canon, payload, (size_t)plen);
    canon[clen] = '.';
    base64_encode(canon + clen + 1, got, 32);
    if (strcmp(canon, token) != 0)
        return STS_TOKEN_INVALID;
    /* 1|AKID|EXPIRY|KIND|ARN|SESSION */
    char *f[6];
    char *p = payload;
    for (int i = 0; i < 6; i++) {
        f[i] = p;
        char *bar = i < 5 ? strchr(p, '|') : NULL;
        if (i < 5 && !bar)
            return STS_TOKEN_INVALID;
        if (bar) {
            *bar = 0;
            p = bar + 1;
        }
    }
    if (strcmp(f[0], "1") != 0 || strcmp(f[1], akid) != 0 || strlen(f[3]) != 1 ||
        strlen(f[4]) >= arn_len || strlen(f[5]) >= session_len)
        return STS_TOKEN_INVALID;
    char *end;
    long long exp = strtoll(f[2], &end, 10);
    if (*end || !*f[2])
        return STS_TOKEN_INVALID;
    *kind = f[3][0];
    strcpy(arn, f[4]);
    strcpy(session, f[5]);
    *expires_ms = exp;
    if (now_ms >= exp)
        return STS_TOKEN_EXPIRED;
    return STS_TOKEN_OK;
}
