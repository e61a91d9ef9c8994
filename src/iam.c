/* iam.c -- the IAM and STS Query APIs, and the identities the router
 * authorizes with: users and their access keys, groups, roles with their
 * trust policies, inline policies of users, groups and roles, managed
 * policies with versions (the account's, and AWS's own by their real ARNs
 * and documents), the policy simulators, and STS AssumeRole,
 * GetSessionToken and GetCallerIdentity (sts.c mints and checks the
 * session tokens). Policies are parsed and evaluated by policy.c.
 *
 * Wire format (AWS Query protocol): the request is form-encoded
 * `Action=CreateRole&Version=2010-05-08&RoleName=...` in a POST body (or
 * the query of a GET). The answer is XML:
 *
 *   <CreateRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
 *     <CreateRoleResult>...</CreateRoleResult>
 *     <ResponseMetadata><RequestId>uuid</RequestId></ResponseMetadata>
 *   </CreateRoleResponse>
 *
 * and errors are <ErrorResponse><Error><Type>Sender</Type><Code>..</Code>
 * <Message>..</Message></Error><RequestId>..</RequestId></ErrorResponse>.
 * Policy documents go back URL-encoded, as AWS sends them (botocore
 * decodes them into dicts).
 *
 * Design: every action is a function `int iam_<action>(struct iam_call *)`
 * that appends the inside of its <Result> element to c->out and returns an
 * enum hy_rc. A client error also leaves a code and message in the call
 * (iam_fail / the validation collector); iam_reply_error() is the one place
 * a result code becomes an XML error. Validation follows the botocore
 * model's constraints and reports them in AWS's words ("1 validation error
 * detected: Value 'x' at 'roleName' failed to satisfy constraint: ...").
 * Users and groups share one set of functions (struct iam_kind); roles
 * keep their own (their tables came first).
 *
 * Storage: SQLite <data_dir>/iam.db, WAL mode, synchronous=FULL so an
 * acknowledged change survives a crash.
 *
 *   roles(name PK COLLATE NOCASE, path, role_id UNIQUE, arn UNIQUE,
 *         create_ms, trust_policy, description NULL, max_session)
 *   role_tags(role_id, key COLLATE NOCASE, value)      PK(role_id, key)
 *   role_policies(role_id, name, document, size)        PK(role_id, name)
 *   role_attached(role_id, arn, name, path)             PK(role_id, arn)
 *   users(name PK COLLATE NOCASE, path, user_id UNIQUE, arn UNIQUE, create_ms)
 *   user_tags(user_id, key COLLATE NOCASE, value)       PK(user_id, key)
 *   access_keys(akid PK, user_id, secret, status, create_ms)
 *   groups(name PK COLLATE NOCASE, path, group_id UNIQUE, arn UNIQUE, create_ms)
 *   group_members(group_id, user_id)                    PK(both)
 *   policies(arn PK, name UNIQUE NOCASE, path, policy_id, default_version,
 *            next_version, description NULL, create_ms, update_ms)
 *   policy_versions(arn, version_id, document, create_ms)  PK(arn, version_id)
 *   entity_policies(kind 'user'|'group', entity_id, name, document, size)
 *   entity_attached(kind, entity_id, arn, name, path)
 *   bucket_policies(bucket PK, document)                (S3, s3_policy.c)
 *   PRAGMA user_version = 2 (1: roles only; the new tables are added)
 *
 * Names are unique regardless of case, like AWS ("PRODROLE" and
 * "prodrole" cannot both exist); the stored spelling is what is returned.
 * `size` is a document's length without white space, the measure AWS's
 * policy-size quotas use. List markers are base64 of the first key of the
 * next page. Access key secrets are stored as given out (the server must
 * verify signatures with them); iam.db is in the 0700 data directory.
 *
 * The identity cache: every change (any successful action that is not a
 * Get, List or Simulate, and bucket policy writes) bumps a generation
 * counter. iam_identity_by_key / _by_arn build an identity (secret, tags,
 * every applicable policy parsed) under iam_lock and keep it in a
 * direct-mapped cache of 256 slots with the generation it was built at; a
 * request takes a reference (atomic count) under iam_cache_lock and
 * evaluates without SQLite. Bucket policies are cached the same way.
 *
 * Threading: iam_handle runs on several HTTP threads at once. The SQLite
 * connection is opened FULLMUTEX, and iam_lock serialises each whole
 * action so its read-check-write steps and transactions never interleave
 * with another's (actions that need an identity load it directly, under
 * the lock they hold). IAM is a control-plane API; one action at a time
 * is plenty. iam_cache_lock guards only the cache slots and is never held
 * while iam_lock is taken.
 */
#include "api.h"
#include "iam.h"
#include "sigv4.h"

#include <openssl/crypto.h>

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int iam_role_exists(const char *role_arn);

#define IAM_XMLNS "https://iam.amazonaws.com/doc/2010-05-08/"
#define STS_XMLNS "https://sts.amazonaws.com/doc/2011-06-15/"
#define IAM_VERSION "2010-05-08"
#define STS_VERSION "2011-06-15"

/* Ceilings: the request, and AWS's default quotas. */
#define IAM_MAX_BODY (1u << 20)     /* a 128 KiB policy, URL-encoded, fits */
#define IAM_MAX_PARAMS 512
#define IAM_MAX_OUT (8u << 20)      /* a full ListRoles page of big trusts */
#define IAM_MAX_ROLES 1000          /* RolesPerAccount */
#define IAM_MAX_ATTACHED 10         /* PoliciesPerRole (managed) */
#define IAM_MAX_INLINE_SIZE 10240   /* inline policy characters per role */
#define IAM_MAX_TRUST_SIZE 2048     /* ACLSizePerRole */
#define IAM_MAX_TAGS 50
#define IAM_LIST_DEFAULT 100

static sqlite3 *iam_db;
static pthread_mutex_t iam_lock = PTHREAD_MUTEX_INITIALIZER;

struct iam_param {
    const char *name;
    const char *value;
};

/* One request in flight. */
struct iam_call {
    struct http_req *req;
    struct arena *a;
    struct iam_param *params;
    size_t nparams;
    bool sts;                /* STS namespace and version */
    const char *action;
    char request_id[37];
    struct buf out;          /* inside of <ActionResult> */
    /* a client error: code (NULL = derived from rc) and message */
    const char *err_code;
    const char *err_msg;
    /* constraint violations, joined the way AWS joins them */
    struct buf verr;
    int nverr;
};

struct iam_call;
static int iam_policy_exists(struct iam_call *c, const char *arn);

struct iam_action {
    const char *name;
    int (*fn)(struct iam_call *c);
    bool has_result;         /* false: the response has only metadata */
};

/* ---- errors ------------------------------------------------------------- */

/* Records a client error's code (NULL: the default for rc) and message;
 * returns rc so callers can `return iam_fail(...)`. */
static int iam_fail(struct iam_call *c, int rc, const char *code,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int iam_fail(struct iam_call *c, int rc, const char *code,
                    const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = n >= 0 ? arena_alloc(c->a, (size_t)n + 1) : NULL;
    if (msg)
        vsnprintf(msg, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    c->err_code = code;
    c->err_msg = msg; /* NULL (no memory): the reply falls back to a generic text */
    return rc;
}

/* SQLite failed: keep the detail for the log, tell the client little. */
static int iam_db_fail(struct iam_call *c, const char *what)
{
    c->err_code = NULL;
    c->err_msg = arena_printf(c->a, "%s: %s", what, sqlite3_errmsg(iam_db));
    return HY_EDB;
}

/* The one place a result code becomes an XML error. */
static void iam_reply_error(struct iam_call *c, int rc)
{
    int status;
    const char *code = c->err_code;
    const char *type = "Sender";
    const char *msg = c->err_msg;

    switch (rc) {
    case HY_EINVAL:
        status = 400;
        if (!code)
            code = "ValidationError";
        break;
    case HY_ENOTFOUND:
        status = 404;
        if (!code)
            code = "NoSuchEntity";
        break;
    case HY_EEXIST:
        status = 409;
        if (!code)
            code = "EntityAlreadyExists";
        break;
    case HY_ELIMIT:
        status = 409;
        if (!code)
            code = "LimitExceeded";
        break;
    case HY_ESTATE:
        status = 409;
        if (!code)
            code = "DeleteConflict";
        break;
    case HY_ETOOBIG:
        status = 413;
        if (!code)
            code = "RequestEntityTooLarge";
        break;
    default:
        status = 500;
        code = "ServiceFailure";
        type = "Receiver";
        log_error("iam", "%s failed: %s (%s)", c->action ? c->action : "request",
                  hy_strerror(rc), msg ? msg : "no detail");
        msg = "Request processing has failed due to an unknown error, exception or failure.";
        break;
    }
    if (!msg)
        msg = hy_strerror(rc);
    if (strcmp(code, "AccessDenied") == 0)
        status = 403; /* IAM and STS answer AccessDenied with 403 */

    struct buf b;
    buf_init(&b, 64 * 1024);
    int wrc = buf_printf(&b, "<ErrorResponse xmlns=\"%s\"><Error><Type>%s</Type><Code>",
                         c->sts ? STS_XMLNS : IAM_XMLNS, type);
    if (!wrc)
        wrc = buf_xml_escape(&b, code);
    if (!wrc)
        wrc = buf_puts(&b, "</Code><Message>");
    if (!wrc)
        wrc = buf_xml_escape(&b, msg);
    if (!wrc)
        wrc = buf_printf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>",
                         c->request_id);
    http_add_header(c->req, "x-amzn-RequestId", c->request_id);
    if (wrc) {
        /* a message too large or no memory: the code alone still helps */
        static const char fallback[] =
            "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceFailure</Code>"
            "</Error></ErrorResponse>";
        http_reply(c->req, 500, "text/xml", fallback, sizeof fallback - 1);
    } else {
        http_reply(c->req, status, "text/xml", b.data, b.len);
    }
    buf_free(&b);
}

/* ---- validation, in the words of AWS's model errors ------------------------ */

/* Adds "Value 'v' at 'field' failed to satisfy constraint: <what>". */
static void iam_violation(struct iam_call *c, const char *field, const char *value,
                          const char *what)
{
    if (c->nverr++ > 0)
        buf_puts(&c->verr, "; ");
    if (value)
        buf_printf(&c->verr, "Value '%s' at '%s' failed to satisfy constraint: %s",
                   value, field, what);
    else
        buf_printf(&c->verr, "Value null at '%s' failed to satisfy constraint: %s",
                   field, what);
}

/* HY_EINVAL with every violation so far, or HY_OK when there were none. */
static int iam_validation_result(struct iam_call *c)
{
    if (c->nverr == 0)
        return HY_OK;
    return iam_fail(c, HY_EINVAL, "ValidationError", "%d validation error%s detected: %s",
                    c->nverr, c->nverr == 1 ? "" : "s",
                    c->verr.data ? c->verr.data : "");
}

/* Characters (UTF-8 code points) in s; -1 when s is not valid UTF-8. */
static long utf8_chars(const char *s)
{
    long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra;
        if (*p < 0x80)
            extra = 0;
        else if ((*p & 0xe0) == 0xc0 && *p >= 0xc2)
            extra = 1;
        else if ((*p & 0xf0) == 0xe0)
            extra = 2;
        else if ((*p & 0xf8) == 0xf0 && *p <= 0xf4)
            extra = 3;
        else
            return -1;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return -1;
        n++;
    }
    return n;
}

/* Next code point of valid UTF-8 at *pp; advances *pp. */
static unsigned utf8_next(const char **pp)
{
    const unsigned char *p = (const unsigned char *)*pp;
    unsigned cp;
    int extra;
    if (*p < 0x80) {
        cp = *p;
        extra = 0;
    } else if ((*p & 0xe0) == 0xc0) {
        cp = *p & 0x1f;
        extra = 1;
    } else if ((*p & 0xf0) == 0xe0) {
        cp = *p & 0x0f;
        extra = 2;
    } else {
        cp = *p & 0x07;
        extra = 3;
    }
    p++;
    for (int i = 0; i < extra; i++, p++)
        cp = cp << 6 | (*p & 0x3f);
    *pp = (const char *)p;
    return cp;
}

/* [\w+=,.@-]+ (Java's \w is ASCII) */
static bool pat_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_+=,.@-", *s))
            return false;
    return true;
}

/* (\u002F)|(\u002F[\u0021-\u007F]+\u002F) */
static bool pat_path(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || s[0] != '/' || s[n - 1] != '/')
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7f)
            return false;
    return true;
}

/* \u002F[\u0021-\u007F]* */
static bool pat_path_prefix(const char *s)
{
    if (s[0] != '/')
        return false;
    for (s++; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7f)
            return false;
    return true;
}

/* ((/[A-Za-z0-9\.,\+@=_-]+)*)/ */
static bool pat_policy_path(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || s[n - 1] != '/' || s[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '/') {
            if (i > 0 && s[i - 1] == '/')
                return false;
        } else if (!isalnum((unsigned char)s[i]) && !strchr(".,+@=_-", s[i])) {
            return false;
        }
    }
    return true;
}

/* [\u0009\u000A\u000D\u0020-\u00FF]+ */
static bool pat_policy_doc(const char *s)
{
    if (!*s)
        return false;
    while (*s) {
        unsigned cp = utf8_next(&s);
        if (cp != 9 && cp != 10 && cp != 13 && (cp < 0x20 || cp > 0xff))
            return false;
    }
    return true;
}

/* [\u0020-\u00FF]+ */
static bool pat_marker(const char *s)
{
    if (!*s)
        return false;
    while (*s) {
        unsigned cp = utf8_next(&s);
        if (cp < 0x20 || cp > 0xff)
            return false;
    }
    return true;
}

/* [\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*: everything but control characters
 * (non-ASCII is taken as printable) */
static bool pat_description(const char *s)
{
    while (*s) {
        unsigned cp = utf8_next(&s);
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return false;
    }
    return true;
}

/* [\p{L}\p{Z}\p{N}_.:/=+\-@]* (tag keys and values) */
static bool pat_tag(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x80 && !isalnum(ch) && !strchr(" _.:/=+-@", ch))
            return false;
    }
    return true;
}

/* Checks one string member against its model constraints. */
static void iam_check_str(struct iam_call *c, const char *field, const char *v,
                          bool required, long min, long max,
                          bool (*pat)(const char *), const char *pat_text)
{
    if (!v) {
        if (required)
            iam_violation(c, field, NULL, "Member must not be null");
        return;
    }
    long n = utf8_chars(v);
    if (n < 0) {
        iam_violation(c, field, "(invalid UTF-8)", "Member must be valid UTF-8");
        return;
    }
    char what[160];
    if (n < min) {
        snprintf(what, sizeof what, "Member must have length greater than or equal to %ld", min);
        iam_violation(c, field, v, what);
    }
    if (n > max) {
        snprintf(what, sizeof what, "Member must have length less than or equal to %ld", max);
        iam_violation(c, field, n > 2048 ? "(too long to show)" : v, what);
    }
    if (pat && n <= max && !pat(v)) {
        snprintf(what, sizeof what, "Member must satisfy regular expression pattern: %s",
                 pat_text);
        iam_violation(c, field, v, what);
    }
}

/* An integer member; *out keeps its default when v is NULL. */
static void iam_check_int(struct iam_call *c, const char *field, const char *v,
                          long min, long max, long *out)
{
    if (!v)
        return;
    char *end;
    long n = strtol(v, &end, 10);
    char what[96];
    if (*v == 0 || *end) {
        iam_violation(c, field, v, "Member must be a number");
        return;
    }
    if (n < min) {
        snprintf(what, sizeof what, "Member must have value greater than or equal to %ld", min);
        iam_violation(c, field, v, what);
    } else if (n > max) {
        snprintf(what, sizeof what, "Member must have value less than or equal to %ld", max);
        iam_violation(c, field, v, what);
    }
    *out = n;
}

#define PAT_NAME_TEXT "[\\w+=,.@-]+"

static void iam_check_role_name(struct iam_call *c, const char *v)
{
    iam_check_str(c, "roleName", v, true, 1, 64, pat_name, PAT_NAME_TEXT);
}

static void iam_check_policy_name(struct iam_call *c, const char *v)
{
    iam_check_str(c, "policyName", v, true, 1, 128, pat_name, PAT_NAME_TEXT);
}

static void iam_check_doc(struct iam_call *c, const char *field, const char *v)
{
    iam_check_str(c, field, v, true, 1, 131072, pat_policy_doc,
                  "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
}

/* Length without white space: what AWS's policy-size quotas count. */
static long iam_policy_size(const char *doc)
{
    long n = 0;
    for (; *doc; doc++)
        if (!isspace((unsigned char)*doc))
            n++;
    return n;
}

/* The grammar check AWS makes before storing a policy: policy.c's one
 * parser (IAM's grammar and MalformedPolicyDocument messages). */
static int iam_check_policy(struct iam_call *c, const char *doc, bool trust)
{
    char err[512];
    struct policy *p = NULL;
    int rc = policy_parse(doc, strlen(doc), trust ? POLICY_TRUST : POLICY_IDENTITY, &p, err,
                          sizeof err);
    policy_free(p);
    if (rc == HY_EINVAL)
        return iam_fail(c, rc, "MalformedPolicyDocument", "%s", err);
    return rc;
}

/* ---- request parameters --------------------------------------------------- */

/* Splits a form body (or query) into decoded name/value pairs. */
static int iam_parse_form(struct iam_call *c, const char *s, size_t len)
{
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '&')
            cap++;
    if (cap > IAM_MAX_PARAMS)
        return iam_fail(c, HY_EINVAL, "MalformedQueryString",
                        "The request has more than %d parameters.", IAM_MAX_PARAMS);
    c->params = arena_alloc(c->a, cap * sizeof *c->params);
    if (!c->params)
        return HY_ENOMEM;
    const char *end = s + len;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        size_t seg = amp ? (size_t)(amp - s) : (size_t)(end - s);
        if (seg > 0) {
            const char *eq = memchr(s, '=', seg);
            size_t klen = eq ? (size_t)(eq - s) : seg;
            size_t vlen = eq ? seg - klen - 1 : 0;
            char *k = arena_alloc(c->a, klen + 1);
            char *v = arena_alloc(c->a, vlen + 1);
            if (!k || !v)
                return HY_ENOMEM;
            long kn = url_decode(k, s, klen, true);
            long vn = eq ? url_decode(v, eq + 1, vlen, true) : 0;
            if (kn <= 0 || vn < 0 || memchr(k, 0, (size_t)kn) || memchr(v, 0, (size_t)vn))
                return iam_fail(c, HY_EINVAL, "MalformedQueryString",
                                "The request's form encoding is malformed near '%.*s'.",
                                (int)(seg > 64 ? 64 : seg), s);
            k[kn] = 0;
            v[vn] = 0;
            c->params[c->nparams].name = k;
            c->params[c->nparams].value = v;
            c->nparams++;
        }
        s += seg + 1;
    }
    return HY_OK;
}

static const char *iam_param(const struct iam_call *c, const char *name)
{
    for (size_t i = 0; i < c->nparams; i++)
        if (strcmp(c->params[i].name, name) == 0)
            return c->params[i].value;
    return NULL;
}

/* ---- output helpers ------------------------------------------------------- */

/* <tag>escaped value</tag> */
static int iam_put(struct iam_call *c, const char *tag, const char *value)
{
    int rc = buf_printf(&c->out, "<%s>", tag);
    if (!rc)
        rc = buf_xml_escape(&c->out, value);
    if (!rc)
        rc = buf_printf(&c->out, "</%s>", tag);
    return rc;
}

/* <tag>URL-encoded policy</tag>, as AWS returns documents */
static int iam_put_doc(struct iam_call *c, const char *tag, const char *doc)
{
    struct buf enc;
    buf_init(&enc, IAM_MAX_OUT);
    int rc = url_encode(&enc, doc, strlen(doc), false);
    if (!rc)
        rc = iam_put(c, tag, enc.data ? enc.data : "");
    buf_free(&enc);
    return rc;
}

/* AWS's IAM timestamps have whole seconds: 2026-11-25T12:00:00Z */
static void iam_fmt_date(char out[32], int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Markers are base64 of the first key of the next page. */
static int iam_marker_encode(struct iam_call *c, const char *key, const char **out)
{
    size_t n = strlen(key);
    char *m = arena_alloc(c->a, base64_encoded_len(n) + 1);
    if (!m)
        return HY_ENOMEM;
    base64_encode(m, key, n);
    *out = m;
    return HY_OK;
}

static int iam_marker_decode(struct iam_call *c, const char *marker, const char **key)
{
    size_t n = strlen(marker);
    char *k = arena_alloc(c->a, n + 1);
    if (!k)
        return HY_ENOMEM;
    long kn = base64_decode(k, marker, n);
    if (kn <= 0 || memchr(k, 0, (size_t)kn))
        return iam_fail(c, HY_EINVAL, "InvalidInput", "Invalid Marker: %s", marker);
    k[kn] = 0;
    *key = k;
    return HY_OK;
}

/* ---- SQLite ---------------------------------------------------------------- */

static int iam_prepare(struct iam_call *c, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(iam_db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return iam_db_fail(c, "prepare");
    }
    return HY_OK;
}

static int iam_exec(struct iam_call *c, const char *sql)
{
    if (sqlite3_exec(iam_db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return iam_db_fail(c, sql);
    return HY_OK;
}

static void iam_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Column i copied into the arena ("" for NULL only when keep_null false). */
static const char *iam_col(struct iam_call *c, sqlite3_stmt *st, int i, bool keep_null)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t)
        return keep_null ? NULL : "";
    const char *s = arena_strdup(c->a, (const char *)t);
    return s ? s : "";
}

/* Runs a statement that returns no rows; finalizes it. */
static int iam_step_done(struct iam_call *c, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);
    int rc = src == SQLITE_DONE ? HY_OK : iam_db_fail(c, what);
    sqlite3_finalize(st);
    return rc;
}

