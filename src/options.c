/* options.c - the option table, argp's view of it, and the argv check
 * that runs before argp. */
#include "options.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "suggest.h"
#include "version.h"

const struct opt opt_table[O_COUNT] = {
	[O_FROM] = {"from", 'f', "ADDR", OPT_STR, 1, 0, "Sender (From header and MAIL FROM)"},
	[O_TO] = {"to", 't', "ADDR", OPT_LIST, 1, 0, "To recipient (repeatable, comma lists)"},
	[O_CC] = {"cc", 'c', "ADDR", OPT_LIST, 1, 0, "Cc recipient"},
	[O_BCC] = {"bcc", 'b', "ADDR", OPT_LIST, 1, 0, "Bcc recipient (envelope only, never in a header)"},
	[O_REPLY_TO] = {"reply-to", 'r', "ADDR", OPT_LIST, 1, 0, "Reply-To address"},
	[O_SUBJECT] = {"subject", 's', "TEXT", OPT_STR, 1, 0, "Subject (UTF-8 allowed)"},
	[O_BODY] = {"body", 'm', "TEXT", OPT_STR, 1, 0, "Plain-text body"},
	[O_BODY_FILE] = {"body-file", 0, "FILE", OPT_STR, 1, 0, "Plain-text body from FILE ('-' for standard input)"},
	[O_HTML] = {"html", 0, "TEXT", OPT_STR, 1, 0, "HTML body (with a text body: multipart/alternative)"},
	[O_HTML_FILE] = {"html-file", 0, "FILE", OPT_STR, 1, 0, "HTML body from FILE ('-' for standard input)"},
	[O_ATTACH] = {"attach", 'a', "FILE", OPT_LIST, 1, 0, "Attach FILE (repeatable)"},
	[O_PRIORITY] = {"priority", 'p', "LEVEL", OPT_STR, 1, 0, "low, normal (default), high or urgent"},
	[O_HEADER] = {"header", 'H', "'NAME: VALUE'", OPT_LIST, 1, 0, "Extra header (repeatable)"},
	[O_INLINE] = {"inline", 0, "FILE", OPT_LIST, 1, 0, "Image for the HTML body, referenced as cid:FILENAME"},
	[O_READ_RECEIPT] = {"read-receipt", 0, NULL, OPT_FLAG, 1, 0, "Ask for a read receipt"},
	[O_MESSAGE_FILE] = {"message-file", 0, "FILE", OPT_STR, 1, OPT_NOCONF, "Send this ready RFC 5322 message ('-' for standard input)"},
	[O_SERVER] = {"server", 'S', "HOST[:PORT]", OPT_STR, 2, 0, "SMTP server; also smtp://HOST[:PORT], smtps://HOST[:PORT]"},
	[O_PORT] = {"port", 'P', "N", OPT_STR, 2, 0, "Port (default 587, or 465 for implicit TLS)"},
	[O_TLS] = {"tls", 0, "MODE", OPT_STR, 2, 0, "auto (default), implicit, starttls or none"},
	[O_USER] = {"user", 'u', "NAME", OPT_STR, 2, 0, "SASL user name (AUTH is then required)"},
	[O_PASSWORD_FILE] = {"password-file", 0, "FILE", OPT_STR, 2, 0, "Read the password from the first line of FILE"},
	[O_PASSWORD_COMMAND] = {"password-command", 0, "CMD", OPT_STR, 2, 0, "Run CMD and use what it prints as the password"},
	[O_AUTH] = {"auth", 0, "MECH", OPT_STR, 2, 0, "Force a SASL mechanism (default: the strongest in common)"},
	[O_CA_FILE] = {"ca-file", 0, "FILE", OPT_STR, 2, 0, "Trust the CA certificates in FILE instead of the system store"},
	[O_FINGERPRINT] = {"fingerprint", 0, "SHA256", OPT_STR, 2, 0, "Pin the server certificate by its SHA-256 fingerprint"},
	[O_INSECURE] = {"insecure", 0, NULL, OPT_FLAG, 2, 0, "Do not verify the server certificate (dangerous)"},
	[O_CLIENT_CERT] = {"client-cert", 0, "FILE", OPT_STR, 2, 0, "TLS client certificate (PEM)"},
	[O_CLIENT_KEY] = {"client-key", 0, "FILE", OPT_STR, 2, 0, "Key of the client certificate (PEM)"},
	[O_HELO] = {"helo", 0, "NAME", OPT_STR, 2, 0, "EHLO name (default: this host's name)"},
	[O_TIMEOUT] = {"timeout", 0, "SECONDS", OPT_STR, 2, 0, "Timeout of each step: connect, each reply, TLS (default 60)"},
	[O_IPV4] = {"ipv4", '4', NULL, OPT_FLAG, 2, 0, "Use IPv4 only"},
	[O_IPV6] = {"ipv6", '6', NULL, OPT_FLAG, 2, 0, "Use IPv6 only"},
	[O_PROXY] = {"proxy", 0, "socks5://HOST:PORT", OPT_STR, 2, 0, "Connect through a SOCKS5 proxy"},
	[O_DSN_NOTIFY] = {"dsn-notify", 0, "LIST", OPT_STR, 2, 0, "Delivery notifications: never, or success,failure,delay"},
	[O_DSN_RETURN] = {"dsn-return", 0, "full|headers", OPT_STR, 2, 0, "What a delivery notification returns"},
	[O_RETRY] = {"retry", 0, "N", OPT_STR, 2, 0, "Retry a temporary failure up to N times (default 0)"},
	[O_PROBE] = {"probe", 0, NULL, OPT_FLAG, 2, OPT_NOCONF, "Connect, log in, show what the server offers, send nothing"},
	[O_ACCOUNT] = {"account", 0, "NAME", OPT_STR, 2, OPT_NOCONF, "Use [account NAME] of the configuration file"},
	[O_CONFIG] = {"config", 0, "FILE", OPT_STR, 2, OPT_NOCONF, "Configuration file"},
	[O_VERBOSE] = {"verbose", 'v', NULL, OPT_FLAG, 3, 0, "Show the SMTP transcript (secrets redacted)"},
	[O_QUIET] = {"quiet", 'q', NULL, OPT_FLAG, 3, 0, "Print nothing unless it fails"},
	[O_JSON] = {"json", 0, NULL, OPT_FLAG, 3, 0, "Print the result as one JSON object on stdout"},
	[O_PICKUP_DIR] = {"pickup-dir", 0, "DIR", OPT_STR, 3, 0, "Write the message as a new .eml file into DIR instead of sending"},
	[O_PICKUP_MODE] = {"pickup-mode", 0, "MODE", OPT_STR, 3, 0, "Octal mode of the --pickup-dir file (default 600)"},
	[O_DRY_RUN] = {"dry-run", 0, NULL, OPT_FLAG, 3, OPT_NOCONF, "Write the composed message to stdout; connect to nothing"},
	[O_PASSWORD] = {"password", 0, NULL, OPT_STR, 2, OPT_NOOPT, NULL},
	[O_QUEUE] = {"queue", 0, NULL, OPT_FLAG, 4, 0, "Queue a message the server could not take for now (68, 69, 75) and exit 0"},
	[O_FLUSH] = {"flush", 0, NULL, OPT_FLAG, 4, OPT_NOCONF, "Send every queued message"},
	[O_QUEUE_LIST] = {"queue-list", 0, NULL, OPT_FLAG, 4, OPT_NOCONF, "List the queue: id, age, size, sender, recipients, last error"},
	[O_QUEUE_DIR] = {"queue-dir", 0, "DIR", OPT_STR, 4, 0, "Queue directory (default ~/.local/state/envoi/queue)"},
	[O_QUEUE_LIFETIME] = {"queue-lifetime", 0, "TIME", OPT_STR, 4, 0, "Give up on a queued message after TIME (s, m, h, d; default 5d)"},
	[O_LOG] = {"log", 0, "FILE|syslog", OPT_STR, 4, 0, "Log one line per outcome to FILE or to syslog"},
	/* sendmail mode's keys: local names completed, aliases looked up */
	[O_ALIASES] = {"aliases", 0, NULL, OPT_STR, 4, OPT_NOOPT, NULL},
	[O_DOMAIN] = {"domain", 0, NULL, OPT_STR, 4, OPT_NOOPT, NULL},
	[O_BATCH] = {"batch", 0, "FILE", OPT_STR, 5, OPT_NOCONF, "Send one message per JSON line of FILE ('-': standard input); message options are defaults"},
	[O_CONNECTIONS] = {"connections", 0, "N", OPT_STR, 5, 0, "--batch: sessions in parallel, 1-16 (default 1)"},
	[O_MAX_PER_CONNECTION] = {"max-per-connection", 0, "N", OPT_STR, 5, 0, "--batch: a new session after N messages (default 100)"},
	[O_RATE] = {"rate", 0, "N/s|N/m|N/h", OPT_STR, 5, 0, "--batch: at most N messages in any second, minute or hour"},
	/* OAuth2: the keys belong in an [account] section; see envoi(1), OAUTH2 */
	[O_OAUTH2_LOGIN] = {"oauth2-login", 0, NULL, OPT_FLAG, 2, OPT_NOCONF, "Log the account in once (device or browser flow) and store its tokens"},
	[O_OAUTH2_PROVIDER] = {"oauth2-provider", 0, "NAME", OPT_STR, 2, 0, "OAuth2 tokens from microsoft, google or custom (mechanism XOAUTH2)"},
	[O_OAUTH2_CLIENT_ID] = {"oauth2-client-id", 0, "ID", OPT_STR, 2, 0, "OAuth2 application (client) id"},
	[O_OAUTH2_SECRET_COMMAND] = {"oauth2-client-secret-command", 0, "CMD", OPT_STR, 2, 0, "Run CMD for the OAuth2 client secret"},
	[O_OAUTH2_SECRET_FILE] = {"oauth2-client-secret-file", 0, "FILE", OPT_STR, 2, 0, "Read the OAuth2 client secret from FILE (mode 600)"},
	[O_OAUTH2_TENANT] = {"oauth2-tenant", 0, "ID", OPT_STR, 2, 0, "Microsoft tenant (default organizations)"},
	[O_OAUTH2_FLOW] = {"oauth2-flow", 0, "FLOW", OPT_STR, 2, 0, "device, browser or client-credentials"},
	[O_OAUTH2_CA_FILE] = {"oauth2-ca-file", 0, "FILE", OPT_STR, 2, 0, "Trust these CAs for the identity provider"},
	[O_OAUTH2_AUTH_URL] = {"oauth2-auth-url", 0, "URL", OPT_STR, 2, 0, "custom: authorization endpoint"},
	[O_OAUTH2_DEVICE_URL] = {"oauth2-device-url", 0, "URL", OPT_STR, 2, 0, "custom: device authorization endpoint"},
	[O_OAUTH2_TOKEN_URL] = {"oauth2-token-url", 0, "URL", OPT_STR, 2, 0, "custom: token endpoint"},
	[O_OAUTH2_SCOPE] = {"oauth2-scope", 0, "SCOPES", OPT_STR, 2, 0, "custom: scopes to ask for"},
};

