/* test_sasl.c - mechanism choice, exact client responses, and whole
 * SCRAM exchanges against GNU SASL's own server side. */
#include <criterion/criterion.h>
#include <gsasl.h>
#include <nettle/base64.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"

static char *b64(const void *raw, size_t len)
{
	char *out = calloc(1, BASE64_ENCODE_RAW_LENGTH(len) + 1);

	cr_assert(out);
	base64_encode_raw(out, len, raw);
	return out;
}

static char *unb64(const char *s, size_t *len)
{
	struct base64_decode_ctx ctx;
	size_t n = BASE64_DECODE_LENGTH(strlen(s));
	uint8_t *out = calloc(1, n + 1);

	cr_assert(out);
	base64_decode_init(&ctx);
	cr_assert(base64_decode_update(&ctx, &n, out, strlen(s), s));
	cr_assert(base64_decode_final(&ctx));
	if (len)
		*len = n;
	return (char *)out;
}

static struct sasl_params params(const char *mechs)
{
	struct sasl_params p = {
		.user = "tester", .password = "s3cret-Pa55!",
		.server_mechs = mechs, .host = "mail.example.com", .port = 587,
	};
	return p;
}

/* Starts and returns the chosen mechanism's name ("" on failure). */
static const char *choose(struct sasl_params p, struct error *err)
{
	struct sasl *s;
	const char *mech = "";
	char *initial;

	if (sasl_start(&s, &p, &mech, &initial, err) != 0)
		return "";
	sasl_free_response(initial);
	sasl_end(s);
	return mech;
}

Test(sasl, plain_initial_response_is_nul_user_nul_password)
{
	struct sasl_params p = params("PLAIN");
	struct error err = {0};
	struct sasl *s;
	const char *mech;
	char *initial;
	char *want = b64("\0tester\0s3cret-Pa55!", 20);

	cr_assert_eq(sasl_start(&s, &p, &mech, &initial, &err), 0, "%s", err.text);
	cr_expect_str_eq(mech, "PLAIN");
	cr_expect_str_eq(initial, want);
	cr_expect_str_eq(initial, "AHRlc3RlcgBzM2NyZXQtUGE1NSE=");
	cr_expect(sasl_finished(s));
	sasl_free_response(initial);
	sasl_end(s);
	free(want);
}

Test(sasl, strongest_common_mechanism_is_chosen)
{
	struct error err = {0};

	cr_expect_str_eq(choose(params("PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256"), &err),
			 "SCRAM-SHA-256");
	cr_expect_str_eq(choose(params("LOGIN PLAIN SCRAM-SHA-1"), &err), "SCRAM-SHA-1");
	cr_expect_str_eq(choose(params("LOGIN PLAIN CRAM-MD5"), &err), "CRAM-MD5");
	cr_expect_str_eq(choose(params("LOGIN PLAIN"), &err), "PLAIN");
	cr_expect_str_eq(choose(params("LOGIN"), &err), "LOGIN");
	cr_expect_str_eq(choose(params("DIGEST-MD5 XOAUTH2 LOGIN"), &err), "LOGIN");
}

Test(sasl, server_mechanisms_match_case_insensitively)
{
	struct error err = {0};

	cr_expect_str_eq(choose(params("login\tplain"), &err), "PLAIN");
	cr_expect_str_eq(choose(params("  Scram-Sha-256  "), &err), "SCRAM-SHA-256");
}

Test(sasl, plus_variants_only_with_channel_binding)
{
	struct error err = {0};
	struct sasl_params p = params("SCRAM-SHA-1 SCRAM-SHA-256 SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS");

	cr_expect_str_eq(choose(p, &err), "SCRAM-SHA-256");
	p.cb_type = "tls-exporter";
	p.cb_data = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	cr_expect_str_eq(choose(p, &err), "SCRAM-SHA-256-PLUS");
	p.server_mechs = "SCRAM-SHA-256 SCRAM-SHA-1-PLUS";
	cr_expect_str_eq(choose(p, &err), "SCRAM-SHA-1-PLUS");
	p.cb_type = "tls-server-end-point";  /* a type GNU SASL cannot send */
	cr_expect_str_eq(choose(p, &err), "SCRAM-SHA-256");
}

