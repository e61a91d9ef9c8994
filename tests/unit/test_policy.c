/* test_policy.c -- policy.c below the HTTP layer: the glob IAM matches
 * with, the parser's refusals (each with IAM's MalformedPolicyDocument
 * message), the evaluator's combining rules, conditions on keys that are
 * missing, policy variables, principals of resource and trust policies,
 * and the sts.c session token (mint, check, tamper, expiry). The decisions
 * AWS documents are in tests/integration/test_policy_matrix.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iam.h"
#include "policy.h"

struct hy_config hy_cfg = {.region = "us-east-1"};

static struct policy *parse(const char *doc, enum policy_kind kind)
{
    char err[256];
    struct policy *p = NULL;
    int rc = policy_parse(doc, strlen(doc), kind, &p, err, sizeof err);
    if (rc)
        fail_msg("policy_parse: %s (%s)", err, doc);
    return p;
}

static const char *refusal(const char *doc, enum policy_kind kind)
{
    static char err[256];
    struct policy *p = NULL;
    assert_int_equal(policy_parse(doc, strlen(doc), kind, &p, err, sizeof err), HY_EINVAL);
    assert_null(p);
    return err;
}

static enum policy_decision decide(const char *doc, const char *action, const char *res,
                                   const struct policy_key *keys, size_t nkeys)
{
    struct policy *p = parse(doc, POLICY_IDENTITY);
    struct policy_ctx ctx = {.principal_arn = "arn:aws:iam::000000000000:user/u",
                             .principal_account = "000000000000", .keys = keys,
                             .nkeys = nkeys};
    struct policy_result r;
    policy_evaluate(&p, 1, NULL, action, res, &ctx, &r);
    policy_free(p);
    return r.decision;
}

static void test_glob(void **s)
{
    (void)s;
    assert_true(policy_glob("*", "", false));
    assert_true(policy_glob("s3:Get*", "s3:GetObject", false));
    assert_false(policy_glob("s3:Get*", "s3:getobject", false));
    assert_true(policy_glob("s3:Get*", "S3:GETOBJECT", true));
    assert_true(policy_glob("a?c", "abc", false));
    assert_false(policy_glob("a?c", "ac", false));
    assert_true(policy_glob("*a*b*c*", "xxaxxbxxcxx", false));
    assert_false(policy_glob("*a*b*c", "xxaxxbxxcxx", false));
    /* no exponential backtracking */
    char s40[41];
    memset(s40, 'a', 40);
    s40[40] = 0;
    assert_false(policy_glob("*a*a*a*a*a*a*a*a*a*a*b", s40, false));
}

static void test_refusals(void **s)
{
    (void)s;
    assert_string_equal(refusal("{", POLICY_IDENTITY), "This policy contains invalid Json");
    assert_string_equal(refusal("{\"Statement\":[],\"Extra\":1}", POLICY_IDENTITY),
                        "Syntax errors in policy.");
    assert_string_equal(
        refusal("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                "\"s3:x\",\"Resource\":\"*\",\"Condition\":{\"StringMaybe\":{\"a:b\":\"c\"}}}}",
                POLICY_IDENTITY),
        "Invalid Condition type : StringMaybe.");
    assert_string_equal(
        refusal("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                "\"s3:x\",\"Resource\":\"*\",\"Condition\":{\"NullIfExists\":{\"a:b\":\"true\"}}}}",
                POLICY_IDENTITY),
        "Invalid Condition type : NullIfExists.");
    assert_string_equal(
        refusal("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                "\"s3:x\",\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"aws:x\":\"maybe\"}}}}",
                POLICY_IDENTITY),
        "Invalid value for Bool: maybe");
    assert_string_equal(
        refusal("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                "\"s3:a:b\",\"Resource\":\"*\"}}", POLICY_IDENTITY),
        "Actions/Condition can contain only one colon.");
    assert_string_equal(
        refusal("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                "\"s3:x\",\"Resource\":\"arn:aws:s3\"}}", POLICY_IDENTITY),
        "Resource arn:aws:s3 must be in ARN format or \"*\".");
    assert_string_equal(
        refusal("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                "\"s3:x\",\"Resource\":\"*\"}}", POLICY_RESOURCE),
        "Missing required field Principal");
    assert_string_equal(
        refusal("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                "\"sts:AssumeRole\",\"Principal\":{\"Robot\":\"x\"}}}", POLICY_TRUST),
        "Invalid principal in policy: \"Robot\"");
    assert_string_equal(
        refusal("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":"
                "\"s3:x\",\"Resource\":\"*\",\"Resource\":\"*\"}}", POLICY_IDENTITY),
        "This policy contains invalid Json");
}

