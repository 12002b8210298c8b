/* tls.c - GnuTLS under the SMTP engine (tls.h): the process's one
 * credentials context, the handshake with its deadline, certificate
 * verification and the diagnostics that say why a certificate was
 * refused, and record I/O for io.c.
 *
 * The handshake runs on the caller's non-blocking descriptor through our
 * own push/pull hooks, so that every wait is bounded (net.h) and the
 * first bytes the server answers with can be inspected: a plaintext
 * answer means a port mismatch (implicit TLS) or an attack (STARTTLS).
 */
#include "tls.h"
#include "clock.h"
#include "encode.h"
#include "net.h"
#include "parse.h"
#include "printable.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define TLS_CHUNK 16384          /* one full TLS record per send */
#define BYE_TIMEOUT_MS 2000      /* close_notify is a courtesy: do not wait long */
#define FIRST_BYTES 64           /* kept to recognise a plaintext answer to TLS */
#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define TLS_REASON_SIZE 160

/* Why the certificate check in verify_cert() refused (or would refuse). */
enum cert_fail { CERT_OK, CERT_NONE, CERT_PIN, CERT_STATUS, CERT_ERROR };

struct tls {
	gnutls_session_t session;
	int fd;                       /* borrowed */
	int timeout_ms;
	unsigned port;
	char peer[640];               /* for messages */
	char tls_name[256];           /* SNI / verification name: no trailing dot */
	bool host_is_ip;
	int sock_errno;               /* last errno of the transport hooks */
	bool up;
	bool insecure, have_pin;
	unsigned char pin[32];
	enum cert_fail cert_fail;
	bool cert_rejected;           /* verify_cert() ended the handshake */
	unsigned cert_status;         /* gnutls_certificate_status_t bits */
	int cert_error;               /* gnutls error of the verification call */
	bool self_signed;
	char fpr[96];                 /* SHA-256 of the leaf, "AB:CD:..." */
	char names[200];              /* its DNS and IP subject alt names */
	unsigned char first[FIRST_BYTES]; /* first bytes read during the handshake */
	size_t nfirst;
	struct tls_info info;
};

/* gnutls_strerror reworded to fit inside a sentence (lower-case first
 * letter, no final period), in the caller's buf. Returns buf. */
static const char *tls_reason(int ret, char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%s", gnutls_strerror(ret));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return buf;
}

/* ---- record I/O ---- */

ssize_t tls_recv(struct tls *t, char *buf, size_t len, short *events, struct error *err)
{
	ssize_t n = gnutls_record_recv(t->session, buf, len);
	char why[TLS_REASON_SIZE];

	if (n >= 0)
		return n;
	*events = 0;
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		*events = gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN;
		return -2;
	}
	if (n == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	if (n == GNUTLS_E_PULL_ERROR)
		return net_lost(t->peer, t->sock_errno, "while receiving", err);
	if (!gnutls_error_is_fatal((int)n))
		return -2;  /* a warning alert or a renegotiation request we ignore */
	err_set(err, n == GNUTLS_E_MEMORY_ERROR ? ERR_OSERR : ERR_TLS,
		"TLS error receiving from %s: %s", t->peer, tls_reason((int)n, why, sizeof why));
	if (n == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		gnutls_alert_description_t a = gnutls_alert_get(t->session);

		if (a == GNUTLS_A_CERTIFICATE_REQUIRED || a == GNUTLS_A_BAD_CERTIFICATE)
			err_hint(err, "the server wants a client certificate: use --client-cert");
	}
	return -1;
}

