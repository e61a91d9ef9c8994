/* iam.h -- identities for the router and the rest of the server: who a
 * request's access key is (iam.c's store, sts.c's session tokens), which
 * policies apply to it (cached, see iam.c), and the delivery role checks
 * Firehose and the sinks make. The Query API itself is api.h's
 * iam_handle. */
#ifndef HYDRANT_IAM_H
#define HYDRANT_IAM_H

#include "policy.h"
#include "server.h"

/* A user's or a role's current policies and facts, as the evaluator needs
 * them. Immutable and reference counted: the cache hands out references
 * (iam_identity_put releases one); a change to IAM makes a new one. */
struct iam_identity {
    int refs;                  /* atomic */
    bool is_role;
    char *name;                /* user or role name */
    char *arn;                 /* user or role ARN */
    char *id;                  /* AIDA... / AROA... */
    char *secret;              /* the access key's secret (keys only) */
    bool active;               /* the access key's status is Active */
    struct policy **pols;      /* identity policies: inline, attached, groups' */
    size_t npols;
    char **tag_keys;           /* "aws:PrincipalTag/<key>" */
    char **tag_values;
    size_t ntags;
    char *trust;               /* roles: the trust policy document */
    int max_session;           /* roles: MaxSessionDuration */
};
void iam_identity_put(struct iam_identity *id); /* accepts NULL */

/* The identity of an IAM access key (AKIA...): HY_OK and a reference,
 * HY_ENOTFOUND, or HY_EDB/HY_ENOMEM. Cached per key; every IAM change
 * (a generation counter) invalidates the cache. Thread-safe. */
int iam_identity_by_key(const char *akid, struct iam_identity **out);
/* The same for a user or role by ARN (session credentials). */
int iam_identity_by_arn(const char *arn, struct iam_identity **out);
/* Bumped by every IAM change; the cache compares it. */
uint64_t iam_generation(void);

/* Who signed a request: the account root, a user (its own key, or a
 * session token from GetSessionToken), or an assumed role's session. */
enum iam_principal_kind { IAM_ROOT, IAM_USER, IAM_ROLE_SESSION };
struct iam_principal {
    enum iam_principal_kind kind;
    char akid[32];
    char arn[512];             /* root, user, or arn:aws:sts::ACCT:assumed-role/R/S */
    char user_id[160];         /* aws:userid: AIDA..., AROA...:session, the account */
    char name[130];            /* aws:username (users) */
    char role_arn[512];        /* sessions: the role */
    char session[70];
    int64_t expires_ms;        /* temporary credentials: when they end; 0 */
    struct iam_identity *ident; /* NULL for root */
};

/* sts.c: temporary credentials. The session token is
 * base64(payload) "." base64(HMAC-SHA256(server key, payload)), payload
 * "1|AKID|EXPIRY_MS|KIND|ARN|SESSION" (KIND r: role session, u: user
 * session, a: root session); the secret is derived from the access key
 * id with the same key, so nothing is stored and a token survives a
 * restart. The key is <data_dir>/sts.key (32 random bytes, 0600). */
int sts_open(const char *dir);
void sts_close(void);
enum sts_token_rc { STS_TOKEN_OK, STS_TOKEN_INVALID, STS_TOKEN_EXPIRED };
/* Mints credentials: akid (ASIA...), secret, token (malloc'd, caller
 * frees). kind 'r', 'u' or 'a'. */
int sts_mint(char kind, const char *arn, const char *session, int64_t expires_ms,
             char akid[21], char secret[41], char **token);
/* Checks a token for akid; fills kind, arn, session, expiry. */
int sts_token_check(const char *akid, const char *token, int64_t now_ms, char *kind,
                    char *arn, size_t arn_len, char *session, size_t session_len,
                    int64_t *expires_ms);
/* The secret of a temporary access key id (40 characters + NUL). */
int sts_secret(const char *akid, char secret[41]);

/* Resolves a request's access key (and X-Amz-Security-Token, token may be
 * NULL) to a principal: HY_OK; HY_ENOTFOUND (unknown or inactive key);
 * HY_EINVAL (a token that is not ours: tampered, or for another key);
 * HY_ESTATE (an expired token). On HY_OK out holds a reference (release
 * with iam_principal_release) and secret the signing secret. */
int iam_principal_resolve(const char *akid, const char *token, struct iam_principal *out,
                          char *secret, size_t secret_len);
void iam_principal_release(struct iam_principal *p);
/* Records that an IAM user's access key signed a request for service in
 * region (GetAccessKeyLastUsed); cheap enough for every request. */
void iam_note_key_use(const char *akid, const char *service, const char *region);

/* Decides action on resource_arn for p, with the request's context keys
 * (ctx->keys) and a resource policy (may be NULL). Root is always
 * allowed; so is everything under --iam=off. */
void iam_authorize(const struct iam_principal *p, const char *action, const char *resource_arn,
                   const struct policy *resource_policy, const struct policy_key *keys,
                   size_t nkeys, struct policy_result *out);
/* Fills the context keys every request has (aws:username, aws:userid,
 * aws:PrincipalArn, aws:PrincipalTag/..., aws:PrincipalType,
 * aws:PrincipalAccount, aws:CurrentTime, aws:EpochTime, aws:SourceIp,
 * aws:SecureTransport) into keys[0..cap); returns how many. Strings point
 * into p and into scratch (at least 96 bytes). */
size_t iam_context_keys(const struct iam_principal *p, const char *source_ip, bool tls,
                        struct policy_key *keys, size_t cap, char *scratch,
                        const char **values, size_t nvalues);

/* CreateDeliveryStream / UpdateDestination: the role must exist and its
 * trust policy let firehose.amazonaws.com assume it (--iam=default and
 * strict; --iam=off checks nothing). HY_OK, or HY_EINVAL with AWS's
 * message ("Firehose is unable to assume role ARN. Please check the role
 * provided.") in why. */
int iam_delivery_role_check(const char *role_arn, char *why, size_t why_len);
/* Whether the role's permission policies allow action on resource_arn
 * (the strict-mode delivery check): 1 allowed, 0 denied (why says so),
 * -1 the store failed. */
int iam_role_allows(const char *role_arn, const char *action, const char *resource_arn,
                    char *why, size_t why_len);

/* Bucket policies (S3 Put/Get/DeleteBucketPolicy), kept in iam.db. */
int iam_bucket_policy_get(const char *bucket, char **doc);            /* caller frees */
int iam_bucket_policy_put(const char *bucket, const char *doc);
int iam_bucket_policy_delete(const char *bucket);
/* The parsed policy of a bucket (cached like identities): HY_OK and a
 * reference (NULL when the bucket has none); release with
 * iam_bucket_policy_release. */
int iam_bucket_policy_parsed(const char *bucket, struct policy **out, void **ref);
void iam_bucket_policy_release(void *ref);

/* The resource ARN of an IAM entity by name ("user", "group", "role"),
 * with its stored path when it exists, else path (or "/"). malloc'd. */
char *iam_entity_arn(const char *kind, const char *name, const char *path);

/* router.c: the principal of an authenticated request (NULL before). */
const struct iam_principal *router_principal(const struct http_req *req);

#endif
