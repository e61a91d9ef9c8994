/* metadata_extraction.c -- the MetadataExtraction processor: dynamic
 * partitioning's inline parsing. A jq query run on each JSON record gives
 * its partition keys (the prefix namespace partitionKeyFromQuery).
 *
 * AWS behaviour honoured (Firehose developer guide, "Understand
 * partitioning keys", dynamic-partitioning-partitioning-keys.html, and
 * the older awsdocs copy doc_source/dynamic-partitioning.md):
 *   - Inline parsing "uses Firehose built-in support mechanism, a jq
 *     parser, for extracting the keys for partitioning from data records
 *     that are in JSON format. Currently, we only support jq 1.6 version."
 *     So the engine is Debian's libjq 1.6 itself, not a reimplementation:
 *     the same parser, builtins and number printing.
 *   - Parameters (botocore ProcessorParameterName): MetadataExtractionQuery
 *     (required: a jq program producing an object, e.g.
 *     {customer_id:.customer_id,year:.event_timestamp|strftime("%Y")}) and
 *     JsonParsingEngine, whose only value is JQ-1.6 (absent means JQ-1.6).
 *     A query jq 1.6 does not compile is refused at check time with jq's
 *     own error text.
 *   - Records whose keys cannot be evaluated -- not JSON, a jq error, no
 *     output, an output that is not an object, a key whose value is null
 *     (a missing field) or not a string or number -- "are delivered to the
 *     S3 error bucket prefix" (dynamic-partitioning-error-handling.html)
 *     with output type "partitioning-failed" (aws-cdk's dynamic
 *     partitioning integration test, run against AWS, waits for
 *     error-output/partitioning-failed/ objects for a record without its
 *     keys) and errorCode "DynamicPartitioning.MetadataExtractionFailed"
 *     (the code a service's end-to-end tests against real Firehose assert
 *     for an invalid event; AWS's pages do not print it).
 *   - Numbers become keys in jq's own printing (1565382027, 1.5).
 *   - At most MX_MAX_KEYS keys per record (the console's limit of 50
 *     dynamic partitioning keys; unverified against the API).
 * Not AWS's: `env` and `$ENV` would hand the server's environment (its
 * credentials) to whoever configures a query, into object keys; `env` is
 * redefined as {} and a query naming $ENV is refused. Modules are off
 * (JQ_LIBRARY_PATH is empty: `import` fails to compile). Builtins that
 * make libjq 1.6 abort on some record values are guarded (MX_PRELUDE):
 * such a record fails instead of taking the server down.
 *
 * Design: a jq_state is not thread-safe, so each run() compiles its own
 * (one compile per batch, never shared) and tears it down at the end;
 * per record: jv_parse_sized, jq_start, one jq_next (the first output is
 * the keys). libjq 1.6 keeps its dtoa state per thread (pthread_once +
 * TLS), so runs on different threads do not race; Oniguruma's lazy
 * initialization is done once up front (mx_warm_up). A query that reads
 * the clock (now) makes the keys depend on when the batch runs: the
 * processor is declared deterministic for every other query. libjq aborts on out of
 * memory (jv_mem_alloc); that is the one path here that cannot return
 * HY_ENOMEM. A query can loop or build huge values from a record's
 * contents (`[range(.n)]`): libjq 1.6 has no step or memory limit to
 * bound it (known limit, see docs).
 *
 * Threading: no state outside a run; runs concurrently on any threads.
 */
#include "proc.h"

#include <jq.h>
#include <jv.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MX_TYPE "MetadataExtraction"
#define MX_ERROR_CODE "DynamicPartitioning.MetadataExtractionFailed"
#define MX_OUTPUT_TYPE "partitioning-failed"
#define MX_MAX_KEYS 50
/* Put before every query, on one line (so jq's line numbers and $__loc__
 * stay the user's). env is {} (see above). The time builtins and implode
 * get guards, because libjq 1.6 aborts the whole process (an assert) for
 * some record values: strftime/strflocaltime/todate of a number gmtime
 * cannot take (1e300: found by fuzz_processors), implode of a non-number
 * or out-of-range element. Each guarded builtin is captured under a _hy_
 * name first, then redefined to check its input and call the capture;
 * todate, todateiso8601 and date are redefined because builtin.jq binds
 * them to the original strftime. */