ssize_t tls_send(struct tls *t, const char *buf, size_t len, short *events, struct error *err)
{
	/* After GNUTLS_E_AGAIN the same arguments are passed again, as GnuTLS
	 * requires: the caller retries with buf and len unchanged. */
	ssize_t n = gnutls_record_send(t->session, buf, len > TLS_CHUNK ? TLS_CHUNK : len);
	char why[TLS_REASON_SIZE];

	if (n >= 0)
		return n;
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		*events = gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN;
		return -2;
	}
	if (n == GNUTLS_E_PUSH_ERROR)
		return net_lost(t->peer, t->sock_errno, "while sending", err);
	return err_set(err, n == GNUTLS_E_MEMORY_ERROR ? ERR_OSERR : ERR_TLS,
		       "TLS error sending to %s: %s", t->peer, tls_reason((int)n, why, sizeof why));
}

size_t tls_pending(const struct tls *t)
{
	return gnutls_record_check_pending(t->session);
}

/* ---- TLS transport hooks ---- */

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
	struct tls *t = ptr;
	ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);

	if (n < 0) {
		t->sock_errno = errno;
		gnutls_transport_set_errno(t->session, errno == EWOULDBLOCK ? EAGAIN : errno);
	}
	return n;
}

/* Also keeps the first bytes of the handshake: if they are plaintext the
 * peer is an SMTP server that does not speak TLS on this port. */
static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct tls *t = ptr;
	ssize_t n = recv(t->fd, buf, len, 0);

	if (n < 0) {
		t->sock_errno = errno;
		gnutls_transport_set_errno(t->session, errno == EWOULDBLOCK ? EAGAIN : errno);
		return n;
	}
	if (!t->up && t->nfirst < FIRST_BYTES) {
		size_t k = FIRST_BYTES - t->nfirst < (size_t)n ?
			   FIRST_BYTES - t->nfirst : (size_t)n;

		memcpy(t->first + t->nfirst, buf, k);
		t->nfirst += k;
	}
	return n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct tls *t = ptr;
	int64_t deadline = ms == GNUTLS_INDEFINITE_TIMEOUT ? clock_ms() + INT32_MAX :
			   clock_ms() + ms;

	return net_wait_fd(t->fd, POLLIN, deadline);
}

/* ---- certificates ---- */

static void utc_text(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "?");
}

/* A certificate's names are the server's to choose (no CA is needed to
 * send one): they are kept only in their shown form (printable.h). */
static void copy_datum(char *dst, size_t size, gnutls_datum_t *d)
{
	printable_copy(dst, size, d->data ? (char *)d->data : "", d->data ? d->size : 0);
	gnutls_free(d->data);
	d->data = NULL;
}

/* Lists the certificate's DNS and IP names, for a host name mismatch. */
static void list_names(struct tls *t, gnutls_x509_crt_t crt)
{
	size_t o = 0;

	for (unsigned seq = 0; seq < 16 && o + 1 < sizeof t->names; seq++) {
		char name[256], text[256];
		size_t size = sizeof name - 1;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, name, &size, NULL);

		if (type < 0 && type != GNUTLS_E_SHORT_MEMORY_BUFFER)
			break;
		if (type == GNUTLS_SAN_DNSNAME) {
			printable_copy(text, sizeof text, name, size);
			snprintf(name, sizeof name, "%s", text);
		} else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
			inet_ntop(size == 4 ? AF_INET : AF_INET6, name, text, sizeof text);
			snprintf(name, sizeof name, "%s", text);
		} else {
			continue;
		}
		o += (size_t)snprintf(t->names + o, sizeof t->names - o, "%s%s",
				      o ? ", " : "", name);
	}
}

/* Fills tls_info and the fingerprint from the leaf certificate. */
static void describe_leaf(struct tls *t, const gnutls_datum_t *der)
{
	unsigned char sha[32];
	size_t size = sizeof sha;
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = { NULL, 0 };

	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, der, sha, &size) == 0 &&
	    size == sizeof sha)
		for (size_t i = 0; i < size; i++)
			snprintf(t->fpr + 3 * i, sizeof t->fpr - 3 * i,
				 i + 1 < size ? "%02X:" : "%02X", sha[i]);
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) == 0) {
		if (gnutls_x509_crt_get_dn3(crt, &d, 0) == 0)
			copy_datum(t->info.subject, sizeof t->info.subject, &d);
		if (gnutls_x509_crt_get_issuer_dn3(crt, &d, 0) == 0)
			copy_datum(t->info.issuer, sizeof t->info.issuer, &d);
		utc_text(gnutls_x509_crt_get_activation_time(crt), t->info.not_before,
			 sizeof t->info.not_before);
		utc_text(gnutls_x509_crt_get_expiration_time(crt), t->info.not_after,
			 sizeof t->info.not_after);
		t->self_signed = gnutls_x509_crt_check_issuer(crt, crt) == 1;
		list_names(t, crt);
	}
	gnutls_x509_crt_deinit(crt);
}