static void test_combining(void **s)
{
    (void)s;
    const char *both = "{\"Version\":\"2012-10-17\",\"Statement\":["
                       "{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"},"
                       "{\"Effect\":\"Deny\",\"Action\":\"s3:Delete*\",\"Resource\":\"*\"}]}";
    assert_int_equal(decide(both, "s3:GetObject", "arn:aws:s3:::b/k", NULL, 0), POLICY_ALLOW);
    assert_int_equal(decide(both, "s3:DeleteObject", "arn:aws:s3:::b/k", NULL, 0),
                     POLICY_EXPLICIT_DENY);
    assert_int_equal(decide(both, "iam:CreateUser", "*", NULL, 0), POLICY_IMPLICIT_DENY);
}

static void test_missing_keys(void **s)
{
    (void)s;
    const char *pos = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
                      "\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
                      "{\"aws:PrincipalTag/t\":\"x\"}}}}";
    const char *neg = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
                      "\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"StringNotEquals\":"
                      "{\"aws:PrincipalTag/t\":\"x\"}}}}";
    const char *ife = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
                      "\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"StringEqualsIfExists\":"
                      "{\"aws:PrincipalTag/t\":\"x\"}}}}";
    assert_int_equal(decide(pos, "s3:x", "*", NULL, 0), POLICY_IMPLICIT_DENY);
    assert_int_equal(decide(neg, "s3:x", "*", NULL, 0), POLICY_ALLOW);
    assert_int_equal(decide(ife, "s3:x", "*", NULL, 0), POLICY_ALLOW);
    const char *v[] = {"y"};
    struct policy_key k = {"AWS:PRINCIPALTAG/T", v, 1}; /* key names: any case */
    assert_int_equal(decide(pos, "s3:x", "*", &k, 1), POLICY_IMPLICIT_DENY);
    assert_int_equal(decide(neg, "s3:x", "*", &k, 1), POLICY_ALLOW);
    assert_int_equal(decide(ife, "s3:x", "*", &k, 1), POLICY_IMPLICIT_DENY);
}

static void test_variables(void **s)
{
    (void)s;
    const char *doc = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
                      "\"Action\":\"s3:GetObject\",\"Resource\":"
                      "\"arn:aws:s3:::b/${aws:username}/${$}x\"}}";
    const char *v[] = {"alice"};
    struct policy_key k = {"aws:username", v, 1};
    assert_int_equal(decide(doc, "s3:GetObject", "arn:aws:s3:::b/alice/$x", &k, 1),
                     POLICY_ALLOW);
    assert_int_equal(decide(doc, "s3:GetObject", "arn:aws:s3:::b/bob/$x", &k, 1),
                     POLICY_IMPLICIT_DENY);
    assert_int_equal(decide(doc, "s3:GetObject", "arn:aws:s3:::b/alice/$x", NULL, 0),
                     POLICY_IMPLICIT_DENY);
}