Test(sasl, oauth_is_never_chosen_without_auth_option)
{
	struct error err = {0};

	cr_expect_str_eq(choose(params("XOAUTH2 OAUTHBEARER PLAIN"), &err), "PLAIN");
	cr_expect_str_eq(choose(params("XOAUTH2 OAUTHBEARER"), &err), "");
	cr_expect_eq(err.cls, ERR_AUTH_IMPOSSIBLE);
	cr_expect(strstr(err.text, "XOAUTH2 OAUTHBEARER"), "%s", err.text);
	cr_expect(strstr(err.hint, "--auth=XOAUTH2"), "%s", err.hint);
}

Test(sasl, no_common_mechanism_names_the_offer)
{
	struct error err = {0};

	cr_expect_str_eq(choose(params("DIGEST-MD5 GSSAPI"), &err), "");
	cr_expect_eq(err.cls, ERR_AUTH_IMPOSSIBLE);
	cr_expect(strstr(err.text, "DIGEST-MD5 GSSAPI"), "%s", err.text);
	cr_expect_str_eq(choose(params(""), &err), "");
	cr_expect_eq(err.cls, ERR_AUTH_IMPOSSIBLE);
	cr_expect(strstr(err.text, "offers no AUTH"), "%s", err.text);
	cr_expect_str_eq(choose(params(NULL), &err), "");
	cr_expect_eq(err.cls, ERR_AUTH_IMPOSSIBLE);
}

Test(sasl, hostile_offer_is_made_printable_in_the_error)
{
	struct error err = {0};

	cr_expect_str_eq(choose(params("FOO\033[2J BAR"), &err), "");
	cr_expect(strstr(err.text, "FOO?[2J BAR"), "%s", err.text);
}

Test(sasl, forced_mechanism_not_offered_is_impossible)
{
	struct error err = {0};
	struct sasl_params p = params("PLAIN LOGIN");

	p.forced_mech = "CRAM-MD5";
	cr_expect_str_eq(choose(p, &err), "");
	cr_expect_eq(err.cls, ERR_AUTH_IMPOSSIBLE);
	cr_expect(strstr(err.text, "CRAM-MD5"), "%s", err.text);
	cr_expect(strstr(err.text, "PLAIN LOGIN"), "%s", err.text);
}

Test(sasl, forced_mechanism_beats_the_preference_order)
{
	struct error err = {0};
	struct sasl_params p = params("SCRAM-SHA-256 PLAIN LOGIN");

	p.forced_mech = "login";
	cr_expect_str_eq(choose(p, &err), "LOGIN");
	p.forced_mech = "PLAIN";
	cr_expect_str_eq(choose(p, &err), "PLAIN");
}

Test(sasl, forced_unknown_mechanism_is_impossible)
{
	struct error err = {0};
	struct sasl_params p = params("PLAIN FOO");

	p.forced_mech = "FOO";
	cr_expect_str_eq(choose(p, &err), "");
	cr_expect_eq(err.cls, ERR_AUTH_IMPOSSIBLE);
	cr_expect(strstr(err.text, "unknown"), "%s", err.text);
	cr_expect(strstr(err.hint, "SCRAM-SHA-256"), "%s", err.hint);
}

Test(sasl, forced_plus_without_channel_binding_is_impossible)
{
	struct error err = {0};
	struct sasl_params p = params("SCRAM-SHA-256-PLUS");

	p.forced_mech = "SCRAM-SHA-256-PLUS";
	cr_expect_str_eq(choose(p, &err), "");
	cr_expect_eq(err.cls, ERR_AUTH_IMPOSSIBLE);
	cr_expect(strstr(err.text, "channel binding"), "%s", err.text);
}

