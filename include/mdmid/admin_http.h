/*
 * The admin API: its own listener (loopback by default), JSON in and out,
 * every request authenticated with a bearer token compared in constant time.
 *   POST /v1/challenges          mint a one-time challenge for a UDID
 *   POST /v1/identity/check      is this certificate this UDID's, and good?
 *   POST /v1/mdm-signature/verify  which device signed this body?
 *   GET  /v1/profiles/scep?udid=U  a .mobileconfig with a fresh challenge
 *   POST /v1/revoke              revoke by serial, issue a new CRL
 *   GET  /v1/requests, POST /v1/requests/approve|deny  requests held for approval
 * and, without the token (load balancer, Prometheus):
 *   GET  /readyz                 200 "ready" when the database answers, else 503
 *   GET  /metrics                the counters of metrics.h, Prometheus text format
 */
#ifndef MDMID_ADMIN_HTTP_H
#define MDMID_ADMIN_HTTP_H

#include <stddef.h>

#include "mdmid/ca.h"
#include "mdmid/config.h"
#include "mdmid/dbpool.h"

struct admin_http;

/* ca and db are borrowed. Returns NULL with a message in err. */
struct admin_http *admin_http_start(const struct mdmid_config *cfg, const struct ca *ca, struct dbpool *db, char *err,
				    size_t errlen);
/* SIGHUP: where profiles put the UDID (challenge_mode, static_udid_field),
 * published at once, safely while requests run. Returns 0, or -1 with a
 * message in err and nothing changed. */
int admin_http_reload(struct admin_http *a, const struct mdmid_config *cfg, char *err, size_t errlen);
unsigned admin_http_port(const struct admin_http *a);
void admin_http_stop(struct admin_http *a);

#endif