/* A single integer from a query with one text parameter. */
static int iam_count(struct iam_call *c, const char *sql, const char *arg, long *out)
{
    sqlite3_stmt *st;
    int rc = iam_prepare(c, sql, &st);
    if (rc)
        return rc;
    if (arg)
        iam_bind_text(st, 1, arg);
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = (long)sqlite3_column_int64(st, 0);
    else
        rc = iam_db_fail(c, "count");
    sqlite3_finalize(st);
    return rc;
}

struct iam_role {
    const char *name, *path, *id, *arn, *trust, *description;
    int64_t create_ms;
    int max_session;
};

#define ROLE_COLS "name, path, role_id, arn, create_ms, trust_policy, description, max_session"

static void iam_role_from_row(struct iam_call *c, sqlite3_stmt *st, struct iam_role *r)
{
    r->name = iam_col(c, st, 0, false);
    r->path = iam_col(c, st, 1, false);
    r->id = iam_col(c, st, 2, false);
    r->arn = iam_col(c, st, 3, false);
    r->create_ms = sqlite3_column_int64(st, 4);
    r->trust = iam_col(c, st, 5, false);
    r->description = iam_col(c, st, 6, true);
    r->max_session = sqlite3_column_int(st, 7);
}

/* Loads a role by name (any case); NoSuchEntity in AWS's words if absent. */
static int iam_load_role(struct iam_call *c, const char *name, struct iam_role *r)
{
    sqlite3_stmt *st;
    int rc = iam_prepare(c, "SELECT " ROLE_COLS " FROM roles WHERE name = ?", &st);
    if (rc)
        return rc;
    iam_bind_text(st, 1, name);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        iam_role_from_row(c, st, r);
    else if (src == SQLITE_DONE)
        rc = iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                      "The role with name %s cannot be found.", name);
    else
        rc = iam_db_fail(c, "load role");
    sqlite3_finalize(st);
    return rc;
}

/* Where an entity's tags live: roles and users have a table each. */
struct iam_tag_table {
    const char *table, *col;
};
static const struct iam_tag_table TT_ROLE = {"role_tags", "role_id"};
static const struct iam_tag_table TT_USER = {"user_tags", "user_id"};

static int iam_prepare_fmt(struct iam_call *c, sqlite3_stmt **st, const char *fmt,
                           const struct iam_tag_table *tt)
{
    char *sql = sqlite3_mprintf(fmt, tt->table, tt->col);
    if (!sql)
        return HY_ENOMEM;
    int rc = iam_prepare(c, sql, st);
    sqlite3_free(sql);
    return rc;
}

static int iam_put_tags(struct iam_call *c, const struct iam_tag_table *tt, const char *id,
                        bool always)
{
    sqlite3_stmt *st;
    int rc = iam_prepare_fmt(c, &st, "SELECT key, value FROM %s WHERE %s = ? ORDER BY key", tt);
    if (rc)
        return rc;
    iam_bind_text(st, 1, id);
    bool open = false;
    int src = SQLITE_DONE;
    while (rc == HY_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (!open) {
            rc = buf_puts(&c->out, "<Tags>");
            open = true;
        }
        if (!rc)
            rc = buf_puts(&c->out, "<member>");
        if (!rc)
            rc = iam_put(c, "Key", (const char *)sqlite3_column_text(st, 0));
        if (!rc)
            rc = iam_put(c, "Value", (const char *)sqlite3_column_text(st, 1));
        if (!rc)
            rc = buf_puts(&c->out, "</member>");
    }
    if (rc == HY_OK && src != SQLITE_DONE)
        rc = iam_db_fail(c, "tags");
    if (rc == HY_OK && open)
        rc = buf_puts(&c->out, "</Tags>");
    else if (rc == HY_OK && always)
        rc = buf_puts(&c->out, "<Tags/>");
    sqlite3_finalize(st);
    return rc;
}

/* <Role> or <member> element of a role; GetRole and CreateRole add the
 * tags, GetRole the (never filled) RoleLastUsed. */
static int iam_put_role(struct iam_call *c, const char *elem, const struct iam_role *r,
                        bool tags, bool last_used)
{
    char date[32];
    iam_fmt_date(date, r->create_ms);
    int rc = buf_printf(&c->out, "<%s>", elem);
    if (!rc)
        rc = iam_put(c, "Path", r->path);
    if (!rc)
        rc = iam_put_doc(c, "AssumeRolePolicyDocument", r->trust);
    if (!rc)
        rc = buf_printf(&c->out, "<MaxSessionDuration>%d</MaxSessionDuration>",
                        r->max_session);
    if (!rc)
        rc = iam_put(c, "RoleId", r->id);
    if (!rc)
        rc = iam_put(c, "RoleName", r->name);
    if (!rc && r->description)
        rc = iam_put(c, "Description", r->description);
    if (!rc)
        rc = iam_put(c, "Arn", r->arn);
    if (!rc)
        rc = iam_put(c, "CreateDate", date);
    if (!rc && tags)
        rc = iam_put_tags(c, &TT_ROLE, r->id, false);
    if (!rc && last_used)
        rc = buf_puts(&c->out, "<RoleLastUsed/>");
    if (!rc)
        rc = buf_printf(&c->out, "</%s>", elem);
    return rc;
}

/* Common list parameters: Marker (decoded to the first key) and MaxItems. */
static void iam_check_list_params(struct iam_call *c, const char **marker, long *max_items)
{
    *marker = iam_param(c, "Marker");
    *max_items = IAM_LIST_DEFAULT;
    iam_check_str(c, "marker", *marker, false, 1, 320, pat_marker, "[\\u0020-\\u00FF]+");
    iam_check_int(c, "maxItems", iam_param(c, "MaxItems"), 1, 1000, max_items);
}

/* Closes a page: IsTruncated, and Marker when there is a next row. */
static int iam_put_page_end(struct iam_call *c, const char *next_key)
{
    if (!next_key)
        return buf_puts(&c->out, "<IsTruncated>false</IsTruncated>");
    const char *m;
    int rc = iam_marker_encode(c, next_key, &m);
    if (!rc)
        rc = buf_puts(&c->out, "<IsTruncated>true</IsTruncated>");
    if (!rc)
        rc = iam_put(c, "Marker", m);
    return rc;
}

/* ---- tags ------------------------------------------------------------------- */

struct iam_tag {
    const char *key, *value;
};

/* Tags.member.N.Key / .Value, N = 1, 2, ... */
static int iam_parse_tags(struct iam_call *c, struct iam_tag **out, size_t *nout)
{
    size_t n = 0;
    while (n <= IAM_MAX_TAGS) {
        char kname[48], vname[48];
        snprintf(kname, sizeof kname, "Tags.member.%zu.Key", n + 1);
        snprintf(vname, sizeof vname, "Tags.member.%zu.Value", n + 1);
        if (!iam_param(c, kname) && !iam_param(c, vname))
            break;
        n++;
    }
    if (n > IAM_MAX_TAGS) {
        iam_violation(c, "tags", "[...]", "Member must have length less than or equal to 50");
        *out = NULL;
        *nout = 0;
        return HY_OK;
    }
    struct iam_tag *tags = arena_alloc(c->a, (n + 1) * sizeof *tags);
    if (!tags)
        return HY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char kname[48], vname[48], field[48];
        snprintf(kname, sizeof kname, "Tags.member.%zu.Key", i + 1);
        snprintf(vname, sizeof vname, "Tags.member.%zu.Value", i + 1);
        tags[i].key = iam_param(c, kname);
        tags[i].value = iam_param(c, vname);
        snprintf(field, sizeof field, "tags.%zu.member.key", i + 1);
        iam_check_str(c, field, tags[i].key, true, 1, 128, pat_tag,
                      "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+");
        snprintf(field, sizeof field, "tags.%zu.member.value", i + 1);
        iam_check_str(c, field, tags[i].value, true, 0, 256, pat_tag,
                      "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*");
    }
    *out = tags;
    *nout = n;
    return HY_OK;
}

/* After validation: AWS refuses two keys that differ only in case. */
static int iam_check_tag_dups(struct iam_call *c, const struct iam_tag *tags, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcasecmp(tags[i].key, tags[j].key) == 0)
                return iam_fail(c, HY_EINVAL, "InvalidInput",
                                "Duplicate tag keys found. Please note that Tag keys "
                                "are case insensitive.");
    return HY_OK;
}

static int iam_store_tags(struct iam_call *c, const struct iam_tag_table *tt, const char *id,
                          const struct iam_tag *tags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st;
        int rc = iam_prepare_fmt(c, &st, "INSERT OR REPLACE INTO %s(%s, key, value) "
                                         "VALUES (?, ?, ?)", tt);
        if (rc)
            return rc;
        iam_bind_text(st, 1, id);
        iam_bind_text(st, 2, tags[i].key);
        iam_bind_text(st, 3, tags[i].value);
        if ((rc = iam_step_done(c, st, "store tag")))
            return rc;
    }
    return HY_OK;
}

/* UntagRole / UntagUser: TagKeys.member.N */
static int iam_untag_keys(struct iam_call *c, const struct iam_tag_table *tt, const char *id)
{
    for (int i = 1; i <= IAM_MAX_TAGS; i++) {
        char pname[32];
        snprintf(pname, sizeof pname, "TagKeys.member.%d", i);
        const char *key = iam_param(c, pname);
        if (!key)
            break;
        sqlite3_stmt *st;
        int rc = iam_prepare_fmt(c, &st, "DELETE FROM %s WHERE %s = ? AND key = ?", tt);
        if (rc)
            return rc;
        iam_bind_text(st, 1, id);
        iam_bind_text(st, 2, key);
        if ((rc = iam_step_done(c, st, "untag")))
            return rc;
    }
    return HY_OK;
}

/* ---- IAM actions ------------------------------------------------------------- */

/* RoleId: AROA + 17 of [A-Z0-9], like AWS's unique ids. */
static int iam_new_role_id(char out[22])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    memcpy(out, "AROA", 4);
    int i = 4;
    while (i < 21) {
        unsigned char rnd[32];
        if (hy_random(rnd, sizeof rnd) != HY_OK)
            return HY_EIO;
        for (size_t j = 0; j < sizeof rnd && i < 21; j++)
            if (rnd[j] < 252) /* 252 = 7 * 36: no modulo bias */
                out[i++] = alphabet[rnd[j] % 36];
    }
    out[21] = 0;
    return HY_OK;
}

static int iam_create_role(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *path = iam_param(c, "Path");
    const char *trust = iam_param(c, "AssumeRolePolicyDocument");
    const char *desc = iam_param(c, "Description");
    long max_session = 3600;
    struct iam_tag *tags;
    size_t ntags;
    int rc;

    iam_check_role_name(c, name);
    iam_check_str(c, "path", path, false, 1, 512, pat_path,
                  "(\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)");
    iam_check_doc(c, "assumeRolePolicyDocument", trust);
    iam_check_str(c, "description", desc, false, 0, 1000, pat_description,
                  "[\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]*");
    iam_check_int(c, "maxSessionDuration", iam_param(c, "MaxSessionDuration"), 3600, 43200,
                  &max_session);
    if ((rc = iam_parse_tags(c, &tags, &ntags)) || (rc = iam_validation_result(c)))
        return rc;
    if (!path)
        path = "/";
    if ((rc = iam_check_tag_dups(c, tags, ntags)) || (rc = iam_check_policy(c, trust, true)))
        return rc;
    if (iam_policy_size(trust) > IAM_MAX_TRUST_SIZE)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "Cannot exceed quota for ACLSizePerRole: %d", IAM_MAX_TRUST_SIZE);

    long nroles, same;
    if ((rc = iam_count(c, "SELECT count(*) FROM roles WHERE name = ?", name, &same)))
        return rc;
    if (same)
        return iam_fail(c, HY_EEXIST, "EntityAlreadyExists",
                        "Role with name %s already exists.", name);
    if ((rc = iam_count(c, "SELECT count(*) FROM roles", NULL, &nroles)))
        return rc;
    if (nroles >= IAM_MAX_ROLES)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "Cannot exceed quota for RolesPerAccount: %d", IAM_MAX_ROLES);

    struct iam_role r = {0};
    char id[22];
    if ((rc = iam_new_role_id(id)))
        return iam_fail(c, rc, NULL, "no randomness for a role id");
    r.name = name;
    r.path = path;
    r.id = id;
    /* path "/" -> role/NAME; "/svc/" -> role/svc/NAME */
    r.arn = arena_printf(c->a, "arn:aws:iam::%s:role%s%s", HY_ACCOUNT_ID, path, name);
    r.trust = trust;
    r.description = desc;
    r.max_session = (int)max_session;
    r.create_ms = hy_now_ms() / 1000 * 1000;
    if (!r.arn)
        return HY_ENOMEM;

    sqlite3_stmt *st;
    if ((rc = iam_exec(c, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = iam_prepare(c, "INSERT INTO roles(" ROLE_COLS ") VALUES (?,?,?,?,?,?,?,?)",
                          &st)))
        goto out_rollback;
    iam_bind_text(st, 1, r.name);
    iam_bind_text(st, 2, r.path);
    iam_bind_text(st, 3, r.id);
    iam_bind_text(st, 4, r.arn);
    sqlite3_bind_int64(st, 5, r.create_ms);
    iam_bind_text(st, 6, r.trust);
    iam_bind_text(st, 7, r.description);
    sqlite3_bind_int(st, 8, r.max_session);
    if ((rc = iam_step_done(c, st, "insert role")) ||
        (rc = iam_store_tags(c, &TT_ROLE, r.id, tags, ntags)) ||
        (rc = iam_exec(c, "COMMIT")))
        goto out_rollback;
    log_info("iam", "created role %s", r.arn);
    return iam_put_role(c, "Role", &r, true, false);

out_rollback:
    sqlite3_exec(iam_db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int iam_get_role(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    struct iam_role r;
    int rc;
    iam_check_role_name(c, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_role(c, name, &r)))
        return rc;
    return iam_put_role(c, "Role", &r, true, true);
}

static int iam_list_roles(struct iam_call *c)
{
    const char *prefix = iam_param(c, "PathPrefix");
    const char *marker, *from = NULL, *next = NULL;
    long max_items;
    int rc;

    iam_check_str(c, "pathPrefix", prefix, false, 1, 512, pat_path_prefix,
                  "\\u002F[\\u0021-\\u007F]*");
    iam_check_list_params(c, &marker, &max_items);
    if ((rc = iam_validation_result(c)))
        return rc;
    if (marker && (rc = iam_marker_decode(c, marker, &from)))
        return rc;
    if (!prefix)
        prefix = "/";

    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT " ROLE_COLS " FROM roles "
                             "WHERE substr(path, 1, length(?1)) = ?1 "
                             "AND (?2 IS NULL OR name >= ?2) ORDER BY name LIMIT ?3",
                          &st)))
        return rc;
    iam_bind_text(st, 1, prefix);
    iam_bind_text(st, 2, from);
    sqlite3_bind_int64(st, 3, max_items + 1);
    rc = buf_puts(&c->out, "<Roles>");
    long n = 0;
    int src = SQLITE_DONE;
    while (rc == HY_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        struct iam_role r;
        iam_role_from_row(c, st, &r);
        if (n++ == max_items) {
            next = r.name;
            break;
        }
        rc = iam_put_role(c, "member", &r, false, false);
    }
    if (rc == HY_OK && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = iam_db_fail(c, "list roles");
    sqlite3_finalize(st);
    if (!rc)
        rc = buf_puts(&c->out, "</Roles>");
    if (!rc)
        rc = iam_put_page_end(c, next);
    return rc;
}

static int iam_delete_role(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    struct iam_role r;
    long ninline, nattached;
    int rc;

    iam_check_role_name(c, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_role(c, name, &r)))
        return rc;
    if ((rc = iam_count(c, "SELECT count(*) FROM role_policies WHERE role_id = ?", r.id,
                        &ninline)) ||
        (rc = iam_count(c, "SELECT count(*) FROM role_attached WHERE role_id = ?", r.id,
                        &nattached)))
        return rc;
    if (ninline)
        return iam_fail(c, HY_ESTATE, "DeleteConflict",
                        "Cannot delete entity, must delete policies first.");
    if (nattached)
        return iam_fail(c, HY_ESTATE, "DeleteConflict",
                        "Cannot delete entity, must detach all policies first.");

    sqlite3_stmt *st;
    if ((rc = iam_exec(c, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = iam_prepare(c, "DELETE FROM role_tags WHERE role_id = ?", &st)))
        goto out_rollback;
    iam_bind_text(st, 1, r.id);
    if ((rc = iam_step_done(c, st, "delete tags")))
        goto out_rollback;
    if ((rc = iam_prepare(c, "DELETE FROM roles WHERE role_id = ?", &st)))
        goto out_rollback;
    iam_bind_text(st, 1, r.id);
    if ((rc = iam_step_done(c, st, "delete role")) || (rc = iam_exec(c, "COMMIT")))
        goto out_rollback;
    log_info("iam", "deleted role %s", r.arn);
    return HY_OK;

out_rollback:
    sqlite3_exec(iam_db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int iam_update_assume_role_policy(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *doc = iam_param(c, "PolicyDocument");
    struct iam_role r;
    int rc;

    iam_check_role_name(c, name);
    iam_check_doc(c, "policyDocument", doc);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_role(c, name, &r)) ||
        (rc = iam_check_policy(c, doc, true)))
        return rc;
    if (iam_policy_size(doc) > IAM_MAX_TRUST_SIZE)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "Cannot exceed quota for ACLSizePerRole: %d", IAM_MAX_TRUST_SIZE);
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "UPDATE roles SET trust_policy = ? WHERE role_id = ?", &st)))
        return rc;
    iam_bind_text(st, 1, doc);
    iam_bind_text(st, 2, r.id);
    return iam_step_done(c, st, "update trust policy");
}

static int iam_update_role(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *desc = iam_param(c, "Description");
    const char *max = iam_param(c, "MaxSessionDuration");
    long max_session = 0;
    struct iam_role r;
    int rc;

    iam_check_role_name(c, name);
    iam_check_str(c, "description", desc, false, 0, 1000, pat_description,
                  "[\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]*");
    iam_check_int(c, "maxSessionDuration", max, 3600, 43200, &max_session);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_role(c, name, &r)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "UPDATE roles SET description = coalesce(?, description), "
                             "max_session = coalesce(?, max_session) WHERE role_id = ?",
                          &st)))
        return rc;
    iam_bind_text(st, 1, desc);
    if (max)
        sqlite3_bind_int64(st, 2, max_session);
    else
        sqlite3_bind_null(st, 2);
    iam_bind_text(st, 3, r.id);
    return iam_step_done(c, st, "update role");
}

static int iam_put_role_policy(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *pname = iam_param(c, "PolicyName");
    const char *doc = iam_param(c, "PolicyDocument");
    struct iam_role r;
    long others = 0;
    int rc;

    iam_check_role_name(c, name);
    iam_check_policy_name(c, pname);
    iam_check_doc(c, "policyDocument", doc);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_role(c, name, &r)) ||
        (rc = iam_check_policy(c, doc, false)))
        return rc;

    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT coalesce(sum(size), 0) FROM role_policies "
                             "WHERE role_id = ? AND name != ?", &st)))
        return rc;
    iam_bind_text(st, 1, r.id);
    iam_bind_text(st, 2, pname);
    if (sqlite3_step(st) == SQLITE_ROW)
        others = (long)sqlite3_column_int64(st, 0);
    else
        rc = iam_db_fail(c, "policy sizes");
    sqlite3_finalize(st);
    if (rc)
        return rc;
    long size = iam_policy_size(doc);
    if (others + size > IAM_MAX_INLINE_SIZE)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "Maximum policy size of %d bytes exceeded for role %s",
                        IAM_MAX_INLINE_SIZE, r.name);

    if ((rc = iam_prepare(c, "INSERT OR REPLACE INTO role_policies(role_id, name, document, size) "
                             "VALUES (?, ?, ?, ?)", &st)))
        return rc;
    iam_bind_text(st, 1, r.id);
    iam_bind_text(st, 2, pname);
    iam_bind_text(st, 3, doc);
    sqlite3_bind_int64(st, 4, size);
    return iam_step_done(c, st, "put role policy");
}

static int iam_get_role_policy(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *pname = iam_param(c, "PolicyName");
    struct iam_role r;
    const char *doc = NULL;
    int rc;

    iam_check_role_name(c, name);
    iam_check_policy_name(c, pname);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_role(c, name, &r)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT document FROM role_policies WHERE role_id = ? AND name = ?",
                          &st)))
        return rc;
    iam_bind_text(st, 1, r.id);
    iam_bind_text(st, 2, pname);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        doc = iam_col(c, st, 0, false);
    else if (src == SQLITE_DONE)
        rc = iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                      "The role policy with name %s cannot be found.", pname);
    else
        rc = iam_db_fail(c, "get role policy");
    sqlite3_finalize(st);
    if (rc)
        return rc;
    if ((rc = iam_put(c, "RoleName", r.name)) || (rc = iam_put(c, "PolicyName", pname)))
        return rc;
    return iam_put_doc(c, "PolicyDocument", doc);
}