static bool pin_matches(const struct tls *t, const gnutls_datum_t *der)
{
	unsigned char sha[32];
	size_t size = sizeof sha;

	return gnutls_fingerprint(GNUTLS_DIG_SHA256, der, sha, &size) == 0 &&
	       size == sizeof sha && memcmp(sha, t->pin, sizeof sha) == 0;
}

/* Called by GnuTLS when the server's certificate arrives, so that a bad
 * one ends the handshake before anything else happens. msmtp's rule for
 * pins: a matching pin is trust enough (self-signed certificates work
 * with --fingerprint alone), a mismatch is always fatal, --insecure or not. */
static int verify_cert(gnutls_session_t session)
{
	struct tls *t = gnutls_session_get_ptr(session);
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(session, &n);
	int ret;

	if (!certs || n == 0) {
		t->cert_fail = CERT_NONE;
		t->cert_rejected = !t->insecure;
		return t->insecure ? 0 : -1;
	}
	describe_leaf(t, &certs[0]);
	if (t->have_pin) {
		t->cert_fail = pin_matches(t, &certs[0]) ? CERT_OK : CERT_PIN;
		t->info.verified = t->cert_fail == CERT_OK;
		t->cert_rejected = !t->info.verified;
		return t->info.verified ? 0 : -1;
	}
	ret = gnutls_certificate_verify_peers3(session, t->tls_name, &t->cert_status);
	if (ret < 0) {
		t->cert_fail = CERT_ERROR;
		t->cert_error = ret;
	} else if (t->cert_status != 0) {
		t->cert_fail = CERT_STATUS;
	}
	t->info.verified = t->cert_fail == CERT_OK;
	t->cert_rejected = !t->info.verified && !t->insecure;
	return t->cert_rejected ? -1 : 0;
}

/* The reasons GnuTLS gave, in words; "" when none is known. */
static void cert_reasons(const struct tls *t, char *buf, size_t size)
{
	static const struct { unsigned bit; const char *text; } why[] = {
		{ GNUTLS_CERT_EXPIRED, "expired" },
		{ GNUTLS_CERT_NOT_ACTIVATED, "not yet valid" },
		{ GNUTLS_CERT_REVOKED, "revoked" },
		{ GNUTLS_CERT_SIGNER_NOT_CA, "signed by a certificate that is not a CA" },
		{ GNUTLS_CERT_INSECURE_ALGORITHM, "signed with an insecure algorithm" },
		{ GNUTLS_CERT_SIGNATURE_FAILURE, "bad signature" },
		{ GNUTLS_CERT_PURPOSE_MISMATCH, "not meant for a TLS server" },
		{ GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "outside its issuer's constraints" },
	};
	size_t o = 0;

	buf[0] = '\0';
	if (t->cert_status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		o += (size_t)snprintf(buf, size, "%s", t->self_signed ? "self-signed" :
				      "issuer not trusted (unknown CA or incomplete chain)");
	for (size_t i = 0; i < sizeof why / sizeof why[0] && o < size; i++)
		if (t->cert_status & why[i].bit)
			o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "",
					      why[i].text);
	if (o < size && (t->cert_status & GNUTLS_CERT_UNEXPECTED_OWNER))
		snprintf(buf + o, size - o, "%snot valid for %.100s (%s%.120s)",
			 o ? ", " : "", t->tls_name, t->names[0] ? "it names " :
			 "it names no host", t->names);
}

