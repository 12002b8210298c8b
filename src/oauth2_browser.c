/* oauth2_browser.c - the browser flow of --oauth2-login (oauth2_login.h):
 * PKCE (RFC 7636) and the loopback redirect (RFC 8252 7.3). */
#include "oauth2_login.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/base64.h>
#include <nettle/sha2.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "oauth2_int.h"
#include "printable.h"
#include "wipe.h"

#define WAIT_SECONDS 300
#define REQUEST_MAX 8192

/* base64url without padding (RFC 7636 appendix A) of n bytes. */
static void b64url(char *out, const uint8_t *raw, size_t n)
{
	size_t len = BASE64_ENCODE_RAW_LENGTH(n);

	base64_encode_raw(out, n, raw);
	out[len] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	if (strchr(out, '='))
		*strchr(out, '=') = '\0';
}

/* A random base64url text of n bytes' entropy (n <= 32). */
static int random_text(char *out, size_t n, struct error *err)
{
	uint8_t raw[32];

	if (getrandom(raw, n, 0) != (ssize_t)n)
		return err_set(err, ERR_OSERR, "cannot get random bytes");
	b64url(out, raw, n);
	explicit_bzero(raw, sizeof raw);
	return 0;
}

static void challenge_of(char *out, const char *verifier)
{
	struct sha256_ctx h;
	uint8_t digest[SHA256_DIGEST_SIZE];

	sha256_init(&h);
	sha256_update(&h, strlen(verifier), (const uint8_t *)verifier);
	sha256_digest(&h, sizeof digest, digest);
	b64url(out, digest, sizeof digest);
}

static int listen_loopback(int *fd, unsigned *port, struct error *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(*fd, 8) < 0 ||
	    getsockname(*fd, (struct sockaddr *)&sa, &len) < 0)
		return err_set(err, ERR_OSERR, "cannot listen on 127.0.0.1 for the redirect: %s",
			       strerror(errno));
	*port = ntohs(sa.sin_port);
	return 0;
}

/* Appends &name=escaped(value) to url (cap bytes). */
static void add_param(CURL *h, char *url, size_t cap, const char *name, const char *value)
{
	char *v = curl_easy_escape(h, value, 0);
	size_t n = strlen(url);

	snprintf(url + n, cap - n, "%s%s=%s", strchr(url, '?') ? "&" : "?", name, v ? v : "");
	curl_free(v);
}

/* The authorization URL (RFC 6749 4.1.1, RFC 7636 4.3). Malloc'd. */
static char *auth_url(const struct oauth2_config *c, const char *redirect, const char *state,
		      const char *challenge)
{
	size_t cap = strlen(c->auth_url) + 3 * (strlen(c->client_id) + strlen(redirect) +
						 (c->scope ? strlen(c->scope) : 0)) + 400;
	char *url = malloc(cap);
	CURL *h = curl_easy_init();

	if (!url || !h) {
		free(url);
		curl_easy_cleanup(h);
		return NULL;
	}
	snprintf(url, cap, "%s", c->auth_url);
	add_param(h, url, cap, "response_type", "code");
	add_param(h, url, cap, "client_id", c->client_id);
	add_param(h, url, cap, "redirect_uri", redirect);
	if (c->scope)
		add_param(h, url, cap, "scope", c->scope);
	add_param(h, url, cap, "state", state);
	add_param(h, url, cap, "code_challenge", challenge);
	add_param(h, url, cap, "code_challenge_method", "S256");
	/* Google gives a refresh token only when asked for offline access. */
	if (c->provider == OAUTH2_GOOGLE) {
		add_param(h, url, cap, "access_type", "offline");
		add_param(h, url, cap, "prompt", "consent");
	}
	curl_easy_cleanup(h);
	return url;
}

/* xdg-open, only where a browser can show up; envoi does not wait. */
static void open_browser(const char *url)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = {"xdg-open", (char *)url, NULL};
	extern char **environ;
	pid_t pid;

	if (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY"))
		return;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	(void)posix_spawnp(&pid, "xdg-open", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
}

/* The value of name in a query string, %-decoded, into out (size bytes);
 * false when absent. */
static bool query_value(const char *query, const char *name, char *out, size_t size)
{
	size_t n = strlen(name), o = 0;

	for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, name, n) != 0 || p[n] != '=')
			continue;
		for (p += n + 1; *p && *p != '&' && *p != ' ' && o + 1 < size; p++) {
			unsigned hex;

			if (*p == '%' && sscanf(p + 1, "%2x", &hex) == 1) {
				out[o++] = (char)hex;
				p += 2;
			} else {
				out[o++] = *p == '+' ? ' ' : *p;
			}
		}
		out[o] = '\0';
		return true;
	}
	return false;
}

