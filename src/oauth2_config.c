/* oauth2_config.c - an account's OAuth2 keys, checked, with the
 * provider's preset filled in (oauth2.h). */
#include "oauth2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"

static int parse_provider(const char *text, enum oauth2_provider *out, struct error *err)
{
	static const char *const names[] = {"microsoft", "google", "custom"};

	for (int i = 0; i < 3; i++)
		if (strcasecmp(text, names[i]) == 0) {
			*out = (enum oauth2_provider)(OAUTH2_MICROSOFT + i);
			return 0;
		}
	return err_set(err, ERR_CONFIG, "oauth2-provider is microsoft, google or custom");
}

static int parse_flow(const char *text, enum oauth2_flow *out, struct error *err)
{
	static const char *const names[] = {"device", "browser", "client-credentials"};

	for (int i = 0; i < 3; i++)
		if (strcasecmp(text, names[i]) == 0) {
			*out = (enum oauth2_flow)(OAUTH2_DEVICE + i);
			return 0;
		}
	return err_set(err, ERR_CONFIG, "oauth2-flow is device, browser or client-credentials");
}

/* Sets *field to a copy of value unless the account gave one. */
static int preset(char **field, const char *value, struct error *err)
{
	if (*field || !value)
		return 0;
	*field = strdup(value);
	return *field ? 0 : err_set(err, ERR_OSERR, "out of memory");
}

static int microsoft_urls(struct oauth2_config *c, struct error *err)
{
	static const char *const ends[] = {"authorize", "devicecode", "token"};
	char **fields[] = {&c->auth_url, &c->device_url, &c->token_url};
	const char *tenant = c->tenant ? c->tenant : "organizations";
	char url[400];

	if (strspn(tenant, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
	    strlen(tenant) || strlen(tenant) > 200 || !*tenant)
		return err_set(err, ERR_CONFIG, "oauth2-tenant is a tenant id or domain name");
	for (int i = 0; i < 3; i++) {
		snprintf(url, sizeof url, "https://login.microsoftonline.com/%s/oauth2/v2.0/%s", tenant,
			 ends[i]);
		if (preset(fields[i], url, err) < 0)
			return -1;
	}
	return 0;
}

static int microsoft(struct oauth2_config *c, struct error *err)
{
	if (c->flow == OAUTH2_FLOW_UNSET)
		c->flow = OAUTH2_DEVICE;
	/* "organizations" names no tenant to get an app-only token from. */
	if (c->flow == OAUTH2_CLIENT_CREDENTIALS && !c->tenant)
		return err_set(err, ERR_CONFIG, "oauth2-flow = client-credentials needs oauth2-tenant "
			       "(the directory (tenant) id of the app registration)");
	if (microsoft_urls(c, err) < 0)
		return -1;
	return preset(&c->scope, c->flow == OAUTH2_CLIENT_CREDENTIALS ?
		      "https://outlook.office365.com/.default" :
		      "https://outlook.office.com/SMTP.Send offline_access", err);
}

static int google(struct oauth2_config *c, struct error *err)
{
	if (c->flow == OAUTH2_FLOW_UNSET)
		c->flow = OAUTH2_BROWSER;
	if (c->flow != OAUTH2_BROWSER) {
		err_set(err, ERR_CONFIG, "oauth2-provider = google works with oauth2-flow = browser only");
		err_hint(err, "Google grants no mail scope to the device flow and no client "
			 "credentials for Gmail");
		return -1;
	}
	if (preset(&c->auth_url, "https://accounts.google.com/o/oauth2/v2/auth", err) < 0 ||
	    preset(&c->token_url, "https://oauth2.googleapis.com/token", err) < 0)
		return -1;
	return preset(&c->scope, "https://mail.google.com/", err);
}

/* The URLs the flow needs, each https. */
static int check_urls(const struct oauth2_config *c, struct error *err)
{
	const struct { const char *key, *value; bool needed; } urls[] = {
		{"oauth2-token-url", c->token_url, true},
		{"oauth2-device-url", c->device_url, c->flow == OAUTH2_DEVICE},
		{"oauth2-auth-url", c->auth_url, c->flow == OAUTH2_BROWSER},
	};

	for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
		if (!urls[i].value && urls[i].needed)
			return err_set(err, ERR_CONFIG, "the account's OAuth2 settings lack %s",
				       urls[i].key);
		if (urls[i].value && strncasecmp(urls[i].value, "https://", 8) != 0)
			return err_set(err, ERR_CONFIG, "%s must be an https:// URL", urls[i].key);
	}
	return 0;
}

/* What the flow needs besides the URLs, and settings that contradict. */
static int check_needs(const struct oauth2_config *c, struct error *err)
{
	if (!c->client_id || !*c->client_id)
		return err_set(err, ERR_CONFIG, "the account's OAuth2 settings lack oauth2-client-id");
	if (c->secret_command && c->secret_file)
		return err_set(err, ERR_CONFIG, "give oauth2-client-secret-command or "
			       "oauth2-client-secret-file, not both");
	if (c->flow == OAUTH2_CLIENT_CREDENTIALS && !c->secret_command && !c->secret_file)
		return err_set(err, ERR_CONFIG, "oauth2-flow = client-credentials needs "
			       "oauth2-client-secret-command or oauth2-client-secret-file");
	if (c->tenant && c->provider != OAUTH2_MICROSOFT)
		return err_set(err, ERR_CONFIG, "oauth2-tenant is for oauth2-provider = microsoft");
	return check_urls(c, err);
}

