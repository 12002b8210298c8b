/* keyring.c - password lookup in the Secret Service. libsecret is the
 * Secret Service's own client library: talking D-Bus to it by hand would
 * be far more code for the same thing. It is loaded with dlopen only
 * when a lookup happens: linking it would load GLib, GIO and GObject on
 * every start (about 2 ms) for a source most runs never reach. */
#include "keyring.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_LIBSECRET
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <libsecret/secret.h>
#pragma GCC diagnostic pop

static const SecretSchema schema = {
	/* DONT_MATCH_NAME: items stored by secret-tool carry another schema
	 * name but the same attributes. */
	"org.envoi.Password", SECRET_SCHEMA_DONT_MATCH_NAME,
	{
		{"service", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"server", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"user", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{NULL, 0},
	},
	0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

typedef gchar *lookup_fn(const SecretSchema *, GCancellable *, GError **, ...);
typedef void free_fn(gchar *);
typedef void error_free_fn(GError *);

char *keyring_lookup(const char *host, const char *user)
{
	GError *error = NULL;
	gchar *found = NULL;
	char *copy = NULL;
	void *lib;

	/* Without a session bus there is no keyring to ask, and asking
	 * would only cost time. */
	if (!host || !user || !getenv("DBUS_SESSION_BUS_ADDRESS"))
		return NULL;
	lib = dlopen("libsecret-1.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return NULL;
	lookup_fn *lookup;
	free_fn *wipe;
	error_free_fn *error_free;

	/* POSIX's way to turn dlsym's object pointer into a function pointer. */
	*(void **)&lookup = dlsym(lib, "secret_password_lookup_sync");
	*(void **)&wipe = dlsym(lib, "secret_password_free");
	*(void **)&error_free = dlsym(lib, "g_error_free");

	if (lookup && wipe && error_free) {
		found = lookup(&schema, NULL, &error, "service", "envoi", "server", host, "user", user,
			       NULL);
		if (error)
			error_free(error);
		if (found) {
			copy = strdup(found);
			wipe(found); /* libsecret's copy is wiped, not just freed */
		}
	}
	/* GLib cannot be unloaded safely once its types are registered. */
	return copy;
}

/* OAuth2 refresh tokens (tokenstore.c): another schema, so that a token
 * is never taken for a server's password. */
static const SecretSchema token_schema = {
	"org.envoi.OAuth2", SECRET_SCHEMA_NONE,
	{
		{"service", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"oauth2-account", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{NULL, 0},
	},
	0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

typedef gboolean store_fn(const SecretSchema *, const gchar *, const gchar *, const gchar *,
			  GCancellable *, GError **, ...);

/* libsecret, when a session bus is there to reach a keyring through. */
static void *secret_library(void)
{
	if (!getenv("DBUS_SESSION_BUS_ADDRESS"))
		return NULL;
	return dlopen("libsecret-1.so.0", RTLD_NOW | RTLD_LOCAL);
}

int keyring_store_token(const char *account, const char *token)
{
	void *lib = secret_library();
	GError *error = NULL;
	gboolean stored = FALSE;
	store_fn *store;
	error_free_fn *error_free;

	if (!lib)
		return -1;
	*(void **)&store = dlsym(lib, "secret_password_store_sync");
	*(void **)&error_free = dlsym(lib, "g_error_free");
	if (store && error_free) {
		stored = store(&token_schema, SECRET_COLLECTION_DEFAULT, "envoi OAuth2 refresh token",
			       token, NULL, &error, "service", "envoi", "oauth2-account", account, NULL);
		if (error)
			error_free(error);
	}
	return stored ? 0 : -1;
}

char *keyring_lookup_token(const char *account)
{
	void *lib = secret_library();
	GError *error = NULL;
	gchar *found = NULL;
	char *copy = NULL;
	lookup_fn *lookup;
	free_fn *wipe;
	error_free_fn *error_free;

	if (!lib)
		return NULL;
	*(void **)&lookup = dlsym(lib, "secret_password_lookup_sync");
	*(void **)&wipe = dlsym(lib, "secret_password_free");
	*(void **)&error_free = dlsym(lib, "g_error_free");
	if (lookup && wipe && error_free) {
		found = lookup(&token_schema, NULL, &error, "service", "envoi", "oauth2-account",
			       account, NULL);
		if (error)
			error_free(error);
		if (found) {
			copy = strdup(found);
			wipe(found);
		}
	}
	return copy;
}
#else
int keyring_store_token(const char *account, const char *token)
{
	(void)account;
	(void)token;
	return -1;
}

char *keyring_lookup_token(const char *account)
{
	(void)account;
	return NULL;
}

char *keyring_lookup(const char *host, const char *user)
{
	(void)host;
	(void)user;
	return NULL;
}
#endif
