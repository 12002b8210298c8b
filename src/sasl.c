/* sasl.c - SMTP AUTH mechanisms: GNU SASL for the password mechanisms,
 * XOAUTH2 and OAUTHBEARER written here because GNU SASL lacks them.
 *
 * Base64 is done here (nettle) rather than with gsasl_step64 so that
 * every buffer that held a decoded response can be wiped: GNU SASL
 * frees its own buffers without clearing them.
 */
#include "sasl.h"
#include "encode.h"
#include "wipe.h"

#include <errno.h>
#include <gsasl.h>
#include <nettle/base64.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum mech_kind { MK_GSASL, MK_XOAUTH2, MK_OAUTHBEARER };

/* In order of preference. OAuth mechanisms are never chosen on their
 * own: a token is not a password, so the user must say it is one. */
static const struct mech {
	const char *name;
	enum mech_kind kind;
	bool initial;   /* client speaks first (RFC 4954 initial response) */
	bool needs_cb;  /* SCRAM-*-PLUS: only with channel binding data */
	bool automatic; /* may be chosen without --auth */
	bool scram;
} mechs[] = {
	{"SCRAM-SHA-256-PLUS", MK_GSASL, 1, 1, 1, 1},
	{"SCRAM-SHA-1-PLUS", MK_GSASL, 1, 1, 1, 1},
	{"SCRAM-SHA-256", MK_GSASL, 1, 0, 1, 1},
	{"SCRAM-SHA-1", MK_GSASL, 1, 0, 1, 1},
	{"CRAM-MD5", MK_GSASL, 0, 0, 1, 0},
	{"PLAIN", MK_GSASL, 1, 0, 1, 0},
	{"LOGIN", MK_GSASL, 0, 0, 1, 0},
	{"XOAUTH2", MK_XOAUTH2, 1, 0, 0, 0},
	{"OAUTHBEARER", MK_OAUTHBEARER, 1, 0, 0, 0},
};
#define MECH_COUNT (sizeof mechs / sizeof mechs[0])

#define MECH_NAMES "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 " \
	"SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN XOAUTH2 OAUTHBEARER"

struct sasl {
	const struct mech *mech;
	Gsasl *ctx;
	Gsasl_session *sctx;
	unsigned rounds;      /* challenges answered so far */
	unsigned gsasl_steps; /* gsasl_step calls, initial one included */
	bool finished;        /* the mechanism has said all it will say */
};

static const struct mech *find_mech(const char *name)
{
	for (size_t i = 0; name && i < MECH_COUNT; i++)
		if (strcasecmp(mechs[i].name, name) == 0)
			return &mechs[i];
	return NULL;
}

bool sasl_mech_known(const char *name)
{
	return find_mech(name) != NULL;
}

const char *sasl_mech_names(void)
{
	return MECH_NAMES;
}

static bool server_offers(const char *server_mechs, const char *name)
{
	const char *p = server_mechs ? server_mechs : "";
	size_t n = strlen(name);

	while (*p) {
		size_t len;

		p += strspn(p, " \t");
		len = strcspn(p, " \t");
		if (len == n && strncasecmp(p, name, n) == 0)
			return true;
		p += len;
	}
	return false;
}

/* The server's list is untrusted text going into an error line: keep it
 * printable and short. */
