/* s3.c -- PLACEHOLDER until the S3 helper lands it. */
#include "api.h"
void s3_handle(struct http_req *req)
{
    static const char b[] = "<Error><Code>NotImplemented</Code></Error>";
    http_reply(req, 501, "application/xml", b, sizeof b - 1);
}