static int settle_auth(char **mech, char **user, const char *from, struct error *err)
{
	if (*mech && strcmp(*mech, "XOAUTH2") != 0 && strcmp(*mech, "OAUTHBEARER") != 0)
		return err_set(err, ERR_CONFIG, "auth = %.40s contradicts oauth2-provider: OAuth2 "
			       "tokens log in with XOAUTH2 or OAUTHBEARER", *mech);
	if (!*mech && !(*mech = strdup("XOAUTH2")))
		return err_set(err, ERR_OSERR, "out of memory");
	if (!*user && from && !(*user = strdup(from)))
		return err_set(err, ERR_OSERR, "out of memory");
	return 0;
}

static int settle(struct oauth2_config *c, char **mech, char **user, const char *from,
		  struct error *err)
{
	int rc = 0;

	if (c->provider == OAUTH2_NONE)
		return 0;
	if (c->provider == OAUTH2_MICROSOFT)
		rc = microsoft(c, err);
	else if (c->provider == OAUTH2_GOOGLE)
		rc = google(c, err);
	else if (c->flow == OAUTH2_FLOW_UNSET)
		c->flow = OAUTH2_DEVICE;
	if (rc == 0)
		rc = check_needs(c, err);
	return rc < 0 ? -1 : settle_auth(mech, user, from, err);
}

/* The first key set when no provider is: it would do nothing. */
static int key_alone(const char *const raw[OAUTH2_NKEYS])
{
	for (int k = OAUTH2_KEY_CLIENT_ID; k < OAUTH2_NKEYS; k++)
		if (raw[k])
			return k;
	return -1;
}

static int take_strings(struct oauth2_config *c, const char *const raw[OAUTH2_NKEYS],
			const char *account, struct error *err)
{
	static const enum oauth2_key keys[] = {
		OAUTH2_KEY_CLIENT_ID, OAUTH2_KEY_SECRET_COMMAND, OAUTH2_KEY_SECRET_FILE,
		OAUTH2_KEY_TENANT, OAUTH2_KEY_CA_FILE, OAUTH2_KEY_AUTH_URL, OAUTH2_KEY_DEVICE_URL,
		OAUTH2_KEY_TOKEN_URL, OAUTH2_KEY_SCOPE};
	char **fields[] = {&c->client_id, &c->secret_command, &c->secret_file, &c->tenant,
			   &c->ca_file, &c->auth_url, &c->device_url, &c->token_url, &c->scope};

	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (raw[keys[i]] && !(*fields[i] = strdup(raw[keys[i]])))
			return err_set(err, ERR_OSERR, "out of memory");
	if (!(c->account = strdup(account && *account ? account : "default")))
		return err_set(err, ERR_OSERR, "out of memory");
	return 0;
}

/* The sender's mailbox ("Name <addr>" gives addr). Malloc'd or NULL. */
static char *mailbox_of(const char *from)
{
	struct address a = {0};
	struct error ignored;
	char *mailbox;

	if (!from || addr_parse(&a, from, &ignored) < 0)
		return NULL;
	mailbox = a.mailbox ? strdup(a.mailbox) : NULL;
	addr_free(&a);
	return mailbox;
}

int oauth2_configure(struct oauth2_config *c, const char *const raw[OAUTH2_NKEYS],
		     const struct oauth2_target *t, struct error *err)
{
	static const char *const names[] = {"oauth2-client-id", "oauth2-client-secret-command",
		"oauth2-client-secret-file", "oauth2-tenant", "oauth2-flow", "oauth2-ca-file",
		"oauth2-auth-url", "oauth2-device-url", "oauth2-token-url", "oauth2-scope"};
	int alone = key_alone(raw), rc;
	char *from;

	if (!raw[OAUTH2_KEY_PROVIDER] && alone >= 0)
		return err_set(err, ERR_CONFIG, "%s is set but oauth2-provider is not",
			       names[alone - 1]);
	if (!raw[OAUTH2_KEY_PROVIDER] && t->login)
		return err_set(err, ERR_CONFIG, "--oauth2-login: account %.100s has no oauth2-provider",
			       t->account ? t->account : "default");
	if (!raw[OAUTH2_KEY_PROVIDER])
		return 0;
	if (parse_provider(raw[OAUTH2_KEY_PROVIDER], &c->provider, err) < 0 ||
	    (raw[OAUTH2_KEY_FLOW] && parse_flow(raw[OAUTH2_KEY_FLOW], &c->flow, err) < 0) ||
	    take_strings(c, raw, t->account, err) < 0)
		return -1;
	from = mailbox_of(t->from);
	rc = settle(c, t->mech, t->user, from, err);
	free(from);
	if (rc == 0 && !*t->user && !t->login)
		rc = err_set(err, ERR_CONFIG, "OAuth2 needs a user name: give user or from");
	return rc;
}
