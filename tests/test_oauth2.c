/* test_oauth2.c - an account's OAuth2 keys: the providers' presets, the
 * flows each allows, the mechanism and user a provider implies, and the
 * settings refused (exit 78). The flows themselves run against a fake
 * identity provider in tests/integration/test_oauth2.py. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "oauth2.h"

struct setup {
	struct oauth2_config c;
	char *mech, *user;
	struct error err;
};

/* keys: pairs of (enum oauth2_key, value), ended by -1. */
static int configure(struct setup *s, const char *from, int login, ...)
{
	const char *raw[OAUTH2_NKEYS] = {0};
	va_list ap;
	int k;

	va_start(ap, login);
	while ((k = va_arg(ap, int)) >= 0)
		raw[k] = va_arg(ap, const char *);
	va_end(ap);
	return oauth2_configure(&s->c, raw, &(struct oauth2_target){
		.account = "work", .from = from, .login = login, .mech = &s->mech, .user = &s->user},
		&s->err);
}

static void done(struct setup *s)
{
	oauth2_config_free(&s->c);
	free(s->mech);
	free(s->user);
}

Test(oauth2, microsoft_preset_uses_the_tenant_and_the_device_flow)
{
	struct setup s = {0};

	cr_assert_eq(configure(&s, "Jane <jane@contoso.example>", false,
			       OAUTH2_KEY_PROVIDER, "microsoft", OAUTH2_KEY_CLIENT_ID, "id",
			       OAUTH2_KEY_TENANT, "contoso.example", -1), 0, "%s", s.err.text);
	cr_expect_eq(s.c.flow, OAUTH2_DEVICE);
	cr_expect_str_eq(s.c.device_url,
			 "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/devicecode");
	cr_expect_str_eq(s.c.token_url,
			 "https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token");
	cr_expect_str_eq(s.c.scope, "https://outlook.office.com/SMTP.Send offline_access");
	cr_expect_str_eq(s.mech, "XOAUTH2");
	cr_expect_str_eq(s.user, "jane@contoso.example");
	cr_expect_str_eq(s.c.account, "work");
	done(&s);
}

Test(oauth2, microsoft_default_tenant_is_organizations)
{
	struct setup s = {0};

	cr_assert_eq(configure(&s, "a@b.example", false, OAUTH2_KEY_PROVIDER, "Microsoft",
			       OAUTH2_KEY_CLIENT_ID, "id", -1), 0, "%s", s.err.text);
	cr_expect_str_eq(s.c.auth_url,
			 "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize");
	done(&s);
}

Test(oauth2, microsoft_client_credentials_needs_a_tenant_and_a_secret)
{
	struct setup s = {0};

	cr_expect_eq(configure(&s, "a@b.example", false, OAUTH2_KEY_PROVIDER, "microsoft",
			       OAUTH2_KEY_CLIENT_ID, "id", OAUTH2_KEY_FLOW, "client-credentials",
			       OAUTH2_KEY_SECRET_FILE, "/s", -1), -1);
	cr_expect_eq(s.err.cls, ERR_CONFIG);
	cr_expect(strstr(s.err.text, "oauth2-tenant"), "%s", s.err.text);
	done(&s);
	memset(&s, 0, sizeof s);
	cr_expect_eq(configure(&s, "a@b.example", false, OAUTH2_KEY_PROVIDER, "microsoft",
			       OAUTH2_KEY_CLIENT_ID, "id", OAUTH2_KEY_FLOW, "client-credentials",
			       OAUTH2_KEY_TENANT, "t1", -1), -1);
	cr_expect(strstr(s.err.text, "secret"), "%s", s.err.text);
	done(&s);
	memset(&s, 0, sizeof s);
	cr_assert_eq(configure(&s, "a@b.example", false, OAUTH2_KEY_PROVIDER, "microsoft",
			       OAUTH2_KEY_CLIENT_ID, "id", OAUTH2_KEY_FLOW, "client-credentials",
			       OAUTH2_KEY_TENANT, "t1", OAUTH2_KEY_SECRET_COMMAND, "pass x", -1), 0);
	cr_expect_str_eq(s.c.scope, "https://outlook.office365.com/.default");
	done(&s);
}

