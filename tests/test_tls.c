/* test_tls.c - STARTTLS injection, port mismatches, the handshake and
 * certificate checks against GnuTLS servers forked on 127.0.0.1 with
 * certificates made here (peer.h), and the one credentials context. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "clock.h"
#include "conn.h"
#include "peer.h"
#include "tls.h"

#define DAY (24 * 3600)

/* Every certificate and key made by make_cert, freed by teardown. */
static gnutls_x509_crt_t made_crt[16];
static gnutls_x509_privkey_t made_key[16];
static int nmade;

static void teardown(void)
{
	for (int i = 0; i < nmade; i++) {
		gnutls_x509_crt_deinit(made_crt[i]);
		gnutls_x509_privkey_deinit(made_key[i]);
	}
	nmade = 0;
	peer_teardown();
}

TestSuite(tls, .init = peer_setup, .fini = teardown, .timeout = 60);

/* ---- STARTTLS injection and TLS mismatch (no TLS server needed) ---- */

static void inject_in_same_packet(int fd)
{
	char buf[64];

	send_str(fd, "220 ready\r\n");
	recv_line(fd, buf, sizeof buf);
	send_str(fd, "220 go ahead\r\n250 injected\r\n");
	drain(fd);
}

static struct conn *starttls_dialogue(void)
{
	struct conn *c = open_ok();

	expect_line(c, "220 ready");
	cr_assert_eq(conn_write(c, "STARTTLS\r\n", 10, &err), 0);
	cr_assert_eq(conn_flush(c, &err), 0);
	expect_line(c, "220 go ahead");
	return c;
}

Test(tls, buffered_bytes_after_starttls_reply_are_injection)
{
	struct conn *c;

	serve(inject_in_same_packet);
	c = starttls_dialogue();
	cr_expect_gt(conn_pending(c), 0);
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_PROTOCOL, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "STARTTLS injection"), "%s", err.text);
	cr_expect(strstr(err.reply, "250 injected"), "%s", err.reply);
	conn_close(c);
}

static void inject_later(int fd)
{
	char buf[64];

	send_str(fd, "220 ready\r\n");
	recv_line(fd, buf, sizeof buf);
	send_str(fd, "220 go ahead\r\n");
	usleep(100000);
	send_str(fd, "250 injected\r\n");
	drain(fd);
}

Test(tls, bytes_waiting_on_the_socket_are_injection)
{
	struct conn *c;

	serve(inject_later);
	c = starttls_dialogue();
	usleep(300000);
	cr_expect_eq(conn_pending(c), 0);
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_PROTOCOL, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "STARTTLS injection"), "%s", err.text);
	conn_close(c);
}

static void plaintext_smtp(int fd)
{
	send_str(fd, "220 mail.example.com ESMTP plaintext\r\n");
	drain(fd);
}

Test(tls, implicit_tls_to_plaintext_smtp_is_a_mismatch)
{
	struct conn *c;

	serve(plaintext_smtp);
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TLS_MISMATCH, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.hint, "--tls=starttls"), "hint: %s", err.hint);
	cr_expect(strstr(err.reply, "220 mail.example.com"), "%s", err.reply);
	conn_close(c);
}

static void late_plaintext_smtp(int fd)
{
	char buf[512];

	/* Answers the ClientHello, as a server would that greets late. */
	recv(fd, buf, sizeof buf, 0);
	send_str(fd, "500 5.5.1 unrecognized command\r\n");
	drain(fd);
}

Test(tls, plaintext_answer_to_client_hello_is_a_mismatch)
{
	struct conn *c;

	serve(late_plaintext_smtp);
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TLS_MISMATCH, "%d: %s", err.cls, err.text);
	cr_expect_not(conn_tls_answered(c));
	conn_close(c);
}

static void alert_to_client_hello(int fd)
{
	char buf[512];

	recv(fd, buf, sizeof buf, 0);
	send(fd, "\x15\x03\x03\x00\x02\x02\x28", 7, MSG_NOSIGNAL);
	drain(fd);
}

Test(tls, alert_record_is_a_tls_answer)
{
	struct conn *c;

	serve(alert_to_client_hello);
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TLS, "%d: %s", err.cls, err.text);
	cr_expect(conn_tls_answered(c));
	conn_close(c);
}

Test(tls, silent_server_times_out_the_handshake)
{
	struct conn *c;

	serve(silent);
	sess.timeout = 1;
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TEMPFAIL, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "TLS handshake"), "%s", err.text);
	conn_close(c);
}

