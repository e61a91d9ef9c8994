"""The policy evaluator against AWS's documented decisions.

Each case is an example from AWS's IAM or S3 documentation (the page is
cited on the case), with the decision the page states: identity
policies, an optional resource (bucket) policy, the action, the resource,
the request context, and allowed / explicitDeny / implicitDeny. They run
through SimulateCustomPolicy, which answers from the same evaluator
(src/policy.c) that authorizes every request; the S3 cases without
context keys are also run as real requests by a user holding the policy,
so the simulator and the enforcement cannot drift apart.
"""
import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
S3DOC = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
USER_ARN = "arn:aws:iam::%s:user/alice" % ACCOUNT


def pol(*statements, version="2012-10-17"):
    return {"Version": version, "Statement": list(statements)}


def allow(action, resource="*", **kw):
    return dict({"Effect": "Allow", "Action": action, "Resource": resource}, **kw)


def deny(action, resource="*", **kw):
    return dict({"Effect": "Deny", "Action": action, "Resource": resource}, **kw)


A, E, I = "allowed", "explicitDeny", "implicitDeny"

# (id, doc page, identity policies, action, resource, context, resource policy, decision)
CASES = [
    # -- Action and wildcards
    ("action-exact", DOC + "reference_policies_elements_action.html",
     [pol(allow("s3:GetObject"))], "s3:GetObject", "arn:aws:s3:::b/k", {}, None, A),
    ("action-other", DOC + "reference_policies_elements_action.html",
     [pol(allow("s3:GetObject"))], "s3:PutObject", "arn:aws:s3:::b/k", {}, None, I),
    ("action-case-insensitive", DOC + "reference_policies_elements_action.html",
     [pol(allow("S3:getobject"))], "s3:GetObject", "arn:aws:s3:::b/k", {}, None, A),
    ("action-service-wildcard", DOC + "reference_policies_elements_action.html",
     [pol(allow("firehose:*"))], "firehose:PutRecordBatch", "*", {}, None, A),
    ("action-prefix-wildcard", DOC + "reference_policies_elements_action.html",
     [pol(allow("s3:Get*"))], "s3:GetObjectTagging", "arn:aws:s3:::b/k", {}, None, A),
    ("action-prefix-wildcard-miss", DOC + "reference_policies_elements_action.html",
     [pol(allow("s3:Get*"))], "s3:ListBucket", "arn:aws:s3:::b", {}, None, I),
    ("action-question-mark", DOC + "reference_policies_elements_action.html",
     [pol(allow("iam:*AccessKey?"))], "iam:ListAccessKeys", "*", {}, None, A),
    ("action-list", DOC + "reference_policies_elements_action.html",
     [pol(allow(["sqs:SendMessage", "firehose:PutRecord"]))], "firehose:PutRecord", "*", {},
     None, A),
    ("action-star-all", DOC + "reference_policies_elements_action.html",
     [pol(allow("*"))], "iam:CreateUser", "arn:aws:iam::%s:user/x" % ACCOUNT, {}, None, A),
    # -- NotAction
    ("notaction-allow-others", DOC + "reference_policies_elements_notaction.html",
     [pol({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})],
     "s3:PutObject", "arn:aws:s3:::b/k", {}, None, A),
    ("notaction-allow-excluded", DOC + "reference_policies_elements_notaction.html",
     [pol({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})],
     "iam:CreateUser", "*", {}, None, I),
    ("notaction-deny-all-but", DOC + "reference_policies_elements_notaction.html",
     [pol(allow("*"), {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"})],
     "firehose:PutRecord", "*", {}, None, E),
    ("notaction-deny-all-but-listed", DOC + "reference_policies_elements_notaction.html",
     [pol(allow("*"), {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"})],
     "s3:GetObject", "arn:aws:s3:::b/k", {}, None, A),
    # -- Resource and NotResource
    ("resource-bucket-objects", DOC + "reference_policies_elements_resource.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::examplebucket/*"))], "s3:GetObject",
     "arn:aws:s3:::examplebucket/a/b.txt", {}, None, A),
    ("resource-other-bucket", DOC + "reference_policies_elements_resource.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::examplebucket/*"))], "s3:GetObject",
     "arn:aws:s3:::otherbucket/a", {}, None, I),
    ("resource-bucket-is-not-its-objects", DOC + "reference_policies_elements_resource.html",
     [pol(allow("s3:ListBucket", "arn:aws:s3:::examplebucket/*"))], "s3:ListBucket",
     "arn:aws:s3:::examplebucket", {}, None, I),
    ("resource-case-sensitive", DOC + "reference_policies_elements_resource.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::examplebucket/Data/*"))], "s3:GetObject",
     "arn:aws:s3:::examplebucket/data/x", {}, None, I),
    ("resource-wildcard-segment", DOC + "reference_policies_elements_resource.html",
     [pol(allow("firehose:PutRecord", "arn:aws:firehose:*:%s:deliverystream/*" % ACCOUNT))],
     "firehose:PutRecord", "arn:aws:firehose:eu-west-1:%s:deliverystream/s" % ACCOUNT, {},
     None, A),
    ("resource-question", DOC + "reference_policies_elements_resource.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::b/log-??.txt"))], "s3:GetObject",
     "arn:aws:s3:::b/log-01.txt", {}, None, A),
    ("resource-question-miss", DOC + "reference_policies_elements_resource.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::b/log-??.txt"))], "s3:GetObject",
     "arn:aws:s3:::b/log-001.txt", {}, None, I),
    ("notresource-deny-outside", DOC + "reference_policies_elements_notresource.html",
     [pol(allow("s3:*"), {"Effect": "Deny", "Action": "s3:*",
                          "NotResource": ["arn:aws:s3:::HRBucket/Payroll",
                                          "arn:aws:s3:::HRBucket/Payroll/*"]})],
     "s3:GetObject", "arn:aws:s3:::HRBucket/Other/x", {}, None, E),
    ("notresource-inside", DOC + "reference_policies_elements_notresource.html",
     [pol(allow("s3:*"), {"Effect": "Deny", "Action": "s3:*",
                          "NotResource": ["arn:aws:s3:::HRBucket/Payroll",
                                          "arn:aws:s3:::HRBucket/Payroll/*"]})],
     "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/p.csv", {}, None, A),
    # -- evaluation logic
    ("implicit-deny-empty", DOC + "reference_policies_evaluation-logic.html",
     [pol(allow("s3:ListBucket", "arn:aws:s3:::b"))], "firehose:PutRecord", "*", {}, None, I),
    ("deny-overrides-allow", DOC + "reference_policies_evaluation-logic.html",
     [pol(allow("s3:*")), pol(deny("s3:DeleteObject"))], "s3:DeleteObject",
     "arn:aws:s3:::b/k", {}, None, E),
    ("deny-overrides-same-policy", DOC + "reference_policies_evaluation-logic.html",
     [pol(deny("s3:*", "arn:aws:s3:::secret/*"), allow("s3:*"))], "s3:GetObject",
     "arn:aws:s3:::secret/k", {}, None, E),
    ("deny-not-matching-allows", DOC + "reference_policies_evaluation-logic.html",
     [pol(deny("s3:*", "arn:aws:s3:::secret/*"), allow("s3:*"))], "s3:GetObject",
     "arn:aws:s3:::public/k", {}, None, A),
    ("allow-in-second-policy", DOC + "reference_policies_evaluation-logic.html",
     [pol(allow("s3:ListBucket")), pol(allow("s3:GetObject"))], "s3:GetObject",
     "arn:aws:s3:::b/k", {}, None, A),
    # -- String conditions
    ("stringequals-match", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject", Condition={"StringEquals": {"aws:username": "alice"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:username": ["alice"]}, None, A),
    ("stringequals-other", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject", Condition={"StringEquals": {"aws:username": "alice"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:username": ["bob"]}, None, I),
    ("stringequals-case", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject", Condition={"StringEquals": {"aws:username": "Alice"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:username": ["alice"]}, None, I),
    ("stringequalsignorecase", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject",
                Condition={"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:username": ["alice"]}, None, A),
    ("stringequals-values-or", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject",
                Condition={"StringEquals": {"aws:PrincipalTag/team": ["blue", "red"]}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:PrincipalTag/team": ["red"]}, None, A),
    ("stringequals-keys-and", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject", Condition={"StringEquals": {
         "aws:PrincipalTag/team": "red", "aws:PrincipalTag/env": "prod"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:PrincipalTag/team": ["red"],
                                          "aws:PrincipalTag/env": ["dev"]}, None, I),
    ("stringnotequals-missing-key", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject",
                Condition={"StringNotEquals": {"aws:PrincipalTag/team": "red"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {}, None, A),
    ("stringequals-missing-key", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject", Condition={"StringEquals": {"aws:PrincipalTag/team": "red"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {}, None, I),
    ("stringlike-prefix", DOC + "reference_policies_examples_s3_home-directory-console.html",
     [pol(allow("s3:ListBucket", "arn:aws:s3:::b",
                Condition={"StringLike": {"s3:prefix": ["home/alice/*"]}}))],
     "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ["home/alice/docs/"]}, None, A),
    ("stringlike-prefix-other", DOC + "reference_policies_examples_s3_home-directory-console.html",
     [pol(allow("s3:ListBucket", "arn:aws:s3:::b",
                Condition={"StringLike": {"s3:prefix": ["home/alice/*"]}}))],
     "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ["home/bob/"]}, None, I),
    ("stringnotlike-deny", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:*"), deny("s3:ListBucket",
                              Condition={"StringNotLike": {"s3:prefix": ["public/*"]}}))],
     "s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ["private/"]}, None, E),
    # -- Numeric
    ("numeric-max-keys", S3DOC + "amazon-s3-policy-keys.html",
     [pol(allow("s3:ListBucket", Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))],
     "s3:ListBucket", "arn:aws:s3:::b", {"s3:max-keys": ["10"]}, None, A),
    ("numeric-max-keys-over", S3DOC + "amazon-s3-policy-keys.html",
     [pol(allow("s3:ListBucket", Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}}))],
     "s3:ListBucket", "arn:aws:s3:::b", {"s3:max-keys": ["11"]}, None, I),
    ("numeric-not-a-number", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:ListBucket", Condition={"NumericLessThan": {"s3:max-keys": 10}}))],
     "s3:ListBucket", "arn:aws:s3:::b", {"s3:max-keys": ["ten"]}, None, I),
    # -- Date
    ("date-window-inside", DOC + "reference_policies_examples_aws-dates.html",
     [pol(allow("s3:GetObject", Condition={
         "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
         "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:CurrentTime": ["2020-05-15T12:00:00Z"]}, None, A),
    ("date-window-after", DOC + "reference_policies_examples_aws-dates.html",
     [pol(allow("s3:GetObject", Condition={
         "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
         "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:CurrentTime": ["2020-07-01T00:00:00Z"]}, None, I),
    ("date-epoch", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject", Condition={"DateGreaterThan": {"aws:EpochTime": "1577836800"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:EpochTime": ["1600000000"]}, None, A),
    # -- Bool
    ("bool-securetransport-deny", S3DOC + "example-bucket-policies.html",
     [pol(allow("s3:*"), deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": ["false"]}, None, E),
    ("bool-securetransport-https", S3DOC + "example-bucket-policies.html",
     [pol(allow("s3:*"), deny("s3:*", Condition={"Bool": {"aws:SecureTransport": "false"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": ["true"]}, None, A),
    ("bool-mfa-missing", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("iam:*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))],
     "iam:CreateUser", "*", {}, None, I),
    # -- IpAddress
    ("ip-deny-outside", DOC + "reference_policies_examples_aws_deny-ip.html",
     [pol(allow("*"), deny("*", Condition={"NotIpAddress": {
         "aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceIp": ["198.51.100.7"]}, None, E),
    ("ip-inside-range", DOC + "reference_policies_examples_aws_deny-ip.html",
     [pol(allow("*"), deny("*", Condition={"NotIpAddress": {
         "aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceIp": ["203.0.113.9"]}, None, A),
    ("ip-allow-ipv6", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceIp": ["2001:db8:1::5"]}, None, A),
    ("ip-single-host", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.5/32"}}))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceIp": ["203.0.113.6"]}, None, I),
    # -- ARN conditions
    ("arnlike-principalarn", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("sts:AssumeRole", Condition={"ArnLike": {
         "aws:PrincipalArn": "arn:aws:iam::%s:user/dev-*" % ACCOUNT}}))],
     "sts:AssumeRole", "*", {"aws:PrincipalArn": ["arn:aws:iam::%s:user/dev-alice" % ACCOUNT]},
     None, A),
    ("arnequals-wildcard-segment", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("sns:Publish", Condition={"ArnEquals": {
         "aws:SourceArn": "arn:aws:s3:::*"}}))],
     "sns:Publish", "*", {"aws:SourceArn": ["arn:aws:s3:::somebucket"]}, None, A),
    ("arnnotlike", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("*"), deny("*", Condition={"ArnNotLike": {
         "aws:PrincipalArn": "arn:aws:iam::%s:role/Admin*" % ACCOUNT}}))],
     "iam:CreateUser", "*", {"aws:PrincipalArn": ["arn:aws:iam::%s:user/alice" % ACCOUNT]},
     None, E),
    # -- Null and IfExists
    ("null-true-absent", DOC + "reference_policies_elements_condition_operators.html",
     [pol(deny("*", Condition={"Null": {"aws:TokenIssueTime": "true"}}), allow("*"))],
     "s3:GetObject", "arn:aws:s3:::b/k", {}, None, E),
    ("null-true-present", DOC + "reference_policies_elements_condition_operators.html",
     [pol(deny("*", Condition={"Null": {"aws:TokenIssueTime": "true"}}), allow("*"))],
     "s3:GetObject", "arn:aws:s3:::b/k", {"aws:TokenIssueTime": ["2020-01-01T00:00:00Z"]},
     None, A),
    ("ifexists-absent", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("ec2:RunInstances", Condition={"StringEqualsIfExists": {
         "ec2:InstanceType": ["t2.micro", "t2.small"]}}))],
     "ec2:RunInstances", "*", {}, None, A),
    ("ifexists-present-other", DOC + "reference_policies_elements_condition_operators.html",
     [pol(allow("ec2:RunInstances", Condition={"StringEqualsIfExists": {
         "ec2:InstanceType": ["t2.micro", "t2.small"]}}))],
     "ec2:RunInstances", "*", {"ec2:InstanceType": ["m5.large"]}, None, I),
    # -- multivalued keys
    ("forallvalues-subset",
     DOC + "reference_policies_condition-single-vs-multi-valued-context-keys.html",
     [pol(allow("dynamodb:PutItem", Condition={"ForAllValues:StringEquals": {
         "dynamodb:Attributes": ["ID", "Message", "Tags"]}}))],
     "dynamodb:PutItem", "*", {"dynamodb:Attributes": ["ID", "Message"]}, None, A),
    ("forallvalues-extra",
     DOC + "reference_policies_condition-single-vs-multi-valued-context-keys.html",
     [pol(allow("dynamodb:PutItem", Condition={"ForAllValues:StringEquals": {
         "dynamodb:Attributes": ["ID", "Message", "Tags"]}}))],
     "dynamodb:PutItem", "*", {"dynamodb:Attributes": ["ID", "Secret"]}, None, I),
    ("forallvalues-empty-is-true",
     DOC + "reference_policies_condition-single-vs-multi-valued-context-keys.html",
     [pol(allow("dynamodb:PutItem", Condition={"ForAllValues:StringEquals": {
         "dynamodb:Attributes": ["ID"]}}))],
     "dynamodb:PutItem", "*", {}, None, A),
    ("foranyvalue-one",
     DOC + "reference_policies_condition-single-vs-multi-valued-context-keys.html",
     [pol(allow("ec2:CreateTags", Condition={"ForAnyValue:StringEquals": {
         "aws:TagKeys": ["Environment", "CostCenter"]}}))],
     "ec2:CreateTags", "*", {"aws:TagKeys": ["Owner", "CostCenter"]}, None, A),
    ("foranyvalue-none",
     DOC + "reference_policies_condition-single-vs-multi-valued-context-keys.html",
     [pol(allow("ec2:CreateTags", Condition={"ForAnyValue:StringEquals": {
         "aws:TagKeys": ["Environment", "CostCenter"]}}))],
     "ec2:CreateTags", "*", {"aws:TagKeys": ["Owner"]}, None, I),
    # -- policy variables
    ("variable-username", DOC + "reference_policies_variables.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::b/home/${aws:username}/*"))],
     "s3:GetObject", "arn:aws:s3:::b/home/alice/f", {"aws:username": ["alice"]}, None, A),
    ("variable-username-other", DOC + "reference_policies_variables.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::b/home/${aws:username}/*"))],
     "s3:GetObject", "arn:aws:s3:::b/home/bob/f", {"aws:username": ["alice"]}, None, I),
    ("variable-2008-literal", DOC + "reference_policies_variables.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::b/home/${aws:username}/*"), version="2008-10-17")],
     "s3:GetObject", "arn:aws:s3:::b/home/alice/f", {"aws:username": ["alice"]}, None, I),
    ("variable-missing-key", DOC + "reference_policies_variables.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::b/home/${aws:username}/*"))],
     "s3:GetObject", "arn:aws:s3:::b/home/alice/f", {}, None, I),
    ("variable-default", DOC + "reference_policies_variables.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/team, 'company-wide'}/*"))],
     "s3:GetObject", "arn:aws:s3:::b/company-wide/f", {}, None, A),
    ("variable-special-star", DOC + "reference_policies_variables.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::b/${*}literal"))],
     "s3:GetObject", "arn:aws:s3:::b/*literal", {}, None, A),
    ("variable-in-condition", DOC + "reference_policies_variables.html",
     [pol(allow("s3:ListBucket", "arn:aws:s3:::b",
                Condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}))],
     "s3:ListBucket", "arn:aws:s3:::b", {"aws:username": ["alice"],
                                         "s3:prefix": ["home/alice/x"]}, None, A),
    ("principaltag-match", DOC + "reference_policies_condition-keys.html",
     [pol(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/team}/*"))],
     "s3:GetObject", "arn:aws:s3:::b/blue/k", {"aws:PrincipalTag/team": ["blue"]}, None, A),
    # -- bucket policy + identity policy (same account)
    ("bucket-policy-grants-user", S3DOC + "example-bucket-policies.html",
     [], "s3:GetObject", "arn:aws:s3:::b/k", {},
     pol(allow("s3:GetObject", "arn:aws:s3:::b/*", Principal={"AWS": USER_ARN})), A),
    ("bucket-policy-other-user", S3DOC + "example-bucket-policies.html",
     [], "s3:GetObject", "arn:aws:s3:::b/k", {},
     pol(allow("s3:GetObject", "arn:aws:s3:::b/*",
               Principal={"AWS": "arn:aws:iam::%s:user/bob" % ACCOUNT})), I),
    ("bucket-policy-deny-beats-identity", DOC + "reference_policies_evaluation-logic.html",
     [pol(allow("s3:*"))], "s3:GetObject", "arn:aws:s3:::b/k", {},
     pol(deny("s3:GetObject", "arn:aws:s3:::b/*", Principal="*")), E),
    ("bucket-policy-account-principal-delegates",
     DOC + "reference_policies_evaluation-logic-cross-account.html",
     [], "s3:GetObject", "arn:aws:s3:::b/k", {},
     pol(allow("s3:GetObject", "arn:aws:s3:::b/*",
               Principal={"AWS": "arn:aws:iam::%s:root" % ACCOUNT})), I),
    ("bucket-policy-account-plus-identity",
     DOC + "reference_policies_evaluation-logic-cross-account.html",
     [pol(allow("s3:GetObject"))], "s3:GetObject", "arn:aws:s3:::b/k", {},
     pol(allow("s3:GetObject", "arn:aws:s3:::b/*",
               Principal={"AWS": "arn:aws:iam::%s:root" % ACCOUNT})), A),
    ("bucket-policy-deny-insecure", S3DOC + "example-bucket-policies.html",
     [pol(allow("s3:*"))], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": ["false"]},
     pol(deny("s3:*", ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], Principal="*",
              Condition={"Bool": {"aws:SecureTransport": "false"}})), E),
    ("bucket-policy-notprincipal", DOC + "reference_policies_elements_notprincipal.html",
     [pol(allow("s3:*"))], "s3:GetObject", "arn:aws:s3:::b/k", {},
     pol(dict(deny("s3:*", "arn:aws:s3:::b/*"), NotPrincipal={"AWS": USER_ARN})), A),
    ("bucket-policy-notprincipal-other", DOC + "reference_policies_elements_notprincipal.html",
     [pol(allow("s3:*"))], "s3:GetObject", "arn:aws:s3:::b/k", {},
     pol(dict(deny("s3:*", "arn:aws:s3:::b/*"),
              NotPrincipal={"AWS": "arn:aws:iam::%s:user/bob" % ACCOUNT})), E),
]


def test_the_matrix_is_big_enough():
    assert len(CASES) >= 50
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import Hydrant
    h = Hydrant(str(tmp_path_factory.mktemp("matrix") / "data"), ["--iam=default"])
    h.start()
    yield h
    alive = h.alive()
    h.stop()
    assert alive


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_simulated_decision(server, case):
    cid, page, policies, action, resource, context, resource_policy, want = case
    iam = server.client("iam")
    kw = {"PolicyInputList": [json.dumps(p) for p in policies] or
          [json.dumps(pol(allow("none:Nothing")))],
          "ActionNames": [action], "ResourceArns": [resource], "CallerArn": USER_ARN}
    if context:
        kw["ContextEntries"] = [{"ContextKeyName": k, "ContextKeyValues": v,
                                 "ContextKeyType": "stringList"} for k, v in context.items()]
    if resource_policy:
        kw["ResourcePolicy"] = json.dumps(resource_policy)
    res = iam.simulate_custom_policy(**kw)["EvaluationResults"]
    assert [r["EvalDecision"] for r in res] == [want], (cid, page)


# The S3 cases that need no context key beyond what a request carries:
# also enforced on real requests by a user holding the policies.
REAL = [c for c in CASES if c[3] in ("s3:GetObject",) and not c[5] and
        c[4].startswith("arn:aws:s3:::b/") and c[0] != "variable-default"]


@pytest.mark.parametrize("case", REAL, ids=[c[0] for c in REAL])
def test_enforced_decision(server, case):
    cid, page, policies, action, resource, context, resource_policy, want = case
    iam, s3root = server.client("iam"), server.client("s3")
    name = "m-" + cid[:50]
    key = resource[len("arn:aws:s3:::b/"):]
    # S3 wants 3+ characters: the bucket "b" of the cases is "mtx" here
    def real(doc):
        return json.dumps(doc).replace('"arn:aws:s3:::b/', '"arn:aws:s3:::mtx/').replace(
            '"arn:aws:s3:::b"', '"arn:aws:s3:::mtx"')
    try:
        s3root.create_bucket(Bucket="mtx")
    except ClientError:
        pass
    s3root.put_object(Bucket="mtx", Key=key, Body=b"matrix")
    iam.create_user(UserName=name)
    # the bucket policy cases name "alice": give this user that ARN's place
    arn = "arn:aws:iam::%s:user/%s" % (ACCOUNT, name)
    for i, p in enumerate(policies):
        iam.put_user_policy(UserName=name, PolicyName="p%d" % i, PolicyDocument=real(p))
    if resource_policy:
        s3root.put_bucket_policy(Bucket="mtx", Policy=real(resource_policy).replace(USER_ARN, arn))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    s3 = server.client("s3", access_key=k["AccessKeyId"], secret_key=k["SecretAccessKey"])
    try:
        got = s3.get_object(Bucket="mtx", Key=key)["Body"].read() == b"matrix" and A
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", cid
        msg = e.response["Error"]["Message"]
        got = E if "explicit deny" in msg else I
    finally:
        if resource_policy:
            s3root.delete_bucket_policy(Bucket="mtx")
    assert got == want, (cid, page)
