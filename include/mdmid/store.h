/*
 * The PostgreSQL store: the only module that talks to the database. One
 * struct store is one connection with its prepared statements; it is not
 * shared between threads. A lost connection is re-opened on the next call.
 */
#ifndef MDMID_STORE_H
#define MDMID_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "mdmid/err.h"
#include "mdmid/udid.h"

struct store;

/* Does not connect yet; conninfo "" uses libpq's environment. password may be NULL. */
struct store *store_new(const char *conninfo, const char *password);
void store_free(struct store *st);
/* Connects now (or checks the connection); MDMID_ERR_DB_UNAVAILABLE with a message. */
enum mdmid_err store_connect(struct store *st, char *err, size_t errlen);

/* Readiness: connects when needed and runs SELECT 1, waiting at most
 * timeout_ms for the answer (a connection that does not answer in time is
 * dropped and re-opened on the next call); MDMID_ERR_DB_UNAVAILABLE otherwise. */
enum mdmid_err store_ping(struct store *st, unsigned timeout_ms, char *err, size_t errlen);

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
	int64_t challenge_id;        /* > 0: the one-time challenge to consume */
	const char *udid;
	const char *method;          /* scep | scep-renewal | pkcs12 */
	const char *batch;           /* PKCS#12 export: the batch id, or NULL */
	int64_t renews;              /* > 0: the row a renewal replaces */
	int64_t request_id;          /* > 0: issuing this approved request (its challenge is
	                                consumed already); nothing is inserted when another
	                                process issued it first (MDMID_ERR_CHALLENGE_CONSUMED) */
	const char *transaction_id;
	const char *requester_addr;
};

/*
 * Inserts the certificate row and its success event in one statement (one
 * commit), consuming the one-time challenge in the same statement when there
 * is one. Returns MDMID_OK only once the row is committed, and
 * MDMID_ERR_CHALLENGE_CONSUMED (nothing inserted) when another request took
 * the challenge, or it expired, since it was looked up.
 */
enum mdmid_err store_cert_put(struct store *st, const struct cert_record *c, const struct event_record *ev);

/*
 * store_cert_put in two halves, so that the caller can work while
 * PostgreSQL commits: begin sends the statement (c and ev's strings must
 * stay valid until end), end waits for it and returns what store_cert_put
 * would have. Nothing may leave mdmid before end returned MDMID_OK. After a
 * successful begin, end must be called (it frees *p); no other statement may
 * run on st in between.
 */
struct cert_put;
enum mdmid_err store_cert_put_begin(struct store *st, const struct cert_record *c, const struct event_record *ev,
				    struct cert_put **p);
enum mdmid_err store_cert_put_end(struct store *st, struct cert_put *p);

/* Marks abandoned every issued row of batch and udid but the one with
 * keep_sha256 (NULL: all of them), each with an event; *count gets how many. */
enum mdmid_err store_batch_abandon(struct store *st, const char *batch, const char *udid,
				   const unsigned char *keep_sha256, unsigned *count);

/* Revokes the issued certificate with this serial (lower-case hex), with an
 * event: MDMID_ERR_BAD_CERT_ID when there is none, MDMID_ERR_ALREADY_REVOKED
 * when it is revoked or abandoned already. *issuer_id gets its issuer. */
enum mdmid_err store_revoke(struct store *st, const char *serial, const char *reason, int64_t *issuer_id);

struct revoked_entry {
	char serial[41];
	int64_t revoked_at;          /* seconds since the epoch */
	char reason[32];             /* as stored: keyCompromise, superseded, ... */
};

/* Signs a CRL numbered `number` listing entries; fills der (OPENSSL_malloc'd)
 * and its thisUpdate/nextUpdate. Returns 1 on success. */
typedef int (*crl_sign_fn)(void *cls, const struct revoked_entry *entries, size_t n, int64_t number,
			   unsigned char **der, size_t *len, int64_t *this_update, int64_t *next_update);

/*
 * Issues the next CRL of issuer_id in one transaction: under a lock, reads
 * the revoked certificates that have not expired, takes the number from the
 * crl_number sequence, has `sign` build it and records it. Concurrent
 * issuers are serialised, so the highest number always lists every
 * revocation committed before it.
 */
enum mdmid_err store_crl_issue(struct store *st, int64_t issuer_id, crl_sign_fn sign, void *cls, int64_t *number);

/* The latest CRL of issuer_id: *der NULL when none (malloc'd otherwise). */
enum mdmid_err store_crl_latest(struct store *st, int64_t issuer_id, unsigned char **der, size_t *len,
				int64_t *this_update, int64_t *next_update, int64_t *number);

/* Whether the issued row of batch and udid with this fingerprint exists. */
enum mdmid_err store_batch_has(struct store *st, const char *batch, const char *udid, const unsigned char sha256[32],
			       bool *has);

/* The certificate of issuer_id with this serial (lower-case hex), or *out NULL. */
enum mdmid_err store_cert_by_serial(struct store *st, int64_t issuer_id, const char *serial, X509 **out);