#define MX_PRELUDE                                                                            \
    "def env: {}; "                                                                           \
    "def _hy_gmtime: gmtime; def _hy_localtime: localtime; "                                  \
    "def _hy_strftime(f): strftime(f); def _hy_strflocaltime(f): strflocaltime(f); "          \
    "def _hy_implode: implode; "                                                              \
    "def _hy_t: if type == \"number\" and (. < -62135596800 or . > 253402300799 or . != .) "  \
    "then error(\"time out of range\") else . end; "                                          \
    "def gmtime: _hy_t | _hy_gmtime; def localtime: _hy_t | _hy_localtime; "                  \
    "def strftime(f): _hy_t | _hy_strftime(f); "                                              \
    "def strflocaltime(f): _hy_t | _hy_strflocaltime(f); "                                    \
    "def todateiso8601: strftime(\"%Y-%m-%dT%H:%M:%SZ\"); def todate: todateiso8601; "        \
    "def date: todate; "                                                                      \
    "def implode: if type == \"array\" and all(.[]; type == \"number\" and . >= 0 and "       \
    ". <= 1114111) then _hy_implode else error(\"implode input must be an array of "          \
    "codepoints\") end; "

static const char *const mx_names[] = {"MetadataExtractionQuery", "JsonParsingEngine"};

/* The first error jq reports while compiling, for the message. */
struct mx_err {
    char text[240];
    bool set;
};

static void mx_error_cb(void *data, jv msg)
{
    struct mx_err *e = data;
    if (!e->set) {
        jv f = jq_format_error(msg); /* takes msg */
        const char *s = jv_get_kind(f) == JV_KIND_STRING ? jv_string_value(f) : "error";
        if (!strncmp(s, "jq: error: ", 11))
            s += 11;
        /* one line: the next ones quote the program with our prelude */
        snprintf(e->text, sizeof e->text, "%.*s", (int)strcspn(s, "\n"), s);
        e->set = true;
        jv_free(f);
    } else {
        jv_free(msg);
    }
}

static void mx_quiet_cb(void *data, jv msg)
{
    (void)data;
    jv_free(msg);
}

/* `input` / `inputs`: there is no further input. Without a callback
 * libjq 1.6 reads an uninitialized one (valgrind; a crash here). */
static jv mx_no_input_cb(jq_state *jq, void *data)
{
    (void)jq;
    (void)data;
    return jv_invalid();
}

/* True when the query reads $ENV: '$', then blanks or comments, then the
 * identifier ENV (the lexer allows all three forms). */
static bool mx_reads_env(const char *q)
{
    for (const char *p = strchr(q, '$'); p; p = strchr(p + 1, '$')) {
        const char *s = p + 1;
        for (;;) {
            while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
            if (*s != '#')
                break;
            while (*s && *s != '\n')
                s++;
        }
        if (!strncmp(s, "ENV", 3)) {
            char c = s[3];
            if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == ':'))
                return true;
        }
    }
    return false;
}

/* Oniguruma (jq's regex engine) sets up its encoding tables on first use
 * without a lock; one regex run here, once per process, does that before
 * two delivery threads can race to it. */
static void mx_warm_up(void)
{
    jq_state *jq = jq_init();
    if (!jq)
        return;
    jq_set_error_cb(jq, mx_quiet_cb, NULL);
    if (jq_compile(jq, "\"a\" | test(\"a\")")) {
        jq_start(jq, jv_null(), 0);
        jv_free(jq_next(jq));
    }
    jq_teardown(&jq);
}

static pthread_once_t mx_once = PTHREAD_ONCE_INIT;

/* A compiled query, or HY_EINVAL with jq's message in msg. */
static int mx_compile(const char *query, jq_state **out, char *msg, size_t msg_len)
{
    *out = NULL;
    pthread_once(&mx_once, mx_warm_up);
    if (mx_reads_env(query)) {
        snprintf(msg, msg_len,
                 "MetadataExtractionQuery cannot use $ENV: the server's environment is not "
                 "available to queries.");
        return HY_EINVAL;
    }
    size_t qlen = strlen(query);
    struct buf prog;
    buf_init(&prog, sizeof MX_PRELUDE + qlen);
    int rc = buf_puts(&prog, MX_PRELUDE);
    if (rc == HY_OK)
        rc = buf_append(&prog, query, qlen);
    if (rc) {
        buf_free(&prog);
        return HY_ENOMEM;
    }
    jq_state *jq = jq_init();
    if (!jq) {
        buf_free(&prog);
        return HY_ENOMEM;
    }
    struct mx_err err = {.set = false};
    jq_set_error_cb(jq, mx_error_cb, &err);
    jq_set_debug_cb(jq, mx_quiet_cb, NULL);
    jq_set_input_cb(jq, mx_no_input_cb, NULL);
    jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array());
    int ok = jq_compile(jq, prog.data);
    buf_free(&prog);
    jq_set_error_cb(jq, mx_quiet_cb, NULL); /* err lives on this stack only */
    if (!ok) {
        snprintf(msg, msg_len, "Invalid MetadataExtractionQuery '%.200s': %s", query,
                 err.set ? err.text : "the query does not compile with jq 1.6");
        jq_teardown(&jq);
        return HY_EINVAL;
    }
    *out = jq;
    return HY_OK;
}