Test(tls, server_closing_during_handshake_is_tls_error)
{
	struct conn *c;

	serve(close_at_once);
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TLS, "%d: %s", err.cls, err.text);
	cr_expect_not(conn_tls_answered(c), "a closed connection is no TLS answer");
	conn_close(c);
}

/* ---- certificates made for the test ---- */

struct cert {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
};

struct cert_spec {
	const char *cn, *dns;
	bool ip;              /* add IP 127.0.0.1 */
	long from, to;        /* validity, seconds relative to now */
	bool ca;
};

static void make_cert(struct cert *out, const struct cert_spec *sp,
		      const struct cert *issuer)
{
	static unsigned char serial = 1;
	time_t now = time(NULL);
	unsigned char ip[4] = { 127, 0, 0, 1 };
	unsigned char kid[64];
	size_t kid_len = sizeof kid;

	cr_assert_eq(gnutls_x509_privkey_init(&out->key), 0);
	cr_assert_eq(gnutls_x509_privkey_generate(out->key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
	cr_assert_eq(gnutls_x509_crt_init(&out->crt), 0);
	cr_assert_lt(nmade, 16);
	made_crt[nmade] = out->crt;
	made_key[nmade++] = out->key;
	gnutls_x509_crt_set_version(out->crt, 3);
	serial++;
	gnutls_x509_crt_set_serial(out->crt, &serial, 1);
	gnutls_x509_crt_set_dn_by_oid(out->crt, GNUTLS_OID_X520_COMMON_NAME, 0,
				      sp->cn, (unsigned)strlen(sp->cn));
	gnutls_x509_crt_set_activation_time(out->crt, now + sp->from);
	gnutls_x509_crt_set_expiration_time(out->crt, now + sp->to);
	cr_assert_eq(gnutls_x509_crt_set_key(out->crt, out->key), 0);
	gnutls_x509_crt_set_basic_constraints(out->crt, sp->ca, -1);
	if (sp->ca) {
		gnutls_x509_crt_set_key_usage(out->crt, GNUTLS_KEY_KEY_CERT_SIGN |
					      GNUTLS_KEY_CRL_SIGN);
	} else {
		gnutls_x509_crt_set_key_usage(out->crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
		gnutls_x509_crt_set_key_purpose_oid(out->crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
	}
	if (sp->dns)
		gnutls_x509_crt_set_subject_alt_name(out->crt, GNUTLS_SAN_DNSNAME,
			sp->dns, (unsigned)strlen(sp->dns), GNUTLS_FSAN_APPEND);
	if (sp->ip)
		gnutls_x509_crt_set_subject_alt_name(out->crt, GNUTLS_SAN_IPADDRESS,
			ip, sizeof ip, GNUTLS_FSAN_APPEND);
	if (gnutls_x509_crt_get_key_id(out->crt, 0, kid, &kid_len) == 0)
		gnutls_x509_crt_set_subject_key_id(out->crt, kid, kid_len);
	if (issuer) {
		kid_len = sizeof kid;
		if (gnutls_x509_crt_get_subject_key_id(issuer->crt, kid, &kid_len, NULL) == 0)
			gnutls_x509_crt_set_authority_key_id(out->crt, kid, kid_len);
	}
	cr_assert_eq(gnutls_x509_crt_sign2(out->crt, issuer ? issuer->crt : out->crt,
		issuer ? issuer->key : out->key, GNUTLS_DIG_SHA256, 0), 0);
}

static void write_pem(const char *name, const struct cert *const *certs, int n,
		      char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < n; i++) {
		gnutls_datum_t d;

		cr_assert_eq(gnutls_x509_crt_export2(certs[i]->crt, GNUTLS_X509_FMT_PEM, &d), 0);
		fwrite(d.data, 1, d.size, f);
		gnutls_free(d.data);
	}
	fclose(f);
}

static void fingerprint(const struct cert *ct, unsigned char out[32])
{
	gnutls_datum_t d;
	size_t size = 32;

	cr_assert_eq(gnutls_x509_crt_export2(ct->crt, GNUTLS_X509_FMT_DER, &d), 0);
	cr_assert_eq(gnutls_fingerprint(GNUTLS_DIG_SHA256, &d, out, &size), 0);
	gnutls_free(d.data);
}

/* What the forked TLS server presents and how it behaves. */
static struct {
	gnutls_x509_crt_t chain[3];
	unsigned nchain;
	gnutls_x509_privkey_t key;
	const char *priority;
	bool require_client_cert;
	bool count_mode;          /* read PEER_BIG bytes and answer with a checksum */
} tls_srv;

static struct cert ca, leaf;
static char ca_path[128];

static void server_send(gnutls_session_t s, const char *str)
{
	gnutls_record_send(s, str, strlen(str));
}

static void tls_count(gnutls_session_t s)
{
	static unsigned char buf[65536];
	size_t total = 0;
	unsigned long h = 0;
	char reply[64];

	while (total < PEER_BIG) {
		ssize_t n = gnutls_record_recv(s, buf, sizeof buf);

		if (n <= 0)
			break;
		h = checksum(buf, (size_t)n, h);
		total += (size_t)n;
	}
	snprintf(reply, sizeof reply, "250 %zu %lu\r\n", total, h);
	server_send(s, reply);
}

static void tls_server(int fd)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	char buf[512];
	int ret;

	gnutls_certificate_allocate_credentials(&cred);
	if (gnutls_certificate_set_x509_key(cred, tls_srv.chain, tls_srv.nchain,
					    tls_srv.key) < 0)
		_exit(1);
	if (tls_srv.require_client_cert)
		gnutls_certificate_set_x509_trust_file(cred, ca_path, GNUTLS_X509_FMT_PEM);
	gnutls_init(&s, GNUTLS_SERVER);
	gnutls_priority_set_direct(s, tls_srv.priority ? tls_srv.priority : "NORMAL", NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	if (tls_srv.require_client_cert)
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_transport_set_int(s, fd);
	do
		ret = gnutls_handshake(s);
	while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0)
		goto out;
	server_send(s, "220 tls ok\r\n");
	if (tls_srv.count_mode) {
		tls_count(s);
	} else {
		ssize_t n = gnutls_record_recv(s, buf, sizeof buf - 1);

		if (n > 0) {
			buf[n] = '\0';
			server_send(s, "250 got ");
			server_send(s, buf);
		}
	}
	while (gnutls_record_recv(s, buf, sizeof buf) > 0)
		;
	gnutls_bye(s, GNUTLS_SHUT_WR);
out:
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
}

/* A CA in ca_path and a leaf from spec signed by it, served by the child. */
static void serve_tls(const struct cert_spec *spec)
{
	static const struct cert_spec ca_spec = { "Test CA", NULL, false, -DAY,
						  365L * DAY, true };
	const struct cert *list[1] = { &ca };

	make_cert(&ca, &ca_spec, NULL);
	make_cert(&leaf, spec, &ca);
	write_pem("ca.pem", list, 1, ca_path, sizeof ca_path);
	tls_srv.chain[0] = leaf.crt;
	tls_srv.nchain = 1;
	tls_srv.key = leaf.key;
	sess.ca_file = ca_path;
	serve(tls_server);
}

static const struct cert_spec good = { "localhost", "localhost", true, -DAY,
				       30L * DAY, false };

static struct conn *tls_open(void)
{
	struct conn *c = open_ok();

	cr_assert_eq(conn_start_tls(c, &sess, &err), 0, "%d: %s / %s", err.cls,
		     err.text, err.hint);
	cr_assert(conn_is_tls(c));
	expect_line(c, "220 tls ok");
	return c;
}

static void expect_tls_fails(enum err_class cls, const char *part)
{
	struct conn *c = open_ok();

	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, cls, "class %d: %s", err.cls, err.text);
	if (part)
		cr_expect(strstr(err.text, part), "text: %s", err.text);
	cr_expect_not(conn_is_tls(c));
	conn_close(c);
}

Test(tls, tls_with_a_trusted_ca)
{
	struct conn *c;
	const struct tls_info *i;
	const char *type = NULL;
	char *cb;

	serve_tls(&good);
	sess.host = "localhost";
	c = tls_open();
	i = conn_tls_info(c);
	cr_expect_str_eq(i->version, "TLS1.3");
	cr_expect_neq(i->cipher[0], '\0');
	cr_expect(strstr(i->subject, "CN=localhost"), "%s", i->subject);
	cr_expect(strstr(i->issuer, "CN=Test CA"), "%s", i->issuer);
	cr_expect(strstr(i->not_after, " UTC"), "%s", i->not_after);
	cr_expect(i->verified);
	cr_expect(conn_tls_answered(c));
	cb = conn_channel_binding(c, &type);
	cr_expect_not_null(cb);
	cr_expect_str_eq(type, "tls-exporter");
	free(cb);
	cr_assert_eq(conn_write(c, "EHLO me\r\n", 9, &err), 0);
	cr_assert_eq(conn_flush(c, &err), 0);
	expect_line(c, "250 got EHLO me");
	conn_close(c);
}

Test(tls, tls12_gives_tls_unique_binding)
{
	struct conn *c;
	const char *type = NULL;
	char *cb;

	tls_srv.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
	serve_tls(&good);
	c = tls_open();
	cr_expect_str_eq(conn_tls_info(c)->version, "TLS1.2");
	cb = conn_channel_binding(c, &type);
	cr_expect_not_null(cb);
	cr_expect_str_eq(type, "tls-unique");
	free(cb);
	conn_close(c);
}

Test(tls, tls11_only_server_is_refused)
{
	tls_srv.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0";
	serve_tls(&good);
	expect_tls_fails(ERR_TLS, NULL);
}

Test(tls, ip_literal_matches_ip_san)
{
	struct conn *c;

	serve_tls(&good);
	c = tls_open();
	cr_expect(conn_tls_info(c)->verified);
	conn_close(c);
}

Test(tls, big_write_over_tls_arrives_intact)
{
	struct conn *c;

	tls_srv.count_mode = true;
	serve_tls(&good);
	c = tls_open();
	write_big(c);
	conn_close(c);
}

Test(tls, expired_certificate_is_rejected)
{
	const struct cert_spec sp = { "localhost", "localhost", true, -30L * DAY,
				      -DAY, false };

	serve_tls(&sp);
	sess.host = "localhost";
	expect_tls_fails(ERR_CERT, ": expired");
	cr_expect(strstr(err.text, "certificate for CN=localhost, valid "), "%s", err.text);
	cr_expect(strstr(err.text, "issued by CN=Test CA"), "%s", err.text);
	cr_expect(strstr(err.hint, "--fingerprint="), "%s", err.hint);
}

Test(tls, not_yet_valid_certificate_is_rejected)
{
	const struct cert_spec sp = { "localhost", "localhost", true, DAY,
				      30L * DAY, false };

	serve_tls(&sp);
	expect_tls_fails(ERR_CERT, "not yet valid");
}

Test(tls, wrong_host_is_rejected)
{
	const struct cert_spec sp = { "other.example", "other.example", false, -DAY,
				      30L * DAY, false };

	serve_tls(&sp);
	sess.host = "localhost";
	expect_tls_fails(ERR_CERT, "not valid for localhost (it names other.example)");
}

Test(tls, ip_literal_without_ip_san_is_rejected)
{
	const struct cert_spec sp = { "localhost", "localhost", false, -DAY,
				      30L * DAY, false };

	serve_tls(&sp);
	expect_tls_fails(ERR_CERT, "not valid for 127.0.0.1");
}

Test(tls, untrusted_ca_is_rejected)
{
	const struct cert_spec other = { "Other CA", NULL, false, -DAY, DAY, true };
	struct cert other_ca;
	const struct cert *list[1] = { &other_ca };

	serve_tls(&good);
	make_cert(&other_ca, &other, NULL);
	write_pem("other.pem", list, 1, ca_path, sizeof ca_path);
	expect_tls_fails(ERR_CERT, "issuer not trusted");
}

static void serve_self_signed(void)
{
	const struct cert_spec sp = { "localhost", "localhost", true, -DAY,
				      30L * DAY, false };

	serve_tls(&good);   /* for ca_path */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	make_cert(&leaf, &sp, NULL);
	tls_srv.chain[0] = leaf.crt;
	tls_srv.key = leaf.key;
	serve(tls_server);
}

Test(tls, self_signed_is_rejected)
{
	serve_self_signed();
	expect_tls_fails(ERR_CERT, "self-signed");
}

Test(tls, matching_pin_is_enough_trust)
{
	struct conn *c;

	serve_self_signed();
	sess.ca_file = NULL;
	sess.have_fingerprint = true;
	fingerprint(&leaf, sess.fingerprint);
	c = tls_open();
	cr_expect(conn_tls_info(c)->verified);
	conn_close(c);
}

Test(tls, pin_mismatch_is_rejected_even_with_insecure)
{
	serve_tls(&good);
	sess.have_fingerprint = true;
	sess.insecure = true;
	memset(sess.fingerprint, 0xab, sizeof sess.fingerprint);
	expect_tls_fails(ERR_CERT, "does not match --fingerprint");
}

Test(tls, insecure_accepts_self_signed_and_still_describes_it)
{
	struct conn *c;
	const struct tls_info *i;

	serve_self_signed();
	sess.insecure = true;
	c = tls_open();
	i = conn_tls_info(c);
	cr_expect_not(i->verified);
	cr_expect(strstr(i->subject, "CN=localhost"), "%s", i->subject);
	cr_expect_neq(i->not_before[0], '\0');
	conn_close(c);
}

Test(tls, incomplete_chain_is_rejected)
{
	const struct cert_spec mid = { "Intermediate CA", NULL, false, -DAY,
				       30L * DAY, true };
	struct cert inter;

	serve_tls(&good);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	make_cert(&inter, &mid, &ca);
	make_cert(&leaf, &good, &inter);
	tls_srv.chain[0] = leaf.crt;   /* the intermediate is not sent */
	tls_srv.key = leaf.key;
	serve(tls_server);
	expect_tls_fails(ERR_CERT, "issuer not trusted");
}

Test(tls, complete_chain_is_accepted)
{
	const struct cert_spec mid = { "Intermediate CA", NULL, false, -DAY,
				       30L * DAY, true };
	struct cert inter;
	struct conn *c;

	serve_tls(&good);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	make_cert(&inter, &mid, &ca);
	make_cert(&leaf, &good, &inter);
	tls_srv.chain[0] = leaf.crt;
	tls_srv.chain[1] = inter.crt;
	tls_srv.nchain = 2;
	tls_srv.key = leaf.key;
	serve(tls_server);
	c = tls_open();
	conn_close(c);
}

Test(tls, missing_ca_file_is_a_config_error)
{
	serve_tls(&good);
	sess.ca_file = "/nonexistent/ca.pem";
	expect_tls_fails(ERR_CONFIG, "/nonexistent/ca.pem");
}

Test(tls, client_certificate_is_presented)
{
	const struct cert_spec cl = { "client", NULL, false, -DAY, 30L * DAY, false };
	struct cert client;
	const struct cert *list[1];
	char cert_path[128], key_path[128];
	gnutls_datum_t d;
	FILE *f;
	struct conn *c;

	tls_srv.require_client_cert = true;
	serve_tls(&good);
	make_cert(&client, &cl, &ca);
	list[0] = &client;
	write_pem("client.pem", list, 1, cert_path, sizeof cert_path);
	snprintf(key_path, sizeof key_path, "%s/client.key", tmpdir);
	cr_assert_eq(gnutls_x509_privkey_export2(client.key, GNUTLS_X509_FMT_PEM, &d), 0);
	f = fopen(key_path, "w");
	cr_assert_not_null(f);
	fwrite(d.data, 1, d.size, f);
	fclose(f);
	gnutls_free(d.data);
	sess.client_cert = cert_path;
	sess.client_key = key_path;
	c = tls_open();
	conn_close(c);
}

Test(tls, starttls_then_tls_dialogue)
{
	struct conn *c;

	serve_tls(&good);
	c = open_ok();
	/* No plaintext exchanged: implicit TLS; the line comes over TLS. */
	cr_assert_eq(conn_wait_readable(c, 0, &err), 0);
	cr_assert_eq(conn_start_tls(c, &sess, &err), 0, "%s", err.text);
	cr_expect_eq(conn_wait_readable(c, 2000, &err), 1);
	expect_line(c, "220 tls ok");
	cr_expect_eq(conn_pending(c), 0);
	conn_close(c);
}


/* ---- the one credentials context ---- */

/* The next connection to the same server (child restarted). */
static void serve_again(void)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	serve(tls_server);
}