struct request_record {
	int64_t issuer_id;
	const char *transaction_id;
	int message_type;
	const unsigned char *spki_sha256, *signer_spki_sha256; /* 32 bytes each */
	const unsigned char *csr;
	size_t csr_len;
	const char *subject, *udid;
	int64_t challenge_id, renews;  /* 0: none */
	const char *requester_addr;
	const char *event_kind;
};
/* Holds a request for approval, consuming its challenge in the same
 * statement: MDMID_ERR_CHALLENGE_CONSUMED when another request took it. */
enum mdmid_err store_request_hold(struct store *st, const struct request_record *r);

struct request_row {
	bool found;
	int64_t id;
	char decision[16];             /* pending | approved | denied */
	int message_type;
	unsigned char *csr;            /* malloc'd DER */
	size_t csr_len;
	char udid[UDID_MAX + 1];
	int64_t challenge_id, renews;
};
/* The newest request of this transaction signed by this key within the
 * window; message_type < 0 matches any. Release with store_request_row_clear. */
enum mdmid_err store_request_find(struct store *st, int64_t issuer_id, const char *transaction_id,
				  const unsigned char signer_spki_sha256[32], int message_type, unsigned window_seconds,
				  struct request_row *row);
void store_request_row_clear(struct request_row *row);
/* Whether the certificate row `id` is issued (not revoked or abandoned) and past its notAfter. */
enum mdmid_err store_cert_state(struct store *st, int64_t id, bool *issued, bool *expired);
/* The certificate issued for a request, or *out NULL. */
enum mdmid_err store_request_cert(struct store *st, int64_t request_id, X509 **out);
/* Approves (approve true) or denies the pending requests of a transaction;
 * *count gets how many. */
enum mdmid_err store_request_decide(struct store *st, const char *transaction_id, bool approve, unsigned *count);
/* Calls fn for each pending request (transaction, type, UDID, subject, since, peer). */
enum mdmid_err store_request_list(struct store *st,
				  void (*fn)(void *cls, const char *tid, int type, const char *udid, const char *subject,
					     const char *since, const char *peer),
				  void *cls);

/* Appends one event row. */
enum mdmid_err store_event_put(struct store *st, const struct event_record *ev);

/* Records a one-time challenge (only the hash of its secret); expires_at gets
 * the ISO 8601 UTC expiry. */
enum mdmid_err store_challenge_put(struct store *st, const unsigned char secret_sha256[32], const char *udid,
				   const char *subject, unsigned ttl_seconds, bool require_approval, int64_t *id,
				   char *expires_at, size_t expires_len);

struct challenge_row {
	bool found;
	int64_t id;
	char udid[UDID_MAX + 1];
	char *subject;               /* malloc'd, or NULL */
	bool expired;
	bool consumed;
	bool require_approval;       /* its request waits for an operator */
};
/* Looks a challenge up by the hash of its secret; row->found false if unknown.
 * Release with store_challenge_row_clear. */
enum mdmid_err store_challenge_find(struct store *st, const unsigned char secret_sha256[32], struct challenge_row *row);
void store_challenge_row_clear(struct challenge_row *row);

/* The cross-check (SQL function identity_check): match, or the reason not. */
enum mdmid_err store_identity_check(struct store *st, const char *udid, const unsigned char sha256[32], bool *match,
				    char *reason, size_t reason_len);

/* The certificate already issued, within window_seconds, for this transaction
 * to the key with this SPKI hash (a retransmission), or *out NULL. */
enum mdmid_err store_cert_by_transaction(struct store *st, int64_t issuer_id, const char *transaction_id,
					 const unsigned char spki_sha256[32], const char *method,
					 unsigned window_seconds, X509 **out);

/* What a new PKCSReq or RenewalReq must know before anything is issued, in
 * one round trip: the certificate already issued for this transaction to
 * this CSR key (retransmission_window 0: never looked up), the newest
 * request of this transaction and type signed by this key that was held
 * within window_seconds, and whether another key used the transaction ID
 * within window_seconds: a certificate of this method for another CSR key,
 * or a held request of this message type signed by another key. */
struct enroll_lookup {
	X509 *earlier;
	struct request_row request;
	bool other_key;
};
enum mdmid_err store_enroll_lookup(struct store *st, int64_t issuer_id, const char *transaction_id, const char *method,
				   int message_type, const unsigned char spki_sha256[32],
				   const unsigned char signer_spki_sha256[32], unsigned retransmission_window,
				   unsigned window_seconds, struct enroll_lookup *out);

struct cert_row {
	bool found;
	int64_t id;
	char serial[41];
	char udid[UDID_MAX + 1];     /* "" when the row has none */
	char status[16];             /* issued | abandoned | revoked */
	bool not_yet_valid, expired;
};
/* Finds a certificate row by the SHA-256 of its DER. */
/* Certificates still issued whose notAfter falls within `within` seconds
 * from now, soonest first: fn gets each (not_after in ISO 8601 UTC). */
enum mdmid_err store_expiring(struct store *st, unsigned long long within_seconds,
			      void (*fn)(void *cls, const char *udid, const char *serial, const char *not_after,
					 const char *method),
			      void *cls);

enum mdmid_err store_cert_find(struct store *st, const unsigned char sha256[32], struct cert_row *row);

#endif
