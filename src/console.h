/* console.h -- the web console's backend (console.c): sessions, the
 * proxy through which the page calls the APIs signed with the session's
 * credentials, and its parsers (fuzzed by tests/fuzz/fuzz_console.c).
 * console_handle is in api.h. */
#ifndef HYDRANT_CONSOLE_H
#define HYDRANT_CONSOLE_H

#include "server.h"

/* --console-dir (main.c); NULL: <binary's directory>/../console. */
extern const char *console_dir;
/* Starts / stops the workers that run the proxied calls. */
int console_start(void);
void console_stop(void);

/* The value of cookie `name` in a Cookie header, into out[size]: HY_OK,
 * HY_ENOTFOUND, HY_ETOOBIG. */
int console_cookie_get(const char *header, const char *name, char *out, size_t size);

/* One API call the page asks for: JSON {service, method, path, query,
 * target, contentType, body}, checked (known service and method, a path
 * under "/" outside /_hydrant/, short printable query / target / type, a
 * string body). The strings are malloc'd: console_call_free. */
struct console_call {
    char service[16], method[8];
    char *path, *query, *target, *content_type, *body;
    size_t body_len;
};
int console_call_parse(const char *body, size_t len, struct console_call *c, char *why,
                       size_t why_len);
void console_call_free(struct console_call *c); /* accepts NULL; idempotent */

/* The query in SigV4's canonical form (decoded, RFC 3986 encoded, sorted),
 * appended to out. HY_OK, HY_EINVAL (a malformed escape), HY_ENOMEM. */
int console_canonical_query(const char *q, struct buf *out);

/* Helpers: valid UTF-8 without NUL; a plain path-style bucket name. */
bool utf8_valid(const char *s, size_t n);
bool s3_bucket_name_plain(const char *b);

#endif