static const char *const group_titles[] = {NULL, "Message:", "Session:", "Output:", "Queue and log:", "Batch:"};

int opt_argp_key(enum opt_id id)
{
	return opt_table[id].key ? opt_table[id].key : 256 + (int)id;
}

struct argp_option *opt_argp_options(void)
{
	struct argp_option *v = calloc(O_COUNT + 6, sizeof *v) /* a title per group, the end */;
	size_t n = 0;

	if (!v)
		return NULL;
	for (int g = 1; g <= 5; g++) {
		v[n].doc = group_titles[g];
		v[n].group = g;
		n++;
		for (int id = 0; id < O_COUNT; id++) {
			if (opt_table[id].group != g || opt_table[id].flags & OPT_NOOPT)
				continue;
			v[n].name = opt_table[id].name;
			v[n].key = opt_argp_key((enum opt_id)id);
			v[n].arg = opt_table[id].arg;
			v[n].doc = opt_table[id].doc;
			v[n].group = g;
			n++;
		}
	}
	return v;
}

const char *argp_program_version = "envoi " ENVOI_VERSION;
const char *argp_program_bug_address = "<https://github.com/envoi-mail/envoi/issues>";

const char opt_doc[] =
	"Send one e-mail message through an SMTP server.\v"
	"RECIPIENTs are To addresses. Without a body option, the body is read from "
	"standard input; at a terminal, type it and end with Ctrl-D. The password comes from "
	"--password-file, --password-command, ENVOI_PASSWORD, ~/.netrc or a prompt; "
	"never put it on the command line. The exit status names what happened: "
	"0 sent, 64-78 usage, file and configuration problems, 75 try again later, "
	"80-89 TLS, authentication and rejections; see envoi(1).";