/* Every hint offers the pin: it is the one way to accept exactly this
 * certificate, whatever is wrong with it, without turning checks off. */
static void cert_hint(const struct tls *t, struct error *err)
{
	unsigned st = t->cert_status;

	if (st & GNUTLS_CERT_SIGNER_NOT_FOUND)
		err_hint(err, "use --ca-file to trust a private CA, or "
			 "--fingerprint=%s to pin this certificate", t->fpr);
	else if (st & GNUTLS_CERT_UNEXPECTED_OWNER)
		err_hint(err, "connect by a name the certificate lists, or "
			 "--fingerprint=%s to pin this certificate", t->fpr);
	else if (st & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		err_hint(err, "check this machine's clock; to accept this "
			 "certificate anyway, pin it: --fingerprint=%s", t->fpr);
}

static int cert_error(const struct tls *t, struct error *err)
{
	char who[400], why[512], gtls[TLS_REASON_SIZE];
	const struct tls_info *i = &t->info;

	snprintf(who, sizeof who, "certificate for %.120s, valid %.10s..%.10s, "
		 "issued by %.120s", i->subject[0] ? i->subject : "(no subject)",
		 i->not_before, i->not_after, i->issuer[0] ? i->issuer : "(none)");
	if (t->cert_fail == CERT_NONE)
		return err_set(err, ERR_CERT, "server %s sent no certificate", t->peer);
	if (t->cert_fail == CERT_PIN) {
		err_set(err, ERR_CERT, "%s: SHA-256 fingerprint %s does not match "
			"--fingerprint", who, t->fpr);
		err_hint(err, "if the server's certificate was changed on purpose, "
			 "update --fingerprint");
		return -1;
	}
	if (t->cert_fail == CERT_ERROR)
		return err_set(err, ERR_CERT, "cannot verify the %s: %s", who,
			       tls_reason(t->cert_error, gtls, sizeof gtls));
	cert_reasons(t, why, sizeof why);
	err_set(err, ERR_CERT, "%s: %s", who, why[0] ? why : "rejected");
	cert_hint(t, err);
	return -1;
}

/* ---- the credentials context, one per process ---- */

static int tls_config_error(const char *what, const char *file, int ret,
			    struct error *err)
{
	char shown[160], why[TLS_REASON_SIZE];

	return err_set(err, ERR_CONFIG, "cannot load %s %s: %s", what,
		       parse_show(file, shown, sizeof shown),
		       ret == 0 ? "no certificate found in it" : tls_reason(ret, why, sizeof why));
}

/* GnuTLS says only "Error while reading file"; errno says why. */
static int check_readable(const char *what, const char *file, struct error *err)
{
	FILE *f = fopen(file, "r");
	char why[96], shown[160];

	if (f) {
		fclose(f);
		return 0;
	}
	return err_set(err, ERR_CONFIG, "cannot read %s %s: %s", what,
		       parse_show(file, shown, sizeof shown), net_strerror(errno, why, sizeof why));
}

/* The credentials are made once per process and shared by every
 * connection of the run (retries, the TLS probe, reconnections), so the
 * system store, by far the largest thing envoi loads, is parsed at most
 * once. They depend only on --ca-file, --client-cert and --client-key,
 * which do not change during a run: a handshake naming other files is a
 * bug of the caller, refused rather than given the wrong trust. */
static struct {
	gnutls_certificate_credentials_t cred;
	bool system_trust;            /* the system store is loaded into cred */
	unsigned system_trust_loads;  /* for tests: stays at most 1 */
	char *ca_file, *client_cert, *client_key;  /* what cred was made from */
} shared;

/* libtasn1 (4.19) does not survive an allocation that fails while it
 * decodes a certificate: it crashes (or GnuTLS reports a parse error).
 * So work that decodes certificates starts only when the address space
 * can take several times what it needs: the system store, a handshake
 * (the server's chain). Below that, envoi is out of memory (71). */
#define STORE_HEADROOM (8u << 20)
#define HANDSHAKE_HEADROOM (2u << 20)

static bool headroom(size_t n)
{
	void *room = malloc(n);

	free(room);
	return room != NULL;
}

static int out_of_memory(const char *doing, struct error *err)
{
	return err_set(err, ERR_OSERR, "out of memory %s", doing);
}

/* Loaded only when a certificate must be checked against it: not with
 * --fingerprint (the pin is the trust), --ca-file or --insecure. An
 * empty or unreadable store is no error yet: verification then fails
 * with "issuer not trusted". */
static int load_system_trust(struct error *err)
{
	int ret;

	if (!headroom(STORE_HEADROOM))
		return out_of_memory("loading the system CA store", err);
	ret = gnutls_certificate_set_x509_system_trust(shared.cred);
	if (ret == GNUTLS_E_MEMORY_ERROR)
		return out_of_memory("loading the system CA store", err);
	shared.system_trust = true;
	shared.system_trust_loads++;
	return 0;
}

static int load_client_cert(const struct tls_params *s, struct error *err)
{
	const char *key = s->client_key ? s->client_key : s->client_cert;
	char why[TLS_REASON_SIZE];
	int ret;

	if (check_readable("client certificate", s->client_cert, err) < 0 ||
	    check_readable("client key", key, err) < 0)
		return -1;
	ret = gnutls_certificate_set_x509_key_file(shared.cred, s->client_cert, key,
						   GNUTLS_X509_FMT_PEM);
	if (ret == GNUTLS_E_MEMORY_ERROR)
		return out_of_memory("loading the client certificate", err);
	if (ret < 0)
		return err_set(err, ERR_CONFIG, "cannot load client certificate "
			       "%s with key %s: %s", s->client_cert, key,
			       tls_reason(ret, why, sizeof why));
	return 0;
}

static int make_credentials(const struct tls_params *s, struct error *err)
{
	int ret = gnutls_certificate_allocate_credentials(&shared.cred);
	char why[TLS_REASON_SIZE];

	if (ret < 0)
		return ret == GNUTLS_E_MEMORY_ERROR ? out_of_memory("setting up TLS", err) :
		       err_set(err, ERR_OSERR, "cannot set up TLS: %s",
			       tls_reason(ret, why, sizeof why));
	if (s->client_key && !s->client_cert)
		return err_set(err, ERR_CONFIG, "--client-key needs --client-cert");
	if (s->ca_file) {
		if (check_readable("CA file", s->ca_file, err) < 0)
			return -1;
		ret = gnutls_certificate_set_x509_trust_file(shared.cred, s->ca_file,
							     GNUTLS_X509_FMT_PEM);
		if (ret == GNUTLS_E_MEMORY_ERROR)
			return out_of_memory("loading the CA file", err);
		if (ret <= 0)
			return tls_config_error("CA file", s->ca_file, ret, err);
	}
	if (s->client_cert && load_client_cert(s, err) < 0)
		return -1;
	gnutls_certificate_set_verify_function(shared.cred, verify_cert);
	return 0;
}

static bool same_file(const char *made, const char *asked)
{
	return made == asked || (made && asked && strcmp(made, asked) == 0);
}

static void forget_credentials(void)
{
	if (shared.cred)
		gnutls_certificate_free_credentials(shared.cred);
	free(shared.ca_file);
	free(shared.client_cert);
	free(shared.client_key);
	memset(&shared, 0, sizeof shared);
}

/* Keeps the names of the files the context was made from. */
static int remember_files(const struct tls_params *s, struct error *err)
{
	shared.ca_file = s->ca_file ? strdup(s->ca_file) : NULL;
	shared.client_cert = s->client_cert ? strdup(s->client_cert) : NULL;
	shared.client_key = s->client_key ? strdup(s->client_key) : NULL;
	if ((s->ca_file && !shared.ca_file) || (s->client_cert && !shared.client_cert) ||
	    (s->client_key && !shared.client_key))
		return out_of_memory("setting up TLS", err);
	return 0;
}

static int load_credentials(const struct tls_params *s, struct error *err)
{
	if (!shared.cred && (make_credentials(s, err) < 0 || remember_files(s, err) < 0)) {
		forget_credentials();
		return -1;
	}
	if (!same_file(shared.ca_file, s->ca_file) ||
	    !same_file(shared.client_cert, s->client_cert) ||
	    !same_file(shared.client_key, s->client_key))
		return err_set(err, ERR_SOFTWARE, "TLS credentials asked for other files "
			       "than the ones this process loaded");
	if (!s->ca_file && !s->have_fingerprint && !s->insecure && !shared.system_trust &&
	    load_system_trust(err) < 0)
		return -1;
	return 0;
}

/* ---- TLS handshake ---- */

/* A GnuTLS session on the shared credentials, with our transport hooks. */
static int tls_setup(struct tls *t, struct error *err)
{
	const char *errpos = NULL;
	char why[TLS_REASON_SIZE];
	int ret;

	ret = gnutls_init(&t->session, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	if (ret < 0)
		return err_set(err, ERR_OSERR, "cannot set up TLS: %s",
			       tls_reason(ret, why, sizeof why));
	ret = gnutls_priority_set_direct(t->session, TLS_PRIORITY, &errpos);
	if (ret == 0)
		ret = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, shared.cred);
	if (ret == 0 && !t->host_is_ip)
		ret = gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, t->tls_name,
					     strlen(t->tls_name));
	if (ret < 0)
		return err_set(err, ret == GNUTLS_E_MEMORY_ERROR ? ERR_OSERR : ERR_SOFTWARE,
			       "cannot set up TLS: %s",
			       tls_reason(ret, why, sizeof why));
	gnutls_session_set_ptr(t->session, t);
	gnutls_transport_set_ptr(t->session, t);
	gnutls_transport_set_push_function(t->session, tls_push);
	gnutls_transport_set_pull_function(t->session, tls_pull);
	gnutls_transport_set_pull_timeout_function(t->session, tls_pull_timeout);
	/* Our own deadline bounds the handshake (handshake()). */
	gnutls_handshake_set_timeout(t->session, 0);
	return 0;
}

