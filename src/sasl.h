/* sasl.h - SMTP AUTH (RFC 4954) mechanisms through GNU SASL, plus XOAUTH2
 * and OAUTHBEARER, which GNU SASL lacks, written here.
 *
 * The engine drives it: sasl_start picks the mechanism and gives the
 * initial response; every 334 challenge goes through sasl_step until the
 * server answers 235 (or fails). Responses are base64 and are secrets:
 * the caller writes them to the wire and never to the transcript, and
 * frees them with sasl_free_response (which wipes them).
 */
#ifndef ENVOI_SASL_H
#define ENVOI_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define SASL_MAX_ROUNDS 10
#define SASL_MAX_CHALLENGE 16384
/* The longest password or OAuth2 token taken, in bytes: far past any
 * real token (Microsoft's and Google's reach a few KB). */
#define SASL_MAX_SECRET (64 * 1024)

struct sasl;

struct sasl_params {
	const char *user;
	const char *password;    /* or OAuth2 token; not copied beyond need */
	const char *forced_mech; /* NULL: the strongest both sides support */
	const char *server_mechs;/* the EHLO AUTH line, space-separated */
	const char *host;        /* server name, for OAUTHBEARER and DIGEST */
	unsigned port;
	const char *cb_type;     /* channel binding type, NULL if none */
	const char *cb_data;     /* base64 channel binding data */
	bool encrypted;          /* over verified TLS: PLAIN ranks above CRAM-MD5 */
};

/* True when envoi implements the mechanism (case-insensitive), so that
 * the command line can reject a bad --auth before connecting. */
bool sasl_mech_known(const char *name);

/* The mechanisms envoi implements, space-separated, strongest first
 * (static; for hints). */
const char *sasl_mech_names(void);

/* Returns 0 when password (not NULL) is at most SASL_MAX_SECRET bytes,
 * else -1 with ERR_USAGE. */
int sasl_check_secret(const char *password, struct error *err);

/* Chooses a mechanism and starts it. *mech gets its name (static);
 * *initial the base64 initial response ("=" when empty, RFC 4954; free
 * with sasl_free_response) or NULL (then send "AUTH MECH" and wait for
 * 334). Returns 0, or -1 with ERR_AUTH_IMPOSSIBLE (no mechanism in
 * common, forced one not offered, unknown or lacking channel binding;
 * an OAuth token with control bytes), ERR_USAGE (a password over
 * SASL_MAX_SECRET), ERR_OSERR or ERR_SOFTWARE. The
 * caller frees *out with sasl_end. */
int sasl_start(struct sasl **out, const struct sasl_params *p, const char **mech,
	       char **initial, struct error *err);

/* Answers one 334 challenge (base64 text as received). *response is the
 * base64 reply to send (may be ""). Fails with ERR_PROTOCOL after
 * SASL_MAX_ROUNDS or on a challenge over SASL_MAX_CHALLENGE or invalid
 * base64, ERR_AUTH_FAILED when the mechanism rejects the server (e.g.
 * SCRAM server signature mismatch). */
int sasl_step(struct sasl *s, const char *challenge, char **response, struct error *err);

/* True once the mechanism has completed its side: for SCRAM, only after
 * the server proved it knows the password (the v= signature checked).
 * A 235 before that must not be trusted: a man in the middle can say
 * 235 too. PLAIN and the OAuth mechanisms finish at sasl_start. */
bool sasl_finished(const struct sasl *s);

/* Wipes and frees a response. NULL ok. */
void sasl_free_response(char *response);

/* Wipes GNU SASL's copies of the secrets and frees. NULL ok. */
void sasl_end(struct sasl *s);

#endif
