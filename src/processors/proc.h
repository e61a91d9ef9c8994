/* proc.h -- what the processor files of src/processors/ share: the one
 * parameter-name checker (AWS refuses a parameter its processor type does
 * not define, and hydrant must never store and ignore one) and the mark /
 * rollback pair that takes back the sub-records a processor already wrote
 * for a source record that then fails half-way (a deaggregated record whose
 * 300th sub-record passes the batch's ceiling fails whole, not in part).
 *
 * Owned by the processors (implemented in proc.c); the pipeline core
 * (pipeline.h) does not see it. Threading: stateless.
 */
#ifndef HYDRANT_PROC_H
#define HYDRANT_PROC_H

#include "pipeline.h"

#include <stddef.h>

/* HY_OK when every name in p[0..n) is one of allowed[0..nallowed) and none
 * appears twice; else HY_EINVAL with AWS's InvalidArgumentException-style
 * sentence in msg, naming the parameter and the processor type. */
int proc_check_names(const char *type, const struct pl_param *p, size_t n,
                     const char *const *allowed, size_t nallowed, char *msg, size_t msg_len);

/* Where out stood before a source record's outputs were added. */
struct proc_mark {
    size_t n, data_len, recs_len, keys_len;
};
void proc_mark(const struct pl_batch *out, struct proc_mark *m);
/* Takes out back to the mark: the records added since are gone (their
 * bytes and keys too); fails are untouched. */
void proc_rollback(struct pl_batch *out, const struct proc_mark *m);

/* The remaining room under out's data ceiling, in bytes. */
size_t proc_room(const struct pl_batch *out);

#endif
