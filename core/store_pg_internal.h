/* Shared by the store's files only: the connection and statement runner. */
#ifndef MDMID_STORE_PG_INTERNAL_H
#define MDMID_STORE_PG_INTERNAL_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "mdmid/store.h"

struct store {
	char *conninfo;
	char *password;
	PGconn *conn;
	int prepared;
};

/*
 * Runs the prepared statement `name` (see the table in store_pg.c); text
 * parameters unless lens/fmts say binary. On success returns MDMID_OK and,
 * when out is not NULL, the result for the caller to PQclear. A connection
 * found broken is re-opened and the statement sent once more.
 */
enum mdmid_err store_run(struct store *st, const char *name, int n, const char *const *vals, const int *lens,
			 const int *fmts, PGresult **out, char *err, size_t errlen);

/* The same, with every result column in binary format (bytea as raw bytes). */
enum mdmid_err store_run_binary(struct store *st, const char *name, int n, const char *const *vals, const int *lens,
				const int *fmts, PGresult **out, char *err, size_t errlen);

/*
 * A prepared statement sent without waiting for its result, so that the
 * caller can work meanwhile (sign the CertRep while PostgreSQL commits the
 * certificate row). The parameters must stay valid until store_wait.
 * store_send fails only when no connection can be had; store_wait returns
 * what store_run would have (text results), retrying once on a broken
 * connection.
 */
struct store_pending {
	const char *name;
	int n;
	const char *const *vals;
	const int *lens, *fmts;
	bool sent;
	char err[512];
};
enum mdmid_err store_send(struct store *st, struct store_pending *p);
enum mdmid_err store_wait(struct store *st, struct store_pending *p, PGresult **out);

/* Copies a libpq message into err without its trailing newline. */
void store_msg_copy(char *err, size_t errlen, const char *prefix, const char *msg);

#endif