Test(sasl, mech_known_is_case_insensitive)
{
	cr_expect(sasl_mech_known("PLAIN"));
	cr_expect(sasl_mech_known("xoauth2"));
	cr_expect(sasl_mech_known("OAuthBearer"));
	cr_expect(sasl_mech_known("scram-sha-256-plus"));
	cr_expect_not(sasl_mech_known("DIGEST-MD5"));
	cr_expect_not(sasl_mech_known("FOO"));
	cr_expect_not(sasl_mech_known(""));
	cr_expect_not(sasl_mech_known(NULL));
}

Test(sasl, missing_password_is_a_bug_not_a_crash)
{
	struct error err = {0};
	struct sasl_params p = params("PLAIN");

	p.password = NULL;
	cr_expect_str_eq(choose(p, &err), "");
	cr_expect_eq(err.cls, ERR_SOFTWARE);
}

static void start_forced(struct sasl_params *p, const char *mech, struct sasl **s,
			 char **initial)
{
	struct error err = {0};
	const char *chosen;

	p->forced_mech = mech;
	cr_assert_eq(sasl_start(s, p, &chosen, initial, &err), 0, "%s", err.text);
	cr_assert_str_eq(chosen, mech);
}

static void expect_b64(const char *got, const char *raw, size_t len)
{
	char *want = b64(raw, len);

	cr_expect_str_eq(got, want);
	free(want);
}

Test(sasl, xoauth2_initial_response_is_exact)
{
	struct sasl_params p = params("XOAUTH2 PLAIN");
	static const char raw[] = "user=tester\001auth=Bearer ya29.tok-EN_x\001\001";
	struct sasl *s;
	char *initial;

	p.password = "ya29.tok-EN_x";
	start_forced(&p, "XOAUTH2", &s, &initial);
	expect_b64(initial, raw, sizeof raw - 1);
	sasl_free_response(initial);
	sasl_end(s);
}

Test(sasl, oauthbearer_initial_response_is_exact)
{
	struct sasl_params p = params("OAUTHBEARER");
	static const char raw[] = "n,a=tester,\001host=mail.example.com\001port=587\001"
				  "auth=Bearer ya29.tok-EN_x\001\001";
	struct sasl *s;
	char *initial;

	p.password = "ya29.tok-EN_x";
	start_forced(&p, "OAUTHBEARER", &s, &initial);
	expect_b64(initial, raw, sizeof raw - 1);
	sasl_free_response(initial);
	sasl_end(s);
}

Test(sasl, oauthbearer_escapes_comma_and_equals_in_the_user)
{
	struct sasl_params p = params("OAUTHBEARER");
	static const char raw[] = "n,a=a=2Cb=3Dc,\001host=mail.example.com\001port=587\001"
				  "auth=Bearer t\001\001";
	struct sasl *s;
	char *initial;

	p.user = "a,b=c";
	p.password = "t";
	start_forced(&p, "OAUTHBEARER", &s, &initial);
	expect_b64(initial, raw, sizeof raw - 1);
	sasl_free_response(initial);
	sasl_end(s);
}

Test(sasl, oauth_token_with_control_bytes_is_refused)
{
	struct sasl_params p = params("XOAUTH2");
	struct error err = {0};

	p.forced_mech = "XOAUTH2";
	p.password = "tok\001auth=Bearer other";
	cr_expect_str_eq(choose(p, &err), "");
	cr_expect_eq(err.cls, ERR_AUTH_IMPOSSIBLE);
	cr_expect_null(strstr(err.text, "other"), "the token leaked: %s", err.text);
}

/* {"status":"401","schemes":"bearer","scope":"https://mail.google.com/"} */
#define OAUTH_ERROR_CHALLENGE \
	"eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ=="

Test(sasl, xoauth2_answers_the_error_challenge_with_an_empty_line)
{
	struct sasl_params p = params("XOAUTH2");
	struct error err = {0};
	struct sasl *s;
	char *initial, *resp;

	start_forced(&p, "XOAUTH2", &s, &initial);
	cr_assert_eq(sasl_step(s, OAUTH_ERROR_CHALLENGE, &resp, &err), 0, "%s", err.text);
	cr_expect_str_eq(resp, "");
	sasl_free_response(resp);
	sasl_free_response(initial);
	sasl_end(s);
}