static int iam_delete_role_policy(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *pname = iam_param(c, "PolicyName");
    struct iam_role r;
    int rc;

    iam_check_role_name(c, name);
    iam_check_policy_name(c, pname);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_role(c, name, &r)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "DELETE FROM role_policies WHERE role_id = ? AND name = ?", &st)))
        return rc;
    iam_bind_text(st, 1, r.id);
    iam_bind_text(st, 2, pname);
    if ((rc = iam_step_done(c, st, "delete role policy")))
        return rc;
    if (sqlite3_changes(iam_db) == 0)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "The role policy with name %s cannot be found.", pname);
    return HY_OK;
}

static int iam_list_role_policies(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *marker, *from = NULL, *next = NULL;
    long max_items;
    struct iam_role r;
    int rc;

    iam_check_role_name(c, name);
    iam_check_list_params(c, &marker, &max_items);
    if ((rc = iam_validation_result(c)) ||
        (marker && (rc = iam_marker_decode(c, marker, &from))) ||
        (rc = iam_load_role(c, name, &r)))
        return rc;

    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT name FROM role_policies WHERE role_id = ?1 "
                             "AND (?2 IS NULL OR name >= ?2) ORDER BY name LIMIT ?3", &st)))
        return rc;
    iam_bind_text(st, 1, r.id);
    iam_bind_text(st, 2, from);
    sqlite3_bind_int64(st, 3, max_items + 1);
    rc = buf_puts(&c->out, "<PolicyNames>");
    long n = 0;
    int src = SQLITE_DONE;
    while (rc == HY_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *pname = iam_col(c, st, 0, false);
        if (n++ == max_items) {
            next = pname;
            break;
        }
        rc = iam_put(c, "member", pname);
    }
    if (rc == HY_OK && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = iam_db_fail(c, "list role policies");
    sqlite3_finalize(st);
    if (!rc)
        rc = buf_puts(&c->out, "</PolicyNames>");
    if (!rc)
        rc = iam_put_page_end(c, next);
    return rc;
}

/* arn:aws:iam::{aws|ACCOUNT}:policy{/path/}NAME; sets the path and name. */
static int iam_parse_policy_arn(struct iam_call *c, const char *arn, const char **path,
                                const char **pname)
{
    static const char head[] = "arn:aws:iam::";
    const char *p = arn;
    if (strncmp(p, head, sizeof head - 1) != 0)
        goto out_invalid;
    p += sizeof head - 1;
    const char *colon = strchr(p, ':');
    if (!colon || strncmp(colon, ":policy/", 8) != 0)
        goto out_invalid;
    size_t acct_len = (size_t)(colon - p);
    bool aws = acct_len == 3 && strncmp(p, "aws", 3) == 0;
    bool ours = acct_len == strlen(HY_ACCOUNT_ID) && strncmp(p, HY_ACCOUNT_ID, acct_len) == 0;
    if (!aws && !ours) {
        for (size_t i = 0; i < acct_len; i++)
            if (!isdigit((unsigned char)p[i]))
                goto out_invalid;
        if (acct_len != 12)
            goto out_invalid;
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "Policy %s does not exist or is not attachable.", arn);
    }
    const char *rest = colon + strlen(":policy"); /* "/path/NAME" */
    const char *last = strrchr(rest, '/');
    const char *nm = last + 1;
    if (!pat_name(nm) || strlen(nm) > 128)
        goto out_invalid;
    char *pp = arena_strndup(c->a, rest, (size_t)(nm - rest));
    if (!pp)
        return HY_ENOMEM;
    if (!pat_policy_path(pp))
        goto out_invalid;
    *path = pp;
    *pname = nm;
    return HY_OK;

out_invalid:
    return iam_fail(c, HY_EINVAL, "InvalidInput", "ARN %s is not valid.", arn);
}

static int iam_attach_role_policy(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *arn = iam_param(c, "PolicyArn");
    const char *ppath, *pname;
    struct iam_role r;
    long attached = 0, already = 0;
    int rc;

    iam_check_role_name(c, name);
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_parse_policy_arn(c, arn, &ppath, &pname)) ||
        (rc = iam_load_role(c, name, &r)))
        return rc;

    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT count(*), coalesce(sum(arn = ?2), 0) FROM role_attached "
                             "WHERE role_id = ?1", &st)))
        return rc;
    iam_bind_text(st, 1, r.id);
    iam_bind_text(st, 2, arn);
    if (sqlite3_step(st) == SQLITE_ROW) {
        attached = (long)sqlite3_column_int64(st, 0);
        already = (long)sqlite3_column_int64(st, 1);
    } else {
        rc = iam_db_fail(c, "count attached");
    }
    sqlite3_finalize(st);
    if (rc)
        return rc;
    if (already)
        return HY_OK; /* attaching twice is not an error in AWS */
    if ((rc = iam_policy_exists(c, arn)))
        return rc;
    if (attached >= IAM_MAX_ATTACHED)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "Cannot exceed quota for PoliciesPerRole: %d", IAM_MAX_ATTACHED);
    if ((rc = iam_prepare(c, "INSERT INTO role_attached(role_id, arn, name, path) "
                             "VALUES (?, ?, ?, ?)", &st)))
        return rc;
    iam_bind_text(st, 1, r.id);
    iam_bind_text(st, 2, arn);
    iam_bind_text(st, 3, pname);
    iam_bind_text(st, 4, ppath);
    return iam_step_done(c, st, "attach");
}

static int iam_detach_role_policy(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *arn = iam_param(c, "PolicyArn");
    const char *ppath, *pname;
    struct iam_role r;
    int rc;

    iam_check_role_name(c, name);
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_parse_policy_arn(c, arn, &ppath, &pname)) ||
        (rc = iam_load_role(c, name, &r)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "DELETE FROM role_attached WHERE role_id = ? AND arn = ?", &st)))
        return rc;
    iam_bind_text(st, 1, r.id);
    iam_bind_text(st, 2, arn);
    if ((rc = iam_step_done(c, st, "detach")))
        return rc;
    if (sqlite3_changes(iam_db) == 0)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity", "Policy %s was not found.", arn);
    return HY_OK;
}

static int iam_list_attached_role_policies(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    const char *prefix = iam_param(c, "PathPrefix");
    const char *marker, *from = NULL, *next = NULL;
    long max_items;
    struct iam_role r;
    int rc;

    iam_check_role_name(c, name);
    iam_check_str(c, "pathPrefix", prefix, false, 1, 512, pat_policy_path,
                  "((/[A-Za-z0-9\\.,\\+@=_-]+)*)/");
    iam_check_list_params(c, &marker, &max_items);
    if ((rc = iam_validation_result(c)) ||
        (marker && (rc = iam_marker_decode(c, marker, &from))) ||
        (rc = iam_load_role(c, name, &r)))
        return rc;
    if (!prefix)
        prefix = "/";

    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT arn, name FROM role_attached WHERE role_id = ?1 "
                             "AND substr(path, 1, length(?2)) = ?2 "
                             "AND (?3 IS NULL OR arn >= ?3) ORDER BY arn LIMIT ?4", &st)))
        return rc;
    iam_bind_text(st, 1, r.id);
    iam_bind_text(st, 2, prefix);
    iam_bind_text(st, 3, from);
    sqlite3_bind_int64(st, 4, max_items + 1);
    rc = buf_puts(&c->out, "<AttachedPolicies>");
    long n = 0;
    int src = SQLITE_DONE;
    while (rc == HY_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *parn = iam_col(c, st, 0, false);
        if (n++ == max_items) {
            next = parn;
            break;
        }
        rc = buf_puts(&c->out, "<member>");
        if (!rc)
            rc = iam_put(c, "PolicyName", (const char *)sqlite3_column_text(st, 1));
        if (!rc)
            rc = iam_put(c, "PolicyArn", parn);
        if (!rc)
            rc = buf_puts(&c->out, "</member>");
    }
    if (rc == HY_OK && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = iam_db_fail(c, "list attached");
    sqlite3_finalize(st);
    if (!rc)
        rc = buf_puts(&c->out, "</AttachedPolicies>");
    if (!rc)
        rc = iam_put_page_end(c, next);
    return rc;
}

static int iam_tag_role(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    struct iam_tag *tags;
    size_t ntags;
    struct iam_role r;
    long existing;
    int rc;

    iam_check_role_name(c, name);
    if ((rc = iam_parse_tags(c, &tags, &ntags)) || (rc = iam_validation_result(c)) ||
        (rc = iam_check_tag_dups(c, tags, ntags)) || (rc = iam_load_role(c, name, &r)))
        return rc;
    /* the quota counts tags after the merge */
    if ((rc = iam_count(c, "SELECT count(*) FROM role_tags WHERE role_id = ?", r.id,
                        &existing)))
        return rc;
    long replaced = 0;
    for (size_t i = 0; i < ntags; i++) {
        sqlite3_stmt *st;
        if ((rc = iam_prepare(c, "SELECT count(*) FROM role_tags WHERE role_id = ? AND key = ?",
                              &st)))
            return rc;
        iam_bind_text(st, 1, r.id);
        iam_bind_text(st, 2, tags[i].key);
        if (sqlite3_step(st) == SQLITE_ROW)
            replaced += sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (existing - replaced + (long)ntags > IAM_MAX_TAGS)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "The number of tags has reached the maximum limit.");
    if ((rc = iam_exec(c, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = iam_store_tags(c, &TT_ROLE, r.id, tags, ntags)) || (rc = iam_exec(c, "COMMIT"))) {
        sqlite3_exec(iam_db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return HY_OK;
}

static int iam_untag_role(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    struct iam_role r;
    int rc;

    iam_check_role_name(c, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_role(c, name, &r)))
        return rc;
    return iam_untag_keys(c, &TT_ROLE, r.id);
}

static int iam_list_role_tags(struct iam_call *c)
{
    const char *name = iam_param(c, "RoleName");
    struct iam_role r;
    int rc;

    iam_check_role_name(c, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_role(c, name, &r)))
        return rc;
    /* at most 50 tags: always one page */
    if ((rc = iam_put_tags(c, &TT_ROLE, r.id, true)))
        return rc;
    return buf_puts(&c->out, "<IsTruncated>false</IsTruncated>");
}

/* ---- AWS managed policies: their real ARNs and documents ------------------------ */

struct aws_policy {
    const char *name, *path, *id, *version, *doc;
    int64_t create_ms;
};

/* The documents as AWS's managed-policy reference gives them (default
 * version). Read-only: they cannot be changed or deleted, like AWS's. */
static const struct aws_policy aws_policies[] = {
    {"AdministratorAccess", "/", "ANPAIWMBCKSKIEE64ZLYK", "v1",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\","
     "\"Resource\":\"*\"}]}", 1423243200000},
    {"AmazonS3FullAccess", "/", "ANPAIFIR6V6BVTRAHWINE", "v2",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:*\","
     "\"s3-object-lambda:*\"],\"Resource\":\"*\"}]}", 1423243200000},
    {"AmazonS3ReadOnlyAccess", "/", "ANPAIZTJ4DXE7G6AGAE6M", "v3",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:Get*\","
     "\"s3:List*\",\"s3:Describe*\",\"s3-object-lambda:Get*\",\"s3-object-lambda:List*\"],"
     "\"Resource\":\"*\"}]}", 1423243200000},
    {"AmazonKinesisFirehoseFullAccess", "/", "ANPAJMZQMTZ7FRBFHHAHI", "v1",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Action\":[\"firehose:*\"],\"Effect\":"
     "\"Allow\",\"Resource\":\"*\"}]}", 1444243500000},
    {"AmazonKinesisFirehoseReadOnlyAccess", "/", "ANPAJ36NT645INW4K24W6", "v1",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Action\":[\"firehose:Describe*\","
     "\"firehose:List*\"],\"Effect\":\"Allow\",\"Resource\":\"*\"}]}", 1444243380000},
    {"IAMFullAccess", "/", "ANPAI7XKCFMBPM3QQRRVQ", "v2",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"iam:*\","
     "\"organizations:DescribeAccount\",\"organizations:DescribeOrganization\","
     "\"organizations:DescribeOrganizationalUnit\",\"organizations:DescribePolicy\","
     "\"organizations:ListChildren\",\"organizations:ListParents\","
     "\"organizations:ListPoliciesForTarget\",\"organizations:ListRoots\","
     "\"organizations:ListPolicies\",\"organizations:ListTargetsForPolicy\"],"
     "\"Resource\":\"*\"}]}", 1423243200000},
    {"AWSLambdaRole", "/service-role/", "ANPAJX4DPCRGTC4NFDUXI", "v1",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
     "[\"lambda:InvokeFunction\"],\"Resource\":[\"*\"]}]}", 1423243200000},
};
#define N_AWS_POLICIES (sizeof aws_policies / sizeof aws_policies[0])

static const struct aws_policy *aws_policy_by_arn(const char *arn)
{
    static const char head[] = "arn:aws:iam::aws:policy";
    if (!arn || strncmp(arn, head, sizeof head - 1) != 0)
        return NULL;
    const char *rest = arn + sizeof head - 1;
    for (size_t i = 0; i < N_AWS_POLICIES; i++) {
        size_t pl = strlen(aws_policies[i].path);
        if (strncmp(rest, aws_policies[i].path, pl) == 0 &&
            strcmp(rest + pl, aws_policies[i].name) == 0)
            return &aws_policies[i];
    }
    return NULL;
}

/* The generation counter: every change to IAM bumps it; caches compare. */
static uint64_t iam_gen = 1;

uint64_t iam_generation(void)
{
    return __atomic_load_n(&iam_gen, __ATOMIC_ACQUIRE);
}

static void iam_changed(void)
{
    __atomic_add_fetch(&iam_gen, 1, __ATOMIC_ACQ_REL);
}

/* ---- unique ids --------------------------------------------------------------- */

static int iam_new_id(const char *prefix, char *out, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t p = strlen(prefix);
    memcpy(out, prefix, p);
    while (p < len - 1) {
        unsigned char rnd[32];
        if (hy_random(rnd, sizeof rnd) != HY_OK)
            return HY_EIO;
        for (size_t j = 0; j < sizeof rnd && p < len - 1; j++)
            if (rnd[j] < 252)
                out[p++] = alphabet[rnd[j] % 36];
    }
    out[len - 1] = 0;
    return HY_OK;
}

/* ---- users and groups: one set of functions for both --------------------------- */

struct iam_kind {
    const char *kind;        /* "user" / "group": entity_* tables' kind column */
    const char *table;       /* users / groups */
    const char *id_col;      /* user_id / group_id */
    const char *param;       /* UserName / GroupName */
    const char *field;       /* userName / groupName (validation messages) */
    const char *Label;       /* User / Group: XML element and messages */
    const char *id_prefix;   /* AIDA / AGPA */
    long max_name;           /* 64 / 128 */
};
static const struct iam_kind K_USER = {"user", "users", "user_id", "UserName", "userName",
                                       "User", "AIDA", 64};
static const struct iam_kind K_GROUP = {"group", "groups", "group_id", "GroupName",
                                        "groupName", "Group", "AGPA", 128};

struct iam_entity {
    const char *name, *path, *id, *arn;
    int64_t create_ms;
};

static int iam_load_entity(struct iam_call *c, const struct iam_kind *k, const char *name,
                           struct iam_entity *e)
{
    sqlite3_stmt *st;
    char *sql = sqlite3_mprintf("SELECT name, path, %s, arn, create_ms FROM %s WHERE name = ?",
                                k->id_col, k->table);
    if (!sql)
        return HY_ENOMEM;
    int rc = iam_prepare(c, sql, &st);
    sqlite3_free(sql);
    if (rc)
        return rc;
    iam_bind_text(st, 1, name);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        e->name = iam_col(c, st, 0, false);
        e->path = iam_col(c, st, 1, false);
        e->id = iam_col(c, st, 2, false);
        e->arn = iam_col(c, st, 3, false);
        e->create_ms = sqlite3_column_int64(st, 4);
    } else if (src == SQLITE_DONE) {
        rc = iam_fail(c, HY_ENOTFOUND, "NoSuchEntity", "The %s with name %s cannot be found.",
                      k->kind, name);
    } else {
        rc = iam_db_fail(c, "load entity");
    }
    sqlite3_finalize(st);
    return rc;
}

static void iam_check_entity_name(struct iam_call *c, const struct iam_kind *k, const char *v)
{
    iam_check_str(c, k->field, v, true, 1, k->max_name, pat_name, PAT_NAME_TEXT);
}

static int iam_put_entity(struct iam_call *c, const char *elem, const struct iam_kind *k,
                          const struct iam_entity *e)
{
    char date[32];
    iam_fmt_date(date, e->create_ms);
    int rc = buf_printf(&c->out, "<%s>", elem);
    char idtag[32];
    snprintf(idtag, sizeof idtag, "%sId", k->Label);
    char nametag[32];
    snprintf(nametag, sizeof nametag, "%sName", k->Label);
    if (!rc)
        rc = iam_put(c, "Path", e->path);
    if (!rc)
        rc = iam_put(c, nametag, e->name);
    if (!rc)
        rc = iam_put(c, idtag, e->id);
    if (!rc)
        rc = iam_put(c, "Arn", e->arn);
    if (!rc)
        rc = iam_put(c, "CreateDate", date);
    if (!rc)
        rc = buf_printf(&c->out, "</%s>", elem);
    return rc;
}

static int iam_create_entity(struct iam_call *c, const struct iam_kind *k)
{
    const char *name = iam_param(c, k->param);
    const char *path = iam_param(c, "Path");
    struct iam_tag *tags = NULL;
    size_t ntags = 0;
    int rc;

    iam_check_entity_name(c, k, name);
    iam_check_str(c, "path", path, false, 1, 512, pat_path,
                  "(\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)");
    if (k == &K_USER && (rc = iam_parse_tags(c, &tags, &ntags)))
        return rc;
    if ((rc = iam_validation_result(c)) || (rc = iam_check_tag_dups(c, tags, ntags)))
        return rc;
    if (!path)
        path = "/";
    char *sql = sqlite3_mprintf("SELECT count(*) FROM %s WHERE name = ?", k->table);
    long same = 0;
    if (!sql)
        return HY_ENOMEM;
    rc = iam_count(c, sql, name, &same);
    sqlite3_free(sql);
    if (rc)
        return rc;
    if (same)
        return iam_fail(c, HY_EEXIST, "EntityAlreadyExists", "%s with name %s already exists.",
                        k->Label, name);
    char id[22];
    if ((rc = iam_new_id(k->id_prefix, id, sizeof id)))
        return iam_fail(c, rc, NULL, "no randomness for an id");
    struct iam_entity e = {name, path, id, NULL, hy_now_ms() / 1000 * 1000};
    e.arn = arena_printf(c->a, "arn:aws:iam::%s:%s%s%s", HY_ACCOUNT_ID, k->kind, path, name);
    if (!e.arn)
        return HY_ENOMEM;
    if ((rc = iam_exec(c, "BEGIN IMMEDIATE")))
        return rc;
    sqlite3_stmt *st;
    sql = sqlite3_mprintf("INSERT INTO %s(name, path, %s, arn, create_ms) VALUES (?,?,?,?,?)",
                          k->table, k->id_col);
    if (!sql) {
        rc = HY_ENOMEM;
        goto out_rollback;
    }
    rc = iam_prepare(c, sql, &st);
    sqlite3_free(sql);
    if (rc)
        goto out_rollback;
    iam_bind_text(st, 1, e.name);
    iam_bind_text(st, 2, e.path);
    iam_bind_text(st, 3, e.id);
    iam_bind_text(st, 4, e.arn);
    sqlite3_bind_int64(st, 5, e.create_ms);
    if ((rc = iam_step_done(c, st, "insert entity")) ||
        (rc = iam_store_tags(c, &TT_USER, e.id, tags, ntags)) || (rc = iam_exec(c, "COMMIT")))
        goto out_rollback;
    log_info("iam", "created %s %s", k->kind, e.arn);
    return iam_put_entity(c, k->Label, k, &e);

out_rollback:
    sqlite3_exec(iam_db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int iam_create_user(struct iam_call *c)
{
    return iam_create_entity(c, &K_USER);
}

static int iam_create_group(struct iam_call *c)
{
    return iam_create_entity(c, &K_GROUP);
}

/* GetUser without UserName: the caller itself (a user's own key). */
static int iam_get_user(struct iam_call *c)
{
    const char *name = iam_param(c, "UserName");
    const struct iam_principal *p = router_principal(c->req);
    struct iam_entity e;
    int rc;
    if (!name && p && p->kind == IAM_USER)
        name = p->name;
    if (!name) {
        /* the root: AWS answers with the account's own "user" */
        char date[32];
        iam_fmt_date(date, 0);
        return buf_printf(&c->out, "<User><UserId>%s</UserId><Arn>arn:aws:iam::%s:root</Arn>"
                                   "<CreateDate>%s</CreateDate></User>",
                          HY_ACCOUNT_ID, HY_ACCOUNT_ID, date);
    }
    iam_check_entity_name(c, &K_USER, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, &K_USER, name, &e)))
        return rc;
    return iam_put_entity(c, "User", &K_USER, &e);
}