static void answer(int fd, const char *status, const char *text)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Connection: close\r\nContent-Length: %zu\r\n\r\n%s", status, strlen(text), text);
	ssize_t ignored = write(fd, buf, (size_t)n);

	(void)ignored;
}

/* Reads one request's head (up to REQUEST_MAX bytes, 10 s). */
static size_t read_request(int fd, char *buf)
{
	size_t len = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (len + 1 < REQUEST_MAX && poll(&p, 1, 10000) > 0) {
		ssize_t n = read(fd, buf + len, REQUEST_MAX - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			break;
	}
	buf[len] = '\0';
	return len;
}

/* What one request to the listener brought: 1 a code (in code), 0 not
 * the redirect (favicon...), -1 a refusal (err set). */
static int judge_redirect(int fd, char *req, const char *state, char *code, size_t size,
			  struct error *err)
{
	char got[256], why[64];
	const char *query = strncmp(req, "GET /", 5) == 0 ? strchr(req, '?') : NULL;

	if (query && query_value(query + 1, "error", why, sizeof why)) {
		answer(fd, "200 OK", "envoi: the login was refused.\n");
		if (strcmp(why, "access_denied") == 0)
			return err_set(err, ERR_AUTH_FAILED, "the login was refused (access_denied)");
		printable_copy(got, sizeof got, why, strlen(why));
		return err_set(err, ERR_CONFIG, "the identity provider refused the login (%s)", got);
	}
	if (!query || !query_value(query + 1, "code", code, size)) {
		answer(fd, "404 Not Found", "envoi: waiting for the login's redirect.\n");
		return 0;
	}
	if (!query_value(query + 1, "state", got, sizeof got) || strcmp(got, state) != 0) {
		answer(fd, "400 Bad Request", "envoi: this redirect is not the login envoi started.\n");
		return err_set(err, ERR_AUTH_FAILED, "the redirect's state does not match the login "
			       "envoi started: refused (a forged or stale redirect)");
	}
	answer(fd, "200 OK", "envoi: logged in. You may close this window.\n");
	return 1;
}

/* Waits for the redirect; returns 0 with the code, or -1. */
static int wait_redirect(int lfd, const char *state, char *code, size_t size, struct error *err)
{
	time_t deadline = time(NULL) + WAIT_SECONDS;
	char *req = malloc(REQUEST_MAX);
	int rc = 0;

	if (!req)
		return err_set(err, ERR_OSERR, "out of memory");
	while (rc == 0) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		long left = (long)(deadline - time(NULL));
		int fd;

		if (left <= 0 || poll(&p, 1, (int)left * 1000) <= 0) {
			rc = err_set(err, ERR_TEMPFAIL, "login not completed in time (no redirect "
				     "within %d s)", WAIT_SECONDS);
			break;
		}
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		read_request(fd, req);
		rc = judge_redirect(fd, req, state, code, size, err);
		close(fd);
	}
	wipe_free(req, REQUEST_MAX);
	return rc < 0 ? -1 : 0;
}

static int exchange(const struct oauth2_config *c, const char *code, const char *redirect,
		    const char *verifier, struct token_set *t, struct error *err)
{
	struct oauth2_field f[] = {
		{"grant_type", "authorization_code", false}, {"code", code, true},
		{"redirect_uri", redirect, false}, {"code_verifier", verifier, true},
	};
	char why[64];

	return oauth2_grant(c, f, 4, t, why, sizeof why, err);
}

int oauth2_browser(const struct oauth2_config *c, struct token_set *t, struct error *err)
{
	char verifier[64], challenge[64], state[32], redirect[64], code[2048], *url;
	unsigned port = 0;
	int lfd = -1, rc;

	if (random_text(verifier, 32, err) < 0 || random_text(state, 16, err) < 0 ||
	    listen_loopback(&lfd, &port, err) < 0) {
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	challenge_of(challenge, verifier);
	snprintf(redirect, sizeof redirect, "http://127.0.0.1:%u/", port);
	if (!(url = auth_url(c, redirect, state, challenge))) {
		close(lfd);
		return err_set(err, ERR_OSERR, "out of memory");
	}
	fputs("envoi: to log in, open this URL in a browser (waiting up to 5 minutes):\n", stderr);
	printable_write(stderr, url, strlen(url));
	fputs("\n", stderr);
	open_browser(url);
	free(url);
	rc = wait_redirect(lfd, state, code, sizeof code, err);
	close(lfd);
	if (rc == 0)
		rc = exchange(c, code, redirect, verifier, t, err);
	explicit_bzero(code, sizeof code);
	explicit_bzero(verifier, sizeof verifier);
	return rc;
}
