/* policy.c -- IAM policy documents: the one parser and validator, and the
 * one evaluator every API's authorization goes through (router.c for
 * requests, iam.c's simulators, sts.c's trust policies, the strict-mode
 * delivery check).
 *
 * Design.
 * - policy_parse validates with IAM's grammar and MalformedPolicyDocument
 *   messages and keeps the parsed jansson tree plus, per statement, the
 *   members the evaluator needs (pointers into the tree). A parsed policy
 *   is never modified, so the same object serves every thread (jansson
 *   reads do not write).
 * - policy_evaluate follows AWS's documented logic for a principal of the
 *   same account: an explicit Deny in any policy wins; else an Allow in
 *   an identity policy, or in the resource policy for the principal it
 *   names, allows; else the request is implicitly denied. A resource
 *   policy that names the account (arn:aws:iam::ACCOUNT:root or the bare
 *   id) as principal delegates to IAM: it does not allow a user by itself
 *   (AWS's rule for same-account access), but its Deny applies to all.
 * - Matching: actions case-insensitively with '*' and '?', resources with
 *   the same glob case-sensitively. In documents of Version 2012-10-17,
 *   ${key} in Resource and condition values is replaced by the request
 *   context's value (${*} ${?} ${$} are the literal characters;
 *   ${key, 'default'} gives a default); a variable whose key is missing
 *   makes that element match nothing, as AWS does.
 * - Conditions: every operator of one block must hold (AND), a key's
 *   values are alternatives (OR). Operators: String{Equals,NotEquals,
 *   EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike}, Numeric{Equals,
 *   NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals},
 *   Date{...the same six}, Bool, BinaryEquals, IpAddress, NotIpAddress,
 *   Arn{Equals,Like,NotEquals,NotLike}, Null; each but Null with the
 *   IfExists suffix; ForAllValues: / ForAnyValue: prefixes for
 *   multivalued keys. A key missing from the request makes a positive
 *   operator false and a negated one (Not...) true; IfExists makes it
 *   true. Any other operator is refused at parse time ("Invalid Condition
 *   type"), never evaluated as true.
 *
 * Threading: no global state; everything is reentrant.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum iam_mode hy_iam_mode = IAM_MODE_DEFAULT;

#define POLICY_MAX_ITEMS 4096   /* actions / resources / values per element */
#define POLICY_MAX_VAR 1024     /* a value after variable substitution */

enum cond_op {
    OP_STR_EQ, OP_STR_NE, OP_STR_EQ_IC, OP_STR_NE_IC, OP_STR_LIKE, OP_STR_NOT_LIKE,
    OP_NUM_EQ, OP_NUM_NE, OP_NUM_LT, OP_NUM_LE, OP_NUM_GT, OP_NUM_GE,
    OP_DATE_EQ, OP_DATE_NE, OP_DATE_LT, OP_DATE_LE, OP_DATE_GT, OP_DATE_GE,
    OP_BOOL, OP_BIN_EQ, OP_IP, OP_NOT_IP,
    OP_ARN_EQ, OP_ARN_LIKE, OP_ARN_NE, OP_ARN_NOT_LIKE, OP_NULL,
};

static const struct {
    const char *name;
    enum cond_op op;
    bool negated;
} cond_ops[] = {
    {"StringEquals", OP_STR_EQ, false}, {"StringNotEquals", OP_STR_NE, true},
    {"StringEqualsIgnoreCase", OP_STR_EQ_IC, false},
    {"StringNotEqualsIgnoreCase", OP_STR_NE_IC, true},
    {"StringLike", OP_STR_LIKE, false}, {"StringNotLike", OP_STR_NOT_LIKE, true},
    {"NumericEquals", OP_NUM_EQ, false}, {"NumericNotEquals", OP_NUM_NE, true},
    {"NumericLessThan", OP_NUM_LT, false}, {"NumericLessThanEquals", OP_NUM_LE, false},
    {"NumericGreaterThan", OP_NUM_GT, false}, {"NumericGreaterThanEquals", OP_NUM_GE, false},
    {"DateEquals", OP_DATE_EQ, false}, {"DateNotEquals", OP_DATE_NE, true},
    {"DateLessThan", OP_DATE_LT, false}, {"DateLessThanEquals", OP_DATE_LE, false},
    {"DateGreaterThan", OP_DATE_GT, false}, {"DateGreaterThanEquals", OP_DATE_GE, false},
    {"Bool", OP_BOOL, false}, {"BinaryEquals", OP_BIN_EQ, false},
    {"IpAddress", OP_IP, false}, {"NotIpAddress", OP_NOT_IP, true},
    {"ArnEquals", OP_ARN_EQ, false}, {"ArnLike", OP_ARN_LIKE, false},
    {"ArnNotEquals", OP_ARN_NE, true}, {"ArnNotLike", OP_ARN_NOT_LIKE, true},
    {"Null", OP_NULL, false},
};

