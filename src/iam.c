/* iam.c -- the IAM and STS Query APIs: roles, their trust policies, inline
 * and attached managed policies, and STS GetCallerIdentity.
 *
 * What it is for: a Firehose lesson creates a role for Firehose to assume
 * (a trust policy naming firehose.amazonaws.com), gives it an inline or a
 * managed S3 policy and copies its ARN into the stream definition. This
 * file keeps those roles and policies; it does not enforce them (policy.c
 * will evaluate them).
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
 *
 * Storage: SQLite <data_dir>/iam.db, WAL mode, synchronous=FULL so an
 * acknowledged change survives a crash.
 *
 *   roles(name PK COLLATE NOCASE, path, role_id UNIQUE, arn UNIQUE,
 *         create_ms, trust_policy, description NULL, max_session)
 *   role_tags(role_id, key COLLATE NOCASE, value)      PK(role_id, key)
 *   role_policies(role_id, name, document, size)        PK(role_id, name)
 *   role_attached(role_id, arn, name, path)             PK(role_id, arn)
 *
 * Role names are unique regardless of case, like AWS ("PRODROLE" and
 * "prodrole" cannot both exist); the stored spelling is what is returned.
 * `size` is a document's length without white space, the measure AWS's
 * policy-size quotas use. List markers are base64 of the first key of the
 * next page.
 *
 * Threading: iam_handle runs on several HTTP threads at once. The SQLite
 * connection is opened FULLMUTEX, and iam_lock serialises each whole
 * action so its read-check-write steps and transactions never interleave
 * with another's. IAM is a control-plane API; one action at a time is
 * plenty.
 *
 * Exported beyond api.h (the lead adds it there):
 *   int iam_role_exists(const char *role_arn);  HY_OK or HY_ENOTFOUND
 */
#include "api.h"
#include "sigv4.h"

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

/* The grammar check AWS makes before storing a policy: JSON, an object
 * with Statement, each statement with an Effect and actions; a trust
 * policy names a principal, a permissions policy names resources and no
 * principal. */
static int iam_check_policy(struct iam_call *c, const char *doc, bool trust)
{
    int rc = HY_OK;
    json_error_t jerr;
    json_t *root = json_loads(doc, 0, &jerr);
    if (!root)
        return iam_fail(c, HY_EINVAL, "MalformedPolicyDocument",
                        "This policy contains invalid Json");
    json_t *ver = json_object_get(root, "Version");
    json_t *st = json_object_get(root, "Statement");
    if (!json_is_object(root) || !st || (!json_is_object(st) && !json_is_array(st))) {
        rc = iam_fail(c, HY_EINVAL, "MalformedPolicyDocument", "Syntax errors in policy.");
        goto out_free_root;
    }
    if (ver && (!json_is_string(ver) ||
                (strcmp(json_string_value(ver), "2012-10-17") != 0 &&
                 strcmp(json_string_value(ver), "2008-10-17") != 0))) {
        rc = iam_fail(c, HY_EINVAL, "MalformedPolicyDocument",
                      "The policy failed legacy parsing");
        goto out_free_root;
    }
    size_t n = json_is_array(st) ? json_array_size(st) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(st) ? json_array_get(st, i) : st;
        json_t *effect = json_object_get(s, "Effect");
        if (!json_is_object(s) || !json_is_string(effect)) {
            rc = iam_fail(c, HY_EINVAL, "MalformedPolicyDocument", "Syntax errors in policy.");
            goto out_free_root;
        }
        if (strcmp(json_string_value(effect), "Allow") != 0 &&
            strcmp(json_string_value(effect), "Deny") != 0) {
            rc = iam_fail(c, HY_EINVAL, "MalformedPolicyDocument", "Invalid effect: %s",
                          json_string_value(effect));
            goto out_free_root;
        }
        if (!json_object_get(s, "Action") && !json_object_get(s, "NotAction")) {
            rc = iam_fail(c, HY_EINVAL, "MalformedPolicyDocument",
                          "Policy statement must contain actions.");
            goto out_free_root;
        }
        bool principal = json_object_get(s, "Principal") || json_object_get(s, "NotPrincipal");
        bool resource = json_object_get(s, "Resource") || json_object_get(s, "NotResource");
        if (trust && !principal) {
            rc = iam_fail(c, HY_EINVAL, "MalformedPolicyDocument",
                          "AssumeRolepolicy contained an invalid principal element.");
            goto out_free_root;
        }
        if (trust && resource) {
            rc = iam_fail(c, HY_EINVAL, "MalformedPolicyDocument",
                          "Has prohibited field Resource");
            goto out_free_root;
        }
        if (!trust && principal) {
            rc = iam_fail(c, HY_EINVAL, "MalformedPolicyDocument",
                          "Policy document should not specify a principal.");
            goto out_free_root;
        }
        if (!trust && !resource) {
            rc = iam_fail(c, HY_EINVAL, "MalformedPolicyDocument",
                          "Policy statement must contain resources.");
            goto out_free_root;
        }
    }