Test(oauth2, google_is_browser_only)
{
	struct setup s = {0};

	cr_assert_eq(configure(&s, "a@gmail.com", false, OAUTH2_KEY_PROVIDER, "google",
			       OAUTH2_KEY_CLIENT_ID, "id", -1), 0, "%s", s.err.text);
	cr_expect_eq(s.c.flow, OAUTH2_BROWSER);
	cr_expect_str_eq(s.c.auth_url, "https://accounts.google.com/o/oauth2/v2/auth");
	cr_expect_str_eq(s.c.token_url, "https://oauth2.googleapis.com/token");
	cr_expect_str_eq(s.c.scope, "https://mail.google.com/");
	done(&s);
	memset(&s, 0, sizeof s);
	cr_expect_eq(configure(&s, "a@gmail.com", false, OAUTH2_KEY_PROVIDER, "google",
			       OAUTH2_KEY_CLIENT_ID, "id", OAUTH2_KEY_FLOW, "device", -1), -1);
	cr_expect_eq(s.err.cls, ERR_CONFIG);
	done(&s);
}

Test(oauth2, oauthbearer_stays_and_other_mechanisms_contradict)
{
	struct setup s = {.mech = strdup("OAUTHBEARER")};

	cr_assert_eq(configure(&s, "a@b.example", false, OAUTH2_KEY_PROVIDER, "google",
			       OAUTH2_KEY_CLIENT_ID, "id", -1), 0);
	cr_expect_str_eq(s.mech, "OAUTHBEARER");
	done(&s);
	memset(&s, 0, sizeof s);
	s.mech = strdup("PLAIN");
	cr_expect_eq(configure(&s, "a@b.example", false, OAUTH2_KEY_PROVIDER, "google",
			       OAUTH2_KEY_CLIENT_ID, "id", -1), -1);
	cr_expect_eq(s.err.cls, ERR_CONFIG);
	done(&s);
}

Test(oauth2, custom_needs_its_urls_over_https)
{
	struct setup s = {0};

	cr_expect_eq(configure(&s, "a@b.example", false, OAUTH2_KEY_PROVIDER, "custom",
			       OAUTH2_KEY_CLIENT_ID, "id", OAUTH2_KEY_TOKEN_URL, "https://x/t", -1), -1);
	cr_expect(strstr(s.err.text, "oauth2-device-url"), "%s", s.err.text);
	done(&s);
	memset(&s, 0, sizeof s);
	cr_expect_eq(configure(&s, "a@b.example", false, OAUTH2_KEY_PROVIDER, "custom",
			       OAUTH2_KEY_CLIENT_ID, "id", OAUTH2_KEY_TOKEN_URL, "http://x/t",
			       OAUTH2_KEY_DEVICE_URL, "https://x/d", -1), -1);
	cr_expect(strstr(s.err.text, "https://"), "%s", s.err.text);
	done(&s);
}

Test(oauth2, a_key_without_a_provider_is_refused)
{
	struct setup s = {0};

	cr_expect_eq(configure(&s, "a@b.example", false, OAUTH2_KEY_SCOPE, "x", -1), -1);
	cr_expect(strstr(s.err.text, "oauth2-scope"), "%s", s.err.text);
	cr_expect_eq(s.c.provider, OAUTH2_NONE);
	done(&s);
	memset(&s, 0, sizeof s);
	cr_expect_eq(configure(&s, "a@b.example", false, -1), 0, "no key: no OAuth2");
	cr_expect_null(s.mech);
	cr_expect_null(s.user);
	done(&s);
}

Test(oauth2, a_user_is_needed_to_send_but_not_to_log_in)
{
	struct setup s = {0};

	cr_expect_eq(configure(&s, NULL, false, OAUTH2_KEY_PROVIDER, "google",
			       OAUTH2_KEY_CLIENT_ID, "id", -1), -1);
	done(&s);
	memset(&s, 0, sizeof s);
	cr_expect_eq(configure(&s, NULL, true, OAUTH2_KEY_PROVIDER, "google",
			       OAUTH2_KEY_CLIENT_ID, "id", -1), 0);
	done(&s);
}