enum set_op { SET_NONE, SET_ANY, SET_ALL };

struct cond {
    enum cond_op op;
    bool negated, if_exists;
    enum set_op set;
    const char *key;
    const char **values;
    size_t nvalues;
};

struct stmt {
    bool deny;
    bool not_action;
    const char **actions;
    size_t nactions;
    bool has_resource, not_resource;
    const char **resources;
    size_t nresources;
    json_t *principal;     /* Principal or NotPrincipal, NULL when none */
    bool not_principal;
    struct cond *conds;
    size_t nconds;
};

struct policy {
    json_t *root;
    bool variables;        /* Version 2012-10-17 */
    struct stmt *stmts;
    size_t nstmts;
};

/* ---- parsing ------------------------------------------------------------- */

struct pctx {
    char *err;
    size_t err_len;
};

static int perr(struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(struct pctx *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (p->err && p->err_len)
        vsnprintf(p->err, p->err_len, fmt, ap);
    va_end(ap);
    return HY_EINVAL;
}

/* A string or a non-empty array of strings (and, for condition values,
 * numbers and booleans written as their JSON text): *out borrowed from
 * the tree or from scratch strings kept in the tree (json values). */
static int string_list(struct pctx *p, json_t *v, bool scalars, const char ***out, size_t *n,
                       const char *what)
{
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (count == 0 || count > POLICY_MAX_ITEMS)
        return perr(p, "Syntax errors in policy.");
    const char **list = calloc(count, sizeof *list);
    if (!list)
        return HY_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (json_is_string(e)) {
            list[i] = json_string_value(e);
        } else if (scalars && (json_is_number(e) || json_is_boolean(e))) {
            /* keep the text form next to the value: replace it in place
             * by its string (the tree is ours until policy_parse returns) */
            char buf[64];
            if (json_is_boolean(e))
                snprintf(buf, sizeof buf, "%s", json_is_true(e) ? "true" : "false");
            else if (json_is_integer(e))
                snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(e));
            else
                snprintf(buf, sizeof buf, "%.17g", json_real_value(e));
            json_t *s = json_string(buf);
            if (!s || (json_is_array(v) ? json_array_set_new(v, i, s) : -1) != 0) {
                json_decref(s);
                free(list);
                if (!json_is_array(v))
                    return perr(p, "Syntax errors in policy.");
                return HY_ENOMEM;
            }
            list[i] = json_string_value(json_array_get(v, i));
        } else {
            free(list);
            return perr(p, "Syntax errors in policy.");
        }
        if (!list[i]) {
            free(list);
            return perr(p, "Syntax errors in policy.");
        }
    }
    (void)what;
    *out = list;
    *n = count;
    return HY_OK;
}

static int check_action(struct pctx *p, const char *a)
{
    if (strcmp(a, "*") == 0)
        return HY_OK;
    const char *colon = strchr(a, ':');
    if (!colon || colon == a)
        return perr(p, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, "
                       "etc.");
    if (strchr(colon + 1, ':'))
        return perr(p, "Actions/Condition can contain only one colon.");
    for (const char *c = a; c < colon; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '*' && *c != '?')
            return perr(p, "Vendor %.*s is not valid", (int)(colon - a), a);
    return HY_OK;
}

static int check_resource(struct pctx *p, const char *r)
{
    if (strcmp(r, "*") == 0 || strncmp(r, "arn:", 4) == 0) {
        /* arn:partition:service:region:account:resource -- five colons */
        if (r[0] == '*')
            return HY_OK;
        int colons = 0;
        for (const char *c = r; *c; c++)
            colons += *c == ':';
        if (colons >= 5)
            return HY_OK;
        return perr(p, "Resource %s must be in ARN format or \"*\".", r);
    }
    return perr(p, "Resource %s must be in ARN format or \"*\".", r);
}

/* Principal: "*" or an object of AWS / Service / Federated /
 * CanonicalUser, each a string or a list of strings. */