static void test_principals(void **s)
{
    (void)s;
    struct policy *trust = parse("{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\","
                                 "\"Principal\":{\"Service\":\"firehose.amazonaws.com\"},"
                                 "\"Action\":\"sts:AssumeRole\"}}", POLICY_TRUST);
    struct policy_ctx svc = {.service = "firehose.amazonaws.com", .principal_account = "0"};
    struct policy_ctx other = {.service = "ec2.amazonaws.com"};
    struct policy_ctx user = {.principal_arn = "arn:aws:iam::000000000000:user/u"};
    struct policy_result r;
    const char *role = "arn:aws:iam::000000000000:role/r";
    policy_evaluate(NULL, 0, trust, "sts:AssumeRole", role, &svc, &r);
    assert_int_equal(r.decision, POLICY_ALLOW);
    policy_evaluate(NULL, 0, trust, "sts:AssumeRole", role, &other, &r);
    assert_int_equal(r.decision, POLICY_IMPLICIT_DENY);
    policy_evaluate(NULL, 0, trust, "sts:AssumeRole", role, &user, &r);
    assert_int_equal(r.decision, POLICY_IMPLICIT_DENY);
    policy_free(trust);
    /* the account as principal: its Allow delegates, its Deny applies */
    struct policy *acct = parse("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                                "\"Principal\":{\"AWS\":\"000000000000\"},\"Action\":\"s3:*\","
                                "\"Resource\":\"*\"},{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":"
                                "\"arn:aws:iam::000000000000:root\"},\"Action\":\"s3:Delete*\","
                                "\"Resource\":\"*\"}]}", POLICY_RESOURCE);
    policy_evaluate(NULL, 0, acct, "s3:GetObject", "arn:aws:s3:::b/k", &user, &r);
    assert_int_equal(r.decision, POLICY_IMPLICIT_DENY);
    policy_evaluate(NULL, 0, acct, "s3:DeleteObject", "arn:aws:s3:::b/k", &user, &r);
    assert_int_equal(r.decision, POLICY_EXPLICIT_DENY);
    assert_true(r.deny_in_resource);
    policy_free(acct);
}

static void test_denial_message(void **s)
{
    (void)s;
    struct policy_result r = {.decision = POLICY_IMPLICIT_DENY};
    char msg[512];
    policy_denial_message("arn:aws:iam::000000000000:user/dcUser", "firehose:PutRecord",
                          "arn:aws:firehose:us-east-1:000000000000:deliverystream/s", &r, msg,
                          sizeof msg);
    assert_string_equal(msg, "User: arn:aws:iam::000000000000:user/dcUser is not authorized to "
                             "perform: firehose:PutRecord on resource: arn:aws:firehose:"
                             "us-east-1:000000000000:deliverystream/s because no "
                             "identity-based policy allows the firehose:PutRecord action");
}

static void test_session_token(void **s)
{
    (void)s;
    char dir[] = "/tmp/hydrant-stsXXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(sts_open(dir), HY_OK);
    char akid[21], secret[41], *token = NULL, again[41];
    int64_t now = 1800000000000LL;
    assert_int_equal(sts_mint('r', "arn:aws:iam::000000000000:role/r", "sess", now + 900000,
                              akid, secret, &token), HY_OK);
    assert_memory_equal(akid, "ASIA", 4);
    assert_int_equal(sts_secret(akid, again), HY_OK);
    assert_string_equal(secret, again);
    char kind, arn[256], session[70];
    int64_t exp;
    assert_int_equal(sts_token_check(akid, token, now, &kind, arn, sizeof arn, session,
                                     sizeof session, &exp), STS_TOKEN_OK);
    assert_int_equal(kind, 'r');
    assert_string_equal(arn, "arn:aws:iam::000000000000:role/r");
    assert_string_equal(session, "sess");
    assert_true(exp == now + 900000);
    assert_int_equal(sts_token_check(akid, token, now + 900000, &kind, arn, sizeof arn, session,
                                     sizeof session, &exp), STS_TOKEN_EXPIRED);
    /* another key id, a flipped byte anywhere: invalid */
    assert_int_equal(sts_token_check("ASIAAAAAAAAAAAAAAAAA", token, now, &kind, arn, sizeof arn,
                                     session, sizeof session, &exp), STS_TOKEN_INVALID);
    size_t tlen = strlen(token);
    for (size_t i = 0; i < tlen; i += 7) {
        char saved = token[i];
        token[i] = saved == 'A' ? 'B' : 'A';
        assert_int_not_equal(sts_token_check(akid, token, now, &kind, arn, sizeof arn, session,
                                             sizeof session, &exp), STS_TOKEN_OK);
        token[i] = saved;
    }
    free(token);
    /* the key survives a restart */
    sts_close();
    assert_int_equal(sts_open(dir), HY_OK);
    assert_int_equal(sts_secret(akid, again), HY_OK);
    assert_string_equal(secret, again);
    sts_close();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),          cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_combining),     cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_variables),     cmocka_unit_test(test_principals),
        cmocka_unit_test(test_denial_message), cmocka_unit_test(test_session_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
