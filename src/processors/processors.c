/* processors.c -- the table of processors, in AWS's execution order.
 *
 * Firehose runs a stream's processors in a fixed order whatever order the
 * configuration lists them in: RecordDeAggregation, Decompression,
 * CloudWatchLogProcessing, Lambda, MetadataExtraction,
 * AppendDelimiterToRecord. delivery.c walks this table in order and runs
 * the ones a stream configures; each entry is one file of this folder.
 */
#include "pipeline.h"

/* One line each, in AWS's order (the files that define them):
 *   &processor_deaggregation     deaggregation.c    RecordDeAggregation
 *   &processor_decompression     decompression.c    Decompression
 *   &processor_cloudwatch_logs   cloudwatch_logs.c  CloudWatchLogProcessing
 *   &processor_lambda            lambda.c           Lambda
 *   &processor_metadata          metadata_extraction.c  MetadataExtraction
 *   &processor_delimiter         append_delimiter.c AppendDelimiterToRecord
 * Each is declared extern here and added to the table as its file lands. */
extern const struct processor processor_deaggregation;
extern const struct processor processor_decompression;
extern const struct processor processor_cloudwatch_logs;
extern const struct processor processor_metadata;
extern const struct processor processor_delimiter;

extern const struct processor processor_lambda;

const struct processor *const processor_table[] = {
    &processor_deaggregation,
    &processor_decompression,
    &processor_cloudwatch_logs,
    &processor_lambda,
    &processor_metadata,
    &processor_delimiter,
};
const size_t processor_count = sizeof processor_table / sizeof processor_table[0];
