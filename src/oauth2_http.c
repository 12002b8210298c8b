/* oauth2_http.c - the HTTPS client for the identity provider.
 *
 * libcurl (its GnuTLS flavour, so that envoi keeps one TLS library) does
 * HTTP: redirects, chunked answers, proxies from the environment and
 * certificate checks are its business, and writing them again over
 * tls.c would be far more code than this file. Everything that held a
 * secret (the form, the answer, jansson's copies) is wiped. */
#include "oauth2_http.h"

#include <curl/curl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "printable.h"
#include "version.h"
#include "wipe.h"

#define ANSWER_MAX (1024 * 1024)

static void wiping_free(void *p)
{
	if (p)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void oauth2_json_wiping(void)
{
	json_set_alloc_funcs(malloc, wiping_free);
}

/* The answer, grown as it arrives; wiped when freed. */
struct buf {
	char *data;
	size_t len, cap;
	bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct buf *b = ctx;
	size_t n = size * nmemb;

	if (b->len + n + 1 > ANSWER_MAX) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *d = malloc(cap);

		if (!d)
			return 0;
		if (b->data)
			memcpy(d, b->data, b->len);
		wipe_free(b->data, b->cap);
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* name=value&... with each value escaped; NULL out of memory. The
 * caller wipes and frees it. */
static char *form_encode(CURL *h, const struct oauth2_field *f, size_t n, size_t *len)
{
	size_t cap = 1, o = 0;
	char *form;

	for (size_t i = 0; i < n; i++)
		if (f[i].value)
			cap += strlen(f[i].name) + 3 * strlen(f[i].value) + 2;
	if (!(form = malloc(cap)))
		return NULL;
	form[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char *v;

		if (!f[i].value)
			continue;
		if (!(v = curl_easy_escape(h, f[i].value, 0))) {
			wipe_free(form, cap);
			return NULL;
		}
		o += (size_t)snprintf(form + o, cap - o, "%s%s=%s", o ? "&" : "", f[i].name, v);
		explicit_bzero(v, strlen(v));
		curl_free(v);
	}
	*len = o;
	return form;
}

/* -v: the request with every secret field shown as <redacted>. */
static void show_request(const char *url, const struct oauth2_field *f, size_t n)
{
	fputs("* oauth2: POST ", stderr);
	printable_write(stderr, url, strlen(url));
	for (size_t i = 0, first = 1; i < n; i++) {
		if (!f[i].value)
			continue;
		fprintf(stderr, "%s%s=", first ? " (" : ", ", f[i].name);
		if (f[i].secret)
			fputs("<redacted>", stderr);
		else
			printable_write(stderr, f[i].value, strlen(f[i].value));
		first = 0;
	}
	fputs(")\n", stderr);
}

static void set_options(CURL *h, const struct oauth2_config *c, const char *url,
			struct curl_slist *headers, struct buf *b, char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)c->timeout);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "envoi/" ENVOI_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
}

/* A transfer that failed before an HTTP status: its class. */
static int transfer_failed(CURLcode rc, const char *url, const char *detail, unsigned timeout,
			   struct error *err)
{
	char shown[300];
	enum err_class cls = ERR_TEMPFAIL;

	printable_copy(shown, sizeof shown, url, strlen(url));
	if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_ISSUER_ERROR)
		cls = ERR_CERT;
	else if (rc == CURLE_SSL_CONNECT_ERROR)
		cls = ERR_TLS;
	else if (rc == CURLE_SSL_CACERT_BADFILE)
		cls = ERR_CONFIG;
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return err_set(err, cls, "the identity provider %s did not answer within %u s", shown,
			       timeout);
	err_set(err, cls, "cannot reach the identity provider %s: %s", shown,
		detail[0] ? detail : curl_easy_strerror(rc));
	if (cls == ERR_CERT)
		err_hint(err, "oauth2-ca-file names the CAs to trust for a private identity provider");
	return -1;
}

/* An HTTP answer: a temporary failure, or the JSON for the caller. */
static int judge_answer(const char *url, long status, struct buf *b, json_t **answer,
			struct error *err)
{
	char shown[300];

	printable_copy(shown, sizeof shown, url, strlen(url));
	if (status >= 500 || status == 429)
		return err_set(err, ERR_TEMPFAIL, "the identity provider %s answered HTTP %ld", shown,
			       status);
	if (b->too_big)
		return err_set(err, ERR_PROTOCOL, "the answer of %s is larger than %d bytes", shown,
			       ANSWER_MAX);
	*answer = b->data ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	if (*answer && !json_is_object(*answer)) {
		json_decref(*answer);
		*answer = NULL;
	}
	if (!*answer && status / 100 == 2)
		return err_set(err, ERR_PROTOCOL, "the identity provider %s answered HTTP %ld "
			       "without a JSON object", shown, status);
	if (!*answer)
		return err_set(err, ERR_CONFIG, "the identity provider %s refused the request "
			       "(HTTP %ld): check the account's oauth2 URLs", shown, status);
	return 0;
}

int oauth2_post(const struct oauth2_config *c, const char *url, const struct oauth2_field *fields,
		size_t n, long *status, json_t **answer, struct error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct buf b = {0};
	struct curl_slist *headers = NULL;
	CURL *h;
	CURLcode rc;
	char *form;
	size_t len = 0;
	int ret;

	*answer = NULL;
	oauth2_json_wiping();
	if (c->ca_file && access(c->ca_file, R_OK) != 0)
		return err_set(err, ERR_CONFIG, "cannot read oauth2-ca-file %.300s", c->ca_file);
	if (!(h = curl_easy_init()))
		return err_set(err, ERR_OSERR, "cannot start libcurl");
	if (!(form = form_encode(h, fields, n, &len))) {
		curl_easy_cleanup(h);
		return err_set(err, ERR_OSERR, "out of memory");
	}
	headers = curl_slist_append(headers, "Accept: application/json");
	set_options(h, c, url, headers, &b, errbuf);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
	if (c->verbose)
		show_request(url, fields, n);
	rc = curl_easy_perform(h);
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (c->verbose)
		fprintf(stderr, "* oauth2: HTTP %ld\n", *status);
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && b.too_big))
		ret = transfer_failed(rc, url, errbuf, c->timeout, err);
	else
		ret = judge_answer(url, *status, &b, answer, err);
	wipe_free(form, len + 1);
	wipe_free(b.data, b.cap);
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	return ret;
}

const char *oauth2_error_code(json_t *answer)
{
	const char *code = json_string_value(json_object_get(answer, "error"));

	return code ? code : "";
}

int oauth2_refused(const struct oauth2_config *c, long status, json_t *answer, struct error *err)
{
	const char *code = oauth2_error_code(answer);
	const char *why = json_string_value(json_object_get(answer, "error_description"));
	char shown[80];

	printable_copy(shown, sizeof shown, code, strlen(code));
	if (strcmp(code, "invalid_grant") == 0) {
		err_set(err, ERR_AUTH_FAILED, "the identity provider refused the refresh token or code "
			"(invalid_grant): it was revoked or has expired");
		err_hint(err, "run envoi --oauth2-login --account=%.100s again", c->account);
	} else if (strcmp(code, "access_denied") == 0) {
		err_set(err, ERR_AUTH_FAILED, "the login was refused (access_denied)");
	} else {
		err_set(err, ERR_CONFIG, "the identity provider refused the request (HTTP %ld, %s)",
			status, shown[0] ? shown : "no error code");
		if (strcmp(code, "invalid_client") == 0)
			err_hint(err, "check oauth2-client-id and the client secret");
	}
	if (why)
		err_reply(err, why, strlen(why));
	return -1;
}
