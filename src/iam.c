/* iam.c -- PLACEHOLDER until the IAM helper lands it. */
#include "api.h"
int iam_open(const char *dir) { (void)dir; return HY_OK; }
void iam_close(void) {}
void iam_handle(struct http_req *req)
{
    static const char b[] = "<ErrorResponse><Error><Code>NotImplemented</Code></Error></ErrorResponse>";
    http_reply(req, 501, "text/xml", b, sizeof b - 1);
}
