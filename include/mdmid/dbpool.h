/*
 * One database connection per thread: each worker thread of a listener gets
 * its own struct store (and so its own prepared statements) on first use,
 * freed when the thread exits.
 */
#ifndef MDMID_DBPOOL_H
#define MDMID_DBPOOL_H

#include "mdmid/store.h"

struct dbpool;

struct dbpool *dbpool_new(const char *conninfo, const char *password);
/* Call after every thread that used the pool has exited. */
void dbpool_free(struct dbpool *pool);
/* The calling thread's store, or NULL when out of memory. */
struct store *dbpool_get(struct dbpool *pool);

#endif