out_free_root:
    json_decref(root);
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

static int iam_put_tags(struct iam_call *c, const char *role_id, bool always)
{
    sqlite3_stmt *st;
    int rc = iam_prepare(c, "SELECT key, value FROM role_tags WHERE role_id = ? "
                            "ORDER BY key", &st);
    if (rc)
        return rc;
    iam_bind_text(st, 1, role_id);
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
        rc = iam_put_tags(c, r->id, false);
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

static int iam_store_tags(struct iam_call *c, const char *role_id,
                          const struct iam_tag *tags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st;
        int rc = iam_prepare(c, "INSERT OR REPLACE INTO role_tags(role_id, key, value) "
                                "VALUES (?, ?, ?)", &st);
        if (rc)
            return rc;
        iam_bind_text(st, 1, role_id);
        iam_bind_text(st, 2, tags[i].key);
        iam_bind_text(st, 3, tags[i].value);
        if ((rc = iam_step_done(c, st, "store tag")))
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
        (rc = iam_store_tags(c, r.id, tags, ntags)) ||
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
    if ((rc = iam_store_tags(c, r.id, tags, ntags)) || (rc = iam_exec(c, "COMMIT"))) {
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
    for (int i = 1; i <= IAM_MAX_TAGS; i++) {
        char pname[32];
        snprintf(pname, sizeof pname, "TagKeys.member.%d", i);
        const char *key = iam_param(c, pname);
        if (!key)
            break;
        sqlite3_stmt *st;
        if ((rc = iam_prepare(c, "DELETE FROM role_tags WHERE role_id = ? AND key = ?", &st)))
            return rc;
        iam_bind_text(st, 1, r.id);
        iam_bind_text(st, 2, key);
        if ((rc = iam_step_done(c, st, "untag")))
            return rc;
    }
    return HY_OK;
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
    if ((rc = iam_put_tags(c, r.id, true)))
        return rc;
    return buf_puts(&c->out, "<IsTruncated>false</IsTruncated>");
}

/* ---- STS ----------------------------------------------------------------------- */

/* The caller is the root of the one account until IAM users exist. */
static int sts_get_caller_identity(struct iam_call *c)
{
    return buf_printf(&c->out, "<UserId>%s</UserId><Account>%s</Account>"
                               "<Arn>arn:aws:iam::%s:root</Arn>",
                      HY_ACCOUNT_ID, HY_ACCOUNT_ID, HY_ACCOUNT_ID);
}

/* ---- dispatch ------------------------------------------------------------------- */

static const struct iam_action iam_actions[] = {
    {"AttachRolePolicy", iam_attach_role_policy, false},
    {"CreateRole", iam_create_role, true},
    {"DeleteRole", iam_delete_role, false},
    {"DeleteRolePolicy", iam_delete_role_policy, false},
    {"DetachRolePolicy", iam_detach_role_policy, false},
    {"GetRole", iam_get_role, true},
    {"GetRolePolicy", iam_get_role_policy, true},
    {"ListAttachedRolePolicies", iam_list_attached_role_policies, true},
    {"ListRolePolicies", iam_list_role_policies, true},
    {"ListRoleTags", iam_list_role_tags, true},
    {"ListRoles", iam_list_roles, true},
    {"PutRolePolicy", iam_put_role_policy, false},
    {"TagRole", iam_tag_role, false},
    {"UntagRole", iam_untag_role, false},
    {"UpdateAssumeRolePolicy", iam_update_assume_role_policy, false},
    {"UpdateRole", iam_update_role, true},
    {NULL, NULL, false},
};

static const struct iam_action sts_actions[] = {
    {"GetCallerIdentity", sts_get_caller_identity, true},
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
    "PRAGMA user_version = 1;";

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