/* ---- the command line, checked before argp sees it ----------------
 *
 * getopt echoes a mistyped option whole in its message, value included:
 * "--password=hunter2" is "ambiguous" (--password-file, --password-command)
 * and would put the secret on the terminal, in logs and in CI output.
 * These checks find every option getopt would refuse, first, and never
 * show a value. */

/* argp's own long options, after the table's (2: optional value). */
static const struct {
	const char *name;
	int arg;
} argp_longs[] = {{"help", 0}, {"usage", 0}, {"version", 0}, {"program-name", 1}, {"HANG", 2}};
#define N_LONG (O_COUNT + (int)(sizeof argp_longs / sizeof *argp_longs))

static const char *long_name(int i)
{
	if (i >= O_COUNT)
		return argp_longs[i - O_COUNT].name;
	return opt_table[i].flags & OPT_NOOPT ? NULL : opt_table[i].name;
}

static int long_arg(int i)
{
	return i >= O_COUNT ? argp_longs[i - O_COUNT].arg : opt_table[i].arg != NULL;
}

/* As getopt_long decides: an exact name, else the one option the name
 * abbreviates. Returns its index (long_name), -1 unknown, -2 ambiguous. */
static int long_match(const char *name, size_t len)
{
	int found = -1;

	for (int i = 0; i < N_LONG; i++) {
		const char *n = long_name(i);

		if (!n || strncmp(n, name, len) != 0)
			continue;
		if (n[len] == '\0')
			return i;
		found = found == -1 ? i : -2;
	}
	return found;
}

