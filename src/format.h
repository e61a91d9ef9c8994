/* format.h -- record format conversion (format.c): the delivery stage
 * between processing and compression that turns a batch of JSON records
 * into one Parquet object with the schema of a Glue table, as Firehose's
 * DataFormatConversionConfiguration does. Owned by format.c. */
#ifndef HYDRANT_FORMAT_H
#define HYDRANT_FORMAT_H

#include "glue.h"
#include "parquet.h"
#include "pipeline.h"

#include <jansson.h>

/* AWS's errorCode of a record that does not fit the schema, and the
 * !{firehose:error-output-type} of its error record. */
#define FORMAT_ERROR_CODE "DataFormatConversion.MalformedData"
#define FORMAT_OUTPUT_TYPE "format-conversion-failed"

/* Checks a DataFormatConversionConfiguration at CreateDeliveryStream /
 * UpdateDestination: HY_OK, or HY_EINVAL with AWS's
 * InvalidArgumentException message in msg. Every member AWS defines is
 * honoured or refused here (OrcSerDe is refused: no ORC writer). */
int format_check(const json_t *dfc, char *msg, size_t msg_len);

/* The rules that tie conversion to the rest of an ExtendedS3 destination
 * (dest: the ExtendedS3DestinationConfiguration or its Update): with
 * conversion enabled, BufferingHints.SizeInMBs must be at least 64 and
 * CompressionFormat UNCOMPRESSED. HY_OK or HY_EINVAL (msg). Calls
 * format_check on its DataFormatConversionConfiguration. */
int format_check_destination(const json_t *dest, char *msg, size_t msg_len);

/* Whether dfc turns conversion on (present and Enabled is not false). */
bool format_enabled(const json_t *dfc);

/* The conversion parameters of a checked dfc. */
struct format_params {
    struct pq_options pq;
    bool hive;                        /* HiveJsonSerDe (else OpenX) */
    bool case_insensitive;            /* OpenX CaseInsensitive (default true) */
    bool dots_to_underscores;         /* OpenX ConvertDotsInJsonKeysToUnderscores */
    const json_t *mappings;           /* OpenX ColumnToJsonKeyMappings (borrowed) */
    const json_t *timestamp_formats;  /* Hive TimestampFormats (borrowed) */
    const char *database, *table, *version;  /* borrowed from dfc */
};
/* dfc (borrowed for p's life) -> p. HY_OK or HY_EINVAL (msg). */
int format_params_from(const json_t *dfc, struct format_params *p, char *msg, size_t msg_len);

/* Converts the records of in into one Parquet file appended to out (whose
 * ceiling bounds it) by schema s. A record that does not fit goes to
 * fails (pl_fail_add, FORMAT_ERROR_CODE, FORMAT_OUTPUT_TYPE); a record may
 * hold several JSON objects one after another ({"a":1}{"a":2}), each a
 * row. *rows (may be NULL): rows written; out is left empty when there are
 * none. HY_OK; HY_ENOMEM / HY_ETOOBIG (the batch: try again / split). */
int format_convert(const struct glue_schema *s, const struct format_params *p,
                   const struct pl_batch *in, struct buf *out, struct pl_batch *fails,
                   uint64_t *rows);

/* The whole stage: the schema read from the Glue catalog now (a table
 * update applies to the next object), then format_convert. A missing
 * database, table or version is the batch's error: HY_ENOTFOUND (the
 * delivery retries it), with a sentence in why; HY_EINVAL when the table's
 * column types cannot be used or dfc does not pass format_check. *rows as
 * format_convert's (may be NULL). */
int format_run(const json_t *dfc, const struct pl_batch *in, struct buf *out,
               struct pl_batch *fails, uint64_t *rows, char *why, size_t why_len);

/* The object extension of converted objects: FileExtension of the
 * destination when set (dest may be NULL), else none (""). */
const char *format_extension(const json_t *dest);

/* Fuzzing aid: parses the first JSON value of data with the scanner
 * format_convert uses and with jansson; 0 when they agree (both refuse,
 * or the same tree and the same end), -1 when they do not. */
int format_scan_check(const char *data, size_t len);

#endif