Test(sasl, oauthbearer_answers_the_error_challenge_with_ctrl_a)
{
	struct sasl_params p = params("OAUTHBEARER");
	struct error err = {0};
	struct sasl *s;
	char *initial, *resp;

	start_forced(&p, "OAUTHBEARER", &s, &initial);
	cr_assert_eq(sasl_step(s, OAUTH_ERROR_CHALLENGE, &resp, &err), 0, "%s", err.text);
	expect_b64(resp, "\001", 1);
	sasl_free_response(resp);
	sasl_free_response(initial);
	sasl_end(s);
}

/* RFC 2195 section 2; the challenge host ends in ".net". */
Test(sasl, cram_md5_matches_rfc2195_example)
{
	struct sasl_params p = params("CRAM-MD5");
	static const char chal[] = "<1896.697170952@postoffice.reston.mci.net>";
	static const char want[] = "tim b913a602c7eda7a495b4e6e7334d3890";
	struct error err = {0};
	struct sasl *s;
	char *initial, *resp, *c = b64(chal, sizeof chal - 1);

	p.user = "tim";
	p.password = "tanstaaftanstaaf";
	start_forced(&p, "CRAM-MD5", &s, &initial);
	cr_expect_null(initial, "CRAM-MD5 waits for the server's challenge");
	cr_assert_eq(sasl_step(s, c, &resp, &err), 0, "%s", err.text);
	expect_b64(resp, want, sizeof want - 1);
	sasl_free_response(resp);
	sasl_end(s);
	free(c);
}

Test(sasl, login_answers_user_then_password)
{
	struct sasl_params p = params("LOGIN");
	struct error err = {0};
	struct sasl *s;
	char *initial, *resp;

	start_forced(&p, "LOGIN", &s, &initial);
	cr_expect_null(initial, "LOGIN waits for the server's challenge");
	cr_assert_eq(sasl_step(s, "VXNlcm5hbWU6", &resp, &err), 0, "%s", err.text);
	expect_b64(resp, "tester", 6);
	sasl_free_response(resp);
	cr_expect_not(sasl_finished(s));
	cr_assert_eq(sasl_step(s, "UGFzc3dvcmQ6\r\n", &resp, &err), 0, "%s", err.text);
	expect_b64(resp, "s3cret-Pa55!", 12);
	sasl_free_response(resp);
	cr_expect(sasl_finished(s));
	sasl_end(s);
}

Test(sasl, endless_challenges_hit_the_round_cap)
{
	struct sasl_params p = params("PLAIN");
	struct error err = {0};
	struct sasl *s;
	char *initial, *resp;
	int i, rc = 0;

	start_forced(&p, "PLAIN", &s, &initial);
	sasl_free_response(initial);
	for (i = 0; i < SASL_MAX_ROUNDS + 5; i++) {
		rc = sasl_step(s, "", &resp, &err);
		if (rc != 0)
			break;
		sasl_free_response(resp);
	}
	cr_expect_eq(rc, -1);
	cr_expect_eq(i, SASL_MAX_ROUNDS, "stopped after %d rounds", i);
	cr_expect_eq(err.cls, ERR_PROTOCOL);
	sasl_end(s);
}

Test(sasl, oversized_challenge_is_rejected)
{
	struct sasl_params p = params("LOGIN");
	struct error err = {0};
	struct sasl *s;
	char *initial, *resp = NULL;
	char *big = malloc(SASL_MAX_CHALLENGE + 5);

	cr_assert(big);
	memset(big, 'A', SASL_MAX_CHALLENGE + 4);
	big[SASL_MAX_CHALLENGE + 4] = '\0';
	start_forced(&p, "LOGIN", &s, &initial);
	cr_expect_eq(sasl_step(s, big, &resp, &err), -1);
	cr_expect_eq(err.cls, ERR_PROTOCOL);
	cr_expect_null(resp);
	sasl_end(s);
	free(big);
}

