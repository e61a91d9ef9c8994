/* sinks/sinks.c -- which sink holds a bucket. Today every bucket is in
 * the embedded store; external S3 endpoints and HTTP endpoints are chosen
 * here from the configuration, and delivery.c never names a sink. */
#include "pipeline.h"

const struct sink *sink_for(const struct stream_dest *dest, const char *bucket)
{
    (void)dest;
    (void)bucket;
    return &sink_store;
}