static int iam_list_entities(struct iam_call *c, const struct iam_kind *k, const char *elem)
{
    const char *prefix = iam_param(c, "PathPrefix");
    const char *marker, *from = NULL, *next = NULL;
    long max_items;
    int rc;
    iam_check_str(c, "pathPrefix", prefix, false, 1, 512, pat_path_prefix,
                  "\\u002F[\\u0021-\\u007F]*");
    iam_check_list_params(c, &marker, &max_items);
    if ((rc = iam_validation_result(c)) || (marker && (rc = iam_marker_decode(c, marker, &from))))
        return rc;
    if (!prefix)
        prefix = "/";
    sqlite3_stmt *st;
    char *sql = sqlite3_mprintf("SELECT name, path, %s, arn, create_ms FROM %s "
                                "WHERE substr(path, 1, length(?1)) = ?1 "
                                "AND (?2 IS NULL OR name >= ?2) ORDER BY name LIMIT ?3",
                                k->id_col, k->table);
    if (!sql)
        return HY_ENOMEM;
    rc = iam_prepare(c, sql, &st);
    sqlite3_free(sql);
    if (rc)
        return rc;
    iam_bind_text(st, 1, prefix);
    iam_bind_text(st, 2, from);
    sqlite3_bind_int64(st, 3, max_items + 1);
    rc = buf_printf(&c->out, "<%s>", elem);
    long n = 0;
    int src = SQLITE_DONE;
    while (rc == HY_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        struct iam_entity e = {iam_col(c, st, 0, false), iam_col(c, st, 1, false),
                               iam_col(c, st, 2, false), iam_col(c, st, 3, false),
                               sqlite3_column_int64(st, 4)};
        if (n++ == max_items) {
            next = e.name;
            break;
        }
        rc = iam_put_entity(c, "member", k, &e);
    }
    if (rc == HY_OK && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = iam_db_fail(c, "list");
    sqlite3_finalize(st);
    if (!rc)
        rc = buf_printf(&c->out, "</%s>", elem);
    if (!rc)
        rc = iam_put_page_end(c, next);
    return rc;
}

static int iam_list_users(struct iam_call *c)
{
    return iam_list_entities(c, &K_USER, "Users");
}

static int iam_list_groups(struct iam_call *c)
{
    return iam_list_entities(c, &K_GROUP, "Groups");
}

static int iam_count_id(struct iam_call *c, const char *sql_fmt, const struct iam_kind *k,
                        const char *id, long *out)
{
    char *sql = sqlite3_mprintf(sql_fmt, k->kind);
    if (!sql)
        return HY_ENOMEM;
    int rc = iam_count(c, sql, id, out);
    sqlite3_free(sql);
    return rc;
}

static int iam_delete_entity(struct iam_call *c, const struct iam_kind *k)
{
    const char *name = iam_param(c, k->param);
    struct iam_entity e;
    long n;
    int rc;
    iam_check_entity_name(c, k, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, k, name, &e)))
        return rc;
    if (k == &K_USER) {
        if ((rc = iam_count(c, "SELECT count(*) FROM access_keys WHERE user_id = ?", e.id, &n)))
            return rc;
        if (n)
            return iam_fail(c, HY_ESTATE, "DeleteConflict",
                            "Cannot delete entity, must delete access keys first.");
        if ((rc = iam_count(c, "SELECT count(*) FROM group_members WHERE user_id = ?", e.id,
                            &n)))
            return rc;
        if (n)
            return iam_fail(c, HY_ESTATE, "DeleteConflict",
                            "Cannot delete entity, must remove users from group first.");
    } else {
        if ((rc = iam_count(c, "SELECT count(*) FROM group_members WHERE group_id = ?", e.id,
                            &n)))
            return rc;
        if (n)
            return iam_fail(c, HY_ESTATE, "DeleteConflict",
                            "Cannot delete entity, must remove users from group first.");
    }
    if ((rc = iam_count_id(c, "SELECT count(*) FROM entity_policies WHERE kind = '%q' AND "
                              "entity_id = ?", k, e.id, &n)))
        return rc;
    if (n)
        return iam_fail(c, HY_ESTATE, "DeleteConflict",
                        "Cannot delete entity, must delete policies first.");
    if ((rc = iam_count_id(c, "SELECT count(*) FROM entity_attached WHERE kind = '%q' AND "
                              "entity_id = ?", k, e.id, &n)))
        return rc;
    if (n)
        return iam_fail(c, HY_ESTATE, "DeleteConflict",
                        "Cannot delete entity, must detach all policies first.");
    if ((rc = iam_exec(c, "BEGIN IMMEDIATE")))
        return rc;
    sqlite3_stmt *st;
    char *sql = sqlite3_mprintf("DELETE FROM %s WHERE %s = ?", k->table, k->id_col);
    if (!sql) {
        rc = HY_ENOMEM;
        goto out_rollback;
    }
    rc = iam_prepare(c, sql, &st);
    sqlite3_free(sql);
    if (rc)
        goto out_rollback;
    iam_bind_text(st, 1, e.id);
    if ((rc = iam_step_done(c, st, "delete entity")))
        goto out_rollback;
    if (k == &K_USER) {
        if ((rc = iam_prepare(c, "DELETE FROM user_tags WHERE user_id = ?", &st)))
            goto out_rollback;
        iam_bind_text(st, 1, e.id);
        if ((rc = iam_step_done(c, st, "delete user tags")))
            goto out_rollback;
    }
    if ((rc = iam_exec(c, "COMMIT")))
        goto out_rollback;
    log_info("iam", "deleted %s %s", k->kind, e.arn);
    return HY_OK;
out_rollback:
    sqlite3_exec(iam_db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int iam_delete_user(struct iam_call *c)
{
    return iam_delete_entity(c, &K_USER);
}

static int iam_delete_group(struct iam_call *c)
{
    return iam_delete_entity(c, &K_GROUP);
}

static int iam_update_user(struct iam_call *c)
{
    const char *name = iam_param(c, "UserName");
    const char *new_name = iam_param(c, "NewUserName");
    const char *new_path = iam_param(c, "NewPath");
    struct iam_entity e;
    long same = 0;
    int rc;
    iam_check_entity_name(c, &K_USER, name);
    iam_check_str(c, "newUserName", new_name, false, 1, 64, pat_name, PAT_NAME_TEXT);
    iam_check_str(c, "newPath", new_path, false, 1, 512, pat_path,
                  "(\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)");
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, &K_USER, name, &e)))
        return rc;
    if (new_name && strcasecmp(new_name, e.name) != 0) {
        if ((rc = iam_count(c, "SELECT count(*) FROM users WHERE name = ?", new_name, &same)))
            return rc;
        if (same)
            return iam_fail(c, HY_EEXIST, "EntityAlreadyExists",
                            "User with name %s already exists.", new_name);
    }
    const char *nn = new_name ? new_name : e.name, *np = new_path ? new_path : e.path;
    const char *arn = arena_printf(c->a, "arn:aws:iam::%s:user%s%s", HY_ACCOUNT_ID, np, nn);
    sqlite3_stmt *st;
    if (!arn)
        return HY_ENOMEM;
    if ((rc = iam_prepare(c, "UPDATE users SET name = ?, path = ?, arn = ? WHERE user_id = ?",
                          &st)))
        return rc;
    iam_bind_text(st, 1, nn);
    iam_bind_text(st, 2, np);
    iam_bind_text(st, 3, arn);
    iam_bind_text(st, 4, e.id);
    return iam_step_done(c, st, "update user");
}

/* ---- user tags ----------------------------------------------------------------- */

static int iam_tag_user(struct iam_call *c)
{
    const char *name = iam_param(c, "UserName");
    struct iam_tag *tags;
    size_t ntags;
    struct iam_entity e;
    int rc;
    iam_check_entity_name(c, &K_USER, name);
    if ((rc = iam_parse_tags(c, &tags, &ntags)) || (rc = iam_validation_result(c)) ||
        (rc = iam_check_tag_dups(c, tags, ntags)) ||
        (rc = iam_load_entity(c, &K_USER, name, &e)))
        return rc;
    long existing;
    if ((rc = iam_count(c, "SELECT count(*) FROM user_tags WHERE user_id = ?", e.id, &existing)))
        return rc;
    if (existing + (long)ntags > IAM_MAX_TAGS)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "The number of tags has reached the maximum limit.");
    return iam_store_tags(c, &TT_USER, e.id, tags, ntags);
}

static int iam_untag_user(struct iam_call *c)
{
    const char *name = iam_param(c, "UserName");
    struct iam_entity e;
    int rc;
    iam_check_entity_name(c, &K_USER, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, &K_USER, name, &e)))
        return rc;
    return iam_untag_keys(c, &TT_USER, e.id);
}

static int iam_list_user_tags(struct iam_call *c)
{
    const char *name = iam_param(c, "UserName");
    struct iam_entity e;
    int rc;
    iam_check_entity_name(c, &K_USER, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, &K_USER, name, &e)) ||
        (rc = iam_put_tags(c, &TT_USER, e.id, true)))
        return rc;
    return buf_puts(&c->out, "<IsTruncated>false</IsTruncated>");
}

/* ---- access keys ----------------------------------------------------------------- */

#define IAM_MAX_KEYS 2 /* AccessKeysPerUser */

/* The user a key call is about: UserName, else the caller (a user). */
static int iam_key_user(struct iam_call *c, struct iam_entity *e)
{
    const char *name = iam_param(c, "UserName");
    const struct iam_principal *p = router_principal(c->req);
    if (!name && p && p->kind == IAM_USER)
        name = p->name;
    if (!name)
        return iam_fail(c, HY_EINVAL, "ValidationError",
                        "Must specify userName when calling with non-User credentials");
    iam_check_entity_name(c, &K_USER, name);
    int rc = iam_validation_result(c);
    return rc ? rc : iam_load_entity(c, &K_USER, name, e);
}

static int iam_create_access_key(struct iam_call *c)
{
    struct iam_entity e;
    long n;
    int rc;
    if ((rc = iam_key_user(c, &e)))
        return rc;
    if ((rc = iam_count(c, "SELECT count(*) FROM access_keys WHERE user_id = ?", e.id, &n)))
        return rc;
    if (n >= IAM_MAX_KEYS)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "Cannot exceed quota for AccessKeysPerUser: %d", IAM_MAX_KEYS);
    char akid[21];
    unsigned char rnd[30];
    char secret[48];
    if ((rc = iam_new_id("AKIA", akid, sizeof akid)) || (rc = hy_random(rnd, sizeof rnd)))
        return iam_fail(c, rc, NULL, "no randomness for a key");
    base64_encode(secret, rnd, sizeof rnd);
    secret[40] = 0;
    int64_t now = hy_now_ms() / 1000 * 1000;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "INSERT INTO access_keys(akid, user_id, secret, status, create_ms) "
                             "VALUES (?, ?, ?, 'Active', ?)", &st)))
        return rc;
    iam_bind_text(st, 1, akid);
    iam_bind_text(st, 2, e.id);
    iam_bind_text(st, 3, secret);
    sqlite3_bind_int64(st, 4, now);
    if ((rc = iam_step_done(c, st, "insert key")))
        return rc;
    log_info("iam", "created access key %s for %s", akid, e.arn);
    char date[32];
    iam_fmt_date(date, now);
    rc = buf_puts(&c->out, "<AccessKey>");
    if (!rc)
        rc = iam_put(c, "UserName", e.name);
    if (!rc)
        rc = iam_put(c, "AccessKeyId", akid);
    if (!rc)
        rc = iam_put(c, "Status", "Active");
    if (!rc)
        rc = iam_put(c, "SecretAccessKey", secret);
    if (!rc)
        rc = iam_put(c, "CreateDate", date);
    if (!rc)
        rc = buf_puts(&c->out, "</AccessKey>");
    return rc;
}

static int iam_list_access_keys(struct iam_call *c)
{
    struct iam_entity e;
    int rc;
    if ((rc = iam_key_user(c, &e)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT akid, status, create_ms FROM access_keys WHERE user_id = ? "
                             "ORDER BY create_ms, akid", &st)))
        return rc;
    iam_bind_text(st, 1, e.id);
    rc = buf_puts(&c->out, "<AccessKeyMetadata>");
    while (rc == HY_OK && sqlite3_step(st) == SQLITE_ROW) {
        char date[32];
        iam_fmt_date(date, sqlite3_column_int64(st, 2));
        rc = buf_puts(&c->out, "<member>");
        if (!rc)
            rc = iam_put(c, "UserName", e.name);
        if (!rc)
            rc = iam_put(c, "AccessKeyId", (const char *)sqlite3_column_text(st, 0));
        if (!rc)
            rc = iam_put(c, "Status", (const char *)sqlite3_column_text(st, 1));
        if (!rc)
            rc = iam_put(c, "CreateDate", date);
        if (!rc)
            rc = buf_puts(&c->out, "</member>");
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = buf_puts(&c->out, "</AccessKeyMetadata><IsTruncated>false</IsTruncated>");
    return rc;
}

static int iam_update_access_key(struct iam_call *c)
{
    struct iam_entity e;
    const char *akid = iam_param(c, "AccessKeyId");
    const char *status = iam_param(c, "Status");
    int rc;
    iam_check_str(c, "accessKeyId", akid, true, 16, 128, NULL, NULL);
    if (!status || (strcmp(status, "Active") && strcmp(status, "Inactive")))
        iam_violation(c, "status", status, "Member must satisfy enum value set: [Active, "
                                           "Inactive, Expired]");
    if ((rc = iam_validation_result(c)) || (rc = iam_key_user(c, &e)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "UPDATE access_keys SET status = ? WHERE akid = ? AND user_id = ?",
                          &st)))
        return rc;
    iam_bind_text(st, 1, status);
    iam_bind_text(st, 2, akid);
    iam_bind_text(st, 3, e.id);
    if ((rc = iam_step_done(c, st, "update key")))
        return rc;
    if (sqlite3_changes(iam_db) == 0)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "The Access Key with id %s cannot be found.", akid);
    return HY_OK;
}

static int iam_delete_access_key(struct iam_call *c)
{
    struct iam_entity e;
    const char *akid = iam_param(c, "AccessKeyId");
    int rc;
    iam_check_str(c, "accessKeyId", akid, true, 16, 128, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_key_user(c, &e)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "DELETE FROM access_keys WHERE akid = ? AND user_id = ?", &st)))
        return rc;
    iam_bind_text(st, 1, akid);
    iam_bind_text(st, 2, e.id);
    if ((rc = iam_step_done(c, st, "delete key")))
        return rc;
    if (sqlite3_changes(iam_db) == 0)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "The Access Key with id %s cannot be found.", akid);
    return HY_OK;
}

/* Last use of each access key, in memory (not persisted: after a restart
 * a key reads as never used until it signs again). Noted by the router
 * at most once a second per key and HTTP thread. */
#define KEY_USE_SLOTS 512
struct key_use {
    char akid[24];
    int64_t ms;
    char service[16];
    char region[40];
};
static struct key_use key_uses[KEY_USE_SLOTS];
static pthread_mutex_t key_use_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned key_use_slot(const char *akid)
{
    unsigned h = 5381;
    for (; *akid; akid++)
        h = h * 33 + (unsigned char)*akid;
    return h % KEY_USE_SLOTS;
}

void iam_note_key_use(const char *akid, const char *service, const char *region)
{
    static __thread char last_akid[24];
    static __thread int64_t last_s;
    int64_t now = hy_now_ms();
    if (last_s == now / 1000 && strcmp(last_akid, akid) == 0)
        return;
    snprintf(last_akid, sizeof last_akid, "%s", akid);
    last_s = now / 1000;
    struct key_use *u = &key_uses[key_use_slot(akid)];
    pthread_mutex_lock(&key_use_lock);
    snprintf(u->akid, sizeof u->akid, "%s", akid);
    u->ms = now / 1000 * 1000;
    snprintf(u->service, sizeof u->service, "%s", service ? service : "N/A");
    snprintf(u->region, sizeof u->region, "%s", region ? region : "N/A");
    pthread_mutex_unlock(&key_use_lock);
}

static int iam_get_access_key_last_used(struct iam_call *c)
{
    const char *akid = iam_param(c, "AccessKeyId");
    int rc;
    iam_check_str(c, "accessKeyId", akid, true, 16, 128, NULL, NULL);
    if ((rc = iam_validation_result(c)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT u.name FROM access_keys a JOIN users u ON "
                             "u.user_id = a.user_id WHERE a.akid = ?", &st)))
        return rc;
    iam_bind_text(st, 1, akid);
    const char *user = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        user = iam_col(c, st, 0, false);
    sqlite3_finalize(st);
    if (!user)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "The Access Key with id %s cannot be found.", akid);
    struct key_use u = {0};
    pthread_mutex_lock(&key_use_lock);
    struct key_use *slot = &key_uses[key_use_slot(akid)];
    if (strcmp(slot->akid, akid) == 0)
        u = *slot;
    pthread_mutex_unlock(&key_use_lock);
    if ((rc = iam_put(c, "UserName", user)) || (rc = buf_puts(&c->out, "<AccessKeyLastUsed>")))
        return rc;
    if (u.ms) {
        char date[32];
        iam_fmt_date(date, u.ms);
        rc = iam_put(c, "LastUsedDate", date);
    }
    if (!rc)
        rc = iam_put(c, "ServiceName", u.ms ? u.service : "N/A");
    if (!rc)
        rc = iam_put(c, "Region", u.ms ? u.region : "N/A");
    if (!rc)
        rc = buf_puts(&c->out, "</AccessKeyLastUsed>");
    return rc;
}

/* ---- group membership -------------------------------------------------------------- */

static int iam_membership(struct iam_call *c, bool add)
{
    struct iam_entity g, u;
    int rc;
    iam_check_entity_name(c, &K_GROUP, iam_param(c, "GroupName"));
    iam_check_entity_name(c, &K_USER, iam_param(c, "UserName"));
    if ((rc = iam_validation_result(c)) ||
        (rc = iam_load_entity(c, &K_GROUP, iam_param(c, "GroupName"), &g)) ||
        (rc = iam_load_entity(c, &K_USER, iam_param(c, "UserName"), &u)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, add ? "INSERT OR IGNORE INTO group_members(group_id, user_id) "
                                   "VALUES (?, ?)"
                                 : "DELETE FROM group_members WHERE group_id = ? AND user_id = ?",
                          &st)))
        return rc;
    iam_bind_text(st, 1, g.id);
    iam_bind_text(st, 2, u.id);
    if ((rc = iam_step_done(c, st, "membership")))
        return rc;
    if (!add && sqlite3_changes(iam_db) == 0)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "The user with name %s cannot be found.", u.name);
    return HY_OK;
}

static int iam_add_user_to_group(struct iam_call *c)
{
    return iam_membership(c, true);
}

static int iam_remove_user_from_group(struct iam_call *c)
{
    return iam_membership(c, false);
}

static int iam_get_group(struct iam_call *c)
{
    struct iam_entity g;
    int rc;
    iam_check_entity_name(c, &K_GROUP, iam_param(c, "GroupName"));
    if ((rc = iam_validation_result(c)) ||
        (rc = iam_load_entity(c, &K_GROUP, iam_param(c, "GroupName"), &g)))
        return rc;
    if ((rc = iam_put_entity(c, "Group", &K_GROUP, &g)) || (rc = buf_puts(&c->out, "<Users>")))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT u.name, u.path, u.user_id, u.arn, u.create_ms FROM users u "
                             "JOIN group_members m ON m.user_id = u.user_id "
                             "WHERE m.group_id = ? ORDER BY u.name", &st)))
        return rc;
    iam_bind_text(st, 1, g.id);
    while (rc == HY_OK && sqlite3_step(st) == SQLITE_ROW) {
        struct iam_entity u = {iam_col(c, st, 0, false), iam_col(c, st, 1, false),
                               iam_col(c, st, 2, false), iam_col(c, st, 3, false),
                               sqlite3_column_int64(st, 4)};
        rc = iam_put_entity(c, "member", &K_USER, &u);
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = buf_puts(&c->out, "</Users><IsTruncated>false</IsTruncated>");
    return rc;
}

static int iam_list_groups_for_user(struct iam_call *c)
{
    struct iam_entity u;
    int rc;
    iam_check_entity_name(c, &K_USER, iam_param(c, "UserName"));
    if ((rc = iam_validation_result(c)) ||
        (rc = iam_load_entity(c, &K_USER, iam_param(c, "UserName"), &u)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT g.name, g.path, g.group_id, g.arn, g.create_ms FROM groups g "
                             "JOIN group_members m ON m.group_id = g.group_id "
                             "WHERE m.user_id = ? ORDER BY g.name", &st)))
        return rc;
    iam_bind_text(st, 1, u.id);
    rc = buf_puts(&c->out, "<Groups>");
    while (rc == HY_OK && sqlite3_step(st) == SQLITE_ROW) {
        struct iam_entity g = {iam_col(c, st, 0, false), iam_col(c, st, 1, false),
                               iam_col(c, st, 2, false), iam_col(c, st, 3, false),
                               sqlite3_column_int64(st, 4)};
        rc = iam_put_entity(c, "member", &K_GROUP, &g);
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = buf_puts(&c->out, "</Groups><IsTruncated>false</IsTruncated>");
    return rc;
}

