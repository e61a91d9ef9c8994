/* firehose.c -- PLACEHOLDER until the Firehose helper lands it. */
#include "api.h"
void firehose_handle(struct http_req *req, const char *op)
{
    (void)op;
    static const char b[] = "{\"__type\":\"InternalFailure\",\"message\":\"not implemented\"}";
    http_reply(req, 501, "application/x-amz-json-1.1", b, sizeof b - 1);
}