static int check_principal(struct pctx *p, json_t *pr)
{
    if (json_is_string(pr))
        return strcmp(json_string_value(pr), "*") == 0
                   ? HY_OK
                   : perr(p, "Invalid principal in policy: \"%s\"", json_string_value(pr));
    if (!json_is_object(pr) || json_object_size(pr) == 0)
        return perr(p, "Invalid principal in policy");
    const char *k;
    json_t *v;
    json_object_foreach(pr, k, v) {
        if (strcmp(k, "AWS") && strcmp(k, "Service") && strcmp(k, "Federated") &&
            strcmp(k, "CanonicalUser"))
            return perr(p, "Invalid principal in policy: \"%s\"", k);
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (n == 0)
            return perr(p, "Invalid principal in policy");
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
            if (!json_is_string(e) || !json_string_value(e)[0])
                return perr(p, "Invalid principal in policy");
            const char *s = json_string_value(e);
            if (!strcmp(k, "AWS") && strcmp(s, "*") && strncmp(s, "arn:", 4) != 0) {
                for (const char *c = s; *c; c++)
                    if (!isdigit((unsigned char)*c))
                        return perr(p, "Invalid principal in policy: \"AWS\":\"%s\"", s);
                if (strlen(s) != 12)
                    return perr(p, "Invalid principal in policy: \"AWS\":\"%s\"", s);
            }
        }
    }
    return HY_OK;
}

static int parse_conditions(struct pctx *p, json_t *cj, struct stmt *st)
{
    if (!json_is_object(cj))
        return perr(p, "Syntax errors in policy.");
    size_t cap = 0;
    const char *opname;
    json_t *block;
    json_object_foreach(cj, opname, block) {
        if (!json_is_object(block))
            return perr(p, "Syntax errors in policy.");
        cap += json_object_size(block);
    }
    if (cap > POLICY_MAX_ITEMS)
        return perr(p, "Syntax errors in policy.");
    st->conds = calloc(cap ? cap : 1, sizeof *st->conds);
    if (!st->conds)
        return HY_ENOMEM;
    json_object_foreach(cj, opname, block) {
        const char *name = opname;
        enum set_op set = SET_NONE;
        if (strncmp(name, "ForAllValues:", 13) == 0) {
            set = SET_ALL;
            name += 13;
        } else if (strncmp(name, "ForAnyValue:", 12) == 0) {
            set = SET_ANY;
            name += 12;
        }
        size_t nlen = strlen(name);
        bool if_exists = nlen > 8 && strcmp(name + nlen - 8, "IfExists") == 0;
        if (if_exists)
            nlen -= 8;
        int found = -1;
        for (size_t i = 0; i < sizeof cond_ops / sizeof cond_ops[0]; i++)
            if (strlen(cond_ops[i].name) == nlen && strncmp(cond_ops[i].name, name, nlen) == 0)
                found = (int)i;
        if (found < 0 || (if_exists && cond_ops[found].op == OP_NULL))
            return perr(p, "Invalid Condition type : %s.", opname);
        const char *key;
        json_t *vals;
        json_object_foreach(block, key, vals) {
            const char *colon = strchr(key, ':');
            if (!colon || colon == key || !colon[1])
                return perr(p, "Actions/Conditions must be prefaced by a vendor, e.g., iam, "
                               "sdb, ec2, etc.");
            struct cond *c = &st->conds[st->nconds];
            c->op = cond_ops[found].op;
            c->negated = cond_ops[found].negated;
            c->if_exists = if_exists;
            c->set = set;
            c->key = key;
            if (json_is_number(vals) || json_is_boolean(vals)) {
                /* a lone number or boolean: kept as its text, in an array */
                json_t *arr = json_array();
                if (!arr || json_array_append(arr, vals) != 0 ||
                    json_object_set_new(block, key, arr) != 0)
                    return HY_ENOMEM;
                vals = json_object_get(block, key);
            }
            int rc = string_list(p, vals, true, &c->values, &c->nvalues, "condition");
            if (rc)
                return rc;
            st->nconds++;
            for (size_t i = 0; i < c->nvalues; i++) {
                const char *v = c->values[i];
                if (c->op == OP_NULL || c->op == OP_BOOL) {
                    if (strcasecmp(v, "true") && strcasecmp(v, "false"))
                        return perr(p, "Invalid value for %s: %s", cond_ops[found].name, v);
                }
            }
        }
    }
    return HY_OK;
}