Test(sasl, invalid_base64_challenge_is_a_protocol_error)
{
	static const char *const bad[] = {"not base64!", "VXNlcm5hbWU", "VXNl cm5hbWU6",
					  "=VXNlcm5hbWU6===", "VXNlcm5hbWU6\001"};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sasl_params p = params("LOGIN");
		struct error err = {0};
		struct sasl *s;
		char *initial, *resp = NULL;

		start_forced(&p, "LOGIN", &s, &initial);
		cr_expect_eq(sasl_step(s, bad[i], &resp, &err), -1, "accepted '%s'", bad[i]);
		cr_expect_eq(err.cls, ERR_PROTOCOL, "'%s'", bad[i]);
		cr_expect_null(resp);
		sasl_end(s);
	}
}

Test(sasl, challenge_after_login_finished_is_a_protocol_error)
{
	struct sasl_params p = params("LOGIN");
	struct error err = {0};
	struct sasl *s;
	char *initial, *resp;

	start_forced(&p, "LOGIN", &s, &initial);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(sasl_step(s, "VXNlcm5hbWU6", &resp, &err), 0, "%s", err.text);
		sasl_free_response(resp);
	}
	cr_expect_eq(sasl_step(s, "VXNlcm5hbWU6", &resp, &err), -1);
	cr_expect_eq(err.cls, ERR_PROTOCOL, "%s", err.text);
	sasl_end(s);
}

/* GNU SASL's server side plays the SMTP server. */
static const char *server_password = "s3cret-Pa55!";

static int server_cb(Gsasl *ctx, Gsasl_session *sctx, Gsasl_property prop)
{
	(void)ctx;
	if (prop == GSASL_PASSWORD) {
		gsasl_property_set(sctx, GSASL_PASSWORD, server_password);
		return GSASL_OK;
	}
	return GSASL_NO_CALLBACK;
}

struct exchange {
	int server_rc;     /* the server's last gsasl result */
	int client_rc;     /* sasl_step's last result */
	struct error err;
	bool tamper_final; /* corrupt the server's signature */
	bool finished_before_final; /* sasl_finished before the v= check */
	bool finished;              /* sasl_finished at the end */
};

static void tamper(char **chal)
{
	size_t len;
	char *raw = unb64(*chal, &len);
	char *v = strstr(raw, "v=");

	cr_assert(v, "no signature in '%s'", raw);
	v[2] = v[2] == 'A' ? 'B' : 'A';
	free(*chal);
	*chal = b64(raw, len);
	free(raw);
}

/* Runs the client against the server until one side stops. */
static void run_exchange(struct sasl_params *p, const char *srv_cb_type,
			 const char *srv_cb_data, struct exchange *x)
{
	Gsasl *ctx;
	Gsasl_session *srv;
	struct sasl *s;
	const char *mech;
	char *msg, *chal = NULL;

	cr_assert_eq(gsasl_init(&ctx), GSASL_OK);
	gsasl_callback_set(ctx, server_cb);
	cr_assert_eq(sasl_start(&s, p, &mech, &msg, &x->err), 0, "%s", x->err.text);
	cr_assert_not_null(msg, "SCRAM gives an initial response");
	cr_assert_eq(gsasl_server_start(ctx, mech, &srv), GSASL_OK);
	if (srv_cb_type)
		gsasl_property_set(srv, strcmp(srv_cb_type, "tls-exporter") == 0 ?
				   GSASL_CB_TLS_EXPORTER : GSASL_CB_TLS_UNIQUE, srv_cb_data);
	for (int round = 0; round < 5; round++) {
		x->server_rc = gsasl_step64(srv, msg, &chal);
		sasl_free_response(msg);
		msg = NULL;
		if (x->server_rc != GSASL_NEEDS_MORE && x->server_rc != GSASL_OK)
			break;
		if (x->server_rc == GSASL_OK && x->tamper_final)
			tamper(&chal);
		/* RFC 4954: the server's success data goes out as a 334 too. */
		if (x->server_rc == GSASL_OK)
			x->finished_before_final = sasl_finished(s);
		x->client_rc = sasl_step(s, chal, &msg, &x->err);
		gsasl_free(chal);
		chal = NULL;
		if (x->client_rc != 0 || x->server_rc == GSASL_OK)
			break;
	}
	x->finished = sasl_finished(s);
	sasl_free_response(msg);
	gsasl_free(chal);
	gsasl_finish(srv);
	sasl_end(s);
	gsasl_done(ctx);
}

