/* stream.c -- PLACEHOLDER until the Firehose helper lands it. */
#include "stream.h"
int stream_catalog_open(const char *dir) { (void)dir; return HY_OK; }
void stream_catalog_close(void) {}
int stream_put(const char *name, const void *data, size_t len, int64_t now_ms, char record_id[129])
{ (void)name; (void)data; (void)len; (void)now_ms; (void)record_id; return HY_ENOTFOUND; }
int stream_take_due(int64_t now_ms, bool force, struct stream_batch **out)
{ (void)now_ms; (void)force; (void)out; return HY_ENOTFOUND; }
void stream_batch_free(struct stream_batch *b) { (void)b; }
int64_t stream_next_due_ms(int64_t now_ms) { (void)now_ms; return -1; }
void stream_set_wakeup(void (*fn)(void)) { (void)fn; }