static void stmts_free(struct policy *pol)
{
    for (size_t i = 0; i < pol->nstmts; i++) {
        struct stmt *st = &pol->stmts[i];
        free(st->actions);
        free(st->resources);
        for (size_t j = 0; j < st->nconds; j++)
            free(st->conds[j].values);
        free(st->conds);
    }
    free(pol->stmts);
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    stmts_free(p);
    json_decref(p->root);
    free(p);
}

static int parse_statement(struct pctx *p, json_t *s, enum policy_kind kind, struct stmt *st)
{
    static const char *const allowed[] = {"Sid", "Effect", "Action", "NotAction", "Resource",
                                          "NotResource", "Principal", "NotPrincipal",
                                          "Condition", NULL};
    if (!json_is_object(s))
        return perr(p, "Syntax errors in policy.");
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, k) == 0;
        if (!ok)
            return perr(p, "Syntax errors in policy.");
    }
    json_t *sid = json_object_get(s, "Sid");
    if (sid && !json_is_string(sid))
        return perr(p, "Syntax errors in policy.");
    json_t *effect = json_object_get(s, "Effect");
    if (!json_is_string(effect))
        return perr(p, "Syntax errors in policy.");
    if (strcmp(json_string_value(effect), "Allow") && strcmp(json_string_value(effect), "Deny"))
        return perr(p, "Invalid effect: %s", json_string_value(effect));
    st->deny = json_string_value(effect)[0] == 'D';

    json_t *act = json_object_get(s, "Action"), *nact = json_object_get(s, "NotAction");
    if (!act && !nact)
        return perr(p, "Policy statement must contain actions.");
    if (act && nact)
        return perr(p, "Syntax errors in policy.");
    st->not_action = nact != NULL;
    int rc = string_list(p, act ? act : nact, false, &st->actions, &st->nactions, "action");
    if (rc)
        return rc;
    for (size_t i = 0; i < st->nactions; i++)
        if ((rc = check_action(p, st->actions[i])))
            return rc;

    json_t *pr = json_object_get(s, "Principal"), *npr = json_object_get(s, "NotPrincipal");
    json_t *res = json_object_get(s, "Resource"), *nres = json_object_get(s, "NotResource");
    if (kind == POLICY_IDENTITY && (pr || npr))
        return perr(p, "Policy document should not specify a principal.");
    if (kind == POLICY_TRUST && !pr && !npr)
        return perr(p, "AssumeRolepolicy contained an invalid principal element.");
    if (kind == POLICY_RESOURCE && !pr && !npr)
        return perr(p, "Missing required field Principal");
    if (pr && npr)
        return perr(p, "Syntax errors in policy.");
    if (kind == POLICY_TRUST && (res || nres))
        return perr(p, "Has prohibited field Resource");
    if (kind != POLICY_TRUST && !res && !nres)
        return perr(p, "Policy statement must contain resources.");
    if (res && nres)
        return perr(p, "Syntax errors in policy.");
    if (pr || npr) {
        if ((rc = check_principal(p, pr ? pr : npr)))
            return rc;
        st->principal = pr ? pr : npr;
        st->not_principal = npr != NULL;
    }
    if (res || nres) {
        st->has_resource = true;
        st->not_resource = nres != NULL;
        if ((rc = string_list(p, res ? res : nres, false, &st->resources, &st->nresources,
                              "resource")))
            return rc;
        for (size_t i = 0; i < st->nresources; i++)
            if ((rc = check_resource(p, st->resources[i])))
                return rc;
    }
    json_t *cond = json_object_get(s, "Condition");
    if (cond && (rc = parse_conditions(p, cond, st)))
        return rc;
    return HY_OK;
}