static int mx_conf(const struct pl_param *p, size_t n, const char **query, char *msg,
                   size_t msg_len)
{
    int rc = proc_check_names(MX_TYPE, p, n, mx_names, 2, msg, msg_len);
    if (rc)
        return rc;
    const char *engine = pl_param_get(p, n, "JsonParsingEngine");
    if (engine && strcmp(engine, "JQ-1.6")) {
        snprintf(msg, msg_len,
                 "Invalid JsonParsingEngine '%.64s' for processor type '%s'. Valid values: "
                 "JQ-1.6.", engine, MX_TYPE);
        return HY_EINVAL;
    }
    *query = pl_param_get(p, n, "MetadataExtractionQuery");
    if (!*query || !**query) {
        snprintf(msg, msg_len, "MetadataExtractionQuery is required for processor type '%s'.",
                 MX_TYPE);
        return HY_EINVAL;
    }
    return HY_OK;
}

static int mx_check(const struct pl_param *p, size_t n, char *msg, size_t msg_len)
{
    const char *query;
    jq_state *jq;
    int rc = mx_conf(p, n, &query, msg, msg_len);
    if (rc == HY_OK && (rc = mx_compile(query, &jq, msg, msg_len)) == HY_OK)
        jq_teardown(&jq);
    if (rc == HY_ENOMEM)
        snprintf(msg, msg_len, "Out of memory while compiling MetadataExtractionQuery.");
    return rc;
}

/* The keys of one evaluated output into kv ("name\0value\0" each) and
 * the pointer arrays; HY_EINVAL with why. */
static int mx_keys(jv obj, struct buf *kv, const char **names, const char **values,
                   size_t *nkeys, char *why, size_t why_len)
{
    if (jv_get_kind(obj) != JV_KIND_OBJECT) {
        snprintf(why, why_len, "the query result is %s, not an object",
                 jv_kind_name(jv_get_kind(obj)));
        return HY_EINVAL;
    }
    size_t offs[MX_MAX_KEYS * 2], k = 0;
    int rc = HY_OK;
    buf_reset(kv);
    for (int it = jv_object_iter(obj); jv_object_iter_valid(obj, it) && rc == HY_OK;
         it = jv_object_iter_next(obj, it)) {
        jv key = jv_object_iter_key(obj, it);
        jv val = jv_object_iter_value(obj, it);
        jv text = jv_invalid();
        const char *name = jv_string_value(key);
        size_t name_len = (size_t)jv_string_length_bytes(jv_copy(key));
        jv_kind kind = jv_get_kind(val);
        if (k == MX_MAX_KEYS) {
            snprintf(why, why_len, "more than %d partition keys", MX_MAX_KEYS);
            rc = HY_EINVAL;
        } else if (memchr(name, 0, name_len)) {
            snprintf(why, why_len, "a partition key name holds a NUL character");
            rc = HY_EINVAL;
        } else if (kind == JV_KIND_STRING) {
            text = jv_copy(val);
        } else if (kind == JV_KIND_NUMBER) {
            text = jv_dump_string(jv_copy(val), 0);
        } else {
            snprintf(why, why_len, "partition key '%.64s' is %s%s", name,
                     kind == JV_KIND_NULL ? "null (missing from the record)" : jv_kind_name(kind),
                     kind == JV_KIND_NULL ? "" : ", not a string or number");
            rc = HY_EINVAL;
        }
        if (rc == HY_OK) {
            const char *v = jv_string_value(text);
            size_t v_len = (size_t)jv_string_length_bytes(jv_copy(text));
            if (memchr(v, 0, v_len)) {
                snprintf(why, why_len, "partition key '%.64s' holds a NUL character", name);
                rc = HY_EINVAL;
            } else {
                offs[2 * k] = kv->len;
                rc = buf_append(kv, name, name_len + 1);
                offs[2 * k + 1] = kv->len;
                if (rc == HY_OK)
                    rc = buf_append(kv, v, v_len + 1);
                k++;
            }
        }
        jv_free(text);
        jv_free(key);
        jv_free(val);
    }
    if (rc)
        return rc;
    for (size_t i = 0; i < k; i++) {
        names[i] = kv->data + offs[2 * i];
        values[i] = kv->data + offs[2 * i + 1];
    }
    *nkeys = k;
    return HY_OK;
}

/* True when a string starts right after a complete value (no ',' or ':'
 * between), as in {"a":1 "b":2}. No JSON text has one, and libjq 1.6's
 * parser leaks that string when it refuses the text (jv_parse.c value():
 * "Expected separator between values" returns without freeing it; found by
 * fuzz_processors). Such records are refused before jv_parse sees them,
 * with the verdict jq would give. */
