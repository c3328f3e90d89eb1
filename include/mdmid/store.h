/*
 * The PostgreSQL store: the only module that talks to the database. One
 * struct store is one connection with its prepared statements; it is not
 * shared between threads. A lost connection is re-opened on the next call.
 */
#ifndef MDMID_STORE_H
#define MDMID_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "mdmid/err.h"

struct store;

/* Does not connect yet; conninfo "" uses libpq's environment. password may be NULL. */
struct store *store_new(const char *conninfo, const char *password);
void store_free(struct store *st);
/* Connects now (or checks the connection); MDMID_ERR_DB_UNAVAILABLE with a message. */
enum mdmid_err store_connect(struct store *st, char *err, size_t errlen);

/* Applies the compiled-in migrations not yet recorded, each in one transaction. */
enum mdmid_err store_migrate(struct store *st, void (*report)(const char *name, int applied), char *err, size_t errlen);

/* Records an issuer certificate (idempotent) and returns its id. */
enum mdmid_err store_issuer_put(struct store *st, X509 *cert, const char *role, int64_t *id, char *err, size_t errlen);

struct event_record {
	const char *kind;            /* "scep.pkcsreq", ... */
	const char *outcome;         /* success | failure | pending */
	const char *error;           /* mdmid_err name, or NULL */
	const char *fail_info;       /* badAlg..., or NULL */
	const char *transaction_id;
	int message_type;            /* < 0: none */
	const char *udid;
	const char *serial;          /* hex */
	const char *requester_addr;  /* textual IP, or NULL */
	const char *detail;
};

struct cert_record {
	int64_t issuer_id;
	X509 *cert;
	const char *udid;
	const char *method;          /* scep | scep-renewal | pkcs12 */
	const char *transaction_id;
	const char *requester_addr;
};

/*
 * Inserts the certificate row and its success event in one statement (one
 * commit). Returns MDMID_OK only once the row is committed.
 */
enum mdmid_err store_cert_put(struct store *st, const struct cert_record *c, const struct event_record *ev);

/* Appends one event row. */
enum mdmid_err store_event_put(struct store *st, const struct event_record *ev);

#endif
