/* delivery.c -- PLACEHOLDER, being written. */
#include "delivery.h"
int delivery_start(void) { return HY_OK; }
void delivery_stop(void) {}
void delivery_get_stats(struct delivery_stats *st) { (void)st; }
