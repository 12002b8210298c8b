/* fuzz_sasl.c - libFuzzer target for the SASL client: what a server can
 * send in 334 challenges. The first input byte picks the mechanism; the
 * rest, split on '\n', are the challenges, fed to sasl_step until it
 * fails. Every response must be base64 (or empty), no more than
 * SASL_MAX_ROUNDS challenges may be answered, and a failure must name
 * its class. */
#include "fuzz.h"

#include "sasl.h"

static const char *const mechs[] = {
	"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256",
	"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "XOAUTH2", "OAUTHBEARER",
};
#define NMECHS (sizeof mechs / sizeof mechs[0])

static bool is_base64(const char *s)
{
	size_t n = strlen(s), pad = 0;

	if (strcmp(s, "=") == 0)
		return true; /* RFC 4954: an empty initial response */
	if (n % 4)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_params p = {
		.user = "tester@example.com",
		.password = "s3cret-Pa55!",
		.host = "mail.example.com",
		.port = 587,
		.cb_type = "tls-exporter",
		.cb_data = "dGxzLWV4cG9ydGVyLWRhdGEtZm9yLWZ1enppbmctMzItYnl0ZXM=",
		.encrypted = true,
	};
	struct sasl *s;
	struct error err;
	const char *mech;
	char *initial, *text, *line;
	unsigned answered = 0;

	if (size == 0)
		return 0;
	p.forced_mech = p.server_mechs = mechs[data[0] % NMECHS];
	if (sasl_start(&s, &p, &mech, &initial, &err) != 0)
		abort(); /* every mechanism here can start */
	FUZZ_CHECK(initial == NULL || is_base64(initial));
	sasl_free_response(initial);
	text = fuzz_str(data + 1, size - 1);
	for (line = text; line;) {
		char *nl = strchr(line, '\n'), *response;

		if (nl)
			*nl = '\0';
		if (sasl_step(s, line, &response, &err) != 0) {
			FUZZ_CHECK(response == NULL && err.cls != ERR_OK && err.text[0]);
			break;
		}
		FUZZ_CHECK(response != NULL && (!response[0] || is_base64(response)));
		FUZZ_CHECK(++answered <= SASL_MAX_ROUNDS);
		sasl_free_response(response);
		line = nl ? nl + 1 : NULL;
	}
	sasl_end(s);
	free(text);
	return 0;
}
