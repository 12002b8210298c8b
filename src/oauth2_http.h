/* oauth2_http.h - requests to the identity provider: an HTML form POSTed
 * over HTTPS (libcurl), the JSON answer read with jansson, failures
 * mapped to envoi's classes. */
#ifndef ENVOI_OAUTH2_HTTP_H
#define ENVOI_OAUTH2_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "oauth2.h"

/* One field of the form; a secret one is shown as <redacted> by -v. */
struct oauth2_field {
	const char *name;
	const char *value; /* NULL: the field is left out */
	bool secret;
};

/* POSTs fields to url within c->timeout seconds, verifying the
 * certificate against c->ca_file or the system store. Returns 0 with
 * *status (the HTTP status) and *answer (a JSON object the caller
 * json_decref's; NULL when the body was not JSON), or -1 with err set:
 * ERR_TEMPFAIL (unreachable, timeout, 5xx, 429), ERR_CERT, ERR_TLS,
 * ERR_CONFIG (ca file unreadable), ERR_PROTOCOL (not JSON). */
int oauth2_post(const struct oauth2_config *c, const char *url, const struct oauth2_field *fields,
		size_t n, long *status, json_t **answer, struct error *err);

/* The "error" member of an error answer ("invalid_grant"...), or "" when
 * there is none. Borrowed from answer. */
const char *oauth2_error_code(json_t *answer);

/* Fills err for a refused request, from its OAuth2 error code (RFC 6749
 * 5.2): invalid_grant and access_denied ERR_AUTH_FAILED (invalid_grant
 * with the hint to log in again), the others ERR_CONFIG. Returns -1. */
int oauth2_refused(const struct oauth2_config *c, long status, json_t *answer, struct error *err);

/* Makes jansson wipe what it frees (a parsed answer holds tokens).
 * Idempotent. */
void oauth2_json_wiping(void);

#endif