Test(sasl, scram_sha_256_completes_against_gsasl_server)
{
	struct sasl_params p = params("PLAIN SCRAM-SHA-256");
	struct exchange x = {0};

	run_exchange(&p, NULL, NULL, &x);
	cr_expect_eq(x.server_rc, GSASL_OK, "server: %s", gsasl_strerror(x.server_rc));
	cr_expect_eq(x.client_rc, 0, "client: %s", x.err.text);
	cr_expect_not(x.finished_before_final, "finished before checking the server");
	cr_expect(x.finished);
}

Test(sasl, scram_sha_1_completes_against_gsasl_server)
{
	struct sasl_params p = params("SCRAM-SHA-1 CRAM-MD5");
	struct exchange x = {0};

	run_exchange(&p, NULL, NULL, &x);
	cr_expect_eq(x.server_rc, GSASL_OK, "server: %s", gsasl_strerror(x.server_rc));
	cr_expect_eq(x.client_rc, 0, "client: %s", x.err.text);
}

Test(sasl, scram_plus_binds_the_tls_channel)
{
	struct sasl_params p = params("SCRAM-SHA-256 SCRAM-SHA-256-PLUS");
	static const char cb[] = "Y2hhbm5lbC1iaW5kaW5nLWRhdGEtZnJvbS10bHM=";
	struct exchange x = {0};

	p.cb_type = "tls-exporter";
	p.cb_data = cb;
	run_exchange(&p, "tls-exporter", cb, &x);
	cr_expect_eq(x.server_rc, GSASL_OK, "server: %s", gsasl_strerror(x.server_rc));
	cr_expect_eq(x.client_rc, 0, "client: %s", x.err.text);
}

Test(sasl, scram_plus_fails_when_the_channels_differ)
{
	struct sasl_params p = params("SCRAM-SHA-256-PLUS");
	struct exchange x = {0};

	p.cb_type = "tls-unique";
	p.cb_data = "b3VyLWNoYW5uZWw=";
	run_exchange(&p, "tls-unique", "c29tZW9uZS1lbHNlcy1jaGFubmVs", &x);
	cr_expect_neq(x.server_rc, GSASL_OK, "a man in the middle went unnoticed");
}

Test(sasl, scram_with_wrong_password_is_refused_by_the_server)
{
	struct sasl_params p = params("SCRAM-SHA-256");
	struct exchange x = {0};

	p.password = "wrong";
	run_exchange(&p, NULL, NULL, &x);
	cr_expect_eq(x.server_rc, GSASL_AUTHENTICATION_ERROR, "server: %s",
		     gsasl_strerror(x.server_rc));
}

Test(sasl, scram_server_with_wrong_signature_fails_authentication)
{
	struct sasl_params p = params("SCRAM-SHA-256");
	struct exchange x = {.tamper_final = true};

	run_exchange(&p, NULL, NULL, &x);
	cr_expect_eq(x.server_rc, GSASL_OK);
	cr_expect_eq(x.client_rc, -1);
	cr_expect_eq(x.err.cls, ERR_AUTH_FAILED, "%d %s", x.err.cls, x.err.text);
	cr_expect(strstr(x.err.text, "signature"), "%s", x.err.text);
	cr_expect_null(strstr(x.err.text, "s3cret"));
	cr_expect_not(x.finished);
}

Test(sasl, scram_server_error_is_an_authentication_failure)
{
	struct sasl_params p = params("SCRAM-SHA-256");
	struct error err = {0};
	struct sasl *s;
	const char *mech;
	char *initial, *resp = NULL;
	char *chal = b64("e=invalid-proof", 15);

	cr_assert_eq(sasl_start(&s, &p, &mech, &initial, &err), 0, "%s", err.text);
	sasl_free_response(initial);
	cr_expect_eq(sasl_step(s, chal, &resp, &err), -1);
	cr_expect_eq(err.cls, ERR_AUTH_FAILED, "%d %s", err.cls, err.text);
	cr_expect(strstr(err.text, "invalid-proof"), "%s", err.text);
	cr_expect_null(resp);
	sasl_end(s);
	free(chal);
}