/* ---- inline policies of users and groups ---------------------------------------- */

#define IAM_MAX_USER_INLINE 2048   /* inline policy characters per user */
#define IAM_MAX_GROUP_INLINE 5120  /* per group */

static int iam_put_entity_policy(struct iam_call *c, const struct iam_kind *k)
{
    const char *name = iam_param(c, k->param);
    const char *pname = iam_param(c, "PolicyName");
    const char *doc = iam_param(c, "PolicyDocument");
    struct iam_entity e;
    int rc;
    iam_check_entity_name(c, k, name);
    iam_check_policy_name(c, pname);
    iam_check_doc(c, "policyDocument", doc);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, k, name, &e)) ||
        (rc = iam_check_policy(c, doc, false)))
        return rc;
    long others = 0, size = iam_policy_size(doc);
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT coalesce(sum(size), 0) FROM entity_policies "
                             "WHERE kind = ? AND entity_id = ? AND name != ?", &st)))
        return rc;
    iam_bind_text(st, 1, k->kind);
    iam_bind_text(st, 2, e.id);
    iam_bind_text(st, 3, pname);
    if (sqlite3_step(st) == SQLITE_ROW)
        others = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    long max = k == &K_USER ? IAM_MAX_USER_INLINE : IAM_MAX_GROUP_INLINE;
    if (others + size > max)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "Maximum policy size of %ld bytes exceeded for %s %s", max, k->kind,
                        e.name);
    if ((rc = iam_prepare(c, "INSERT OR REPLACE INTO entity_policies(kind, entity_id, name, "
                             "document, size) VALUES (?, ?, ?, ?, ?)", &st)))
        return rc;
    iam_bind_text(st, 1, k->kind);
    iam_bind_text(st, 2, e.id);
    iam_bind_text(st, 3, pname);
    iam_bind_text(st, 4, doc);
    sqlite3_bind_int64(st, 5, size);
    return iam_step_done(c, st, "put policy");
}

static int iam_get_entity_policy(struct iam_call *c, const struct iam_kind *k)
{
    const char *name = iam_param(c, k->param);
    const char *pname = iam_param(c, "PolicyName");
    struct iam_entity e;
    const char *doc = NULL;
    int rc;
    iam_check_entity_name(c, k, name);
    iam_check_policy_name(c, pname);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, k, name, &e)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT document FROM entity_policies WHERE kind = ? AND "
                             "entity_id = ? AND name = ?", &st)))
        return rc;
    iam_bind_text(st, 1, k->kind);
    iam_bind_text(st, 2, e.id);
    iam_bind_text(st, 3, pname);
    if (sqlite3_step(st) == SQLITE_ROW)
        doc = iam_col(c, st, 0, false);
    sqlite3_finalize(st);
    if (!doc)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "The %s policy with name %s cannot be found.", k->kind, pname);
    char tag[32];
    snprintf(tag, sizeof tag, "%sName", k->Label);
    if ((rc = iam_put(c, tag, e.name)) || (rc = iam_put(c, "PolicyName", pname)))
        return rc;
    return iam_put_doc(c, "PolicyDocument", doc);
}

static int iam_delete_entity_policy(struct iam_call *c, const struct iam_kind *k)
{
    const char *name = iam_param(c, k->param);
    const char *pname = iam_param(c, "PolicyName");
    struct iam_entity e;
    int rc;
    iam_check_entity_name(c, k, name);
    iam_check_policy_name(c, pname);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, k, name, &e)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "DELETE FROM entity_policies WHERE kind = ? AND entity_id = ? AND "
                             "name = ?", &st)))
        return rc;
    iam_bind_text(st, 1, k->kind);
    iam_bind_text(st, 2, e.id);
    iam_bind_text(st, 3, pname);
    if ((rc = iam_step_done(c, st, "delete policy")))
        return rc;
    if (sqlite3_changes(iam_db) == 0)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "The %s policy with name %s cannot be found.", k->kind, pname);
    return HY_OK;
}

static int iam_list_entity_policies(struct iam_call *c, const struct iam_kind *k)
{
    const char *name = iam_param(c, k->param);
    struct iam_entity e;
    int rc;
    iam_check_entity_name(c, k, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, k, name, &e)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT name FROM entity_policies WHERE kind = ? AND entity_id = ? "
                             "ORDER BY name", &st)))
        return rc;
    iam_bind_text(st, 1, k->kind);
    iam_bind_text(st, 2, e.id);
    rc = buf_puts(&c->out, "<PolicyNames>");
    while (rc == HY_OK && sqlite3_step(st) == SQLITE_ROW)
        rc = iam_put(c, "member", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (!rc)
        rc = buf_puts(&c->out, "</PolicyNames><IsTruncated>false</IsTruncated>");
    return rc;
}

static int iam_put_user_policy(struct iam_call *c) { return iam_put_entity_policy(c, &K_USER); }
static int iam_get_user_policy(struct iam_call *c) { return iam_get_entity_policy(c, &K_USER); }
static int iam_delete_user_policy(struct iam_call *c)
{
    return iam_delete_entity_policy(c, &K_USER);
}
static int iam_list_user_policies(struct iam_call *c)
{
    return iam_list_entity_policies(c, &K_USER);
}
static int iam_put_group_policy(struct iam_call *c) { return iam_put_entity_policy(c, &K_GROUP); }
static int iam_get_group_policy(struct iam_call *c) { return iam_get_entity_policy(c, &K_GROUP); }
static int iam_delete_group_policy(struct iam_call *c)
{
    return iam_delete_entity_policy(c, &K_GROUP);
}
static int iam_list_group_policies(struct iam_call *c)
{
    return iam_list_entity_policies(c, &K_GROUP);
}

/* ---- managed policies ---------------------------------------------------------------- */

/* Whether a managed policy of this ARN exists (AWS's or the account's). */
static int iam_policy_exists(struct iam_call *c, const char *arn)
{
    if (aws_policy_by_arn(arn))
        return HY_OK;
    long n = 0;
    int rc = iam_count(c, "SELECT count(*) FROM policies WHERE arn = ?", arn, &n);
    if (rc)
        return rc;
    if (!n)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "Policy %s does not exist or is not attachable.", arn);
    return HY_OK;
}

static int iam_attach_entity_policy(struct iam_call *c, const struct iam_kind *k, bool attach)
{
    const char *name = iam_param(c, k->param);
    const char *arn = iam_param(c, "PolicyArn");
    const char *ppath, *pname;
    struct iam_entity e;
    int rc;
    iam_check_entity_name(c, k, name);
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_parse_policy_arn(c, arn, &ppath, &pname)) ||
        (rc = iam_load_entity(c, k, name, &e)))
        return rc;
    sqlite3_stmt *st;
    if (!attach) {
        if ((rc = iam_prepare(c, "DELETE FROM entity_attached WHERE kind = ? AND entity_id = ? "
                                 "AND arn = ?", &st)))
            return rc;
        iam_bind_text(st, 1, k->kind);
        iam_bind_text(st, 2, e.id);
        iam_bind_text(st, 3, arn);
        if ((rc = iam_step_done(c, st, "detach")))
            return rc;
        if (sqlite3_changes(iam_db) == 0)
            return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity", "Policy %s was not found.", arn);
        return HY_OK;
    }
    if ((rc = iam_policy_exists(c, arn)))
        return rc;
    long n = 0, already = 0;
    if ((rc = iam_prepare(c, "SELECT count(*), coalesce(sum(arn = ?3), 0) FROM entity_attached "
                             "WHERE kind = ?1 AND entity_id = ?2", &st)))
        return rc;
    iam_bind_text(st, 1, k->kind);
    iam_bind_text(st, 2, e.id);
    iam_bind_text(st, 3, arn);
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = (long)sqlite3_column_int64(st, 0);
        already = (long)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (already)
        return HY_OK;
    if (n >= IAM_MAX_ATTACHED)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded", "Cannot exceed quota for PoliciesPer%s: %d",
                        k->Label, IAM_MAX_ATTACHED);
    if ((rc = iam_prepare(c, "INSERT INTO entity_attached(kind, entity_id, arn, name, path) "
                             "VALUES (?, ?, ?, ?, ?)", &st)))
        return rc;
    iam_bind_text(st, 1, k->kind);
    iam_bind_text(st, 2, e.id);
    iam_bind_text(st, 3, arn);
    iam_bind_text(st, 4, pname);
    iam_bind_text(st, 5, ppath);
    return iam_step_done(c, st, "attach");
}

static int iam_list_attached_entity(struct iam_call *c, const struct iam_kind *k)
{
    const char *name = iam_param(c, k->param);
    struct iam_entity e;
    int rc;
    iam_check_entity_name(c, k, name);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_entity(c, k, name, &e)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT name, arn FROM entity_attached WHERE kind = ? AND "
                             "entity_id = ? ORDER BY arn", &st)))
        return rc;
    iam_bind_text(st, 1, k->kind);
    iam_bind_text(st, 2, e.id);
    rc = buf_puts(&c->out, "<AttachedPolicies>");
    while (rc == HY_OK && sqlite3_step(st) == SQLITE_ROW) {
        rc = buf_puts(&c->out, "<member>");
        if (!rc)
            rc = iam_put(c, "PolicyName", (const char *)sqlite3_column_text(st, 0));
        if (!rc)
            rc = iam_put(c, "PolicyArn", (const char *)sqlite3_column_text(st, 1));
        if (!rc)
            rc = buf_puts(&c->out, "</member>");
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = buf_puts(&c->out, "</AttachedPolicies><IsTruncated>false</IsTruncated>");
    return rc;
}

static int iam_attach_user_policy(struct iam_call *c)
{
    return iam_attach_entity_policy(c, &K_USER, true);
}
static int iam_detach_user_policy(struct iam_call *c)
{
    return iam_attach_entity_policy(c, &K_USER, false);
}
static int iam_attach_group_policy(struct iam_call *c)
{
    return iam_attach_entity_policy(c, &K_GROUP, true);
}
static int iam_detach_group_policy(struct iam_call *c)
{
    return iam_attach_entity_policy(c, &K_GROUP, false);
}
static int iam_list_attached_user_policies(struct iam_call *c)
{
    return iam_list_attached_entity(c, &K_USER);
}
static int iam_list_attached_group_policies(struct iam_call *c)
{
    return iam_list_attached_entity(c, &K_GROUP);
}

#define IAM_MAX_VERSIONS 5
#define IAM_MAX_MANAGED_SIZE 6144

struct iam_mpolicy {
    const char *arn, *name, *path, *id, *default_version, *description;
    int64_t create_ms, update_ms;
    long attachments;
    bool aws;
};

static long iam_attachment_count(struct iam_call *c, const char *arn)
{
    long a = 0, b = 0;
    if (iam_count(c, "SELECT count(*) FROM entity_attached WHERE arn = ?", arn, &a) ||
        iam_count(c, "SELECT count(*) FROM role_attached WHERE arn = ?", arn, &b))
        return 0;
    return a + b;
}

static int iam_load_mpolicy(struct iam_call *c, const char *arn, struct iam_mpolicy *p)
{
    memset(p, 0, sizeof *p);
    const struct aws_policy *ap = aws_policy_by_arn(arn);
    if (ap) {
        p->arn = arn;
        p->name = ap->name;
        p->path = ap->path;
        p->id = ap->id;
        p->default_version = ap->version;
        p->create_ms = p->update_ms = ap->create_ms;
        p->aws = true;
        p->attachments = iam_attachment_count(c, arn);
        return HY_OK;
    }
    sqlite3_stmt *st;
    int rc = iam_prepare(c, "SELECT arn, name, path, policy_id, default_version, description, "
                            "create_ms, update_ms FROM policies WHERE arn = ?", &st);
    if (rc)
        return rc;
    iam_bind_text(st, 1, arn);
    if (sqlite3_step(st) == SQLITE_ROW) {
        p->arn = iam_col(c, st, 0, false);
        p->name = iam_col(c, st, 1, false);
        p->path = iam_col(c, st, 2, false);
        p->id = iam_col(c, st, 3, false);
        p->default_version = iam_col(c, st, 4, false);
        p->description = iam_col(c, st, 5, true);
        p->create_ms = sqlite3_column_int64(st, 6);
        p->update_ms = sqlite3_column_int64(st, 7);
    } else {
        rc = iam_fail(c, HY_ENOTFOUND, "NoSuchEntity", "Policy %s was not found.", arn);
    }
    sqlite3_finalize(st);
    if (!rc)
        p->attachments = iam_attachment_count(c, arn);
    return rc;
}

static int iam_put_mpolicy(struct iam_call *c, const char *elem, const struct iam_mpolicy *p)
{
    char cd[32], ud[32];
    iam_fmt_date(cd, p->create_ms);
    iam_fmt_date(ud, p->update_ms);
    int rc = buf_printf(&c->out, "<%s>", elem);
    if (!rc)
        rc = iam_put(c, "PolicyName", p->name);
    if (!rc)
        rc = iam_put(c, "PolicyId", p->id);
    if (!rc)
        rc = iam_put(c, "Arn", p->arn);
    if (!rc)
        rc = iam_put(c, "Path", p->path);
    if (!rc)
        rc = iam_put(c, "DefaultVersionId", p->default_version);
    if (!rc)
        rc = buf_printf(&c->out, "<AttachmentCount>%ld</AttachmentCount>"
                                 "<PermissionsBoundaryUsageCount>0"
                                 "</PermissionsBoundaryUsageCount><IsAttachable>true"
                                 "</IsAttachable>", p->attachments);
    if (!rc && p->description)
        rc = iam_put(c, "Description", p->description);
    if (!rc)
        rc = iam_put(c, "CreateDate", cd);
    if (!rc)
        rc = iam_put(c, "UpdateDate", ud);
    if (!rc)
        rc = buf_printf(&c->out, "</%s>", elem);
    return rc;
}

static int iam_insert_version(struct iam_call *c, const char *arn, const char *vid,
                              const char *doc, int64_t now)
{
    sqlite3_stmt *st;
    int rc = iam_prepare(c, "INSERT INTO policy_versions(arn, version_id, document, create_ms) "
                            "VALUES (?, ?, ?, ?)", &st);
    if (rc)
        return rc;
    iam_bind_text(st, 1, arn);
    iam_bind_text(st, 2, vid);
    iam_bind_text(st, 3, doc);
    sqlite3_bind_int64(st, 4, now);
    return iam_step_done(c, st, "insert version");
}

static int iam_create_policy(struct iam_call *c)
{
    const char *name = iam_param(c, "PolicyName");
    const char *path = iam_param(c, "Path");
    const char *doc = iam_param(c, "PolicyDocument");
    const char *desc = iam_param(c, "Description");
    int rc;
    iam_check_policy_name(c, name);
    iam_check_str(c, "path", path, false, 1, 512, pat_policy_path,
                  "((/[A-Za-z0-9\\.,\\+@=_-]+)*)/");
    iam_check_doc(c, "policyDocument", doc);
    iam_check_str(c, "description", desc, false, 0, 1000, pat_description,
                  "[\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]*");
    if ((rc = iam_validation_result(c)) || (rc = iam_check_policy(c, doc, false)))
        return rc;
    if (iam_policy_size(doc) > IAM_MAX_MANAGED_SIZE)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "Cannot exceed quota for PolicySize: %d", IAM_MAX_MANAGED_SIZE);
    if (!path)
        path = "/";
    long same = 0;
    if ((rc = iam_count(c, "SELECT count(*) FROM policies WHERE name = ?", name, &same)))
        return rc;
    if (same)
        return iam_fail(c, HY_EEXIST, "EntityAlreadyExists",
                        "A policy called %s already exists. Duplicate names are not allowed.",
                        name);
    char id[22];
    if ((rc = iam_new_id("ANPA", id, sizeof id)))
        return iam_fail(c, rc, NULL, "no randomness for an id");
    struct iam_mpolicy p = {0};
    p.arn = arena_printf(c->a, "arn:aws:iam::%s:policy%s%s", HY_ACCOUNT_ID, path, name);
    p.name = name;
    p.path = path;
    p.id = id;
    p.default_version = "v1";
    p.description = desc;
    p.create_ms = p.update_ms = hy_now_ms() / 1000 * 1000;
    if (!p.arn)
        return HY_ENOMEM;
    if ((rc = iam_exec(c, "BEGIN IMMEDIATE")))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "INSERT INTO policies(arn, name, path, policy_id, default_version, "
                             "next_version, description, create_ms, update_ms) "
                             "VALUES (?, ?, ?, ?, 'v1', 2, ?, ?, ?)", &st)))
        goto out_rollback;
    iam_bind_text(st, 1, p.arn);
    iam_bind_text(st, 2, name);
    iam_bind_text(st, 3, path);
    iam_bind_text(st, 4, id);
    iam_bind_text(st, 5, desc);
    sqlite3_bind_int64(st, 6, p.create_ms);
    sqlite3_bind_int64(st, 7, p.update_ms);
    if ((rc = iam_step_done(c, st, "insert policy")) ||
        (rc = iam_insert_version(c, p.arn, "v1", doc, p.create_ms)) ||
        (rc = iam_exec(c, "COMMIT")))
        goto out_rollback;
    log_info("iam", "created policy %s", p.arn);
    return iam_put_mpolicy(c, "Policy", &p);
out_rollback:
    sqlite3_exec(iam_db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int iam_get_policy(struct iam_call *c)
{
    const char *arn = iam_param(c, "PolicyArn");
    struct iam_mpolicy p;
    int rc;
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_mpolicy(c, arn, &p)))
        return rc;
    return iam_put_mpolicy(c, "Policy", &p);
}

static int iam_list_policies(struct iam_call *c)
{
    const char *scope = iam_param(c, "Scope");
    const char *only = iam_param(c, "OnlyAttached");
    bool attached_only = only && strcasecmp(only, "true") == 0;
    int rc = buf_puts(&c->out, "<Policies>");
    if (!scope)
        scope = "All";
    if (!rc && strcmp(scope, "Local") != 0) {
        for (size_t i = 0; i < N_AWS_POLICIES && !rc; i++) {
            const char *arn = arena_printf(c->a, "arn:aws:iam::aws:policy%s%s",
                                           aws_policies[i].path, aws_policies[i].name);
            struct iam_mpolicy p;
            if (!arn || (rc = iam_load_mpolicy(c, arn, &p)))
                break;
            if (!attached_only || p.attachments)
                rc = iam_put_mpolicy(c, "member", &p);
        }
    }
    if (!rc && strcmp(scope, "AWS") != 0) {
        sqlite3_stmt *st;
        if ((rc = iam_prepare(c, "SELECT arn FROM policies ORDER BY name", &st)))
            return rc;
        while (rc == HY_OK && sqlite3_step(st) == SQLITE_ROW) {
            struct iam_mpolicy p;
            const char *arn = iam_col(c, st, 0, false);
            if ((rc = iam_load_mpolicy(c, arn, &p)))
                break;
            if (!attached_only || p.attachments)
                rc = iam_put_mpolicy(c, "member", &p);
        }
        sqlite3_finalize(st);
    }
    if (!rc)
        rc = buf_puts(&c->out, "</Policies><IsTruncated>false</IsTruncated>");
    return rc;
}

static int iam_refuse_aws_policy(struct iam_call *c, const char *arn)
{
    if (aws_policy_by_arn(arn) || strncmp(arn, "arn:aws:iam::aws:", 17) == 0)
        return iam_fail(c, HY_EINVAL, "InvalidInput",
                        "ARN %s is not valid: AWS managed policies cannot be changed.", arn);
    return HY_OK;
}

static int iam_delete_policy(struct iam_call *c)
{
    const char *arn = iam_param(c, "PolicyArn");
    struct iam_mpolicy p;
    int rc;
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_refuse_aws_policy(c, arn)) ||
        (rc = iam_load_mpolicy(c, arn, &p)))
        return rc;
    if (p.attachments)
        return iam_fail(c, HY_ESTATE, "DeleteConflict",
                        "Cannot delete a policy attached to entities.");
    long versions = 0;
    if ((rc = iam_count(c, "SELECT count(*) FROM policy_versions WHERE arn = ?", arn, &versions)))
        return rc;
    if (versions > 1)
        return iam_fail(c, HY_ESTATE, "DeleteConflict",
                        "Cannot delete a policy with versions other than the default: delete "
                        "them first.");
    if ((rc = iam_exec(c, "BEGIN IMMEDIATE")))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "DELETE FROM policy_versions WHERE arn = ?", &st)))
        goto out_rollback;
    iam_bind_text(st, 1, arn);
    if ((rc = iam_step_done(c, st, "delete versions")) ||
        (rc = iam_prepare(c, "DELETE FROM policies WHERE arn = ?", &st)))
        goto out_rollback;
    iam_bind_text(st, 1, arn);
    if ((rc = iam_step_done(c, st, "delete policy")) || (rc = iam_exec(c, "COMMIT")))
        goto out_rollback;
    return HY_OK;
