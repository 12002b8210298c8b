/* oauth2_login.c - --oauth2-login: the device flow (RFC 8628), the
 * browser flow (authorization code with PKCE, RFC 7636, redirected to a
 * listener on 127.0.0.1), and storing what they bring. */
#include "oauth2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oauth2_int.h"
#include "oauth2_login.h"
#include "printable.h"

/* What the flows bring: tokens stored, the user told where. */
static int store_login(const struct oauth2_config *c, struct token_set *t, struct error *err)
{
	struct token_set none = {0};
	struct tokenstore ts;
	int rc = tokenstore_open(&ts, c->account, err);

	if (rc == 0)
		rc = oauth2_store(&ts, t, &none, err);
	if (rc == 0 && !t->refresh)
		fputs("envoi: warning: the identity provider gave no refresh token: the login lasts "
		      "until the access token expires (is offline_access in oauth2-scope?)\n", stderr);
	if (rc == 0)
		fprintf(stderr, "envoi: logged in; tokens stored in %s%s\n",
			ts.in_keyring ? "the desktop keyring and " : "", ts.path);
	tokenstore_close(&ts);
	return rc;
}

static long long json_number(json_t *answer, const char *key, long long dflt)
{
	json_t *v = json_object_get(answer, key);

	if (json_is_integer(v) && json_integer_value(v) > 0)
		return json_integer_value(v);
	return dflt;
}

/* RFC 8628 3.1-3.3: the codes, and the line the user acts on. */
static int device_start(const struct oauth2_config *c, json_t **answer, struct error *err)
{
	struct oauth2_field f[] = {{"client_id", c->client_id, false}, {"scope", c->scope, false}};
	const char *uri, *user_code;
	long status;

	if (oauth2_post(c, c->device_url, f, 2, &status, answer, err) < 0)
		return -1;
	if (status / 100 != 2)
		return oauth2_refused(c, status, *answer, err);
	uri = json_string_value(json_object_get(*answer, "verification_uri"));
	if (!uri) /* Google's older name */
		uri = json_string_value(json_object_get(*answer, "verification_url"));
	user_code = json_string_value(json_object_get(*answer, "user_code"));
	if (!uri || !user_code || !json_is_string(json_object_get(*answer, "device_code")))
		return err_set(err, ERR_PROTOCOL, "the device authorization answer lacks "
			       "verification_uri, user_code or device_code");
	fputs("envoi: to log in, open ", stderr);
	printable_write(stderr, uri, strlen(uri));
	fputs(" and enter the code ", stderr);
	printable_write(stderr, user_code, strlen(user_code));
	fputs("\n", stderr);
	return 0;
}

static int too_late(struct error *err)
{
	return err_set(err, ERR_TEMPFAIL, "login not completed in time");
}

/* RFC 8628 3.4-3.5: polls at the interval, slower when asked to. */
static int device_poll(const struct oauth2_config *c, json_t *start, struct token_set *t,
		       struct error *err)
{
	struct oauth2_field f[] = {
		{"grant_type", "urn:ietf:params:oauth:grant-type:device_code", false},
		{"device_code", json_string_value(json_object_get(start, "device_code")), true},
	};
	long long interval = json_number(start, "interval", 5);
	long long deadline = (long long)time(NULL) + json_number(start, "expires_in", 900);
	char code[64];

	for (;;) {
		sleep((unsigned)interval);
		if ((long long)time(NULL) > deadline)
			return too_late(err);
		if (oauth2_grant(c, f, 2, t, code, sizeof code, err) == 0)
			return 0;
		if (strcmp(code, "slow_down") == 0)
			interval += 5;
		else if (strcmp(code, "expired_token") == 0)
			return too_late(err);
		else if (strcmp(code, "authorization_pending") != 0)
			return -1;
	}
}

static int device_login(const struct oauth2_config *c, struct error *err)
{
	struct token_set t = {0};
	json_t *start = NULL;
	int rc = device_start(c, &start, err);

	if (rc == 0)
		rc = device_poll(c, start, &t, err);
	json_decref(start);
	if (rc == 0)
		rc = store_login(c, &t, err);
	token_set_clear(&t);
	return rc;
}

static int browser_login(const struct oauth2_config *c, struct error *err)
{
	struct token_set t = {0};
	int rc = oauth2_browser(c, &t, err);

	if (rc == 0)
		rc = store_login(c, &t, err);
	token_set_clear(&t);
	return rc;
}

int oauth2_login(const struct oauth2_config *c, struct error *err)
{
	if (c->provider == OAUTH2_NONE) {
		err_set(err, ERR_CONFIG, "account %.100s has no oauth2-provider: nothing to log in",
			c->account);
		return -1;
	}
	if (c->flow == OAUTH2_CLIENT_CREDENTIALS)
		return err_set(err, ERR_CONFIG, "account %.100s uses client credentials: nothing to "
			       "log in (envoi gets its tokens when it sends)", c->account);
	if (c->flow == OAUTH2_BROWSER)
		return browser_login(c, err);
	return device_login(c, err);
}