Test(sasl, scram_nonce_not_extending_ours_fails)
{
	struct sasl_params p = params("SCRAM-SHA-256");
	struct error err = {0};
	struct sasl *s;
	const char *mech;
	char *initial, *resp = NULL;
	static const char first[] = "r=someone-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096";
	char *chal = b64(first, sizeof first - 1);

	cr_assert_eq(sasl_start(&s, &p, &mech, &initial, &err), 0, "%s", err.text);
	sasl_free_response(initial);
	cr_expect_eq(sasl_step(s, chal, &resp, &err), -1);
	cr_expect_eq(err.cls, ERR_AUTH_FAILED, "%d %s", err.cls, err.text);
	cr_expect_null(resp);
	sasl_end(s);
	free(chal);
}

Test(sasl, plain_ranks_above_cram_md5_inside_verified_tls)
{
	struct sasl_params p = {.user = "tester", .password = "pw",
				.server_mechs = "CRAM-MD5 PLAIN LOGIN", .host = "h", .port = 587};
	struct sasl *s = NULL;
	const char *mech = NULL;
	char *initial = NULL;
	struct error e;

	cr_assert_eq(sasl_start(&s, &p, &mech, &initial, &e), 0);
	cr_expect_str_eq(mech, "CRAM-MD5", "in clear, CRAM-MD5 hides the password");
	sasl_free_response(initial);
	sasl_end(s);
	p.encrypted = true;
	cr_assert_eq(sasl_start(&s, &p, &mech, &initial, &e), 0);
	cr_expect_str_eq(mech, "PLAIN");
	sasl_free_response(initial);
	sasl_end(s);
}

/* Tokens of several KB (Microsoft's, Google's) are whole in the initial
 * response, however long; the engine decides where on the wire it goes. */
Test(sasl, long_tokens_and_passwords_are_whole_in_the_initial_response)
{
	const char *mechs[] = {"XOAUTH2", "PLAIN"};
	const size_t sizes[] = {7000, 20000, SASL_MAX_SECRET};

	for (size_t m = 0; m < 2; m++)
		for (size_t k = 0; k < 3; k++) {
			struct sasl_params p = params("PLAIN XOAUTH2");
			char *token = malloc(sizes[k] + 1), *initial, *raw;
			struct sasl *s;
			const char *mech;
			struct error err = {0};
			size_t len;

			cr_assert(token);
			for (size_t i = 0; i < sizes[k]; i++)
				token[i] = "abcdefghijklmnopqrstuvwxyz0123456789-._~+/"[i % 42];
			token[sizes[k]] = '\0';
			p.password = token;
			p.forced_mech = mechs[m];
			cr_assert_eq(sasl_start(&s, &p, &mech, &initial, &err), 0, "%s", err.text);
			raw = unb64(initial, &len);
			cr_expect(memmem(raw, len, token, sizes[k]) != NULL, "%s %zu", mechs[m], sizes[k]);
			free(raw);
			sasl_free_response(initial);
			sasl_end(s);
			free(token);
		}
}

Test(sasl, password_past_the_limit_is_a_usage_error)
{
	struct sasl_params p = params("PLAIN");
	char *big = malloc(SASL_MAX_SECRET + 2);
	struct error err = {0};
	struct sasl *s;
	const char *mech;
	char *initial;

	cr_assert(big);
	memset(big, 'p', SASL_MAX_SECRET + 1);
	big[SASL_MAX_SECRET + 1] = '\0';
	p.password = big;
	cr_expect_eq(sasl_check_secret(big, &err), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_eq(sasl_start(&s, &p, &mech, &initial, &err), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	big[SASL_MAX_SECRET] = '\0';
	cr_expect_eq(sasl_check_secret(big, &err), 0);
	free(big);
}