static bool looks_plaintext(const struct tls *t)
{
	/* TLS records start with a content type 20..24; SMTP with a digit. */
	return t->nfirst > 0 && t->first[0] >= 0x20 && t->first[0] < 0x7f;
}

static int plaintext_answer(struct tls *t, bool implicit, struct error *err)
{
	size_t n = 0;
	ssize_t more;

	/* GnuTLS stopped after a record header; the rest of the line, if it
	 * is there, makes the message show what the server said. */
	more = recv(t->fd, t->first + t->nfirst, FIRST_BYTES - t->nfirst, MSG_DONTWAIT);
	if (more > 0)
		t->nfirst += (size_t)more;
	while (n < t->nfirst && t->first[n] != '\r' && t->first[n] != '\n')
		n++;
	if (!implicit) {
		err_set(err, ERR_PROTOCOL, "server %s answered the TLS handshake in "
			"plaintext after agreeing to STARTTLS", t->peer);
	} else {
		err_set(err, ERR_TLS_MISMATCH, "server %s answered the TLS handshake "
			"in plaintext", t->peer);
		if (isdigit(t->first[0]))
			err_hint(err, "port %u speaks plaintext SMTP: use --tls=starttls "
				 "(or port 587)", t->port);
	}
	err_reply(err, (const char *)t->first, n);
	return -1;
}