out_rollback:
    sqlite3_exec(iam_db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int iam_put_version(struct iam_call *c, const char *elem, const char *doc,
                           const char *vid, bool is_default, int64_t ms, bool with_doc)
{
    char date[32];
    iam_fmt_date(date, ms);
    int rc = buf_printf(&c->out, "<%s>", elem);
    if (!rc && with_doc)
        rc = iam_put_doc(c, "Document", doc);
    if (!rc)
        rc = iam_put(c, "VersionId", vid);
    if (!rc)
        rc = buf_printf(&c->out, "<IsDefaultVersion>%s</IsDefaultVersion>",
                        is_default ? "true" : "false");
    if (!rc)
        rc = iam_put(c, "CreateDate", date);
    if (!rc)
        rc = buf_printf(&c->out, "</%s>", elem);
    return rc;
}

static int iam_create_policy_version(struct iam_call *c)
{
    const char *arn = iam_param(c, "PolicyArn");
    const char *doc = iam_param(c, "PolicyDocument");
    const char *def = iam_param(c, "SetAsDefault");
    bool set_default = def && strcasecmp(def, "true") == 0;
    struct iam_mpolicy p;
    int rc;
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    iam_check_doc(c, "policyDocument", doc);
    if ((rc = iam_validation_result(c)) || (rc = iam_refuse_aws_policy(c, arn)) ||
        (rc = iam_load_mpolicy(c, arn, &p)) || (rc = iam_check_policy(c, doc, false)))
        return rc;
    long versions = 0, next = 2;
    if ((rc = iam_count(c, "SELECT count(*) FROM policy_versions WHERE arn = ?", arn, &versions)) ||
        (rc = iam_count(c, "SELECT next_version FROM policies WHERE arn = ?", arn, &next)))
        return rc;
    if (versions >= IAM_MAX_VERSIONS)
        return iam_fail(c, HY_ELIMIT, "LimitExceeded",
                        "A managed policy can have up to %d versions. Before you create a new "
                        "version, you must delete an existing version.", IAM_MAX_VERSIONS);
    char vid[24];
    snprintf(vid, sizeof vid, "v%ld", next);
    int64_t now = hy_now_ms() / 1000 * 1000;
    if ((rc = iam_exec(c, "BEGIN IMMEDIATE")))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_insert_version(c, arn, vid, doc, now)) ||
        (rc = iam_prepare(c, "UPDATE policies SET next_version = next_version + 1, "
                             "update_ms = ?2, default_version = CASE WHEN ?3 THEN ?4 ELSE "
                             "default_version END WHERE arn = ?1", &st)))
        goto out_rollback;
    iam_bind_text(st, 1, arn);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int(st, 3, set_default);
    iam_bind_text(st, 4, vid);
    if ((rc = iam_step_done(c, st, "bump version")) || (rc = iam_exec(c, "COMMIT")))
        goto out_rollback;
    return iam_put_version(c, "PolicyVersion", doc, vid, set_default, now, false);
out_rollback:
    sqlite3_exec(iam_db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int iam_get_policy_version(struct iam_call *c)
{
    const char *arn = iam_param(c, "PolicyArn");
    const char *vid = iam_param(c, "VersionId");
    struct iam_mpolicy p;
    int rc;
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    iam_check_str(c, "versionId", vid, true, 1, 128, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_mpolicy(c, arn, &p)))
        return rc;
    if (p.aws) {
        const struct aws_policy *ap = aws_policy_by_arn(arn);
        if (strcmp(vid, ap->version) != 0)
            return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                            "Policy %s version %s does not exist or is not attachable.", arn,
                            vid);
        return iam_put_version(c, "PolicyVersion", ap->doc, vid, true, ap->create_ms, true);
    }
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT document, create_ms FROM policy_versions WHERE arn = ? AND "
                             "version_id = ?", &st)))
        return rc;
    iam_bind_text(st, 1, arn);
    iam_bind_text(st, 2, vid);
    const char *doc = NULL;
    int64_t ms = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        doc = iam_col(c, st, 0, false);
        ms = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (!doc)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "Policy %s version %s does not exist or is not attachable.", arn, vid);
    return iam_put_version(c, "PolicyVersion", doc, vid, strcmp(vid, p.default_version) == 0, ms,
                           true);
}

static int iam_list_policy_versions(struct iam_call *c)
{
    const char *arn = iam_param(c, "PolicyArn");
    struct iam_mpolicy p;
    int rc;
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_load_mpolicy(c, arn, &p)))
        return rc;
    if ((rc = buf_puts(&c->out, "<Versions>")))
        return rc;
    if (p.aws) {
        const struct aws_policy *ap = aws_policy_by_arn(arn);
        rc = iam_put_version(c, "member", ap->doc, ap->version, true, ap->create_ms, false);
    } else {
        sqlite3_stmt *st;
        if ((rc = iam_prepare(c, "SELECT version_id, create_ms FROM policy_versions WHERE arn = ? "
                                 "ORDER BY create_ms DESC, length(version_id) DESC, "
                                 "version_id DESC", &st)))
            return rc;
        iam_bind_text(st, 1, arn);
        while (rc == HY_OK && sqlite3_step(st) == SQLITE_ROW) {
            const char *vid = (const char *)sqlite3_column_text(st, 0);
            rc = iam_put_version(c, "member", NULL, vid, strcmp(vid, p.default_version) == 0,
                                 sqlite3_column_int64(st, 1), false);
        }
        sqlite3_finalize(st);
    }
    if (!rc)
        rc = buf_puts(&c->out, "</Versions><IsTruncated>false</IsTruncated>");
    return rc;
}

static int iam_set_default_policy_version(struct iam_call *c)
{
    const char *arn = iam_param(c, "PolicyArn");
    const char *vid = iam_param(c, "VersionId");
    struct iam_mpolicy p;
    long n = 0;
    int rc;
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    iam_check_str(c, "versionId", vid, true, 1, 128, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_refuse_aws_policy(c, arn)) ||
        (rc = iam_load_mpolicy(c, arn, &p)))
        return rc;
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "SELECT count(*) FROM policy_versions WHERE arn = ? AND "
                             "version_id = ?", &st)))
        return rc;
    iam_bind_text(st, 1, arn);
    iam_bind_text(st, 2, vid);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (!n)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "Policy %s version %s does not exist or is not attachable.", arn, vid);
    if ((rc = iam_prepare(c, "UPDATE policies SET default_version = ? WHERE arn = ?", &st)))
        return rc;
    iam_bind_text(st, 1, vid);
    iam_bind_text(st, 2, arn);
    return iam_step_done(c, st, "set default");
}

static int iam_delete_policy_version(struct iam_call *c)
{
    const char *arn = iam_param(c, "PolicyArn");
    const char *vid = iam_param(c, "VersionId");
    struct iam_mpolicy p;
    int rc;
    iam_check_str(c, "policyArn", arn, true, 20, 2048, NULL, NULL);
    iam_check_str(c, "versionId", vid, true, 1, 128, NULL, NULL);
    if ((rc = iam_validation_result(c)) || (rc = iam_refuse_aws_policy(c, arn)) ||
        (rc = iam_load_mpolicy(c, arn, &p)))
        return rc;
    if (strcmp(vid, p.default_version) == 0)
        return iam_fail(c, HY_ESTATE, "DeleteConflict",
                        "Cannot delete the default version of a policy.");
    sqlite3_stmt *st;
    if ((rc = iam_prepare(c, "DELETE FROM policy_versions WHERE arn = ? AND version_id = ?", &st)))
        return rc;
    iam_bind_text(st, 1, arn);
    iam_bind_text(st, 2, vid);
    if ((rc = iam_step_done(c, st, "delete version")))
        return rc;
    if (sqlite3_changes(iam_db) == 0)
        return iam_fail(c, HY_ENOTFOUND, "NoSuchEntity",
                        "Policy %s version %s does not exist or is not attachable.", arn, vid);
    return HY_OK;
}

/* ---- identities for the router: loaded under iam_lock, cached ------------------- */

struct doclist {
    char **docs;
    size_t n, cap;
};

static int doclist_add(struct doclist *l, const char *doc)
{
    if (!doc)
        return HY_OK;
    if (hy_grow((void **)&l->docs, &l->cap, l->n + 1, sizeof *l->docs))
        return HY_ENOMEM;
    if (!(l->docs[l->n] = strdup(doc)))
        return HY_ENOMEM;
    l->n++;
    return HY_OK;
}

static void doclist_free(struct doclist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->docs[i]);
    free(l->docs);
}

/* Every document a query's first column names (a document, or with
 * attached a managed policy ARN whose default version is read). */
static int collect(struct doclist *l, const char *sql, const char *a1, const char *a2,
                   bool attached)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(iam_db, sql, -1, &st, NULL) != SQLITE_OK)
        return HY_EDB;
    sqlite3_bind_text(st, 1, a1, -1, SQLITE_TRANSIENT);
    if (a2)
        sqlite3_bind_text(st, 2, a2, -1, SQLITE_TRANSIENT);
    int rc = HY_OK, src;
    while (rc == HY_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!attached) {
            rc = doclist_add(l, v);
            continue;
        }
        const struct aws_policy *ap = aws_policy_by_arn(v);
        if (ap) {
            rc = doclist_add(l, ap->doc);
            continue;
        }
        sqlite3_stmt *vs;
        if (sqlite3_prepare_v2(iam_db, "SELECT v.document FROM policy_versions v JOIN policies p "
                                       "ON p.arn = v.arn AND p.default_version = v.version_id "
                                       "WHERE p.arn = ?", -1, &vs, NULL) != SQLITE_OK) {
            rc = HY_EDB;
            break;
        }
        sqlite3_bind_text(vs, 1, v, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(vs) == SQLITE_ROW)
            rc = doclist_add(l, (const char *)sqlite3_column_text(vs, 0));
        sqlite3_finalize(vs);
    }
    sqlite3_finalize(st);
    return rc;
}

static int collect_tags(struct iam_identity *id, const char *sql, const char *owner)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(iam_db, sql, -1, &st, NULL) != SQLITE_OK)
        return HY_EDB;
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_TRANSIENT);
    size_t cap = 0, vcap = 0;
    int rc = HY_OK;
    while (rc == HY_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        if (hy_grow((void **)&id->tag_keys, &cap, id->ntags + 1, sizeof(char *)) ||
            hy_grow((void **)&id->tag_values, &vcap, id->ntags + 1, sizeof(char *))) {
            rc = HY_ENOMEM;
            break;
        }
        size_t n = strlen(k) + 18;
        char *key = malloc(n);
        char *val = strdup(v ? v : "");
        if (!key || !val) {
            free(key);
            free(val);
            rc = HY_ENOMEM;
            break;
        }
        snprintf(key, n, "aws:PrincipalTag/%s", k);
        id->tag_keys[id->ntags] = key;
        id->tag_values[id->ntags] = val;
        id->ntags++;
    }
    sqlite3_finalize(st);
    return rc;
}

