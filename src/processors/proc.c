/* proc.c -- helpers the processor files share (see proc.h): the parameter
 * name check every check() starts with, and the mark / rollback of a
 * batch's tail. Threading: stateless, no globals.
 */
#include "proc.h"

#include <stdio.h>
#include <string.h>

int proc_check_names(const char *type, const struct pl_param *p, size_t n,
                     const char *const *allowed, size_t nallowed, char *msg, size_t msg_len)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = p[i].name ? p[i].name : "";
        bool known = false;
        for (size_t j = 0; j < nallowed && !known; j++)
            known = !strcmp(name, allowed[j]);
        if (!known) {
            snprintf(msg, msg_len,
                     "Processor parameter '%s' is not supported for processor type '%s'.", name,
                     type);
            return HY_EINVAL;
        }
        for (size_t j = 0; j < i; j++)
            if (p[j].name && !strcmp(p[j].name, name)) {
                snprintf(msg, msg_len,
                         "Duplicate processor parameter '%s' for processor type '%s'.", name,
                         type);
                return HY_EINVAL;
            }
        if (!p[i].value) {
            snprintf(msg, msg_len,
                     "Processor parameter '%s' of processor type '%s' has no ParameterValue.",
                     name, type);
            return HY_EINVAL;
        }
    }
    return HY_OK;
}

void proc_mark(const struct pl_batch *out, struct proc_mark *m)
{
    m->n = out->n;
    m->data_len = out->data.len;
    m->recs_len = out->recs.len;
    m->keys_len = out->keys.len;
}

void proc_rollback(struct pl_batch *out, const struct proc_mark *m)
{
    out->n = m->n;
    out->data.len = m->data_len;
    out->recs.len = m->recs_len;
    out->keys.len = m->keys_len;
    /* struct buf keeps its bytes NUL-terminated */
    if (out->data.data)
        out->data.data[out->data.len] = 0;
    if (out->keys.data)
        out->keys.data[out->keys.len] = 0;
}

size_t proc_room(const struct pl_batch *out)
{
    return out->data.max > out->data.len ? out->data.max - out->data.len : 0;
}
