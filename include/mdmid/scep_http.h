/* The public listener's routes: SCEP at the configured path and
 * /cgi-bin/pkiclient.exe (and any suffix under them), and /healthz. */
#ifndef MDMID_SCEP_HTTP_H
#define MDMID_SCEP_HTTP_H

#include "mdmid/config.h"
#include "mdmid/http_server.h"
#include "mdmid/scep_svc.h"

struct scep_http;

struct scep_http *scep_http_start(const struct mdmid_config *cfg, struct scep_svc *svc, char *err, size_t errlen);
unsigned scep_http_port(const struct scep_http *h);
void scep_http_stop(struct scep_http *h);

#endif
