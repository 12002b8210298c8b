/* oauth2.c - an account's OAuth2 settings and the access token at send
 * time (oauth2.h). */
#include "oauth2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "oauth2_int.h"
#include "password.h"
#include "sasl.h"
#include "wipe.h"

/* A token this close to its expiry could expire on the way. */
#define EXPIRY_MARGIN 60

int oauth2_client_secret(const struct oauth2_config *c, char **secret, struct error *err)
{
	struct password_source src = {.file = c->secret_file, .command = c->secret_command,
				       .timeout = c->timeout};
	struct stat st;

	*secret = NULL;
	if (!c->secret_file && !c->secret_command)
		return 0;
	/* A secret other users can read is no longer a secret (as ssh). */
	if (c->secret_file && stat(c->secret_file, &st) == 0 && (st.st_mode & 077))
		return err_set(err, ERR_CONFIG, "oauth2-client-secret-file %.300s is readable by others "
			       "(mode %04o): chmod 600 %.300s", c->secret_file,
			       (unsigned)(st.st_mode & 07777), c->secret_file);
	return password_get(&src, secret, err);
}

/* expires_in: a number, or a number in a string (some providers). */
static long long expiry(json_t *answer)
{
	json_t *v = json_object_get(answer, "expires_in");
	long long secs = 3600;

	if (json_is_integer(v))
		secs = json_integer_value(v);
	else if (json_is_string(v))
		secs = strtoll(json_string_value(v), NULL, 10);
	return (long long)time(NULL) + (secs > 0 ? secs : 0);
}

static bool usable_token(json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (!s || n == 0 || n > SASL_MAX_SECRET)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* A successful answer (RFC 6749 5.1) into t. */
static int take_tokens(json_t *answer, struct token_set *t, struct error *err)
{
	json_t *access = json_object_get(answer, "access_token");
	json_t *refresh = json_object_get(answer, "refresh_token");

	if (!usable_token(access))
		return err_set(err, ERR_PROTOCOL, "the identity provider's answer holds no usable "
			       "access_token");
	t->access = token_dup(json_string_value(access), json_string_length(access));
	if (usable_token(refresh))
		t->refresh = token_dup(json_string_value(refresh), json_string_length(refresh));
	t->expires_at = expiry(answer);
	if (!t->access || (usable_token(refresh) && !t->refresh)) {
		token_set_clear(t);
		return err_set(err, ERR_OSERR, "out of memory");
	}
	return 0;
}

int oauth2_grant(const struct oauth2_config *c, const struct oauth2_field *fields, size_t n,
		 struct token_set *t, char *code, size_t size, struct error *err)
{
	struct oauth2_field all[12];
	json_t *answer = NULL;
	char *secret = NULL;
	long status = 0;
	int rc;

	code[0] = '\0';
	memset(t, 0, sizeof *t);
	if (n > 10 || oauth2_client_secret(c, &secret, err) < 0)
		return n > 10 ? err_set(err, ERR_SOFTWARE, "too many form fields") : -1;
	memcpy(all, fields, n * sizeof *fields);
	all[n++] = (struct oauth2_field){"client_id", c->client_id, false};
	all[n++] = (struct oauth2_field){"client_secret", secret, true};
	rc = oauth2_post(c, c->token_url, all, n, &status, &answer, err);
	password_free(secret);
	if (rc == 0 && status / 100 != 2) {
		snprintf(code, size, "%s", oauth2_error_code(answer));
		rc = oauth2_refused(c, status, answer, err);
	} else if (rc == 0) {
		rc = take_tokens(answer, t, err);
	}
	json_decref(answer);
	return rc;
}

int oauth2_store(struct tokenstore *ts, struct token_set *fresh, const struct token_set *old,
		 struct error *err)
{
	/* No refresh_token in the answer: the old one stays valid (RFC 6749 6). */
	if (!fresh->refresh && old->refresh &&
	    !(fresh->refresh = token_dup(old->refresh, strlen(old->refresh))))
		return err_set(err, ERR_OSERR, "out of memory");
	return tokenstore_save(ts, fresh, err);
}

/* A new access token from the refresh token or the client credentials. */
static int renew(const struct oauth2_config *c, const struct token_set *old, struct token_set *t,
		 struct error *err)
{
	struct oauth2_field f[3] = {{"scope", c->scope, false}};
	char code[64];

	if (c->flow == OAUTH2_CLIENT_CREDENTIALS) {
		f[1] = (struct oauth2_field){"grant_type", "client_credentials", false};
		return oauth2_grant(c, f, 2, t, code, sizeof code, err);
	}
	if (!old->refresh) {
		err_set(err, ERR_CONFIG, "account %.100s has no OAuth2 refresh token yet", c->account);
		err_hint(err, "run envoi --oauth2-login --account=%.100s once", c->account);
		return -1;
	}
	f[1] = (struct oauth2_field){"grant_type", "refresh_token", false};
	f[2] = (struct oauth2_field){"refresh_token", old->refresh, true};
	return oauth2_grant(c, f, 3, t, code, sizeof code, err);
}

int oauth2_token(const struct oauth2_config *c, bool fresh, char **token, struct error *err)
{
	struct token_set old = {0}, t = {0};
	struct tokenstore ts;
	int rc;

	*token = NULL;
	if ((rc = tokenstore_open(&ts, c->account, err)) == 0)
		rc = tokenstore_load(&ts, &old, err);
	if (rc == 0 && !fresh && old.access && old.expires_at - (long long)time(NULL) > EXPIRY_MARGIN) {
		*token = old.access;
		old.access = NULL;
	} else if (rc == 0 && (rc = renew(c, &old, &t, err)) == 0) {
		/* Stored first: a rotated refresh token is the only valid one. */
		rc = oauth2_store(&ts, &t, &old, err);
		if (rc == 0) {
			*token = t.access;
			t.access = NULL;
		}
	}
	tokenstore_close(&ts);
	token_set_clear(&old);
	token_set_clear(&t);
	return rc;
}

void oauth2_config_free(struct oauth2_config *c)
{
	char **strings[] = {&c->client_id, &c->secret_command, &c->secret_file, &c->tenant,
			    &c->ca_file, &c->auth_url, &c->device_url, &c->token_url, &c->scope,
			    &c->account};

	for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
		free(*strings[i]);
	memset(c, 0, sizeof *c);
}