static void describe_offer(const char *server_mechs, char *buf, size_t size)
{
	size_t o = 0;

	for (const char *p = server_mechs; p && *p && o + 1 < size; p++) {
		unsigned char c = (unsigned char)*p;

		buf[o++] = (c == '\t') ? ' ' : (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	buf[o] = '\0';
	if (o == 0)
		snprintf(buf, size, "nothing");
}

static bool have_cb(const struct sasl_params *p)
{
	return p->cb_type && p->cb_data && *p->cb_data &&
	       (strcmp(p->cb_type, "tls-exporter") == 0 ||
		strcmp(p->cb_type, "tls-unique") == 0);
}

static const struct mech *choose_forced(Gsasl *ctx, const struct sasl_params *p,
					struct error *err)
{
	const struct mech *m = find_mech(p->forced_mech);
	char offer[200];

	describe_offer(p->server_mechs, offer, sizeof offer);
	if (!m) {
		err_set(err, ERR_AUTH_IMPOSSIBLE, "unknown SASL mechanism %.40s",
			p->forced_mech);
		err_hint(err, "envoi knows %s", MECH_NAMES);
		return NULL;
	}
	if (!server_offers(p->server_mechs, m->name)) {
		err_set(err, ERR_AUTH_IMPOSSIBLE,
			"the server does not offer AUTH %s; it offers %s", m->name, offer);
		err_hint(err, "drop --auth to let envoi choose, or pick one the server offers");
		return NULL;
	}
	if (m->needs_cb && !have_cb(p)) {
		err_set(err, ERR_AUTH_IMPOSSIBLE,
			"%s needs TLS channel binding, which this connection does not provide",
			m->name);
		return NULL;
	}
	if (m->kind == MK_GSASL && !gsasl_client_support_p(ctx, m->name)) {
		err_set(err, ERR_AUTH_IMPOSSIBLE,
			"this build of GNU SASL lacks the %s mechanism", m->name);
		return NULL;
	}
	return m;
}

/* Inside verified TLS, CRAM-MD5 protects nothing PLAIN exposes, and
 * PLAIN's initial response saves a round trip: CRAM-MD5 goes last. */
static bool ranks_now(const struct sasl_params *p, const struct mech *m, int pass)
{
	bool demoted = p->encrypted && strcmp(m->name, "CRAM-MD5") == 0;

	return pass == 0 ? !demoted : demoted;
}

static const struct mech *choose_best(Gsasl *ctx, const struct sasl_params *p,
				      struct error *err)
{
	char offer[200];

	for (size_t k = 0; k < 2 * MECH_COUNT; k++) {
		const struct mech *m = &mechs[k % MECH_COUNT];

		if (!m->automatic || (m->needs_cb && !have_cb(p)) || !ranks_now(p, m, (int)(k / MECH_COUNT)))
			continue;
		if (server_offers(p->server_mechs, m->name) &&
		    gsasl_client_support_p(ctx, m->name))
			return m;
	}
	describe_offer(p->server_mechs, offer, sizeof offer);
	if (!p->server_mechs || !*p->server_mechs) {
		err_set(err, ERR_AUTH_IMPOSSIBLE, "the server offers no AUTH mechanism");
		return NULL;
	}
	err_set(err, ERR_AUTH_IMPOSSIBLE,
		"no SASL mechanism in common: the server offers %s", offer);
	if (server_offers(p->server_mechs, "XOAUTH2") ||
	    server_offers(p->server_mechs, "OAUTHBEARER"))
		err_hint(err, "the server takes OAuth2: give the token as the password "
			 "and --auth=XOAUTH2 or --auth=OAUTHBEARER");
	else
		err_hint(err, "envoi supports SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN and LOGIN");
	return NULL;
}

/* Returns a malloc'd NUL-terminated base64 text of raw; "=" stands for an
 * empty initial response (RFC 4954), "" for an empty reply. */
static char *b64_response(const void *raw, size_t len, bool initial)
{
	char *out = malloc(4 * ((len + 2) / 3) + 2);

	if (!out)
		return NULL;
	if (len == 0)
		strcpy(out, initial ? "=" : "");
	else
		b64_encode(out, raw, len);
	return out;
}

/* Strict RFC 4648 base64: nettle alone would skip spaces and accept a
 * missing pad, which would hide a broken or hostile server. */
static bool b64_valid(const char *s, size_t n)
{
	size_t pad = 0;

	if (n % 4)
		return false;
	while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return true;
}

/* Decodes a challenge into a malloc'd buffer (NUL-terminated for the
 * mechanisms that parse text). */
static int b64_decode(const char *s, size_t n, char **out, size_t *outlen,
		      struct error *err)
{
	struct base64_decode_ctx ctx;
	size_t len = BASE64_DECODE_LENGTH(n);
	uint8_t *buf;

	if (!b64_valid(s, n))
		return err_set(err, ERR_PROTOCOL, "the server's SASL challenge is not valid base64");
	buf = malloc(len + 1);
	if (!buf)
		return err_set(err, ERR_OSERR, "out of memory");
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &len, buf, n, s) || !base64_decode_final(&ctx)) {
		free(buf);
		return err_set(err, ERR_PROTOCOL, "the server's SASL challenge is not valid base64");
	}
	buf[len] = '\0';
	*out = (char *)buf;
	*outlen = len;
	return 0;
}

static int gsasl_failed(struct sasl *s, int rc, struct error *err)
{
	const char *name = s->mech->name;

	switch (rc) {
	case GSASL_MALLOC_ERROR:
		return err_set(err, ERR_OSERR, "out of memory in %s", name);
	case GSASL_MECHANISM_CALLED_TOO_MANY_TIMES:
		return err_set(err, ERR_PROTOCOL,
			       "the server sent more %s challenges than the mechanism has", name);
	case GSASL_MECHANISM_PARSE_ERROR:
		return err_set(err, ERR_PROTOCOL, "malformed %s challenge from the server", name);
	case GSASL_AUTHENTICATION_ERROR:
		if (s->mech->scram && s->gsasl_steps >= 3) {
			err_set(err, ERR_AUTH_FAILED, "the server's %s signature is wrong: it "
				"does not know the password, or someone is in between", name);
			err_hint(err, "do not trust this connection");
			return -1;
		}
		if (s->mech->scram)
			return err_set(err, ERR_AUTH_FAILED,
				       "the server's %s challenge does not match our nonce", name);
		break;
	default:
		break;
	}
	return err_set(err, ERR_AUTH_FAILED, "%s failed: %s", name, gsasl_strerror(rc));
}