Test(tls, system_store_is_loaded_once_across_handshakes)
{
	serve_tls(&good);
	sess.host = "localhost";
	sess.ca_file = NULL;
	cr_assert_eq(tls_system_trust_loads(), 0);
	expect_tls_fails(ERR_CERT, "issuer not trusted");
	cr_expect_eq(tls_system_trust_loads(), 1);
	serve_again();
	expect_tls_fails(ERR_CERT, "issuer not trusted");
	cr_expect_eq(tls_system_trust_loads(), 1);
	serve_again();
	sess.insecure = true;
	conn_close(tls_open());
	cr_expect_eq(tls_system_trust_loads(), 1);
}

Test(tls, system_store_is_not_loaded_when_no_check_needs_it)
{
	serve_tls(&good);
	sess.host = "localhost";
	conn_close(tls_open());       /* --ca-file */
	serve_again();
	sess.insecure = true;
	conn_close(tls_open());
	cr_expect_eq(tls_system_trust_loads(), 0);
}

Test(tls, credentials_for_other_files_are_refused)
{
	serve_tls(&good);
	sess.host = "localhost";
	conn_close(tls_open());
	serve_again();
	sess.ca_file = NULL;
	expect_tls_fails(ERR_SOFTWARE, "other files");
	cr_expect_eq(tls_system_trust_loads(), 0);
}