int policy_parse(const char *doc, size_t len, enum policy_kind kind, struct policy **out,
                 char *err, size_t err_len)
{
    struct pctx p = {err, err_len};
    json_error_t jerr;
    *out = NULL;
    if (err && err_len)
        err[0] = 0;
    json_t *root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return perr(&p, "This policy contains invalid Json");
    struct policy *pol = calloc(1, sizeof *pol);
    int rc = HY_OK;
    if (!pol) {
        json_decref(root);
        return HY_ENOMEM;
    }
    pol->root = root;
    if (!json_is_object(root)) {
        rc = perr(&p, "Syntax errors in policy.");
        goto out_fail;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "Version") && strcmp(k, "Statement") && strcmp(k, "Id")) {
            rc = perr(&p, "Syntax errors in policy.");
            goto out_fail;
        }
    }
    json_t *ver = json_object_get(root, "Version");
    if (ver && (!json_is_string(ver) || (strcmp(json_string_value(ver), "2012-10-17") &&
                                         strcmp(json_string_value(ver), "2008-10-17")))) {
        rc = perr(&p, "The policy failed legacy parsing");
        goto out_fail;
    }
    pol->variables = ver && strcmp(json_string_value(ver), "2012-10-17") == 0;
    json_t *id = json_object_get(root, "Id");
    if (id && !json_is_string(id)) {
        rc = perr(&p, "Syntax errors in policy.");
        goto out_fail;
    }
    json_t *sts = json_object_get(root, "Statement");
    if (!sts || (!json_is_object(sts) && !json_is_array(sts))) {
        rc = perr(&p, "Syntax errors in policy.");
        goto out_fail;
    }
    size_t n = json_is_array(sts) ? json_array_size(sts) : 1;
    if (n > POLICY_MAX_ITEMS) {
        rc = perr(&p, "Syntax errors in policy.");
        goto out_fail;
    }
    pol->stmts = calloc(n ? n : 1, sizeof *pol->stmts);
    if (!pol->stmts) {
        rc = HY_ENOMEM;
        goto out_fail;
    }
    for (size_t i = 0; i < n; i++) {
        pol->nstmts++;
        rc = parse_statement(&p, json_is_array(sts) ? json_array_get(sts, i) : sts, kind,
                             &pol->stmts[i]);
        if (rc)
            goto out_fail;
    }
    *out = pol;
    return HY_OK;

out_fail:
    policy_free(pol);
    return rc;
}

/* ---- matching -------------------------------------------------------------- */