static void alert_hint(const struct tls *t, struct error *err)
{
	gnutls_alert_description_t a = gnutls_alert_get(t->session);

	if (a == GNUTLS_A_CERTIFICATE_REQUIRED || a == GNUTLS_A_BAD_CERTIFICATE ||
	    a == GNUTLS_A_HANDSHAKE_FAILURE)
		err_hint(err, "the server may want a client certificate: use --client-cert");
	if (a == GNUTLS_A_PROTOCOL_VERSION)
		err_hint(err, "the server may support only TLS 1.1 or older, which "
			 "envoi refuses");
}

static int handshake_failed(struct tls *t, int ret, bool implicit, struct error *err)
{
	char why[TLS_REASON_SIZE];

	if (ret == GNUTLS_E_MEMORY_ERROR)
		return err_set(err, ERR_OSERR, "out of memory in the TLS handshake with %s",
			       t->peer);
	if (looks_plaintext(t))
		return plaintext_answer(t, implicit, err);
	if (t->cert_rejected)
		return cert_error(t, err);
	if (ret == GNUTLS_E_PREMATURE_TERMINATION || ret == GNUTLS_E_PULL_ERROR ||
	    ret == GNUTLS_E_PUSH_ERROR) {
		return err_set(err, ERR_TLS, "server %s closed the connection during "
			       "the TLS handshake%s%s", t->peer,
			       t->sock_errno ? ": " : "",
			       t->sock_errno ? net_strerror(t->sock_errno, why, sizeof why) : "");
	}
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		gnutls_alert_description_t a = gnutls_alert_get(t->session);
		const char *name = gnutls_alert_get_name(a);

		/* The number is the server's choice: GnuTLS names only known ones. */
		if (name)
			err_set(err, ERR_TLS, "server %s refused the TLS handshake: %s",
				t->peer, name);
		else
			err_set(err, ERR_TLS, "server %s refused the TLS handshake: "
				"alert %u", t->peer, (unsigned)a);
		alert_hint(t, err);
		return -1;
	}
	err_set(err, ERR_TLS, "TLS handshake with %s failed: %s", t->peer,
		tls_reason(ret, why, sizeof why));
	if (ret == GNUTLS_E_UNSUPPORTED_VERSION_PACKET || ret == GNUTLS_E_NO_CIPHER_SUITES ||
	    ret == GNUTLS_E_INSUFFICIENT_SECURITY)
		err_hint(err, "the server may support only TLS 1.1 or older, which "
			 "envoi refuses");
	return -1;
}