/* RFC 5802 server-error ("e=invalid-proof"): GNU SASL calls it a parse
 * error, but it is the server turning the credentials down. */
static int scram_server_error(const struct sasl *s, const char *raw, struct error *err)
{
	char what[64];
	size_t n = 0;

	for (raw += 2; *raw && n + 1 < sizeof what; raw++)
		what[n++] = (*raw >= 'a' && *raw <= 'z') || *raw == '-' ? *raw : '?';
	what[n] = '\0';
	err_set(err, ERR_AUTH_FAILED, "the server refused the %s exchange: %s", s->mech->name,
		what);
	if (strstr(what, "channel-binding"))
		err_hint(err, "the two ends see different TLS sessions: someone may be in between");
	return -1;
}

/* One gsasl_step on raw input; the base64 reply goes to *response. */
static int gsasl_round(struct sasl *s, const char *in, size_t inlen, bool initial,
		       char **response, struct error *err)
{
	char *out = NULL;
	size_t outlen = 0;
	int rc;

	s->gsasl_steps++;
	rc = gsasl_step(s->sctx, in, inlen, &out, &outlen);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		wipe_free(out, outlen);
		return gsasl_failed(s, rc, err);
	}
	s->finished = rc == GSASL_OK;
	*response = b64_response(out, outlen, initial);
	wipe_free(out, outlen);
	if (!*response)
		return err_set(err, ERR_OSERR, "out of memory");
	return 0;
}

static int start_gsasl(struct sasl *s, const struct sasl_params *p, char **initial,
		       struct error *err)
{
	int rc = gsasl_client_start(s->ctx, s->mech->name, &s->sctx);

	if (rc != GSASL_OK)
		return err_set(err, ERR_SOFTWARE, "cannot start SASL %s: %s", s->mech->name,
			       gsasl_strerror(rc));
	gsasl_property_set(s->sctx, GSASL_AUTHID, p->user);
	gsasl_property_set(s->sctx, GSASL_PASSWORD, p->password);
	gsasl_property_set(s->sctx, GSASL_SERVICE, "smtp");
	if (p->host)
		gsasl_property_set(s->sctx, GSASL_HOSTNAME, p->host);
	/* Only the -PLUS variants get the binding: GNU SASL 2.2 fails a plain
	 * SCRAM start outright when binding data is present. */
	if (s->mech->needs_cb)
		gsasl_property_set(s->sctx, strcmp(p->cb_type, "tls-exporter") == 0 ?
				   GSASL_CB_TLS_EXPORTER : GSASL_CB_TLS_UNIQUE, p->cb_data);
	if (!s->mech->initial)
		return 0;
	return gsasl_round(s, "", 0, true, initial, err);
}

static bool has_ctl(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return true;
	return false;
}

/* RFC 5801 saslname: ',' and '=' would end the gs2 header early. */
static size_t saslname(char *dst, const char *user)
{
	size_t o = 0;

	for (; *user; user++) {
		const char *esc = *user == ',' ? "=2C" : *user == '=' ? "=3D" : NULL;

		if (esc) {
			if (dst)
				memcpy(dst + o, esc, 3);
			o += 3;
		} else {
			if (dst)
				dst[o] = *user;
			o++;
		}
	}
	return o;
}

/* XOAUTH2 (Google) and OAUTHBEARER (RFC 7628) initial client responses. */
static int start_oauth(struct sasl *s, const struct sasl_params *p, char **initial,
		       struct error *err)
{
	size_t cap, len = 0;
	char *raw;

	if (has_ctl(p->user) || has_ctl(p->password) || (p->host && has_ctl(p->host)))
		return err_set(err, ERR_AUTH_IMPOSSIBLE,
			       "the OAuth2 user name or token holds a control character");
	cap = strlen(p->password) + 3 * strlen(p->user) + (p->host ? strlen(p->host) : 0) + 80;
	raw = malloc(cap);
	if (!raw)
		return err_set(err, ERR_OSERR, "out of memory");
	if (s->mech->kind == MK_XOAUTH2) {
		len = (size_t)snprintf(raw, cap, "user=%s\001auth=Bearer %s\001\001",
				       p->user, p->password);
	} else {
		memcpy(raw, "n,a=", 4);
		len = 4 + saslname(raw + 4, p->user);
		raw[len++] = ',';
		raw[len++] = '\001';
		if (p->host)
			len += (size_t)snprintf(raw + len, cap - len, "host=%s\001", p->host);
		if (p->port)
			len += (size_t)snprintf(raw + len, cap - len, "port=%u\001", p->port);
		len += (size_t)snprintf(raw + len, cap - len, "auth=Bearer %s\001\001",
					p->password);
	}
	s->finished = true;
	*initial = b64_response(raw, len, true);
	wipe_free(raw, cap);
	if (!*initial)
		return err_set(err, ERR_OSERR, "out of memory");
	return 0;
}