/* --password, --pass, --passwd, --pw...: a value would be a secret. */
static bool names_password(const char *name, size_t len)
{
	return (len >= 2 && strncmp(name, "password", len < 8 ? len : 8) == 0) ||
	       (len >= 4 && strncmp(name, "pass", 4) == 0) ||
	       (len >= 2 && strncmp(name, "pw", 2) == 0);
}

/* "did you mean" for an unknown long option, the candidates for an
 * ambiguous one, else a pointer to --help. */
static void hint_long(struct error *err, const char *name, size_t len, int match)
{
	const char *names[N_LONG], *near;
	char word[64], list[256] = "";
	size_t n = 0, o = 0;

	for (int i = 0; i < N_LONG; i++)
		if (long_name(i) && strcmp(long_name(i), "program-name") != 0 &&
		    strcmp(long_name(i), "HANG") != 0)
			names[n++] = long_name(i);
	snprintf(word, sizeof word, "%.*s", (int)(len < 63 ? len : 63), name);
	if (match == -2) {
		for (size_t i = 0; i < n && o + 1 < sizeof list; i++)
			if (strncmp(names[i], name, len) == 0)
				o += (size_t)snprintf(list + o, sizeof list - o, "%s--%s",
						      o ? ", " : "", names[i]);
		err_hint(err, "one of %s", list);
		return;
	}
	near = suggest_nearest(word, names, n);
	if (near)
		err_hint(err, "did you mean --%s?", near);
	else
		err_hint(err, "see envoi --help");
}

static int bad_long(const char *name, size_t len, int match, bool has_value, struct error *err)
{
	char cut[64], shown[160];

	/* The value is never shown: it may be the secret itself. */
	snprintf(cut, sizeof cut, "--%.*s%s", (int)(len < 40 ? len : 40), name,
		 has_value ? "=..." : "");
	parse_show(cut, shown, sizeof shown);
	if (names_password(name, len)) {
		err_set(err, ERR_USAGE, "%s: envoi takes no password on the command line, "
			"where other users can read it", shown);
		err_hint(err, "use --password-file, --password-command, ENVOI_PASSWORD or the "
			 "password key of the configuration file");
		return -1;
	}
	err_set(err, ERR_USAGE, "%s option %s", match == -2 ? "ambiguous" : "unknown", shown);
	hint_long(err, name, len, match);
	return -1;
}

static int check_long(bool *json_seen, const char *name, int *i, int argc,
		      struct error *err)
{
	size_t len = strcspn(name, "=");
	bool has_value = name[len] == '=';
	int m = long_match(name, len);

	if (m < 0)
		return bad_long(name, len, m, has_value, err);
	if (m == O_JSON)
		*json_seen = true;
	if (long_arg(m) == 0 && has_value)
		return err_set(err, ERR_USAGE, "--%s takes no value", long_name(m));
	if (long_arg(m) == 1 && !has_value && ++*i >= argc)
		return err_set(err, ERR_USAGE, "--%s needs a value", long_name(m));
	return 0;
}