static bool mx_string_after_value(const unsigned char *p, size_t len)
{
    unsigned char prev = 0; /* the last significant byte outside strings */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '"') {
            if (prev && prev != ',' && prev != ':' && prev != '[' && prev != '{')
                return true;
            for (i++; i < len && p[i] != '"'; i++)
                if (p[i] == '\\')
                    i++;
            prev = '"';
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            prev = c;
        }
    }
    return false;
}

/* Evaluates one record: HY_OK with the keys, HY_EINVAL with why. */
static int mx_eval(jq_state *jq, const unsigned char *data, size_t len, struct buf *kv,
                   const char **names, const char **values, size_t *nkeys, char *why,
                   size_t why_len)
{
    if (len > INT_MAX) {
        snprintf(why, why_len, "the record is too large to parse");
        return HY_EINVAL;
    }
    if (mx_string_after_value(data, len)) {
        snprintf(why, why_len,
                 "Non JSON record provided (Expected separator between values)");
        return HY_EINVAL;
    }
    jv in = jv_parse_sized((const char *)data, (int)len);
    if (!jv_is_valid(in)) {
        jv m = jv_invalid_get_msg(in);
        snprintf(why, why_len, "Non JSON record provided (%s)",
                 jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "empty record");
        jv_free(m);
        return HY_EINVAL;
    }
    jq_start(jq, in, 0); /* takes in */
    jv res = jq_next(jq);
    int rc;
    if (!jv_is_valid(res)) {
        jv m = jv_invalid_get_msg(res);
        if (jv_get_kind(m) == JV_KIND_STRING)
            snprintf(why, why_len, "the query failed: %s", jv_string_value(m));
        else if (jv_get_kind(m) == JV_KIND_NULL)
            snprintf(why, why_len, "the query produced no output");
        else {
            jv d = jv_dump_string(jv_copy(m), 0);
            snprintf(why, why_len, "the query failed: %s", jv_string_value(d));
            jv_free(d);
        }
        jv_free(m);
        return HY_EINVAL;
    }
    rc = mx_keys(res, kv, names, values, nkeys, why, why_len);
    jv_free(res);
    return rc;
}

static int mx_run(const struct pl_param *p, size_t n, const struct pl_ctx *ctx,
                  const struct pl_batch *in, struct pl_batch *out)
{
    const char *query;
    char msg[320];
    jq_state *jq = NULL;
    int rc = mx_conf(p, n, &query, msg, sizeof msg);
    if (rc == HY_OK)
        rc = mx_compile(query, &jq, msg, sizeof msg);
    if (rc == HY_ENOMEM)
        return rc;
    const struct pl_rec *recs = pl_recs(in);
    if (rc) {
        /* stored configuration that no longer compiles: every record to
         * the error output rather than a batch retried forever */
        log_error("metadata", "query does not compile: %s", msg);
        for (size_t i = 0; i < in->n; i++)
            if ((rc = pl_fail_add(out, recs[i].src, MX_ERROR_CODE, MX_OUTPUT_TYPE, 1, NULL,
                                  "%s", msg)))
                return rc;
        return HY_OK;
    }
    struct buf kv;
    buf_init(&kv, (size_t)-1 / 2);
    const char *names[MX_MAX_KEYS], *values[MX_MAX_KEYS];
    for (size_t i = 0; i < in->n; i++) {
        const struct pl_rec *r = &recs[i];
        size_t nkeys = 0;
        char why[300];
        rc = mx_eval(jq, pl_data(in, r), r->len, &kv, names, values, &nkeys, why, sizeof why);
        if (rc == HY_OK) {
            struct proc_mark m;
            proc_mark(out, &m);
            rc = pl_add(out, in, r, pl_data(in, r), r->len);
            if (rc == HY_OK)
                rc = pl_set_keys(out, &pl_recs(out)[out->n - 1], false, names, values, nkeys);
            if (rc == HY_OK)
                continue;
            proc_rollback(out, &m);
            if (rc != HY_ETOOBIG)
                goto out_free_jq;
            snprintf(why, sizeof why, "the record passes the batch's size ceiling");
        } else if (rc != HY_EINVAL) {
            goto out_free_jq;
        }
        rc = pl_fail_add(out, r->src, MX_ERROR_CODE, MX_OUTPUT_TYPE, 1, NULL, "%s", why);
        if (rc)
            goto out_free_jq;
    }
    rc = HY_OK;
out_free_jq:
    buf_free(&kv);
    jq_teardown(&jq);
    return rc;
}

const struct processor processor_metadata = {
    .type = MX_TYPE,
    .check = mx_check,
    .run = mx_run,
    .deterministic = true,
};
