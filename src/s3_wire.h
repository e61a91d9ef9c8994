/* s3_wire.h -- what s3.c (the S3 operations) and s3_wire.c (the S3 wire
 * layer) share. Internal to the two: the router and the rest of the
 * server see only api.h. The helpers here are named s3__* (shared across
 * files, not public).
 *
 * s3_wire.c turns a request into a struct s3_ctx (bucket and key from the
 * target, request id), reads its body (struct s3_body, struct s3_xml_in
 * callbacks) and writes every answer's bytes (struct s3_xml, the one S3
 * error writer); s3.c decides what each operation does with the store.
 */
#ifndef HYDRANT_S3_WIRE_H
#define HYDRANT_S3_WIRE_H

#include "objstore.h"
#include "server.h"

#define S3_TAG "s3"
#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define S3_MAX_LIST_KEYS 1000
#define S3_MAX_DELETE_KEYS 1000
#define S3_MAX_XML_RESP (32u << 20)   /* a 1000-key listing fits many times */
#define S3_MAX_XML_TEXT (64u << 10)   /* one element's text in a request */
#define S3_MAX_XML_DEPTH 16
#define S3_MAX_XML_BODY (16u << 20)   /* a 10,000-part Complete fits */
#define S3_MAX_OBJECT (5ull << 30)    /* single PUT and part ceiling */
#define S3_MAX_TAGS_PARSE 64          /* tags read before "too many" */
#define S3_MAX_LIST_PARTS 1000
#define S3_MAX_LIST_UPLOADS 1000
/* Canonical user ID of the single owner: hex of "hydrant" + account id */
#define S3_OWNER_ID "68796472616e7430303030303030303030303000000000000000000000000000"
#define S3_OWNER_NAME "hydrant"

/* One request as the S3 handlers see it. */
struct s3_ctx {
    struct http_req *req;
    const char *bucket;      /* decoded; NULL when the request names none */
    const char *key;         /* decoded; NULL when none */
    bool head;               /* HEAD: errors have no body */
    char request_id[17];     /* also sent as x-amz-request-id */
};

/* ---- target and request id ----------------------------------------------- */
/* Adds x-amz-request-id / x-amz-id-2 and keeps the id in c. */
void s3__request_id(struct s3_ctx *c);
/* Splits the request into c->bucket and c->key (virtual-host or path
 * style, s3_vhost_bucket); false after replying InvalidURI. */
bool s3__parse_target(struct s3_ctx *c);
/* Percent-decodes in[0..n) into the arena; NULL if malformed or it holds
 * a NUL byte. */
char *s3__decode(struct http_req *req, const char *in, size_t n);
/* AWS's bucket naming rules (general purpose buckets). */
bool s3__bucket_name_ok(const char *n);

/* ---- XML output: a buf that remembers its first error -------------------- */
struct s3_xml {
    struct buf b;
    int rc;
};
void s3__xml_init(struct s3_xml *w);           /* with the XML declaration */
void s3__xml_raw(struct s3_xml *w, const char *s);
void s3__xml_text(struct s3_xml *w, const char *s); /* escaped */
void s3__xml_elem(struct s3_xml *w, const char *name, const char *text);
/* <name>text</name>, URL-encoded when url (encoding-type=url) */
void s3__xml_elem_enc(struct s3_xml *w, const char *name, const char *text, bool url);
void s3__xml_elem_u64(struct s3_xml *w, const char *name, uint64_t v);
void s3__xml_elem_time(struct s3_xml *w, const char *name, int64_t ms);
/* Sends w (200..) and frees it; an InternalError if w ran out of room. */
void s3__reply_xml(struct s3_ctx *c, int status, struct s3_xml *w);

/* ---- errors: the one place S3 error documents are written ---------------- */
/* extra_xml (may be NULL) is raw XML added inside <Error>. */
void s3__error_extra(struct s3_ctx *c, int status, const char *code,
                     const char *message, const char *extra_xml);
void s3__error(struct s3_ctx *c, int status, const char *code, const char *message);
void s3__no_such_bucket(struct s3_ctx *c);
void s3__internal(struct s3_ctx *c, int rc);   /* logs; 500, or 507 for ENOSPC */
void s3__not_implemented(struct s3_ctx *c);
void s3__method_not_allowed(struct s3_ctx *c);
void s3__malformed_xml(struct s3_ctx *c);
void s3__not_found(struct s3_ctx *c);          /* NoSuchKey or NoSuchBucket */

/* ---- XML input (expat) ---------------------------------------------------- */
/* Parses body, calling on_end at each element's end with its local name,
 * its depth (root = 1), the parent's name and its text; on_end returns
 * nonzero to fail the document. HY_EINVAL when malformed or refused. */
int s3__xml_parse(struct http_req *req, const char *body, size_t len,
                  int (*on_end)(void *, int, const char *, const char *, const char *),
                  void *ctx);
/* Brings a spooled XML body (up to S3_MAX_XML_BODY) into memory; false
 * after replying. */
bool s3__xml_body_ok(struct s3_ctx *c);

/* ---- object bodies --------------------------------------------------------- */
/* An object body ready to store: in memory (path NULL) or in a file. */
struct s3_body {
    const char *data;          /* in memory */
    const char *path;          /* the spool file, or tmp */
    uint64_t len;
    unsigned char md5[16];
    char tmp[OBJSTORE_PATH_MAX]; /* a file this request made ("" = none) */
};
/* Turns the request body into b (an aws-chunked one arrives decoded):
 * x-amz-content-sha256, the size ceiling, Content-MD5 and x-amz-checksum-*
 * (BadDigest; an unknown algorithm is InvalidRequest) checked. False after
 * replying. */
bool s3__body_prepare(struct s3_ctx *c, struct s3_body *b);
/* Makes sure the body is in a file (parts are stored from files). */
int s3__body_to_file(struct s3_body *b);
void s3__body_free(struct s3_body *b);          /* unlinks b->tmp if any */

#endif