bool policy_glob(const char *pat, const char *s, bool nocase)
{
    /* iterative glob with one backtrack point: linear in practice, never
     * exponential */
    const char *star = NULL, *mark = NULL;
    while (*s) {
        char pc = *pat, sc = *s;
        if (nocase) {
            pc = (char)tolower((unsigned char)pc);
            sc = (char)tolower((unsigned char)sc);
        }
        if (*pat == '*') {
            star = ++pat;
            mark = s;
        } else if (*pat && (*pat == '?' || pc == sc)) {
            pat++;
            s++;
        } else if (star) {
            pat = star;
            s = ++mark;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == 0;
}

static const struct policy_key *ctx_key(const struct policy_ctx *ctx, const char *name,
                                        size_t name_len)
{
    for (size_t i = 0; i < ctx->nkeys; i++)
        if (strlen(ctx->keys[i].name) == name_len &&
            strncasecmp(ctx->keys[i].name, name, name_len) == 0)
            return &ctx->keys[i];
    return NULL;
}

/* ${...} substitution into out. false: a variable had no value (the
 * element then matches nothing) or the result is too long. */
static bool substitute(const struct policy *pol, const char *in, const struct policy_ctx *ctx,
                       char *out, size_t out_len)
{
    size_t o = 0;
    if (!pol->variables || !strstr(in, "${")) {
        size_t n = strlen(in);
        if (n >= out_len)
            return false;
        memcpy(out, in, n + 1);
        return true;
    }
    for (const char *c = in; *c;) {
        const char *val = NULL;
        size_t vlen = 0;
        if (c[0] == '$' && c[1] == '{') {
            const char *end = strchr(c + 2, '}');
            if (!end)
                goto literal;
            const char *name = c + 2;
            size_t nlen = (size_t)(end - name);
            const char *def = NULL;
            size_t def_len = 0;
            const char *comma = memchr(name, ',', nlen);
            if (comma) {
                /* ${key, 'default'} */
                const char *q1 = memchr(comma, '\'', (size_t)(end - comma));
                const char *q2 = q1 ? memchr(q1 + 1, '\'', (size_t)(end - q1 - 1)) : NULL;
                if (q1 && q2) {
                    def = q1 + 1;
                    def_len = (size_t)(q2 - q1 - 1);
                }
                nlen = (size_t)(comma - name);
                while (nlen && name[nlen - 1] == ' ')
                    nlen--;
            }
            if (nlen == 1 && (*name == '*' || *name == '?' || *name == '$')) {
                val = name;
                vlen = 1;
            } else {
                const struct policy_key *k = ctx_key(ctx, name, nlen);
                if (k && k->nvalues == 1) {
                    val = k->values[0];
                    vlen = strlen(val);
                } else if (def) {
                    val = def;
                    vlen = def_len;
                } else {
                    return false;
                }
            }
            if (o + vlen >= out_len)
                return false;
            memcpy(out + o, val, vlen);
            o += vlen;
            c = end + 1;
            continue;
        }
    literal:
        if (o + 1 >= out_len)
            return false;
        out[o++] = *c++;
    }
    out[o] = 0;
    return true;
}

static bool action_matches(const struct stmt *st, const char *action)
{
    bool any = false;
    for (size_t i = 0; i < st->nactions && !any; i++)
        any = policy_glob(st->actions[i], action, true);
    return st->not_action ? !any : any;
}

static bool resource_matches(const struct policy *pol, const struct stmt *st,
                             const char *resource, const struct policy_ctx *ctx)
{
    if (!st->has_resource)
        return true; /* trust policies: the role itself */
    bool any = false;
    char buf[POLICY_MAX_VAR];
    for (size_t i = 0; i < st->nresources && !any; i++) {
        if (!substitute(pol, st->resources[i], ctx, buf, sizeof buf))
            continue;
        any = strcmp(buf, "*") == 0 || policy_glob(buf, resource, false);
    }
    return st->not_resource ? !any : any;
}

/* One principal string of a statement against the caller. grants: for an
 * Allow (the account principal then does not name the caller). */
static bool principal_value_matches(const char *type, const char *v,
                                    const struct policy_ctx *ctx, bool grants)
{
    if (strcmp(type, "Service") == 0)
        return ctx->service && strcmp(v, ctx->service) == 0;
    if (strcmp(type, "AWS") != 0)
        return false; /* Federated, CanonicalUser: hydrant has no such callers */
    if (ctx->service)
        return false;
    if (strcmp(v, "*") == 0)
        return true;
    char root[64];
    snprintf(root, sizeof root, "arn:aws:iam::%s:root", HY_ACCOUNT_ID);
    if (strcmp(v, HY_ACCOUNT_ID) == 0 || strcmp(v, root) == 0) {
        if (!grants)
            return true;
        /* same account: naming the account delegates to IAM; it grants
         * only the root itself */
        return ctx->principal_arn && strcmp(ctx->principal_arn, root) == 0;
    }
    if (ctx->principal_arn && strcmp(v, ctx->principal_arn) == 0)
        return true;
    return ctx->role_arn && strcmp(v, ctx->role_arn) == 0;
}

static bool principal_matches(const struct stmt *st, const struct policy_ctx *ctx)
{
    if (!st->principal)
        return true;
    bool any = false;
    if (json_is_string(st->principal)) {
        any = true; /* "*" */
    } else {
        const char *type;
        json_t *v;
        json_object_foreach(st->principal, type, v) {
            size_t n = json_is_array(v) ? json_array_size(v) : 1;
            for (size_t i = 0; i < n && !any; i++) {
                json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
                any = principal_value_matches(type, json_string_value(e), ctx,
                                              !st->deny && !st->not_principal);
            }
        }
    }
    return st->not_principal ? !any : any;
}

/* ---- conditions ---------------------------------------------------------- */

static bool parse_number(const char *s, double *out)
{
    char *end;
    if (!*s)
        return false;
    double d = strtod(s, &end);
    if (*end || isnan(d))
        return false;
    *out = d;
    return true;
}

/* ISO 8601 (2026-12-02, 2026-12-02T01:02:03Z, fractions, +hh:mm) or epoch
 * seconds, as ms. */
static bool parse_date(const char *s, double *out_ms)
{
    double epoch;
    if (parse_number(s, &epoch)) {
        *out_ms = epoch * 1000.0;
        return true;
    }
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return false;
    const char *p = s + 10;
    double frac = 0;
    int off_min = 0;
    if (*p == 'T' || *p == 't') {
        int m = 0;
        if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &m) != 3 || m != 8)
            return false;
        p += 9;
        if (*p == '.') {
            char *end;
            frac = strtod(p, &end);
            p = end;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om, k = 0;
            if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
                return false;
            off_min = (oh * 60 + om) * (*p == '+' ? 1 : -1);
            p += 6;
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *out_ms = ((double)t - off_min * 60.0 + frac) * 1000.0;
    return true;
}

static bool ip_in(const char *cidr, const char *ip)
{
    unsigned char net[16], addr[16];
    char buf[64];
    int bits = -1;
    const char *slash = strchr(cidr, '/');
    size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
    if (n >= sizeof buf)
        return false;
    memcpy(buf, cidr, n);
    buf[n] = 0;
    int fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
    int alen = fam == AF_INET6 ? 16 : 4;
    if (inet_pton(fam, buf, net) != 1)
        return false;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (*end || !slash[1] || b < 0 || b > alen * 8)
            return false;
        bits = (int)b;
    } else {
        bits = alen * 8;
    }
    /* an IPv4 caller seen as ::ffff:a.b.c.d */
    const char *cip = ip;
    if (fam == AF_INET && strncmp(ip, "::ffff:", 7) == 0)
        cip = ip + 7;
    if (inet_pton(fam, cip, addr) != 1)
        return false;
    for (int i = 0; i < bits / 8; i++)
        if (net[i] != addr[i])
            return false;
    if (bits % 8) {
        unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));
        if ((net[bits / 8] & mask) != (addr[bits / 8] & mask))
            return false;
    }
    return true;
}