/* 1: the short option takes a value, 0: it does not, -1: no such option. */
static int short_arg(char key)
{
	if (key == '?' || key == 'V')
		return 0;
	for (int id = 0; id < O_COUNT; id++)
		if (opt_table[id].key == key)
			return opt_table[id].arg != NULL;
	return -1;
}

static int check_short(const char *p, int *i, int argc, struct error *err)
{
	for (; *p; p++) {
		int arg = short_arg(*p);
		unsigned char k = (unsigned char)*p;

		if (arg < 0 && k > 0x20 && k < 0x7f)
			return err_set(err, ERR_USAGE, "unknown option -%c", *p);
		if (arg < 0)
			return err_set(err, ERR_USAGE, "unknown option -\\x%02x", k);
		/* The rest of the word, else the next word, is its value. */
		if (arg == 1 && !p[1] && ++*i >= argc)
			return err_set(err, ERR_USAGE, "-%c needs a value", *p);
		if (arg == 1)
			return 0;
	}
	return 0;
}

/* Checks every option word of argv; the first problem is reported, but
 * the scan goes on so that a --json further on is still seen. */
int opt_check_argv(int argc, char **argv, bool *json_seen, struct error *first)
{
	bool posix = getenv("POSIXLY_CORRECT") != NULL;
	struct error later;
	int rc = 0;

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i];
		struct error *err = rc ? &later : first;

		if (a[0] != '-' || !a[1]) {
			if (posix)
				break; /* getopt takes the rest as arguments */
			continue;
		}
		if ((a[1] == '-' ? check_long(json_seen, a + 2, &i, argc, err) : check_short(a + 1, &i, argc, err)) < 0)
			rc = -1;
	}
	return rc;
}

void opt_env_name(const char *opt, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "ENVOI_%s", opt);

	for (size_t i = 6; i < n && i < size; i++)
		buf[i] = buf[i] == '-' ? '_' : (char)toupper((unsigned char)buf[i]);
}

/* Keys a user of another tool writes by habit (msmtp: host,
 * passwordeval), checked before the nearest spelling. */
static const char *const habits[][2] = {
	{"host", "server"}, {"passwordeval", "password-command"}, {"sender", "from"},
	{"starttls", "tls"}, {"ssl", "tls"}, {"pass", "password-command"},
};

/* The known name nearest to word, among the keys of the configuration
 * file and the environment (prefix "ENVOI_" already removed, lower case). */
const char *opt_nearest_key(const char *word, bool env)
{
	const char *names[O_COUNT + 2] = {"config", "account"};
	size_t n = 2;

	for (size_t i = 0; i < sizeof habits / sizeof *habits; i++)
		if (strcmp(word, habits[i][0]) == 0)
			return habits[i][1];
	for (int id = 0; id < O_COUNT; id++)
		if (!(opt_table[id].flags & OPT_NOCONF))
			names[n++] = opt_table[id].name;
	return env ? suggest_nearest(word, names, n) : suggest_nearest(word, names + 2, n - 2);
}

static bool known_env(const char *word)
{
	if (strcmp(word, "config") == 0 || strcmp(word, "account") == 0)
		return true;
	for (int id = 0; id < O_COUNT; id++)
		if (!(opt_table[id].flags & OPT_NOCONF) && strcmp(opt_table[id].name, word) == 0)
			return true;
	return false;
}

/* An ENVOI_ variable envoi does not know is most likely a typo that
 * would otherwise be ignored without a word. The value is never shown:
 * it may be a secret. */
void opt_warn_unknown_env(void)
{
	extern char **environ;

	for (char **e = environ; e && *e; e++) {
		size_t len = strcspn(*e, "=");
		char word[64], near_env[64];
		const char *near;

		if (strncmp(*e, "ENVOI_", 6) != 0 || len - 6 >= sizeof word ||
		    strspn(*e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") < len)
			continue;
		for (size_t i = 6; i < len; i++)
			word[i - 6] = (*e)[i] == '_' ? '-' : (char)tolower((unsigned char)(*e)[i]);
		word[len - 6] = '\0';
		if (known_env(word))
			continue;
		near = opt_nearest_key(word, true);
		opt_env_name(near ? near : "", near_env, sizeof near_env);
		fprintf(stderr, "envoi: warning: unknown variable %.*s ignored%s%s%s\n", (int)len, *e,
			near ? " (did you mean " : "", near ? near_env : "", near ? "?)" : "");
	}
}
