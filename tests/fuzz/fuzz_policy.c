/* fuzz_policy.c -- libFuzzer target: policy.c's parser and evaluator.
 *
 * The input is a policy document, then (after a line "--") up to eight
 * lines: an action, a resource ARN, and "key=value" context entries. The
 * first byte picks the document's kind (identity, trust, resource). When
 * policy_parse accepts the document, the evaluator must hold AWS's
 * combining rules, which the oracle checks from the outside:
 *   - it is deterministic, and a set of the policy twice decides as once;
 *   - adding an identity policy that allows everything never leaves an
 *     implicit deny, and never turns an explicit deny into an allow;
 *   - a policy of the document and a Deny-everything policy is an
 *     explicit deny, whatever the document says.
 * policy_glob is checked on the side: a string without wildcards matches
 * itself, and "*" matches everything.
 *
 * Build and run: `make fuzz FUZZ_TARGETS=policy`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

struct hy_config hy_cfg;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz_policy: invariant failed at line %d: %s\n",   \
                    __LINE__, #cond);                                           \
            __builtin_trap();                                                   \
        }                                                                       \
    } while (0)

static struct policy *allow_all, *deny_all;

static void setup(void)
{
    char err[128];
    static const char a[] = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
                            "\"Action\":\"*\",\"Resource\":\"*\"}}";
    static const char d[] = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Deny\","
                            "\"Action\":\"*\",\"Resource\":\"*\"}}";
    if (policy_parse(a, sizeof a - 1, POLICY_IDENTITY, &allow_all, err, sizeof err) ||
        policy_parse(d, sizeof d - 1, POLICY_IDENTITY, &deny_all, err, sizeof err))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!allow_all)
        setup();
    if (size < 1 || size > 64 * 1024)
        return 0;
    enum policy_kind kind = (enum policy_kind)(data[0] % 3);
    char *buf = malloc(size);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    size_t doc_len = size - 1;
    char *rest = NULL;
    char *sep = strstr(buf, "\n--\n");
    if (sep) {
        doc_len = (size_t)(sep - buf);
        *sep = 0;
        rest = sep + 4;
    }
    char err[512];
    struct policy *p = NULL;
    int rc = policy_parse(buf, doc_len, kind, &p, err, sizeof err);
    CHECK(rc == HY_OK ? p != NULL : p == NULL);
    CHECK(rc == HY_OK || rc == HY_EINVAL || rc == HY_ENOMEM);
    if (rc == HY_EINVAL)
        CHECK(err[0] != 0);

    /* the request: action, resource, context keys */
    const char *action = "s3:GetObject", *resource = "arn:aws:s3:::b/k";
    struct policy_key keys[6];
    const char *vals[6];
    size_t nkeys = 0;
    int line = 0;
    for (char *l = rest; l && *l && line < 8; line++) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = 0;
        if (line == 0)
            action = l;
        else if (line == 1)
            resource = l;
        else if (nkeys < 6) {
            char *eq = strchr(l, '=');
            if (eq) {
                *eq = 0;
                vals[nkeys] = eq + 1;
                keys[nkeys].name = l;
                keys[nkeys].values = &vals[nkeys];
                keys[nkeys].nvalues = 1;
                nkeys++;
            }
        }
        l = nl ? nl + 1 : NULL;
    }
    CHECK(policy_glob("*", action, false));
    if (!strpbrk(action, "*?"))
        CHECK(policy_glob(action, action, true));

    if (p) {
        struct policy_ctx ctx = {.principal_arn = "arn:aws:iam::000000000000:user/fuzz",
                                 .principal_account = "000000000000",
                                 .keys = keys, .nkeys = nkeys};
        struct policy *one[1] = {p}, *two[2] = {p, p}, *with_allow[2] = {p, allow_all},
                      *with_deny[2] = {p, deny_all};
        struct policy_result r1, r1b, r2, ra, rd, rr;
        const struct policy *as_resource = kind == POLICY_RESOURCE ? p : NULL;
        struct policy *const *ids = kind == POLICY_IDENTITY ? one : NULL;
        size_t nids = kind == POLICY_IDENTITY ? 1 : 0;
        policy_evaluate(ids, nids, as_resource, action, resource, &ctx, &r1);
        policy_evaluate(ids, nids, as_resource, action, resource, &ctx, &r1b);
        CHECK(r1.decision == r1b.decision);
        if (kind == POLICY_IDENTITY) {
            policy_evaluate(two, 2, NULL, action, resource, &ctx, &r2);
            CHECK(r2.decision == r1.decision);
            policy_evaluate(with_allow, 2, NULL, action, resource, &ctx, &ra);
            CHECK(ra.decision != POLICY_IMPLICIT_DENY);
            if (r1.decision == POLICY_EXPLICIT_DENY)
                CHECK(ra.decision == POLICY_EXPLICIT_DENY);
            policy_evaluate(with_deny, 2, NULL, action, resource, &ctx, &rd);
            CHECK(rd.decision == POLICY_EXPLICIT_DENY);
        } else {
            /* a resource or trust policy beside the allow-everything
             * identity: never an implicit deny */
            policy_evaluate(&allow_all, 1, p, action, resource, &ctx, &rr);
            CHECK(rr.decision != POLICY_IMPLICIT_DENY);
        }
        char msg[2048];
        policy_denial_message(ctx.principal_arn, action, resource, &r1, msg, sizeof msg);
        CHECK(strstr(msg, "is not authorized to perform") != NULL);
    }
    policy_free(p);
    free(buf);
    return 0;
}