int sasl_check_secret(const char *password, struct error *err)
{
	if (strnlen(password, SASL_MAX_SECRET + 1) <= SASL_MAX_SECRET)
		return 0;
	return err_set(err, ERR_USAGE, "the password or token is longer than %u bytes",
		       SASL_MAX_SECRET);
}

int sasl_start(struct sasl **out, const struct sasl_params *p, const char **mech,
	       char **initial, struct error *err)
{
	struct sasl *s;
	int rc;

	*out = NULL;
	*initial = NULL;
	if (!p->user || !p->password)
		return err_set(err, ERR_SOFTWARE, "SASL started without a user or password");
	if (sasl_check_secret(p->password, err) < 0)
		return -1;
	s = calloc(1, sizeof *s);
	if (!s)
		return err_set(err, ERR_OSERR, "out of memory");
	rc = gsasl_init(&s->ctx);
	if (rc != GSASL_OK) {
		free(s);
		return err_set(err, ERR_SOFTWARE, "cannot initialise GNU SASL: %s",
			       gsasl_strerror(rc));
	}
	s->mech = p->forced_mech ? choose_forced(s->ctx, p, err) : choose_best(s->ctx, p, err);
	if (!s->mech)
		rc = -1;
	else if (s->mech->kind == MK_GSASL)
		rc = start_gsasl(s, p, initial, err);
	else
		rc = start_oauth(s, p, initial, err);
	if (rc != 0) {
		sasl_end(s);
		return -1;
	}
	*mech = s->mech->name;
	*out = s;
	return 0;
}

/* After a failed token the server sends its error as a challenge and
 * waits for one more client message before the final 5xx: RFC 7628
 * prescribes a lone %x01; Google's XOAUTH2 takes an empty line. */
static int oauth_round(struct sasl *s, char **response, struct error *err)
{
	*response = strdup(s->mech->kind == MK_OAUTHBEARER ? "AQ==" : "");
	if (!*response)
		return err_set(err, ERR_OSERR, "out of memory");
	return 0;
}

int sasl_step(struct sasl *s, const char *challenge, char **response, struct error *err)
{
	size_t n = strlen(challenge);
	char *raw = NULL;
	size_t rawlen = 0;
	int rc;

	*response = NULL;
	while (n > 0 && strchr(" \t\r\n", challenge[n - 1]))
		n--;
	if (++s->rounds > SASL_MAX_ROUNDS)
		return err_set(err, ERR_PROTOCOL,
			       "the server sent more than %d SASL challenges", SASL_MAX_ROUNDS);
	if (n > SASL_MAX_CHALLENGE)
		return err_set(err, ERR_PROTOCOL,
			       "the server's SASL challenge is over %d bytes", SASL_MAX_CHALLENGE);
	if (b64_decode(challenge, n, &raw, &rawlen, err) != 0)
		return -1;
	if (s->mech->scram && strncmp(raw, "e=", 2) == 0)
		rc = scram_server_error(s, raw, err);
	else if (s->mech->kind == MK_GSASL)
		rc = gsasl_round(s, raw, rawlen, false, response, err);
	else
		rc = oauth_round(s, response, err);
	wipe_free(raw, rawlen + 1);
	return rc;
}

bool sasl_finished(const struct sasl *s)
{
	return s && s->finished;
}

void sasl_free_response(char *response)
{
	if (response)
		wipe_free(response, strlen(response));
}

/* GNU SASL frees its copies of the secrets without clearing them; clear
 * them in place first. The salted password and keys are as good as the
 * password to an attacker. */
static void wipe_properties(Gsasl_session *sctx)
{
	static const Gsasl_property secret[] = {
		GSASL_PASSWORD, GSASL_SCRAM_SALTED_PASSWORD,
		GSASL_SCRAM_SERVERKEY, GSASL_SCRAM_STOREDKEY,
	};

	for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++) {
		const char *v = gsasl_property_fast(sctx, secret[i]);

		if (v)
			explicit_bzero((char *)v, strlen(v));
	}
}

void sasl_end(struct sasl *s)
{
	if (!s)
		return;
	if (s->sctx) {
		wipe_properties(s->sctx);
		gsasl_finish(s->sctx);
	}
	if (s->ctx)
		gsasl_done(s->ctx);
	free(s);
}