void iam_identity_put(struct iam_identity *id)
{
    if (!id || __atomic_sub_fetch(&id->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    free(id->name);
    free(id->arn);
    free(id->id);
    if (id->secret)
        OPENSSL_cleanse(id->secret, strlen(id->secret));
    free(id->secret);
    for (size_t i = 0; i < id->npols; i++)
        policy_free(id->pols[i]);
    free(id->pols);
    for (size_t i = 0; i < id->ntags; i++) {
        free(id->tag_keys[i]);
        free(id->tag_values[i]);
    }
    free(id->tag_keys);
    free(id->tag_values);
    free(id->trust);
    free(id);
}

/* Builds an identity: key (an AKIA id) or arn (a user or a role).
 * Caller holds iam_lock. */
static int identity_load_locked(const char *akid, const char *arn, struct iam_identity **out)
{
    struct iam_identity *id = calloc(1, sizeof *id);
    struct doclist docs = {0};
    int rc = HY_OK;
    sqlite3_stmt *st = NULL;
    if (!id)
        return HY_ENOMEM;
    id->refs = 1;
    bool role = arn && strstr(arn, ":role/") != NULL;
    const char *sql = akid ? "SELECT u.name, u.arn, u.user_id, a.secret, a.status FROM "
                             "access_keys a JOIN users u ON u.user_id = a.user_id WHERE a.akid = ?"
                      : role ? "SELECT name, arn, role_id, trust_policy, max_session FROM roles "
                               "WHERE arn = ?"
                             : "SELECT name, arn, user_id, NULL, NULL FROM users WHERE arn = ?";
    if (!iam_db || sqlite3_prepare_v2(iam_db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = HY_EDB;
        goto out_fail;
    }
    sqlite3_bind_text(st, 1, akid ? akid : arn, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? HY_ENOTFOUND : HY_EDB;
        goto out_fail;
    }
    id->is_role = role;
    id->name = strdup((const char *)sqlite3_column_text(st, 0));
    id->arn = strdup((const char *)sqlite3_column_text(st, 1));
    id->id = strdup((const char *)sqlite3_column_text(st, 2));
    if (akid) {
        id->secret = strdup((const char *)sqlite3_column_text(st, 3));
        id->active = strcmp((const char *)sqlite3_column_text(st, 4), "Active") == 0;
    } else if (role) {
        id->trust = strdup((const char *)sqlite3_column_text(st, 3));
        id->max_session = sqlite3_column_int(st, 4);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!id->name || !id->arn || !id->id || (akid && !id->secret) || (role && !id->trust)) {
        rc = HY_ENOMEM;
        goto out_fail;
    }
    if (role) {
        if ((rc = collect(&docs, "SELECT document FROM role_policies WHERE role_id = ?", id->id,
                          NULL, false)) ||
            (rc = collect(&docs, "SELECT arn FROM role_attached WHERE role_id = ?", id->id, NULL,
                          true)) ||
            (rc = collect_tags(id, "SELECT key, value FROM role_tags WHERE role_id = ?", id->id)))
            goto out_fail;
    } else {
        const char *own = "SELECT document FROM entity_policies WHERE kind = 'user' AND "
                          "entity_id = ?";
        const char *att = "SELECT arn FROM entity_attached WHERE kind = 'user' AND entity_id = ?";
        const char *gown = "SELECT p.document FROM entity_policies p JOIN group_members m ON "
                           "p.kind = 'group' AND p.entity_id = m.group_id WHERE m.user_id = ?";
        const char *gatt = "SELECT a.arn FROM entity_attached a JOIN group_members m ON "
                           "a.kind = 'group' AND a.entity_id = m.group_id WHERE m.user_id = ?";
        if ((rc = collect(&docs, own, id->id, NULL, false)) ||
            (rc = collect(&docs, att, id->id, NULL, true)) ||
            (rc = collect(&docs, gown, id->id, NULL, false)) ||
            (rc = collect(&docs, gatt, id->id, NULL, true)) ||
            (rc = collect_tags(id, "SELECT key, value FROM user_tags WHERE user_id = ?", id->id)))
            goto out_fail;
    }
    id->pols = calloc(docs.n ? docs.n : 1, sizeof *id->pols);
    if (!id->pols) {
        rc = HY_ENOMEM;
        goto out_fail;
    }
    for (size_t i = 0; i < docs.n; i++) {
        char err[256];
        int prc = policy_parse(docs.docs[i], strlen(docs.docs[i]), POLICY_IDENTITY,
                               &id->pols[id->npols], err, sizeof err);
        if (prc == HY_ENOMEM) {
            rc = prc;
            goto out_fail;
        }
        if (prc == HY_OK)
            id->npols++;
        else
            log_warn("iam", "a stored policy of %s does not parse (%s): it is not applied",
                     id->arn, err);
    }
    doclist_free(&docs);
    *out = id;
    return HY_OK;
out_fail:
    sqlite3_finalize(st);
    doclist_free(&docs);
    iam_identity_put(id);
    return rc;
}

#define IAM_CACHE_SLOTS 256
struct cache_slot {
    char key[600];
    uint64_t gen;
    struct iam_identity *id;
};
static struct cache_slot iam_cache[IAM_CACHE_SLOTS];
static pthread_mutex_t iam_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned cache_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % IAM_CACHE_SLOTS;
}

static int identity_cached(const char *akid, const char *arn, struct iam_identity **out)
{
    char key[600];
    int n = snprintf(key, sizeof key, "%s:%s", akid ? "k" : "a", akid ? akid : arn);
    if (n < 0 || (size_t)n >= sizeof key)
        return HY_ENOTFOUND;
    unsigned h = cache_hash(key);
    uint64_t gen = iam_generation();
    pthread_mutex_lock(&iam_cache_lock);
    struct cache_slot *s = &iam_cache[h];
    if (s->id && s->gen == gen && strcmp(s->key, key) == 0) {
        __atomic_add_fetch(&s->id->refs, 1, __ATOMIC_ACQ_REL);
        *out = s->id;
        pthread_mutex_unlock(&iam_cache_lock);
        return HY_OK;
    }
    pthread_mutex_unlock(&iam_cache_lock);
    struct iam_identity *id = NULL;
    pthread_mutex_lock(&iam_lock);
    gen = iam_generation(); /* read under the lock: a change in flight is after */
    int rc = identity_load_locked(akid, arn, &id);
    pthread_mutex_unlock(&iam_lock);
    if (rc)
        return rc;
    pthread_mutex_lock(&iam_cache_lock);
    struct iam_identity *old = s->id;
    memcpy(s->key, key, (size_t)n + 1);
    s->gen = gen;
    s->id = id;
    __atomic_add_fetch(&id->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&iam_cache_lock);
    iam_identity_put(old);
    *out = id;
    return HY_OK;
}

int iam_identity_by_key(const char *akid, struct iam_identity **out)
{
    return identity_cached(akid, NULL, out);
}

int iam_identity_by_arn(const char *arn, struct iam_identity **out)
{
    return identity_cached(NULL, arn, out);
}

static void cache_clear(void)
{
    pthread_mutex_lock(&iam_cache_lock);
    for (size_t i = 0; i < IAM_CACHE_SLOTS; i++) {
        iam_identity_put(iam_cache[i].id);
        iam_cache[i].id = NULL;
    }
    pthread_mutex_unlock(&iam_cache_lock);
}

/* ---- principals ------------------------------------------------------------------- */

int iam_principal_resolve(const char *akid, const char *token, struct iam_principal *out,
                          char *secret, size_t secret_len)
{
    memset(out, 0, sizeof *out);
    snprintf(out->akid, sizeof out->akid, "%s", akid);
    if (!token && hy_cfg.access_key_id && strcmp(akid, hy_cfg.access_key_id) == 0) {
        if (strlen(hy_cfg.secret_access_key) >= secret_len)
            return HY_ENOTFOUND;
        strcpy(secret, hy_cfg.secret_access_key);
        out->kind = IAM_ROOT;
        snprintf(out->arn, sizeof out->arn, "arn:aws:iam::%s:root", HY_ACCOUNT_ID);
        snprintf(out->user_id, sizeof out->user_id, "%s", HY_ACCOUNT_ID);
        return HY_OK;
    }
    if (strncmp(akid, "ASIA", 4) == 0) {
        if (!token)
            return HY_ENOTFOUND;
        char kind, arn[512], session[70];
        int64_t exp;
        int t = sts_token_check(akid, token, hy_now_ms(), &kind, arn, sizeof arn, session,
                                sizeof session, &exp);
        if (t == STS_TOKEN_INVALID)
            return HY_EINVAL;
        if (t == STS_TOKEN_EXPIRED)
            return HY_ESTATE;
        char s[41];
        if (sts_secret(akid, s) || secret_len <= 40)
            return HY_EINVAL;
        memcpy(secret, s, 41);
        out->expires_ms = exp;
        if (kind == 'a') {
            out->kind = IAM_ROOT;
            snprintf(out->arn, sizeof out->arn, "arn:aws:iam::%s:root", HY_ACCOUNT_ID);
            snprintf(out->user_id, sizeof out->user_id, "%s", HY_ACCOUNT_ID);
            return HY_OK;
        }
        struct iam_identity *id = NULL;
        int rc = iam_identity_by_arn(arn, &id);
        if (rc == HY_ENOTFOUND) {
            /* the user or role is gone: its sessions end with it */
            return HY_EINVAL;
        }
        if (rc)
            return rc;
        out->ident = id;
        if (kind == 'r') {
            out->kind = IAM_ROLE_SESSION;
            snprintf(out->role_arn, sizeof out->role_arn, "%s", arn);
            snprintf(out->session, sizeof out->session, "%s", session);
            snprintf(out->arn, sizeof out->arn, "arn:aws:sts::%s:assumed-role/%s/%s",
                     HY_ACCOUNT_ID, id->name, session);
            snprintf(out->user_id, sizeof out->user_id, "%s:%s", id->id, session);
        } else {
            out->kind = IAM_USER;
            snprintf(out->arn, sizeof out->arn, "%s", id->arn);
            snprintf(out->name, sizeof out->name, "%s", id->name);
            snprintf(out->user_id, sizeof out->user_id, "%s", id->id);
        }
        return HY_OK;
    }
    if (token)
        return HY_EINVAL; /* a session token with a long-term key */
    struct iam_identity *id = NULL;
    int rc = iam_identity_by_key(akid, &id);
    if (rc)
        return rc;
    if (!id->active || strlen(id->secret) >= secret_len) {
        iam_identity_put(id);
        return HY_ENOTFOUND;
    }
    strcpy(secret, id->secret);
    out->kind = IAM_USER;
    out->ident = id;
    snprintf(out->arn, sizeof out->arn, "%s", id->arn);
    snprintf(out->name, sizeof out->name, "%s", id->name);
    snprintf(out->user_id, sizeof out->user_id, "%s", id->id);
    return HY_OK;
}

void iam_principal_release(struct iam_principal *p)
{
    if (!p)
        return;
    iam_identity_put(p->ident);
    p->ident = NULL;
}

size_t iam_context_keys(const struct iam_principal *p, const char *source_ip, bool tls,
                        struct policy_key *keys, size_t cap, char *scratch,
                        const char **values, size_t nvalues)
{
    size_t n = 0, v = 0;
#define KEY(nm, val)                                                         \
    do {                                                                     \
        if (n < cap && v < nvalues && (val)) {                               \
            values[v] = (val);                                               \
            keys[n].name = (nm);                                             \
            keys[n].values = &values[v];                                     \
            keys[n].nvalues = 1;                                             \
            n++;                                                             \
            v++;                                                             \
        }                                                                    \
    } while (0)
    int64_t now = hy_now_ms();
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(scratch, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(scratch + 32, 32, "%lld", (long long)t);
    KEY("aws:CurrentTime", scratch);
    KEY("aws:EpochTime", scratch + 32);
    KEY("aws:SecureTransport", tls ? "true" : "false");
    KEY("aws:SourceIp", source_ip);
    KEY("aws:PrincipalArn", p->kind == IAM_ROLE_SESSION ? p->role_arn : p->arn);
    KEY("aws:PrincipalAccount", HY_ACCOUNT_ID);
    KEY("aws:userid", p->user_id);
    KEY("aws:PrincipalType", p->kind == IAM_ROOT ? "Account"
                             : p->kind == IAM_USER ? "User" : "AssumedRole");
    if (p->kind == IAM_USER)
        KEY("aws:username", p->name);
    if (p->kind == IAM_ROLE_SESSION)
        KEY("aws:TokenIssueTime", scratch);
    if (p->ident)
        for (size_t i = 0; i < p->ident->ntags; i++)
            KEY(p->ident->tag_keys[i], p->ident->tag_values[i]);
#undef KEY
    return n;
}

void iam_authorize(const struct iam_principal *p, const char *action, const char *resource_arn,
                   const struct policy *resource_policy, const struct policy_key *keys,
                   size_t nkeys, struct policy_result *out)
{
    memset(out, 0, sizeof *out);
    if (p->kind == IAM_ROOT || hy_iam_mode == IAM_MODE_OFF) {
        out->decision = POLICY_ALLOW;
        return;
    }
    struct policy_ctx ctx = {0};
    ctx.principal_arn = p->arn;
    ctx.principal_account = HY_ACCOUNT_ID;
    ctx.role_arn = p->kind == IAM_ROLE_SESSION ? p->role_arn : NULL;
    ctx.keys = keys;
    ctx.nkeys = nkeys;
    policy_evaluate(p->ident ? p->ident->pols : NULL, p->ident ? p->ident->npols : 0,
                    resource_policy, action, resource_arn, &ctx, out);
}

/* ---- delivery roles ------------------------------------------------------------------- */

int iam_delivery_role_check(const char *role_arn, char *why, size_t why_len)
{
    if (hy_iam_mode == IAM_MODE_OFF)
        return HY_OK;
    struct iam_identity *id = NULL;
    int rc = role_arn ? iam_identity_by_arn(role_arn, &id) : HY_ENOTFOUND;
    if (rc == HY_OK && id->is_role) {
        struct policy *trust = NULL;
        char err[200];
        struct policy_ctx ctx = {0};
        ctx.service = "firehose.amazonaws.com";
        ctx.principal_account = HY_ACCOUNT_ID;
        struct policy_result res = {0};
        if (policy_parse(id->trust, strlen(id->trust), POLICY_TRUST, &trust, err,
                         sizeof err) == HY_OK)
            policy_evaluate(NULL, 0, trust, "sts:AssumeRole", role_arn, &ctx, &res);
        policy_free(trust);
        iam_identity_put(id);
        if (res.decision == POLICY_ALLOW)
            return HY_OK;
    } else if (rc != HY_ENOTFOUND && rc != HY_OK) {
        snprintf(why, why_len, "Firehose is unable to assume role %s. Please check the role "
                               "provided.", role_arn);
        return rc;
    } else {
        iam_identity_put(id);
    }
    snprintf(why, why_len, "Firehose is unable to assume role %s. Please check the role "
                           "provided.", role_arn ? role_arn : "null");
    return HY_EINVAL;
}

int iam_role_allows(const char *role_arn, const char *action, const char *resource_arn,
                    char *why, size_t why_len)
{
    struct iam_identity *id = NULL;
    int rc = role_arn ? iam_identity_by_arn(role_arn, &id) : HY_ENOTFOUND;
    if (rc == HY_ENOTFOUND) {
        snprintf(why, why_len, "Access was denied. Ensure that the trust policy for the provided "
                               "IAM role allows Firehose to assume the role %s (it does not "
                               "exist)", role_arn ? role_arn : "null");
        return 0;
    }
    if (rc)
        return -1;
    char session_arn[700];
    snprintf(session_arn, sizeof session_arn, "arn:aws:sts::%s:assumed-role/%s/firehose",
             HY_ACCOUNT_ID, id->name);
    struct policy_ctx ctx = {0};
    ctx.principal_arn = session_arn;
    ctx.role_arn = role_arn;
    ctx.principal_account = HY_ACCOUNT_ID;
    /* an object's bucket policy applies to the role's session too */
    struct policy *bp = NULL;
    void *bp_ref = NULL;
    char bucket[64] = "";
    if (strncmp(resource_arn, "arn:aws:s3:::", 13) == 0) {
        const char *b = resource_arn + 13, *slash = strchr(b, '/');
        size_t n = slash ? (size_t)(slash - b) : strlen(b);
        if (n < sizeof bucket) {
            memcpy(bucket, b, n);
            bucket[n] = 0;
        }
    }
    if (bucket[0] && iam_bucket_policy_parsed(bucket, &bp, &bp_ref) != HY_OK) {
        iam_identity_put(id);
        return -1;
    }
    struct policy_result res;
    policy_evaluate(id->pols, id->npols, bp, action, resource_arn, &ctx, &res);
    iam_bucket_policy_release(bp_ref);
    iam_identity_put(id);
    if (res.decision == POLICY_ALLOW)
        return 1;
    /* for the delivery log, whose lines are short: the reason first */
    snprintf(why, why_len, "S3.AccessDenied (%s): %s may not %s %s",
             res.decision == POLICY_EXPLICIT_DENY
                 ? (res.deny_in_resource ? "explicit deny in the bucket policy"
                                         : "explicit deny in an identity-based policy")
                 : "no identity-based policy allows it",
             session_arn, action, resource_arn);
    return 0;
}

char *iam_entity_arn(const char *kind, const char *name, const char *path)
{
    const char *table = !strcmp(kind, "user") ? "users" : !strcmp(kind, "group") ? "groups"
                                                                                  : "roles";
    char *arn = NULL;
    pthread_mutex_lock(&iam_lock);
    if (iam_db && name) {
        char *sql = sqlite3_mprintf("SELECT arn FROM %s WHERE name = ?", table);
        sqlite3_stmt *st;
        if (sql && sqlite3_prepare_v2(iam_db, sql, -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW)
                arn = strdup((const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        }
        sqlite3_free(sql);
    }
    pthread_mutex_unlock(&iam_lock);
    if (arn)
        return arn;
    size_t n = strlen(kind) + (path ? strlen(path) : 1) + (name ? strlen(name) : 1) + 40;
    if (!(arn = malloc(n)))
        return NULL;
    snprintf(arn, n, "arn:aws:iam::%s:%s%s%s", HY_ACCOUNT_ID, kind, path ? path : "/",
             name ? name : "*");
    return arn;
}

/* ---- bucket policies ---------------------------------------------------------------------- */

int iam_bucket_policy_get(const char *bucket, char **doc)
{
    int rc = HY_ENOTFOUND;
    sqlite3_stmt *st;
    *doc = NULL;
    pthread_mutex_lock(&iam_lock);
    if (!iam_db || sqlite3_prepare_v2(iam_db, "SELECT document FROM bucket_policies WHERE "
                                              "bucket = ?", -1, &st, NULL) != SQLITE_OK) {
        rc = HY_EDB;
        goto out_unlock;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *doc = strdup((const char *)sqlite3_column_text(st, 0));
        rc = *doc ? HY_OK : HY_ENOMEM;
    }
    sqlite3_finalize(st);
out_unlock:
    pthread_mutex_unlock(&iam_lock);
    return rc;
}

static int bucket_policy_write(const char *bucket, const char *doc)
{
    int rc = HY_OK;
    sqlite3_stmt *st;
    pthread_mutex_lock(&iam_lock);
    const char *sql = doc ? "INSERT OR REPLACE INTO bucket_policies(bucket, document) VALUES (?, ?)"
                          : "DELETE FROM bucket_policies WHERE bucket = ?";
    if (!iam_db || sqlite3_prepare_v2(iam_db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = HY_EDB;
        goto out_unlock;
    }
    sqlite3_bind_text(st, 1, bucket, -1, SQLITE_TRANSIENT);
    if (doc)
        sqlite3_bind_text(st, 2, doc, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = HY_EDB;
    sqlite3_finalize(st);
    iam_changed();
out_unlock:
    pthread_mutex_unlock(&iam_lock);
    return rc;
}

int iam_bucket_policy_put(const char *bucket, const char *doc)
{
    return bucket_policy_write(bucket, doc);
}

int iam_bucket_policy_delete(const char *bucket)
{
    return bucket_policy_write(bucket, NULL);
}

/* Parsed bucket policies, cached by bucket and generation like identities. */
struct bp_entry {
    int refs;
    struct policy *pol;
};
struct bp_slot {
    char bucket[64];
    uint64_t gen;
    struct bp_entry *e;
};
static struct bp_slot bp_cache[64];

void iam_bucket_policy_release(void *ref)
{
    struct bp_entry *e = ref;
    if (!e || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    policy_free(e->pol);
    free(e);
}

int iam_bucket_policy_parsed(const char *bucket, struct policy **out, void **ref)
{
    *out = NULL;
    *ref = NULL;
    if (strlen(bucket) >= 64)
        return HY_OK;
    unsigned h = cache_hash(bucket) % 64;
    uint64_t gen = iam_generation();
    pthread_mutex_lock(&iam_cache_lock);
    struct bp_slot *s = &bp_cache[h];
    if (s->e && s->gen == gen && strcmp(s->bucket, bucket) == 0) {
        __atomic_add_fetch(&s->e->refs, 1, __ATOMIC_ACQ_REL);
        *out = s->e->pol;
        *ref = s->e;
        pthread_mutex_unlock(&iam_cache_lock);
        return HY_OK;
    }
    pthread_mutex_unlock(&iam_cache_lock);
    char *doc = NULL;
    int rc = iam_bucket_policy_get(bucket, &doc);
    struct bp_entry *e = calloc(1, sizeof *e);
    if (!e) {
        free(doc);
        return HY_ENOMEM;
    }
    e->refs = 2; /* the cache's and the caller's */
    if (rc == HY_OK) {
        char err[200];
        if (policy_parse(doc, strlen(doc), POLICY_RESOURCE, &e->pol, err, sizeof err))
            log_warn("iam", "the policy of bucket %s does not parse (%s)", bucket, err);
    } else if (rc != HY_ENOTFOUND) {
        free(doc);
        free(e);
        return rc;
    }
    free(doc);
    pthread_mutex_lock(&iam_cache_lock);
    struct bp_entry *old = s->e;
    snprintf(s->bucket, sizeof s->bucket, "%s", bucket);
    s->gen = gen;
    s->e = e;
    pthread_mutex_unlock(&iam_cache_lock);
    iam_bucket_policy_release(old);
    *out = e->pol;
    *ref = e;
    return HY_OK;
}

/* ---- STS --------------------------------------------------------------------------- */

static int sts_put_credentials(struct iam_call *c, const char *akid, const char *secret,
                               const char *token, int64_t expires_ms)
{
    char exp[40];
    fmt_iso8601_ms(exp, expires_ms);
    /* AWS's Expiration has whole seconds: 2026-12-02T02:00:00Z */
    char *dot = strchr(exp, '.');
    if (dot)
        strcpy(dot, "Z");
    int rc = buf_puts(&c->out, "<Credentials>");
    if (!rc)
        rc = iam_put(c, "AccessKeyId", akid);
    if (!rc)
        rc = iam_put(c, "SecretAccessKey", secret);
    if (!rc)
        rc = iam_put(c, "SessionToken", token);
    if (!rc)
        rc = iam_put(c, "Expiration", exp);
    if (!rc)
        rc = buf_puts(&c->out, "</Credentials>");
    return rc;
}

static int sts_unsupported(struct iam_call *c, const char *what)
{
    return iam_fail(c, HY_EINVAL, "ValidationError",
                    "%s is not supported by this server: the session would get more "
                    "permissions than you asked for. Leave it out.", what);
}

static int sts_assume_role(struct iam_call *c)
{
    const char *arn = iam_param(c, "RoleArn");
    const char *session = iam_param(c, "RoleSessionName");
    const char *dur = iam_param(c, "DurationSeconds");
    const char *ext = iam_param(c, "ExternalId");
    const struct iam_principal *p = router_principal(c->req);
    long duration = 3600;
    int rc;
    iam_check_str(c, "roleArn", arn, true, 20, 2048, NULL, NULL);
    iam_check_str(c, "roleSessionName", session, true, 2, 64, pat_name, PAT_NAME_TEXT);
    iam_check_int(c, "durationSeconds", dur, 900, 43200, &duration);
    iam_check_str(c, "externalId", ext, false, 2, 1224, NULL, NULL);
    if ((rc = iam_validation_result(c)))
        return rc;
    if (iam_param(c, "Policy") || iam_param(c, "PolicyArns.member.1"))
        return sts_unsupported(c, "A session policy (Policy, PolicyArns)");
    if (iam_param(c, "Tags.member.1.Key") || iam_param(c, "TransitiveTagKeys.member.1"))
        return sts_unsupported(c, "Session tags (Tags)");
    if (iam_param(c, "SerialNumber") || iam_param(c, "SourceIdentity"))
        return sts_unsupported(c, "MFA (SerialNumber) and SourceIdentity");
    if (!p)
        return iam_fail(c, HY_EINVAL, "AccessDenied", "Not authenticated.");
    struct iam_identity *role = NULL;
    rc = identity_load_locked(NULL, arn, &role);
    const char *caller = p->arn;
    if (rc == HY_ENOTFOUND || (rc == HY_OK && !role->is_role)) {
        iam_identity_put(role);
        return iam_fail(c, HY_EINVAL, "AccessDenied",
                        "User: %s is not authorized to perform: sts:AssumeRole on resource: %s",
                        caller, arn);
    }
    if (rc)
        return iam_fail(c, rc, NULL, "cannot load role %s", arn);
    struct policy *trust = NULL;
    char err[200];
    struct policy_result res = {0};
    struct policy_key keys[48];
    const char *vals[48];
    char scratch[96];
    size_t nkeys = iam_context_keys(p, c->req->remote_addr, c->req->tls, keys, 47, scratch,
                                    vals, 47);
    if (ext) {
        vals[47] = ext;
        keys[nkeys].name = "sts:ExternalId";
        keys[nkeys].values = &vals[47];
        keys[nkeys].nvalues = 1;
        nkeys++;
    }
    if (policy_parse(role->trust, strlen(role->trust), POLICY_TRUST, &trust, err, sizeof err) ==
        HY_OK) {
        struct policy_ctx ctx = {0};
        ctx.principal_arn = caller;
        ctx.principal_account = HY_ACCOUNT_ID;
        ctx.role_arn = p->kind == IAM_ROLE_SESSION ? p->role_arn : NULL;
        ctx.keys = keys;
        ctx.nkeys = nkeys;
        policy_evaluate(p->ident ? p->ident->pols : NULL, p->ident ? p->ident->npols : 0,
                        trust, "sts:AssumeRole", arn, &ctx, &res);
    }
    policy_free(trust);
    if (res.decision != POLICY_ALLOW || hy_iam_mode == IAM_MODE_OFF) {
        if (res.decision != POLICY_ALLOW && hy_iam_mode != IAM_MODE_OFF) {
            iam_identity_put(role);
            return iam_fail(c, HY_EINVAL, "AccessDenied",
                            "User: %s is not authorized to perform: sts:AssumeRole on "
                            "resource: %s", caller, arn);
        }
    }
    long max = role->max_session > 0 ? role->max_session : 3600;
    if (p->kind == IAM_ROLE_SESSION && duration > 3600) {
        iam_identity_put(role);
        return iam_fail(c, HY_EINVAL, "ValidationError",
                        "The requested DurationSeconds exceeds the 1 hour session limit for "
                        "roles assumed by role chaining.");
    }
    if (duration > max) {
        iam_identity_put(role);
        return iam_fail(c, HY_EINVAL, "ValidationError",
                        "The requested DurationSeconds exceeds the MaxSessionDuration set for "
                        "this role.");
    }
    int64_t expires = (hy_now_ms() / 1000 + duration) * 1000;
    char akid[21], secret[41], *token = NULL;
    if ((rc = sts_mint('r', role->arn, session, expires, akid, secret, &token))) {
        iam_identity_put(role);
        return iam_fail(c, rc, NULL, "cannot mint credentials");
    }
    log_info("sts", "%s assumed %s as session %s until %lld", caller, role->arn, session,
             (long long)expires);
    rc = sts_put_credentials(c, akid, secret, token, expires);
    if (!rc)
        rc = buf_printf(&c->out, "<AssumedRoleUser><AssumedRoleId>%s:", role->id);
    if (!rc)
        rc = buf_xml_escape(&c->out, session);
    if (!rc)
        rc = buf_printf(&c->out, "</AssumedRoleId><Arn>arn:aws:sts::%s:assumed-role/",
                        HY_ACCOUNT_ID);
    if (!rc)
        rc = buf_xml_escape(&c->out, role->name);
    if (!rc)
        rc = buf_puts(&c->out, "/");
    if (!rc)
        rc = buf_xml_escape(&c->out, session);
    if (!rc)
        rc = buf_puts(&c->out, "</Arn></AssumedRoleUser>");
    OPENSSL_cleanse(secret, sizeof secret);
    free(token);
    iam_identity_put(role);
    return rc;
}

static int sts_get_session_token(struct iam_call *c)
{
    const struct iam_principal *p = router_principal(c->req);
    const char *dur = iam_param(c, "DurationSeconds");
    bool root = p && p->kind == IAM_ROOT;
    long duration = root ? 3600 : 43200;
    int rc;
    iam_check_int(c, "durationSeconds", dur, 900, 129600, &duration);
    if ((rc = iam_validation_result(c)))
        return rc;
    if (iam_param(c, "SerialNumber") || iam_param(c, "TokenCode"))
        return sts_unsupported(c, "MFA (SerialNumber, TokenCode)");
    if (!p)
        return iam_fail(c, HY_EINVAL, "AccessDenied", "Not authenticated.");
    if (p->expires_ms)
        return iam_fail(c, HY_EINVAL, "AccessDenied",
                        "Cannot call GetSessionToken with session credentials");
    if (root && duration > 3600)
        duration = 3600; /* the root's sessions last at most an hour */
    int64_t expires = (hy_now_ms() / 1000 + duration) * 1000;
    char akid[21], secret[41], *token = NULL;
    if ((rc = sts_mint(root ? 'a' : 'u', root ? "root" : p->arn, "", expires, akid, secret,
                       &token)))
        return iam_fail(c, rc, NULL, "cannot mint credentials");
    rc = sts_put_credentials(c, akid, secret, token, expires);
    OPENSSL_cleanse(secret, sizeof secret);
    free(token);
    return rc;
}

static int sts_get_caller_identity(struct iam_call *c)
{
    const struct iam_principal *p = router_principal(c->req);
    const char *uid = p ? p->user_id : HY_ACCOUNT_ID;
    char root[64];
    snprintf(root, sizeof root, "arn:aws:iam::%s:root", HY_ACCOUNT_ID);
    int rc = iam_put(c, "UserId", uid);
    if (!rc)
        rc = iam_put(c, "Account", HY_ACCOUNT_ID);
    if (!rc)
        rc = iam_put(c, "Arn", p ? p->arn : root);
    return rc;
}

/* ---- the policy simulators ------------------------------------------------------------ */

static int sim_policies(struct iam_call *c, struct policy ***pols, size_t *n, size_t have)
{
    for (int i = 1; i <= 100; i++) {
        char name[48];
        snprintf(name, sizeof name, "PolicyInputList.member.%d", i);
        const char *doc = iam_param(c, name);
        if (!doc)
            break;
        struct policy *p = NULL;
        char err[300];
        int rc = policy_parse(doc, strlen(doc), POLICY_IDENTITY, &p, err, sizeof err);
        if (rc)
            return rc == HY_EINVAL ? iam_fail(c, rc, "MalformedPolicyDocument", "%s", err)
                                   : rc;
        struct policy **grown = realloc(*pols, (*n + have + 1) * sizeof **pols);
        if (!grown) {
            policy_free(p);
            return HY_ENOMEM;
        }
        *pols = grown;
        (*pols)[(*n)++] = p;
    }
    return HY_OK;
}

/* who names the principal; its context keys (aws:username, ...) are added
 * only when keys_from_who (SimulatePrincipalPolicy: the entity is known;
 * SimulateCustomPolicy takes every key from ContextEntries, as AWS's). */
static int sim_run(struct iam_call *c, struct policy **pols, size_t npols,
                   const struct iam_principal *who, const char *caller_arn, bool keys_from_who)
{
    struct policy *resource = NULL;
    const char *rdoc = iam_param(c, "ResourcePolicy");
    char err[300];
    int rc;
    if (rdoc && (rc = policy_parse(rdoc, strlen(rdoc), POLICY_RESOURCE, &resource, err,
                                   sizeof err)))
        return rc == HY_EINVAL ? iam_fail(c, rc, "MalformedPolicyDocument", "%s", err) : rc;
    /* context: the caller's own keys, then ContextEntries (which win) */
    struct policy_key keys[96];
    const char *vals[96 + 400];
    char scratch[96];
    size_t nkeys = 0, nv = 0;
    size_t user_keys_at = 0;
    for (int i = 1; i <= 40; i++) {
        char kn[80];
        snprintf(kn, sizeof kn, "ContextEntries.member.%d.ContextKeyName", i);
        const char *key = iam_param(c, kn);
        if (!key)
            break;
        keys[nkeys].name = key;
        keys[nkeys].values = &vals[nv];
        keys[nkeys].nvalues = 0;
        for (int j = 1; j <= 10 && nv < 400; j++) {
            char vn[96];
            snprintf(vn, sizeof vn, "ContextEntries.member.%d.ContextKeyValues.member.%d", i, j);
            const char *v = iam_param(c, vn);
            if (!v)
                break;
            vals[nv++] = v;
            keys[nkeys].nvalues++;
        }
        nkeys++;
    }
    user_keys_at = nkeys;
    if (who && keys_from_who)
        nkeys += iam_context_keys(who, NULL, false, keys + nkeys, 96 - nkeys, scratch, vals + nv,
                                  96);
    (void)user_keys_at;
    struct policy_ctx ctx = {0};
    ctx.principal_arn = caller_arn ? caller_arn : (who ? who->arn : NULL);
    ctx.principal_account = HY_ACCOUNT_ID;
    ctx.role_arn = who && who->kind == IAM_ROLE_SESSION ? who->role_arn : NULL;
    ctx.keys = keys;
    ctx.nkeys = nkeys;
    rc = buf_puts(&c->out, "<EvaluationResults>");
    for (int a = 1; a <= 100 && !rc; a++) {
        char an[48];
        snprintf(an, sizeof an, "ActionNames.member.%d", a);
        const char *action = iam_param(c, an);
        if (!action)
            break;
        for (int r = 1; r <= 100 && !rc; r++) {
            char rn[48];
            snprintf(rn, sizeof rn, "ResourceArns.member.%d", r);
            const char *res_arn = iam_param(c, rn);
            if (!res_arn && r > 1)
                break;
            if (!res_arn)
                res_arn = "*";
            struct policy_result out;
            policy_evaluate(pols, npols, resource, action, res_arn, &ctx, &out);
            const char *d = out.decision == POLICY_ALLOW ? "allowed"
                            : out.decision == POLICY_EXPLICIT_DENY ? "explicitDeny"
                                                                   : "implicitDeny";
            rc = buf_puts(&c->out, "<member>");
            if (!rc)
                rc = iam_put(c, "EvalActionName", action);
            if (!rc)
                rc = iam_put(c, "EvalResourceName", res_arn);
            if (!rc)
                rc = iam_put(c, "EvalDecision", d);
            if (!rc && out.matched_statement >= 0)
                rc = buf_printf(&c->out, "<MatchedStatements><member><SourcePolicyId>%s"
                                         "</SourcePolicyId></member></MatchedStatements>",
                                out.matched_policy < 0 ? "ResourcePolicy"
                                                       : arena_printf(c->a, "policy%d",
                                                                      out.matched_policy + 1));
            if (!rc)
                rc = buf_puts(&c->out, "<MissingContextValues/></member>");
        }
    }
    if (!rc)
        rc = buf_puts(&c->out, "</EvaluationResults><IsTruncated>false</IsTruncated>");
    policy_free(resource);
    return rc;
}

static int iam_simulate_custom_policy(struct iam_call *c)
{
    struct policy **pols = NULL;
    size_t n = 0;
    int rc;
    if (!iam_param(c, "PolicyInputList.member.1"))
        iam_violation(c, "policyInputList", NULL, "Member must not be null");
    if (!iam_param(c, "ActionNames.member.1"))
        iam_violation(c, "actionNames", NULL, "Member must not be null");
    if ((rc = iam_validation_result(c)))
        return rc;
    if (!(rc = sim_policies(c, &pols, &n, 0))) {
        struct iam_principal who = {0};
        const char *caller = iam_param(c, "CallerArn");
        who.kind = IAM_USER;
        if (caller) {
            snprintf(who.arn, sizeof who.arn, "%s", caller);
            const char *slash = strrchr(caller, '/');
            snprintf(who.name, sizeof who.name, "%s", slash ? slash + 1 : caller);
        }
        rc = sim_run(c, pols, n, caller ? &who : NULL, caller, false);
    }
    for (size_t i = 0; i < n; i++)
        policy_free(pols[i]);
    free(pols);
    return rc;
}

static int iam_simulate_principal_policy(struct iam_call *c)
{
    const char *src = iam_param(c, "PolicySourceArn");
    int rc;
    iam_check_str(c, "policySourceArn", src, true, 20, 2048, NULL, NULL);
    if (!iam_param(c, "ActionNames.member.1"))
        iam_violation(c, "actionNames", NULL, "Member must not be null");
    if ((rc = iam_validation_result(c)))
        return rc;
    struct iam_identity *id = NULL;
    if (strstr(src, ":group/"))
        return iam_fail(c, HY_EINVAL, "InvalidInput",
                        "PolicySourceArn %s: simulating a group is not supported by this "
                        "server; simulate one of its users.", src);
    rc = identity_load_locked(NULL, src, &id);
    if (rc == HY_ENOTFOUND)
        return iam_fail(c, HY_EINVAL, "NoSuchEntity", "Entity %s does not exist.", src);
    if (rc)
        return rc;
    struct policy **pols = calloc(id->npols + 1, sizeof *pols);
    size_t n = 0;
    if (!pols) {
        iam_identity_put(id);
        return HY_ENOMEM;
    }
    /* the entity's policies are borrowed; the extra ones are ours */
    for (size_t i = 0; i < id->npols; i++)
        pols[n++] = id->pols[i];
    size_t own_from = n;
    rc = sim_policies(c, &pols, &n, 0);
    if (!rc) {
        struct iam_principal who = {0};
        who.kind = id->is_role ? IAM_ROLE_SESSION : IAM_USER;
        who.ident = id;
        snprintf(who.name, sizeof who.name, "%s", id->name);
        snprintf(who.user_id, sizeof who.user_id, "%s", id->id);
        if (id->is_role) {
            snprintf(who.role_arn, sizeof who.role_arn, "%s", id->arn);
            snprintf(who.arn, sizeof who.arn, "arn:aws:sts::%s:assumed-role/%s/simulation",
                     HY_ACCOUNT_ID, id->name);
        } else {
            snprintf(who.arn, sizeof who.arn, "%s", id->arn);
        }
        rc = sim_run(c, pols, n, &who, iam_param(c, "CallerArn"), true);
    }
    for (size_t i = own_from; i < n; i++)
        policy_free(pols[i]);
    free(pols);
    iam_identity_put(id);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------- */

static const struct iam_action iam_actions[] = {
    {"AddUserToGroup", iam_add_user_to_group, false},
    {"AttachGroupPolicy", iam_attach_group_policy, false},
    {"AttachRolePolicy", iam_attach_role_policy, false},
    {"AttachUserPolicy", iam_attach_user_policy, false},
    {"CreateAccessKey", iam_create_access_key, true},
    {"CreateGroup", iam_create_group, true},
    {"CreatePolicy", iam_create_policy, true},
    {"CreatePolicyVersion", iam_create_policy_version, true},
    {"CreateRole", iam_create_role, true},
    {"CreateUser", iam_create_user, true},
    {"DeleteAccessKey", iam_delete_access_key, false},
    {"DeleteGroup", iam_delete_group, false},
    {"DeleteGroupPolicy", iam_delete_group_policy, false},
    {"DeletePolicy", iam_delete_policy, false},
    {"DeletePolicyVersion", iam_delete_policy_version, false},
    {"DeleteRole", iam_delete_role, false},
    {"DeleteRolePolicy", iam_delete_role_policy, false},
    {"DeleteUser", iam_delete_user, false},
    {"DeleteUserPolicy", iam_delete_user_policy, false},
    {"DetachGroupPolicy", iam_detach_group_policy, false},
    {"DetachRolePolicy", iam_detach_role_policy, false},
    {"DetachUserPolicy", iam_detach_user_policy, false},
    {"GetAccessKeyLastUsed", iam_get_access_key_last_used, true},
    {"GetGroup", iam_get_group, true},
    {"GetGroupPolicy", iam_get_group_policy, true},
    {"GetPolicy", iam_get_policy, true},
    {"GetPolicyVersion", iam_get_policy_version, true},
    {"GetRole", iam_get_role, true},
    {"GetRolePolicy", iam_get_role_policy, true},
    {"GetUser", iam_get_user, true},
    {"GetUserPolicy", iam_get_user_policy, true},
    {"ListAccessKeys", iam_list_access_keys, true},
    {"ListAttachedGroupPolicies", iam_list_attached_group_policies, true},
    {"ListAttachedRolePolicies", iam_list_attached_role_policies, true},
    {"ListAttachedUserPolicies", iam_list_attached_user_policies, true},
    {"ListGroupPolicies", iam_list_group_policies, true},
    {"ListGroups", iam_list_groups, true},
    {"ListGroupsForUser", iam_list_groups_for_user, true},
    {"ListPolicies", iam_list_policies, true},
    {"ListPolicyVersions", iam_list_policy_versions, true},
    {"ListRolePolicies", iam_list_role_policies, true},
    {"ListRoleTags", iam_list_role_tags, true},
    {"ListRoles", iam_list_roles, true},
    {"ListUserPolicies", iam_list_user_policies, true},
    {"ListUserTags", iam_list_user_tags, true},
    {"ListUsers", iam_list_users, true},
    {"PutGroupPolicy", iam_put_group_policy, false},
    {"PutRolePolicy", iam_put_role_policy, false},
    {"PutUserPolicy", iam_put_user_policy, false},
    {"RemoveUserFromGroup", iam_remove_user_from_group, false},
    {"SetDefaultPolicyVersion", iam_set_default_policy_version, false},
    {"SimulateCustomPolicy", iam_simulate_custom_policy, true},
    {"SimulatePrincipalPolicy", iam_simulate_principal_policy, true},
    {"TagRole", iam_tag_role, false},
    {"TagUser", iam_tag_user, false},
    {"UntagRole", iam_untag_role, false},
    {"UntagUser", iam_untag_user, false},
    {"UpdateAccessKey", iam_update_access_key, false},
    {"UpdateAssumeRolePolicy", iam_update_assume_role_policy, false},
    {"UpdateRole", iam_update_role, true},
    {"UpdateUser", iam_update_user, false},
    {NULL, NULL, false},
};

static const struct iam_action sts_actions[] = {
    {"AssumeRole", sts_assume_role, true},
    {"GetCallerIdentity", sts_get_caller_identity, true},
    {"GetSessionToken", sts_get_session_token, true},
    {NULL, NULL, false},
};

static const struct iam_action *iam_find(const struct iam_action *table, const char *name)
{
    for (; table->name; table++)
        if (strcmp(table->name, name) == 0)
            return table;
    return NULL;
}

/* Parses the request and picks the action; the caller replies. */
static int iam_prepare_call(struct iam_call *c, const struct iam_action **act)
{
    int rc;
    if (c->req->body_too_large || c->req->body_len > IAM_MAX_BODY)
        return iam_fail(c, HY_ETOOBIG, "RequestEntityTooLarge",
                        "Request body is larger than %u bytes.", IAM_MAX_BODY);
    if (strcmp(c->req->method, "POST") == 0)
        rc = iam_parse_form(c, c->req->body, c->req->body_len);
    else
        rc = iam_parse_form(c, c->req->query, strlen(c->req->query));
    if (rc)
        return rc;

    /* The credential scope names the service; unsigned requests name it
     * by Version, and failing that by which service has the action. */
    const char *version = iam_param(c, "Version");
    struct sigv4_scope scope;
    c->action = iam_param(c, "Action");
    if (sigv4_scope_parse(c->req, &scope) == SIGV4_OK)
        c->sts = strcmp(scope.service, "sts") == 0;
    else if (version)
        c->sts = strcmp(version, STS_VERSION) == 0;
    else
        c->sts = c->action && iam_find(sts_actions, c->action);
    if (!c->action || !*c->action)
        return iam_fail(c, HY_EINVAL, "MissingAction", "Missing Action");
    *act = iam_find(c->sts ? sts_actions : iam_actions, c->action);
    if (!*act)
        return iam_fail(c, HY_EINVAL, "InvalidAction",
                        "Could not find operation %s for version %s", c->action,
                        version ? version : (c->sts ? STS_VERSION : IAM_VERSION));
    return HY_OK;
}

void iam_handle(struct http_req *req)
{
    struct iam_call c = {0};
    const struct iam_action *act = NULL;
    int rc;

    c.req = req;
    c.a = req->arena;
    hy_uuid4(c.request_id);
    buf_init(&c.out, IAM_MAX_OUT);
    buf_init(&c.verr, 64 * 1024);

    if ((rc = iam_prepare_call(&c, &act)))
        goto out_reply;
    pthread_mutex_lock(&iam_lock);
    if (iam_db)
        rc = act->fn(&c);
    else
        rc = iam_fail(&c, HY_EDB, NULL, "IAM store is not open");
    /* any change: every cached identity and policy is stale */
    if (rc == HY_OK && strncmp(act->name, "Get", 3) && strncmp(act->name, "List", 4) &&
        strncmp(act->name, "Simulate", 8) && !c.sts)
        iam_changed();
    pthread_mutex_unlock(&iam_lock);

out_reply:
    if (rc) {
        iam_reply_error(&c, rc);
    } else {
        const char *ns = c.sts ? STS_XMLNS : IAM_XMLNS;
        struct buf b;
        buf_init(&b, IAM_MAX_OUT + 4096);
        rc = buf_printf(&b, "<%sResponse xmlns=\"%s\">", act->name, ns);
        if (!rc && act->has_result)
            rc = buf_printf(&b, "<%sResult>%s</%sResult>", act->name,
                            c.out.data ? c.out.data : "", act->name);
        if (!rc)
            rc = buf_printf(&b, "<ResponseMetadata><RequestId>%s</RequestId>"
                                "</ResponseMetadata></%sResponse>",
                            c.request_id, act->name);
        if (rc) {
            iam_reply_error(&c, rc);
        } else {
            http_add_header(req, "x-amzn-RequestId", c.request_id);
            http_reply(req, 200, "text/xml", b.data, b.len);
        }
        buf_free(&b);
    }
    buf_free(&c.out);
    buf_free(&c.verr);
}

/* ---- open, close, lookups for other modules ------------------------------------- */

static const char iam_schema[] =
    "CREATE TABLE IF NOT EXISTS roles("
    " name TEXT PRIMARY KEY COLLATE NOCASE,"
    " path TEXT NOT NULL,"
    " role_id TEXT NOT NULL UNIQUE,"
    " arn TEXT NOT NULL UNIQUE,"
    " create_ms INTEGER NOT NULL,"
    " trust_policy TEXT NOT NULL,"
    " description TEXT,"
    " max_session INTEGER NOT NULL DEFAULT 3600);"
    "CREATE TABLE IF NOT EXISTS role_tags("
    " role_id TEXT NOT NULL, key TEXT NOT NULL COLLATE NOCASE, value TEXT NOT NULL,"
    " PRIMARY KEY(role_id, key));"
    "CREATE TABLE IF NOT EXISTS role_policies("
    " role_id TEXT NOT NULL, name TEXT NOT NULL, document TEXT NOT NULL,"
    " size INTEGER NOT NULL, PRIMARY KEY(role_id, name));"
    "CREATE TABLE IF NOT EXISTS role_attached("
    " role_id TEXT NOT NULL, arn TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,"
    " PRIMARY KEY(role_id, arn));"
    "CREATE TABLE IF NOT EXISTS users("
    " name TEXT PRIMARY KEY COLLATE NOCASE, path TEXT NOT NULL, user_id TEXT NOT NULL UNIQUE,"
    " arn TEXT NOT NULL UNIQUE, create_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS user_tags("
    " user_id TEXT NOT NULL, key TEXT NOT NULL COLLATE NOCASE, value TEXT NOT NULL,"
    " PRIMARY KEY(user_id, key));"
    "CREATE TABLE IF NOT EXISTS access_keys("
    " akid TEXT PRIMARY KEY, user_id TEXT NOT NULL, secret TEXT NOT NULL,"
    " status TEXT NOT NULL, create_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS groups("
    " name TEXT PRIMARY KEY COLLATE NOCASE, path TEXT NOT NULL, group_id TEXT NOT NULL UNIQUE,"
    " arn TEXT NOT NULL UNIQUE, create_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS group_members("
    " group_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY(group_id, user_id));"
    "CREATE TABLE IF NOT EXISTS policies("
    " arn TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, path TEXT NOT NULL,"
    " policy_id TEXT NOT NULL, default_version TEXT NOT NULL, next_version INTEGER NOT NULL,"
    " description TEXT, create_ms INTEGER NOT NULL, update_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS policy_versions("
    " arn TEXT NOT NULL, version_id TEXT NOT NULL, document TEXT NOT NULL,"
    " create_ms INTEGER NOT NULL, PRIMARY KEY(arn, version_id));"
    "CREATE TABLE IF NOT EXISTS entity_policies("
    " kind TEXT NOT NULL, entity_id TEXT NOT NULL, name TEXT NOT NULL, document TEXT NOT NULL,"
    " size INTEGER NOT NULL, PRIMARY KEY(kind, entity_id, name));"
    "CREATE TABLE IF NOT EXISTS entity_attached("
    " kind TEXT NOT NULL, entity_id TEXT NOT NULL, arn TEXT NOT NULL, name TEXT NOT NULL,"
    " path TEXT NOT NULL, PRIMARY KEY(kind, entity_id, arn));"
    "CREATE TABLE IF NOT EXISTS bucket_policies(bucket TEXT PRIMARY KEY, document TEXT NOT NULL);"
    "PRAGMA user_version = 2;";

int iam_open(const char *dir)
{
    char path[4096];
    sqlite3 *db = NULL;
    char *err = NULL;
    int n = snprintf(path, sizeof path, "%s/iam.db", dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return HY_EINVAL;
    int src = sqlite3_open_v2(path, &db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                  SQLITE_OPEN_FULLMUTEX, NULL);
    if (src != SQLITE_OK)
        goto out_close_db;
    sqlite3_busy_timeout(db, 5000);
    /* WAL + FULL: a committed change is on disk when the answer leaves */
    src = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                       &err);
    if (src == SQLITE_OK)
        src = sqlite3_exec(db, iam_schema, NULL, NULL, &err);
    if (src != SQLITE_OK)
        goto out_close_db;
    /* SQLite ignores a failed sync of the directory after making iam.db-wal */
    int rc = hy_fsync_dir(dir);
    if (rc) {
        log_error("iam", "fsync of %s failed: %s", dir, hy_strerror(rc));
        sqlite3_close(db);
        return rc;
    }
    if ((rc = sts_open(dir))) {
        sqlite3_close(db);
        return rc;
    }
    pthread_mutex_lock(&iam_lock);
    iam_db = db;
    pthread_mutex_unlock(&iam_lock);
    log_debug("iam", "opened %s", path);
    return HY_OK;

out_close_db:
    log_error("iam", "cannot open %s: %s", path,
              err ? err : db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
    sqlite3_free(err);
    sqlite3_close(db);
    return src == SQLITE_NOMEM ? HY_ENOMEM : HY_EDB;
}

void iam_close(void)
{
    cache_clear();
    for (size_t i = 0; i < sizeof bp_cache / sizeof bp_cache[0]; i++) {
        iam_bucket_policy_release(bp_cache[i].e);
        bp_cache[i].e = NULL;
    }
    sts_close();
    iam_changed();
    pthread_mutex_lock(&iam_lock);
    sqlite3_close(iam_db);
    iam_db = NULL;
    pthread_mutex_unlock(&iam_lock);
}

/* Whether a role with exactly this ARN exists: HY_OK, HY_ENOTFOUND, or
 * HY_EDB. Thread-safe; for delivery streams checking their RoleARN. */
int iam_role_exists(const char *role_arn)
{
    int rc = HY_ENOTFOUND;
    sqlite3_stmt *st = NULL;
    if (!role_arn)
        return HY_ENOTFOUND;
    pthread_mutex_lock(&iam_lock);
    if (!iam_db) {
        rc = HY_EDB;
        goto out_unlock;
    }
    if (sqlite3_prepare_v2(iam_db, "SELECT 1 FROM roles WHERE arn = ?", -1, &st, NULL) !=
        SQLITE_OK) {
        log_error("iam", "role lookup: %s", sqlite3_errmsg(iam_db));
        rc = HY_EDB;
        goto out_unlock;
    }
    sqlite3_bind_text(st, 1, role_arn, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = HY_OK;
    else if (src != SQLITE_DONE) {
        log_error("iam", "role lookup: %s", sqlite3_errmsg(iam_db));
        rc = HY_EDB;
    }
    sqlite3_finalize(st);
out_unlock:
    pthread_mutex_unlock(&iam_lock);
    return rc;
}