static bool arn_like(const char *pat, const char *arn)
{
    /* component by component: the first five colons separate them */
    const char *pp = pat, *ap = arn;
    for (int i = 0; i < 5; i++) {
        const char *pc = strchr(pp, ':'), *ac = strchr(ap, ':');
        if (!pc || !ac)
            return false;
        char pbuf[256], abuf[256];
        size_t pl = (size_t)(pc - pp), al = (size_t)(ac - ap);
        if (pl >= sizeof pbuf || al >= sizeof abuf)
            return false;
        memcpy(pbuf, pp, pl);
        pbuf[pl] = 0;
        memcpy(abuf, ap, al);
        abuf[al] = 0;
        if (!policy_glob(pbuf, abuf, false))
            return false;
        pp = pc + 1;
        ap = ac + 1;
    }
    return policy_glob(pp, ap, false);
}

/* One policy value against one context value, for a positive operator
 * (the negation is applied by the caller). */
static bool value_matches(enum cond_op op, const char *pv, const char *cv)
{
    double a, b;
    switch (op) {
    case OP_STR_EQ: case OP_STR_NE: case OP_BIN_EQ:
        return strcmp(pv, cv) == 0;
    case OP_STR_EQ_IC: case OP_STR_NE_IC:
        return strcasecmp(pv, cv) == 0;
    case OP_STR_LIKE: case OP_STR_NOT_LIKE:
        return policy_glob(pv, cv, false);
    case OP_BOOL:
        return strcasecmp(pv, cv) == 0;
    case OP_IP: case OP_NOT_IP:
        return ip_in(pv, cv);
    case OP_ARN_EQ: case OP_ARN_LIKE: case OP_ARN_NE: case OP_ARN_NOT_LIKE:
        return arn_like(pv, cv);
    case OP_NUM_EQ: case OP_NUM_NE: case OP_NUM_LT: case OP_NUM_LE: case OP_NUM_GT:
    case OP_NUM_GE:
        if (!parse_number(cv, &a) || !parse_number(pv, &b))
            return false;
        goto compare;
    case OP_DATE_EQ: case OP_DATE_NE: case OP_DATE_LT: case OP_DATE_LE: case OP_DATE_GT:
    case OP_DATE_GE:
        if (!parse_date(cv, &a) || !parse_date(pv, &b))
            return false;
        goto compare;
    case OP_NULL:
        return false;
    }
    return false;
compare:
    switch (op) {
    case OP_NUM_EQ: case OP_NUM_NE: case OP_DATE_EQ: case OP_DATE_NE: return a == b;
    case OP_NUM_LT: case OP_DATE_LT: return a < b;
    case OP_NUM_LE: case OP_DATE_LE: return a <= b;
    case OP_NUM_GT: case OP_DATE_GT: return a > b;
    case OP_NUM_GE: case OP_DATE_GE: return a >= b;
    default: return false;
    }
}

/* Whether one context value matches any of the policy values (after
 * substitution). */
static bool any_value(const struct policy *pol, const struct cond *c, const char *cv,
                      const struct policy_ctx *ctx)
{
    char buf[POLICY_MAX_VAR];
    for (size_t i = 0; i < c->nvalues; i++) {
        const char *pv = c->values[i];
        bool subst = c->op == OP_STR_EQ || c->op == OP_STR_NE || c->op == OP_STR_LIKE ||
                     c->op == OP_STR_NOT_LIKE || c->op == OP_STR_EQ_IC ||
                     c->op == OP_STR_NE_IC || c->op == OP_ARN_EQ || c->op == OP_ARN_LIKE ||
                     c->op == OP_ARN_NE || c->op == OP_ARN_NOT_LIKE;
        if (subst) {
            if (!substitute(pol, pv, ctx, buf, sizeof buf))
                continue;
            pv = buf;
        }
        if (value_matches(c->op, pv, cv))
            return true;
    }
    return false;
}

