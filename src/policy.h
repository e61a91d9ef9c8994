/* policy.h -- IAM policy documents: the one parser/validator and the one
 * evaluator every API uses (see policy.c).
 *
 * Typical use, from the router once a request is authenticated:
 *
 *     struct policy_ctx ctx = {...principal, keys...};
 *     struct policy_result res;
 *     policy_evaluate(set, resource_policy, "firehose:PutRecord", arn, &ctx, &res);
 *     if (res.decision != POLICY_ALLOW) ... policy_denial_message(...)
 */
#ifndef HYDRANT_POLICY_H
#define HYDRANT_POLICY_H

#include "server.h"

/* --iam=default|strict|off (main.c sets it before anything starts). */
enum iam_mode { IAM_MODE_DEFAULT, IAM_MODE_STRICT, IAM_MODE_OFF };
extern enum iam_mode hy_iam_mode;

/* What a document is for: grammar differs (trust and resource policies
 * name a Principal, identity policies must not). */
enum policy_kind { POLICY_IDENTITY, POLICY_TRUST, POLICY_RESOURCE };

/* A parsed, validated document. Immutable once made, so it may be read
 * from any thread; freed with policy_free. */
struct policy;

/* Parses and validates doc (IAM's grammar: Version, Statement, Effect,
 * Action/NotAction, Resource/NotResource, Principal/NotPrincipal,
 * Condition with the operators policy.c implements). HY_OK and *out
 * (caller frees), or HY_EINVAL with IAM's MalformedPolicyDocument message
 * in err, or HY_ENOMEM. */
int policy_parse(const char *doc, size_t len, enum policy_kind kind, struct policy **out,
                 char *err, size_t err_len);
void policy_free(struct policy *p); /* accepts NULL */

/* One condition key's values in the request context. */
struct policy_key {
    const char *name;          /* "aws:SourceIp", "s3:prefix", ... (any case) */
    const char *const *values; /* nvalues strings */
    size_t nvalues;
};

/* Who asks, and what the request carries. */
struct policy_ctx {
    const char *principal_arn; /* the caller (user, assumed role) */
    /* for resource and trust policies: the principal as AWS names it */
    const char *principal_account;   /* "000000000000" */
    const char *service;             /* a service principal, else NULL */
    const char *role_arn;            /* an assumed role: the role's ARN */
    const struct policy_key *keys;   /* request context, also aws:username... */
    size_t nkeys;
};

enum policy_decision { POLICY_IMPLICIT_DENY, POLICY_ALLOW, POLICY_EXPLICIT_DENY };

struct policy_result {
    enum policy_decision decision;
    bool deny_in_resource;     /* the explicit deny came from the resource policy */
    bool allowed_by_resource;  /* the allow came from the resource policy */
    int matched_policy;        /* index in the set of the deciding statement's
                                  policy, -1 for none or the resource policy */
    int matched_statement;
};

/* Evaluates action on resource (an ARN, or "*") against the identity
 * policies set[0..n) and the resource policy (may be NULL), AWS's way for
 * a principal of the same account: an explicit Deny anywhere wins; else
 * an Allow in an identity policy or in the resource policy allows; else
 * implicit deny. */
void policy_evaluate(struct policy *const *set, size_t n, const struct policy *resource,
                     const char *action, const char *resource_arn,
                     const struct policy_ctx *ctx, struct policy_result *out);

/* AWS's AccessDenied text: "User: ARN is not authorized to perform: ACTION
 * on resource: RES because no identity-based policy allows the ACTION
 * action" (or "with an explicit deny in an identity-based policy"). */
void policy_denial_message(const char *principal_arn, const char *action,
                           const char *resource_arn, const struct policy_result *res,
                           char *out, size_t out_len);

/* Glob as IAM matches actions and ARNs: '*' any run, '?' one character;
 * case-insensitive when nocase. */
bool policy_glob(const char *pattern, const char *s, bool nocase);

#endif