static int handshake(struct tls *t, bool implicit, struct error *err)
{
	int64_t deadline = clock_ms() + t->timeout_ms;

	for (;;) {
		int ret = gnutls_handshake(t->session), w;

		if (ret == 0)
			return 0;
		if (ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED &&
		    gnutls_error_is_fatal(ret))
			return handshake_failed(t, ret, implicit, err);
		if (ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED)
			w = clock_ms() < deadline;  /* a warning alert: go on */
		else
			w = net_wait_fd(t->fd, gnutls_record_get_direction(t->session) ?
				    POLLOUT : POLLIN, deadline);
		if (w < 0)
			return net_poll_failed(err);
		if (w == 0 && looks_plaintext(t))
			return plaintext_answer(t, implicit, err);
		if (w == 0)
			return net_timed_out(t->peer, t->timeout_ms, "in the TLS handshake with", err);
	}
}

static void fill_session_info(struct tls *t)
{
	const char *suite = gnutls_ciphersuite_get(t->session);
	const char *version = gnutls_protocol_get_name(gnutls_protocol_get_version(t->session));

	snprintf(t->info.version, sizeof t->info.version, "%s", version ? version : "?");
	if (suite) {
		snprintf(t->info.cipher, sizeof t->info.cipher, "%s", suite);
	} else {
		char *desc = gnutls_session_get_desc(t->session);

		snprintf(t->info.cipher, sizeof t->info.cipher, "%s", desc ? desc : "?");
		gnutls_free(desc);
	}
}

/* ---- the session object ---- */

/* Everything about the peer that the handshake and its messages need. */
static struct tls *tls_new(const struct tls_peer *p, const struct tls_params *tp)
{
	struct tls *t = calloc(1, sizeof *t);
	size_t n;