static bool cond_holds(const struct policy *pol, const struct cond *c,
                       const struct policy_ctx *ctx)
{
    const struct policy_key *k = ctx_key(ctx, c->key, strlen(c->key));
    bool present = k && k->nvalues > 0;
    if (c->op == OP_NULL) {
        /* "Null": true means the key must be absent */
        bool want_absent = strcasecmp(c->values[0], "true") == 0;
        for (size_t i = 1; i < c->nvalues; i++)
            if ((strcasecmp(c->values[i], "true") == 0) != want_absent)
                return true; /* both true and false: always one holds */
        return want_absent ? !present : present;
    }
    if (!present) {
        if (c->set == SET_ALL)
            return true; /* vacuously, as AWS documents */
        if (c->if_exists)
            return true;
        if (c->set == SET_ANY)
            return false;
        return c->negated;
    }
    if (c->set == SET_ALL) {
        for (size_t i = 0; i < k->nvalues; i++) {
            bool m = any_value(pol, c, k->values[i], ctx);
            if (c->negated ? m : !m)
                return false;
        }
        return true;
    }
    /* ForAnyValue and single-valued keys: one context value decides */
    if (c->negated && c->set != SET_ANY) {
        for (size_t i = 0; i < k->nvalues; i++)
            if (any_value(pol, c, k->values[i], ctx))
                return false;
        return true;
    }
    for (size_t i = 0; i < k->nvalues; i++) {
        bool m = any_value(pol, c, k->values[i], ctx);
        if (c->negated ? !m : m)
            return true;
    }
    return false;
}

static bool statement_applies(const struct policy *pol, const struct stmt *st,
                              const char *action, const char *resource,
                              const struct policy_ctx *ctx, bool resource_policy)
{
    if (!action_matches(st, action) || !resource_matches(pol, st, resource, ctx))
        return false;
    if ((resource_policy || st->principal) && !principal_matches(st, ctx))
        return false;
    for (size_t i = 0; i < st->nconds; i++)
        if (!cond_holds(pol, &st->conds[i], ctx))
            return false;
    return true;
}

void policy_evaluate(struct policy *const *set, size_t n, const struct policy *resource,
                     const char *action, const char *resource_arn,
                     const struct policy_ctx *ctx, struct policy_result *out)
{
    memset(out, 0, sizeof *out);
    out->decision = POLICY_IMPLICIT_DENY;
    out->matched_policy = -1;
    out->matched_statement = -1;
    bool allowed = false;
    for (size_t i = 0; i <= n; i++) {
        const struct policy *pol = i < n ? set[i] : resource;
        if (!pol)
            continue;
        bool is_res = i == n;
        for (size_t j = 0; j < pol->nstmts; j++) {
            const struct stmt *st = &pol->stmts[j];
            if (!statement_applies(pol, st, action, resource_arn, ctx, is_res))
                continue;
            if (st->deny) {
                out->decision = POLICY_EXPLICIT_DENY;
                out->deny_in_resource = is_res;
                out->allowed_by_resource = false;
                out->matched_policy = is_res ? -1 : (int)i;
                out->matched_statement = (int)j;
                return;
            }
            if (!allowed) {
                allowed = true;
                out->allowed_by_resource = is_res;
                out->matched_policy = is_res ? -1 : (int)i;
                out->matched_statement = (int)j;
            }
        }
    }
    if (allowed)
        out->decision = POLICY_ALLOW;
}

void policy_denial_message(const char *principal_arn, const char *action,
                           const char *resource_arn, const struct policy_result *res,
                           char *out, size_t out_len)
{
    if (res->decision == POLICY_EXPLICIT_DENY)
        snprintf(out, out_len,
                 "User: %s is not authorized to perform: %s on resource: %s with an explicit "
                 "deny in a%s policy", principal_arn, action, resource_arn,
                 res->deny_in_resource ? " resource-based" : "n identity-based");
    else
        snprintf(out, out_len,
                 "User: %s is not authorized to perform: %s on resource: %s because no "
                 "identity-based policy allows the %s action", principal_arn, action,
                 resource_arn, action);
}