	if (!t)
		return NULL;
	t->fd = p->fd;
	t->timeout_ms = p->timeout_ms;
	t->port = p->port;
	snprintf(t->peer, sizeof t->peer, "%s", p->peer);
	snprintf(t->tls_name, sizeof t->tls_name, "%s", p->host);
	n = strlen(t->tls_name);
	if (n > 1 && t->tls_name[n - 1] == '.')
		t->tls_name[n - 1] = '\0';
	t->host_is_ip = net_is_ip_literal(t->tls_name);
	t->insecure = tp->insecure;
	t->have_pin = tp->have_fingerprint;
	memcpy(t->pin, tp->fingerprint, sizeof t->pin);
	return t;
}

int tls_start(struct tls **out, const struct tls_peer *p, const struct tls_params *tp,
	      struct error *err)
{
	struct tls *t;

	*out = NULL;
	if (!headroom(HANDSHAKE_HEADROOM))
		return out_of_memory("starting the TLS handshake", err);
	if (load_credentials(tp, err) < 0)
		return -1;
	t = tls_new(p, tp);
	if (!t)
		return out_of_memory("starting the TLS handshake", err);
	if (tls_setup(t, err) < 0) {
		/* No session: nothing was said, nothing to report on. */
		if (!t->session) {
			free(t);
			return -1;
		}
		*out = t;
		return -1;
	}
	*out = t;
	if (handshake(t, p->implicit, err) < 0)
		return -1;
	fill_session_info(t);
	t->up = true;
	return 0;
}

bool tls_is_up(const struct tls *t)
{
	return t && t->up;
}

bool tls_answered(const struct tls *t)
{
	return t && (t->up || (t->nfirst >= 3 && (t->first[0] == 0x15 || t->first[0] == 0x16) &&
			       t->first[1] == 0x03 && t->first[2] <= 0x04));
}

const struct tls_info *tls_get_info(const struct tls *t)
{
	return &t->info;
}

char *tls_channel_binding(struct tls *t, const char **type)
{
	gnutls_datum_t cb = { NULL, 0 };
	gnutls_channel_binding_t kind = GNUTLS_CB_TLS_UNIQUE;
	const char *name = "tls-unique";
	char *out = NULL;

	if (type)
		*type = NULL;
	if (!tls_is_up(t))
		return NULL;
	if (gnutls_protocol_get_version(t->session) == GNUTLS_TLS1_3) {
		kind = GNUTLS_CB_TLS_EXPORTER;
		name = "tls-exporter";
	}
	if (gnutls_session_channel_binding(t->session, kind, &cb) < 0)
		return NULL;
	out = malloc(4 * ((cb.size + 2) / 3) + 1);
	if (out)
		b64_encode(out, cb.data, cb.size);
	gnutls_free(cb.data);
	if (out && type)
		*type = name;
	return out;
}

/* Sends close_notify so the server sees a clean end, but never waits long
 * for a server that has stopped reading. */
static void tls_bye(struct tls *t)
{
	int64_t deadline = clock_ms() + (t->timeout_ms < BYE_TIMEOUT_MS ?
				       t->timeout_ms : BYE_TIMEOUT_MS);
	int ret;

	while ((ret = gnutls_bye(t->session, GNUTLS_SHUT_WR)) == GNUTLS_E_AGAIN ||
	       ret == GNUTLS_E_INTERRUPTED)
		if (net_wait_fd(t->fd, gnutls_record_get_direction(t->session) ? POLLOUT :
			    POLLIN, deadline) <= 0)
			break;
}


void tls_close(struct tls *t)
{
	if (!t)
		return;
	if (t->session) {
		if (t->up)
			tls_bye(t);
		gnutls_deinit(t->session);
	}
	explicit_bzero(t, sizeof *t);
	free(t);
}

unsigned tls_system_trust_loads(void)
{
	return shared.system_trust_loads;
}
