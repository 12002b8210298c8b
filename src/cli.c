/* cli.c - options, environment and configuration file, merged.
 *
 * Values are first collected per option with the level they came from
 * (defaults < account < environment < command line); a value from a
 * higher level replaces everything from lower levels, values from the
 * same level accumulate for repeatable options. Only then are they
 * checked and turned into the message and session, so every check is
 * written once whatever the source.
 */
#include "cli.h"

#include <argp.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "parse.h"
#include "pickup.h"
#include "queue.h"
#include "suggest.h"
#include "version.h"

enum kind { K_STR, K_LIST, K_FLAG };
enum level { L_DEFAULTS, L_ACCOUNT, L_ENV, L_CMDLINE };
enum { NOCONF = 1, NOOPT = 2 };

enum opt_id {
	O_FROM, O_TO, O_CC, O_BCC, O_REPLY_TO, O_SUBJECT, O_BODY, O_BODY_FILE, O_HTML,
	O_HTML_FILE, O_ATTACH, O_PRIORITY, O_HEADER, O_INLINE, O_READ_RECEIPT, O_MESSAGE_FILE,
	O_SERVER, O_PORT, O_TLS, O_USER, O_PASSWORD_FILE, O_PASSWORD_COMMAND, O_AUTH,
	O_CA_FILE, O_FINGERPRINT, O_INSECURE, O_CLIENT_CERT, O_CLIENT_KEY, O_HELO, O_TIMEOUT,
	O_IPV4, O_IPV6, O_PROXY, O_DSN_NOTIFY, O_DSN_RETURN, O_RETRY, O_PROBE, O_ACCOUNT,
	O_CONFIG, O_VERBOSE, O_QUIET, O_JSON, O_PICKUP_DIR, O_PICKUP_MODE, O_DRY_RUN, O_PASSWORD,
	O_QUEUE, O_FLUSH, O_QUEUE_LIST, O_QUEUE_DIR, O_QUEUE_LIFETIME, O_LOG, O_ALIASES, O_DOMAIN,
	O_COUNT
};

struct opt {
	const char *name; /* long option, config key, ENVOI_<NAME> */
	int key;          /* short option, 0 when none */
	const char *arg;  /* argument name, NULL for a switch */
	enum kind kind;
	int group;
	unsigned flags;
	const char *doc;
};

static const struct opt opts[O_COUNT] = {
	[O_FROM] = {"from", 'f', "ADDR", K_STR, 1, 0, "Sender (From header and MAIL FROM)"},
	[O_TO] = {"to", 't', "ADDR", K_LIST, 1, 0, "To recipient (repeatable, comma lists)"},
	[O_CC] = {"cc", 'c', "ADDR", K_LIST, 1, 0, "Cc recipient"},
	[O_BCC] = {"bcc", 'b', "ADDR", K_LIST, 1, 0, "Bcc recipient (envelope only, never in a header)"},
	[O_REPLY_TO] = {"reply-to", 'r', "ADDR", K_LIST, 1, 0, "Reply-To address"},
	[O_SUBJECT] = {"subject", 's', "TEXT", K_STR, 1, 0, "Subject (UTF-8 allowed)"},
	[O_BODY] = {"body", 'm', "TEXT", K_STR, 1, 0, "Plain-text body"},
	[O_BODY_FILE] = {"body-file", 0, "FILE", K_STR, 1, 0, "Plain-text body from FILE ('-' for standard input)"},
	[O_HTML] = {"html", 0, "TEXT", K_STR, 1, 0, "HTML body (with a text body: multipart/alternative)"},
	[O_HTML_FILE] = {"html-file", 0, "FILE", K_STR, 1, 0, "HTML body from FILE ('-' for standard input)"},
	[O_ATTACH] = {"attach", 'a', "FILE", K_LIST, 1, 0, "Attach FILE (repeatable)"},
	[O_PRIORITY] = {"priority", 'p', "LEVEL", K_STR, 1, 0, "low, normal (default), high or urgent"},
	[O_HEADER] = {"header", 'H', "'NAME: VALUE'", K_LIST, 1, 0, "Extra header (repeatable)"},
	[O_INLINE] = {"inline", 0, "FILE", K_LIST, 1, 0, "Image for the HTML body, referenced as cid:FILENAME"},
	[O_READ_RECEIPT] = {"read-receipt", 0, NULL, K_FLAG, 1, 0, "Ask for a read receipt"},
	[O_MESSAGE_FILE] = {"message-file", 0, "FILE", K_STR, 1, NOCONF, "Send this ready RFC 5322 message ('-' for standard input)"},
	[O_SERVER] = {"server", 'S', "HOST[:PORT]", K_STR, 2, 0, "SMTP server; also smtp://HOST[:PORT], smtps://HOST[:PORT]"},
	[O_PORT] = {"port", 'P', "N", K_STR, 2, 0, "Port (default 587, or 465 for implicit TLS)"},
	[O_TLS] = {"tls", 0, "MODE", K_STR, 2, 0, "auto (default), implicit, starttls or none"},
	[O_USER] = {"user", 'u', "NAME", K_STR, 2, 0, "SASL user name (AUTH is then required)"},
	[O_PASSWORD_FILE] = {"password-file", 0, "FILE", K_STR, 2, 0, "Read the password from the first line of FILE"},
	[O_PASSWORD_COMMAND] = {"password-command", 0, "CMD", K_STR, 2, 0, "Run CMD and use what it prints as the password"},
	[O_AUTH] = {"auth", 0, "MECH", K_STR, 2, 0, "Force a SASL mechanism (default: the strongest in common)"},
	[O_CA_FILE] = {"ca-file", 0, "FILE", K_STR, 2, 0, "Trust the CA certificates in FILE instead of the system store"},
	[O_FINGERPRINT] = {"fingerprint", 0, "SHA256", K_STR, 2, 0, "Pin the server certificate by its SHA-256 fingerprint"},
	[O_INSECURE] = {"insecure", 0, NULL, K_FLAG, 2, 0, "Do not verify the server certificate (dangerous)"},
	[O_CLIENT_CERT] = {"client-cert", 0, "FILE", K_STR, 2, 0, "TLS client certificate (PEM)"},
	[O_CLIENT_KEY] = {"client-key", 0, "FILE", K_STR, 2, 0, "Key of the client certificate (PEM)"},
	[O_HELO] = {"helo", 0, "NAME", K_STR, 2, 0, "EHLO name (default: this host's name)"},
	[O_TIMEOUT] = {"timeout", 0, "SECONDS", K_STR, 2, 0, "Per-command and connect timeout (default 60)"},
	[O_IPV4] = {"ipv4", '4', NULL, K_FLAG, 2, 0, "Use IPv4 only"},
	[O_IPV6] = {"ipv6", '6', NULL, K_FLAG, 2, 0, "Use IPv6 only"},
	[O_PROXY] = {"proxy", 0, "socks5://HOST:PORT", K_STR, 2, 0, "Connect through a SOCKS5 proxy"},
	[O_DSN_NOTIFY] = {"dsn-notify", 0, "LIST", K_STR, 2, 0, "Delivery notifications: never, or success,failure,delay"},
	[O_DSN_RETURN] = {"dsn-return", 0, "full|headers", K_STR, 2, 0, "What a delivery notification returns"},
	[O_RETRY] = {"retry", 0, "N", K_STR, 2, 0, "Retry a temporary failure up to N times (default 0)"},
	[O_PROBE] = {"probe", 0, NULL, K_FLAG, 2, NOCONF, "Connect, log in, show what the server offers, send nothing"},
	[O_ACCOUNT] = {"account", 0, "NAME", K_STR, 2, NOCONF, "Use [account NAME] of the configuration file"},
	[O_CONFIG] = {"config", 0, "FILE", K_STR, 2, NOCONF, "Configuration file"},
	[O_VERBOSE] = {"verbose", 'v', NULL, K_FLAG, 3, 0, "Show the SMTP transcript (secrets redacted)"},
	[O_QUIET] = {"quiet", 'q', NULL, K_FLAG, 3, 0, "Print nothing unless it fails"},
	[O_JSON] = {"json", 0, NULL, K_FLAG, 3, 0, "Print the result as one JSON object on stdout"},
	[O_PICKUP_DIR] = {"pickup-dir", 0, "DIR", K_STR, 3, 0, "Write the message as a new .eml file into DIR instead of sending"},
	[O_PICKUP_MODE] = {"pickup-mode", 0, "MODE", K_STR, 3, 0, "Octal mode of the --pickup-dir file (default 600)"},
	[O_DRY_RUN] = {"dry-run", 0, NULL, K_FLAG, 3, NOCONF, "Write the composed message to stdout; connect to nothing"},
	[O_PASSWORD] = {"password", 0, NULL, K_STR, 2, NOOPT, NULL},
	[O_QUEUE] = {"queue", 0, NULL, K_FLAG, 4, 0, "Queue a message the server could not take for now (68, 69, 75) and exit 0"},
	[O_FLUSH] = {"flush", 0, NULL, K_FLAG, 4, NOCONF, "Send every queued message"},
	[O_QUEUE_LIST] = {"queue-list", 0, NULL, K_FLAG, 4, NOCONF, "List the queue: id, age, size, sender, recipients, last error"},
	[O_QUEUE_DIR] = {"queue-dir", 0, "DIR", K_STR, 4, 0, "Queue directory (default ~/.local/state/envoi/queue)"},
	[O_QUEUE_LIFETIME] = {"queue-lifetime", 0, "TIME", K_STR, 4, 0, "Give up on a queued message after TIME (s, m, h, d; default 5d)"},
	[O_LOG] = {"log", 0, "FILE|syslog", K_STR, 4, 0, "Log one line per outcome to FILE or to syslog"},
	/* sendmail mode's keys: local names completed, aliases looked up */
	[O_ALIASES] = {"aliases", 0, NULL, K_STR, 4, NOOPT, NULL},
	[O_DOMAIN] = {"domain", 0, NULL, K_STR, 4, NOOPT, NULL},
};

static const char *const group_titles[] = {NULL, "Message:", "Session:", "Output:", "Queue and log:"};

struct value {
	const char *text; /* NULL: a bare config flag */
	char where[160];  /* "--port", "ENVOI_PORT", "FILE line 3" */
};

struct slot {
	int level; /* -1 while unset */
	struct value *v;
	size_t n;
};

struct collect {
	struct slot slots[O_COUNT];
	struct error *err;
	bool json_seen; /* --json on the command line, even if it failed */
};

static int slot_add(struct collect *c, enum opt_id id, int level, const char *text,
		    const char *where)
{
	struct slot *s = &c->slots[id];
	struct value *v;

	/* The command line is collected first (it names the config file);
	 * values from lower levels arriving later must not touch it. */
	if (level < s->level)
		return 0;
	if (level > s->level) {
		s->level = level;
		s->n = 0;
	}
	if (opts[id].kind != K_LIST)
		s->n = 0;
	v = realloc(s->v, (s->n + 1) * sizeof *v);
	if (!v)
		return err_set(c->err, ERR_OSERR, "out of memory");
	s->v = v;
	v[s->n].text = text;
	snprintf(v[s->n].where, sizeof v[s->n].where, "%s", where);
	s->n++;
	return 0;
}

static const struct value *last(const struct collect *c, enum opt_id id)
{
	const struct slot *s = &c->slots[id];

	return s->n ? &s->v[s->n - 1] : NULL;
}

static bool from_cmdline(const struct collect *c, enum opt_id id)
{
	return c->slots[id].level == L_CMDLINE;
}

/* ---- argp ---------------------------------------------------------- */

static int argp_key(enum opt_id id)
{
	return opts[id].key ? opts[id].key : 256 + (int)id;
}

static error_t on_option(int key, char *arg, struct argp_state *state)
{
	struct collect *c = state->input;
	char where[64];

	if (key == ARGP_KEY_ARG)
		return slot_add(c, O_TO, L_CMDLINE, arg, "a recipient argument") ? EINVAL : 0;
	for (int id = 0; id < O_COUNT; id++) {
		if (opts[id].flags & NOOPT || argp_key((enum opt_id)id) != key)
			continue;
		snprintf(where, sizeof where, "--%s", opts[id].name);
		return slot_add(c, (enum opt_id)id, L_CMDLINE, arg, where) ? EINVAL : 0;
	}
	return ARGP_ERR_UNKNOWN;
}

static struct argp_option *argp_options(void)
{
	struct argp_option *v = calloc(O_COUNT + 5, sizeof *v);
	size_t n = 0;

	if (!v)
		return NULL;
	for (int g = 1; g <= 4; g++) {
		v[n].doc = group_titles[g];
		v[n].group = g;
		n++;
		for (int id = 0; id < O_COUNT; id++) {
			if (opts[id].group != g || opts[id].flags & NOOPT)
				continue;
			v[n].name = opts[id].name;
			v[n].key = argp_key((enum opt_id)id);
			v[n].arg = opts[id].arg;
			v[n].doc = opts[id].doc;
			v[n].group = g;
			n++;
		}
	}
	return v;
}

const char *argp_program_version = "envoi " ENVOI_VERSION;
const char *argp_program_bug_address = "<https://github.com/envoi-mail/envoi/issues>";

static const char doc[] =
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
	return opts[i].flags & NOOPT ? NULL : opts[i].name;
}

static int long_arg(int i)
{
	return i >= O_COUNT ? argp_longs[i - O_COUNT].arg : opts[i].arg != NULL;
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

static int check_long(struct collect *c, const char *name, int *i, int argc,
		      struct error *err)
{
	size_t len = strcspn(name, "=");
	bool has_value = name[len] == '=';
	int m = long_match(name, len);

	if (m < 0)
		return bad_long(name, len, m, has_value, err);
	if (m == O_JSON)
		c->json_seen = true;
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
		if (opts[id].key == key)
			return opts[id].arg != NULL;
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
static int check_argv(struct collect *c, int argc, char **argv)
{
	bool posix = getenv("POSIXLY_CORRECT") != NULL;
	struct error later;
	int rc = 0;

	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i];
		struct error *err = rc ? &later : c->err;

		if (a[0] != '-' || !a[1]) {
			if (posix)
				break; /* getopt takes the rest as arguments */
			continue;
		}
		if ((a[1] == '-' ? check_long(c, a + 2, &i, argc, err) : check_short(a + 1, &i, argc, err)) < 0)
			rc = -1;
	}
	return rc;
}

static int parse_argv(struct collect *c, int argc, char **argv)
{
	struct argp_option *options = argp_options();
	struct argp argp = {options, on_option, "[RECIPIENT...]", doc, NULL, NULL, NULL};
	int idx, rc;

	if (!options)
		return err_set(c->err, ERR_OSERR, "out of memory");
	if (check_argv(c, argc, argv) < 0) {
		free(options);
		return -1;
	}
	argp_err_exit_status = 64;
	rc = argp_parse(&argp, argc, argv, 0, &idx, c);
	free(options);
	if (rc && c->err->cls == ERR_OK)
		return err_set(c->err, ERR_USAGE, "cannot parse the command line");
	return rc ? -1 : 0;
}

/* ---- environment and configuration file ---------------------------- */

static void env_name(const char *opt, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "ENVOI_%s", opt);

	for (size_t i = 6; i < n && i < size; i++)
		buf[i] = buf[i] == '-' ? '_' : (char)toupper((unsigned char)buf[i]);
}

static int collect_env(struct collect *c)
{
	char name[64];

	for (int id = 0; id < O_COUNT; id++) {
		const char *v;

		if (opts[id].flags & NOCONF)
			continue;
		env_name(opts[id].name, name, sizeof name);
		v = getenv(name);
		if (v && slot_add(c, (enum opt_id)id, L_ENV, v, name) < 0)
			return -1;
	}
	return 0;
}

/* Keys a user of another tool writes by habit (msmtp: host,
 * passwordeval), checked before the nearest spelling. */
static const char *const habits[][2] = {
	{"host", "server"}, {"passwordeval", "password-command"}, {"sender", "from"},
	{"starttls", "tls"}, {"ssl", "tls"}, {"pass", "password-command"},
};

/* The known name nearest to word, among the keys of the configuration
 * file and the environment (prefix "ENVOI_" already removed, lower case). */
static const char *nearest_key(const char *word, bool env)
{
	const char *names[O_COUNT + 2] = {"config", "account"};
	size_t n = 2;

	for (size_t i = 0; i < sizeof habits / sizeof *habits; i++)
		if (strcmp(word, habits[i][0]) == 0)
			return habits[i][1];
	for (int id = 0; id < O_COUNT; id++)
		if (!(opts[id].flags & NOCONF))
			names[n++] = opts[id].name;
	return env ? suggest_nearest(word, names, n) : suggest_nearest(word, names + 2, n - 2);
}

static int unknown_key(struct error *err, const char *where, const char *key)
{
	const char *near = nearest_key(key, false);

	err_set(err, ERR_CONFIG, "%s: unknown key \"%s\"", where, key);
	if (near)
		err_hint(err, "did you mean \"%s\"?", near);
	return -1;
}

static int collect_entries(struct collect *c, const struct cfg *cfg,
			   const struct cfg_entry *e, size_t n, int level)
{
	char where[160];

	for (size_t i = 0; i < n; i++) {
		int id;

		snprintf(where, sizeof where, "%s:%u", cfg->path, e[i].line);
		for (id = 0; id < O_COUNT; id++)
			if (!(opts[id].flags & NOCONF) && strcmp(opts[id].name, e[i].key) == 0)
				break;
		if (id == O_COUNT)
			return unknown_key(c->err, where, e[i].key);
		if (!e[i].value && opts[id].kind != K_FLAG)
			return err_set(c->err, ERR_CONFIG, "%s: key \"%s\" needs a value", where,
				       e[i].key);
		if (slot_add(c, (enum opt_id)id, level, e[i].value, where) < 0)
			return -1;
	}
	return 0;
}

/* The first configuration file that applies: --config, ENVOI_CONFIG
 * (both must exist), else the per-user file, else the system file (each
 * only when it exists). NULL when there is none. */
static char *config_path(const struct collect *c, bool *required)
{
	const struct value *v = last(c, O_CONFIG);
	const char *env = getenv("ENVOI_CONFIG");

	*required = v || (env && *env);
	return cli_config_file(v ? v->text : NULL);
}

char *cli_config_file(const char *given)
{
	const char *env = getenv("ENVOI_CONFIG"), *home = getenv("HOME");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	char buf[4096];

	if (given)
		return strdup(given);
	if (env && *env)
		return strdup(env);
	if (xdg && *xdg)
		snprintf(buf, sizeof buf, "%s/envoi/config", xdg);
	else if (home && *home)
		snprintf(buf, sizeof buf, "%s/.config/envoi/config", home);
	else
		buf[0] = '\0';
	if (buf[0] && access(buf, F_OK) == 0)
		return strdup(buf);
	if (access("/etc/envoi.conf", F_OK) == 0)
		return strdup("/etc/envoi.conf");
	return NULL;
}

/* An unknown --account: the accounts the file does have are the likely
 * fix, so the line lists them. */
static int no_such_account(struct error *err, const char *account, const char *path)
{
	char **names = cfg_account_names(path), list[256] = "", shown[160];
	size_t n = 0;

	for (char **p = names; p && *p && n + 1 < sizeof list; p++)
		n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", *p);
	for (char **p = names; p && *p; p++)
		free(*p);
	free(names);
	err_set(err, ERR_CONFIG, "no account %s in %s", parse_show(account, shown, sizeof shown),
		path);
	err_hint(err, n ? "its accounts: %s" : "it has no [account NAME] section", list);
	return -1;
}

/* The collected values point into cfg: the caller frees it last. */
static int collect_config(struct collect *c, struct options *o, struct cfg *cfg)
{
	const struct value *acc = last(c, O_ACCOUNT);
	const char *account = acc ? acc->text : getenv("ENVOI_ACCOUNT");
	char shown[160];
	bool required;

	if (account && !*account)
		account = NULL;
	if (account && !(o->account = strdup(account)))
		return err_set(c->err, ERR_OSERR, "out of memory");
	o->config_path = config_path(c, &required);
	if (!o->config_path) {
		if (account)
			return err_set(c->err, ERR_CONFIG,
				       "account %s asked for, but there is no configuration file",
				       parse_show(account, shown, sizeof shown));
		return 0;
	}
	if (!required && access(o->config_path, F_OK) != 0)
		return 0;
	if (cfg_load(cfg, o->config_path, account, c->err) < 0)
		return -1;
	if (account && !cfg->has_account)
		return no_such_account(c->err, account, o->config_path);
	if (collect_entries(c, cfg, cfg->defaults, cfg->ndefaults, L_DEFAULTS) < 0)
		return -1;
	return collect_entries(c, cfg, cfg->account, cfg->naccount, L_ACCOUNT);
}

/* ---- from collected values to message and session ------------------ */

/* Errors in the configuration file all read "FILE:LINE: what". */
static void config_located(struct error *e, const char *where)
{
	char text[sizeof e->text];
	int n = snprintf(text, sizeof text, "%s: ", where);

	if (n > 0 && (size_t)n < sizeof text)
		snprintf(text + n, sizeof text - (size_t)n, "%.*s", (int)(sizeof text - (size_t)n - 1),
			 e->text);
	memcpy(e->text, text, sizeof text);
}

/* A bad value that did not come from the command line is a fault of the
 * configuration (exit 78), and the message says where it was set. */
static int blame(const struct collect *c, enum opt_id id, const struct value *v)
{
	struct error *e = c->err;
	size_t n;

	if (!v || c->slots[id].level == L_CMDLINE)
		return -1;
	if (e->cls == ERR_USAGE)
		e->cls = ERR_CONFIG;
	if (c->slots[id].level == L_ENV) {
		n = strlen(e->text);
		snprintf(e->text + n, sizeof e->text - n, " (set in %s)", v->where);
	} else {
		config_located(e, v->where);
	}
	return -1;
}

static int take_str(const struct collect *c, enum opt_id id, char **out)
{
	const struct value *v = last(c, id);

	if (!v)
		return 0;
	free(*out);
	*out = strdup(v->text);
	return *out ? 0 : err_set(c->err, ERR_OSERR, "out of memory");
}

static int take_flag(const struct collect *c, enum opt_id id, bool *out)
{
	const struct value *v = last(c, id);

	*out = false;
	if (v && parse_bool(v->text, out, c->err) < 0)
		return blame(c, id, v);
	return 0;
}

static int take_addresses(const struct collect *c, enum opt_id id, struct addr_list *l)
{
	const struct slot *s = &c->slots[id];

	for (size_t i = 0; i < s->n; i++)
		if (addr_parse_list(l, s->v[i].text, c->err) < 0)
			return blame(c, id, &s->v[i]);
	return 0;
}

static int take_files(const struct collect *c, enum opt_id id, struct file_part **out,
		      size_t *count)
{
	const struct slot *s = &c->slots[id];

	if (!s->n)
		return 0;
	*out = calloc(s->n, sizeof **out);
	if (!*out)
		return err_set(c->err, ERR_OSERR, "out of memory");
	for (size_t i = 0; i < s->n; i++) {
		const char *path = s->v[i].text, *base = strrchr(path, '/');

		base = base ? base + 1 : path;
		if (!*base) {
			err_set(c->err, ERR_USAGE, "--%s needs a file, not the directory \"%s\"",
				opts[id].name, path);
			return blame(c, id, &s->v[i]);
		}
		if (parse_no_breaks(base, strlen(base), "file name", c->err) < 0)
			return blame(c, id, &s->v[i]);
		(*out)[i].fd = -1;
		(*out)[i].path = strdup(path);
		(*out)[i].name = strdup(base);
		(*count)++;
		if (!(*out)[i].path || !(*out)[i].name)
			return err_set(c->err, ERR_OSERR, "out of memory");
	}
	return 0;
}

static int take_headers(const struct collect *c, struct message *m)
{
	const struct slot *s = &c->slots[O_HEADER];

	if (!s->n)
		return 0;
	m->headers = calloc(s->n, sizeof *m->headers);
	if (!m->headers)
		return err_set(c->err, ERR_OSERR, "out of memory");
	for (size_t i = 0; i < s->n; i++) {
		struct header *h = &m->headers[i];

		if (parse_header(s->v[i].text, &h->name, &h->value, c->err) < 0)
			return blame(c, O_HEADER, &s->v[i]);
		m->nheaders++;
		if (strcasecmp(h->name, "Bcc") == 0 || strcasecmp(h->name, "MIME-Version") == 0 ||
		    strncasecmp(h->name, "Content-", 8) == 0)
			return err_set(c->err, ERR_DATA,
				       "header \"%s\" cannot be set with --header: %s", h->name,
				       strcasecmp(h->name, "Bcc") == 0 ? "use --bcc" :
				       "envoi writes the MIME structure itself");
	}
	return 0;
}

static int take_priority(const struct collect *c, enum priority *p)
{
	static const char *const names[] = {"normal", "low", "high", "urgent"};
	const struct value *v = last(c, O_PRIORITY);

	if (!v)
		return 0;
	for (unsigned i = 0; i < 4; i++)
		if (strcasecmp(v->text, names[i]) == 0) {
			*p = (enum priority)i;
			return 0;
		}
	/* Not shown: "-p SECRET" is how other tools take a password. */
	err_set(c->err, ERR_USAGE, "invalid priority (the value is not shown): use low, normal, "
		"high or urgent");
	return blame(c, O_PRIORITY, v);
}

static int take_body(const struct collect *c, enum opt_id text, enum opt_id file,
		     struct body *b)
{
	const struct value *t = last(c, text), *f = last(c, file);

	if (t && f && c->slots[text].level == c->slots[file].level)
		return err_set(c->err, ERR_USAGE, "give --%s or --%s, not both", opts[text].name,
			       opts[file].name);
	if (t && f) {
		if (c->slots[text].level > c->slots[file].level)
			f = NULL;
		else
			t = NULL;
	}
	if ((t && !(b->text = strdup(t->text))) || (f && !(b->path = strdup(f->text))))
		return err_set(c->err, ERR_OSERR, "out of memory");
	b->present = t || f;
	return 0;
}

static int build_message(const struct collect *c, struct options *o)
{
	struct message *m = &o->msg;
	const struct value *v;

	if ((v = last(c, O_FROM))) {
		if (addr_parse(&m->from, v->text, c->err) < 0)
			return blame(c, O_FROM, v);
		m->have_from = true;
	}
	if (take_addresses(c, O_TO, &m->to) || take_addresses(c, O_CC, &m->cc) ||
	    take_addresses(c, O_BCC, &m->bcc) || take_addresses(c, O_REPLY_TO, &m->reply_to))
		return -1;
	if ((v = last(c, O_SUBJECT))) {
		if (parse_no_breaks(v->text, strlen(v->text), "subject", c->err) < 0)
			return blame(c, O_SUBJECT, v);
		if (take_str(c, O_SUBJECT, &m->subject) < 0)
			return -1;
	}
	if (take_body(c, O_BODY, O_BODY_FILE, &m->text) ||
	    take_body(c, O_HTML, O_HTML_FILE, &m->html) ||
	    take_files(c, O_ATTACH, &m->attach, &m->nattach) ||
	    take_files(c, O_INLINE, &m->inlines, &m->ninline) || take_headers(c, m) ||
	    take_priority(c, &m->priority) || take_flag(c, O_READ_RECEIPT, &m->read_receipt) ||
	    take_str(c, O_MESSAGE_FILE, &m->message_file))
		return -1;
	return 0;
}

/* Port and TLS mode can come from --server (scheme, :PORT) and from
 * --port / --tls; the value set at the higher level wins, --port and
 * --tls on a tie. */
static int take_endpoint(const struct collect *c, struct session *s)
{
	const struct value *sv = last(c, O_SERVER), *pv = last(c, O_PORT), *tv = last(c, O_TLS);
	enum tls_mode scheme = TLS_AUTO, mode = TLS_AUTO;
	unsigned sport = 0, port = 0;

	if (sv && parse_server(sv->text, &s->host, &sport, &scheme, c->err) < 0)
		return blame(c, O_SERVER, sv);
	if (pv && parse_port(pv->text, &port, c->err) < 0)
		return blame(c, O_PORT, pv);
	if (tv && parse_tls_mode(tv->text, &mode, c->err) < 0)
		return blame(c, O_TLS, tv);
	if (sport && (!pv || c->slots[O_SERVER].level > c->slots[O_PORT].level))
		port = sport;
	s->tls = mode;
	if (scheme == TLS_IMPLICIT && (!tv || c->slots[O_SERVER].level > c->slots[O_TLS].level))
		s->tls = TLS_IMPLICIT;
	else if (scheme == TLS_IMPLICIT && mode != TLS_IMPLICIT && mode != TLS_AUTO &&
		 c->slots[O_SERVER].level == c->slots[O_TLS].level)
		return err_set(c->err, ERR_USAGE, "smtps:// means implicit TLS, but --tls=%s was given",
			       tv->text);
	s->tls_from_scheme = scheme == TLS_IMPLICIT && s->tls == TLS_IMPLICIT;
	s->port = port ? port : s->tls == TLS_IMPLICIT ? 465 : 587;
	return 0;
}

/* Of the password sources set in options, environment or configuration,
 * the one from the highest level is used; the others are dropped. */
static int take_password_source(const struct collect *c, struct session *s)
{
	static const enum opt_id ids[] = {O_PASSWORD_FILE, O_PASSWORD_COMMAND, O_PASSWORD};
	int best = -1;

	for (int i = 0; i < 3; i++)
		if (last(c, ids[i]) && (best < 0 || c->slots[ids[i]].level > c->slots[ids[best]].level))
			best = i;
	if (best < 0)
		return 0;
	s->password_from_env = best == 2 && c->slots[O_PASSWORD].level == L_ENV;
	return take_str(c, ids[best], best == 0 ? &s->password_file :
			best == 1 ? &s->password_command : &s->password);
}

static int take_checked(const struct collect *c, enum opt_id id, char **out,
			int (*check)(const char *, struct error *))
{
	const struct value *v = last(c, id);

	if (v && check(v->text, c->err) < 0)
		return blame(c, id, v);
	return take_str(c, id, out);
}

static int check_user(const char *s, struct error *err)
{
	if (parse_no_breaks(s, strlen(s), "user name", err) < 0 || !*s) {
		if (!*s)
			err_set(err, ERR_USAGE, "the user name is empty");
		err->cls = ERR_USAGE;
		return -1;
	}
	return 0;
}

static int check_mech(const char *s, struct error *err)
{
	char show[80];
	size_t n = strlen(s);

	if (n == 0 || n > 20 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != n)
		return err_set(err, ERR_USAGE, "invalid SASL mechanism %s",
			       parse_show(s, show, sizeof show));
	return 0;
}

static int take_numbers(const struct collect *c, struct session *s)
{
	const struct value *v;

	s->timeout = 60;
	if ((v = last(c, O_TIMEOUT)) &&
	    parse_uint(v->text, 1, 86400, "--timeout", &s->timeout, c->err) < 0)
		return blame(c, O_TIMEOUT, v);
	if ((v = last(c, O_RETRY)) && parse_uint(v->text, 0, 100, "--retry", &s->retry, c->err) < 0)
		return blame(c, O_RETRY, v);
	if ((v = last(c, O_FINGERPRINT))) {
		if (parse_fingerprint(v->text, s->fingerprint, c->err) < 0)
			return blame(c, O_FINGERPRINT, v);
		s->have_fingerprint = true;
	}
	if ((v = last(c, O_PROXY)) && parse_proxy(v->text, &s->proxy_host, &s->proxy_port, c->err) < 0)
		return blame(c, O_PROXY, v);
	if ((v = last(c, O_DSN_NOTIFY)) && parse_dsn_notify(v->text, &s->dsn_notify, c->err) < 0)
		return blame(c, O_DSN_NOTIFY, v);
	if ((v = last(c, O_DSN_RETURN)) && parse_dsn_return(v->text, &s->dsn_ret, c->err) < 0)
		return blame(c, O_DSN_RETURN, v);
	return 0;
}

/* Two switches that exclude each other: the one set at the higher level
 * wins; both at the same level is a usage error. *which: 0 none, 1 a, 2 b. */
static int take_either(const struct collect *c, enum opt_id a, enum opt_id b, int *which)
{
	bool va, vb;

	if (take_flag(c, a, &va) < 0 || take_flag(c, b, &vb) < 0)
		return -1;
	if (va && vb && c->slots[a].level == c->slots[b].level)
		return err_set(c->err, ERR_USAGE, "--%s and --%s exclude each other", opts[a].name,
			       opts[b].name);
	if (va && vb)
		*which = c->slots[a].level > c->slots[b].level ? 1 : 2;
	else
		*which = va ? 1 : vb ? 2 : 0;
	return 0;
}

/* An octal file mode without execute, setuid, setgid or sticky bits. */
static int take_pickup_mode(const struct collect *c, unsigned *mode)
{
	const struct value *v = last(c, O_PICKUP_MODE);
	char show[80], *end;
	unsigned long m;

	*mode = PICKUP_MODE_DEFAULT;
	if (!v)
		return 0;
	m = strtoul(v->text, &end, 8);
	if (!*v->text || *end || strspn(v->text, "01234567") != strlen(v->text) || (m & ~0666ul)) {
		err_set(c->err, ERR_USAGE, "invalid --pickup-mode %s: give an octal mode such as "
			"600 or 640, without execute bits", parse_show(v->text, show, sizeof show));
		return blame(c, O_PICKUP_MODE, v);
	}
	*mode = (unsigned)m;
	return 0;
}

static int take_queue(const struct collect *c, struct options *o)
{
	const struct value *v = last(c, O_QUEUE_LIFETIME);
	bool on;

	o->queue = -1;
	if (last(c, O_QUEUE)) {
		if (take_flag(c, O_QUEUE, &on) < 0)
			return -1;
		o->queue = on;
	}
	o->queue_lifetime = QUEUE_LIFETIME_DEFAULT;
	if (v && queue_parse_lifetime(v->text, &o->queue_lifetime, c->err) < 0)
		return blame(c, O_QUEUE_LIFETIME, v);
	if (take_flag(c, O_FLUSH, &o->flush) || take_flag(c, O_QUEUE_LIST, &o->queue_list) ||
	    take_str(c, O_QUEUE_DIR, &o->queue_dir) || take_str(c, O_LOG, &o->log) ||
	    take_str(c, O_ALIASES, &o->aliases) || take_str(c, O_DOMAIN, &o->domain))
		return -1;
	if (o->flush && o->queue_list)
		return err_set(c->err, ERR_USAGE, "--flush and --queue-list exclude each other");
	return 0;
}

static int build_session(const struct collect *c, struct options *o)
{
	struct session *s = &o->sess;
	int which;

	if (take_endpoint(c, s) || take_password_source(c, s) ||
	    take_checked(c, O_USER, &s->user, check_user) ||
	    take_checked(c, O_AUTH, &s->auth_mech, check_mech) ||
	    take_checked(c, O_HELO, &s->helo, parse_helo) || take_numbers(c, s) ||
	    take_str(c, O_CA_FILE, &s->ca_file) || take_str(c, O_CLIENT_CERT, &s->client_cert) ||
	    take_str(c, O_CLIENT_KEY, &s->client_key) || take_flag(c, O_INSECURE, &s->insecure) ||
	    take_flag(c, O_PROBE, &s->probe) || take_flag(c, O_JSON, &s->json) ||
	    take_flag(c, O_DRY_RUN, &o->dry_run) || take_str(c, O_PICKUP_DIR, &o->pickup_dir) ||
	    take_pickup_mode(c, &o->pickup_mode) || take_queue(c, o))
		return -1;
	for (char *p = s->auth_mech; p && *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (take_either(c, O_IPV4, O_IPV6, &which) < 0)
		return -1;
	s->family = which == 1 ? AF_INET : which == 2 ? AF_INET6 : AF_UNSPEC;
	if (take_either(c, O_VERBOSE, O_QUIET, &which) < 0)
		return -1;
	s->output = which == 1 ? OUT_VERBOSE : which == 2 ? OUT_QUIET : OUT_NORMAL;
	return 0;
}

static int check_message_file_alone(const struct collect *c)
{
	static const enum opt_id composing[] = {
		O_SUBJECT, O_BODY, O_BODY_FILE, O_HTML, O_HTML_FILE, O_ATTACH, O_INLINE,
		O_PRIORITY, O_HEADER, O_READ_RECEIPT, O_REPLY_TO};

	for (size_t i = 0; i < sizeof composing / sizeof *composing; i++)
		if (from_cmdline(c, composing[i]))
			return err_set(c->err, ERR_USAGE,
				       "--message-file sends the message as it is: --%s cannot change it",
				       opts[composing[i]].name);
	return 0;
}

static bool is_stdin(const char *path)
{
	return path && strcmp(path, "-") == 0;
}

static int check_combinations(const struct collect *c, struct options *o)
{
	struct message *m = &o->msg;
	struct session *s = &o->sess;
	int modes = o->dry_run + (o->pickup_dir != NULL) + s->probe;

	if (modes > 1)
		return err_set(c->err, ERR_USAGE, "--dry-run, --pickup-dir and --probe exclude each other");
	/* stdout carries the message then: an object after it would corrupt it. */
	if (o->dry_run && s->json)
		return err_set(c->err, ERR_USAGE, "--dry-run writes the message on standard output: "
			       "it cannot be combined with --json");
	if (m->message_file) {
		if (check_message_file_alone(c) < 0)
			return -1;
		/* Composing options from a config file do not apply to a
		 * ready message; they are ignored, not an error. */
		return 0;
	}
	if (m->ninline && !m->html.present)
		return err_set(c->err, ERR_USAGE, "--inline images need an HTML body (--html or --html-file)");
	if (is_stdin(m->text.path) + is_stdin(m->html.path) > 1)
		return err_set(c->err, ERR_USAGE, "standard input can feed only one of --body-file and --html-file");
	if (s->client_key && !s->client_cert)
		return err_set(c->err, ERR_USAGE, "--client-key needs --client-cert");
	/* At a terminal too, as mail(1) does: the user types the body. */
	if (!m->text.present && !m->html.present && !s->probe) {
		m->text.path = strdup("-");
		m->text.present = true;
		o->body_from_stdin = !isatty(STDIN_FILENO);
		o->body_typed = !o->body_from_stdin;
	}
	return 0;
}

int cli_check_envelope(const struct options *o, struct error *err)
{
	const struct message *m = &o->msg;

	if (o->sess.probe)
		return 0;
	if (!m->have_from)
		return err_set(err, ERR_USAGE, "no sender: %sgive --from ADDR (or from = ADDR in the configuration file)",
			       m->message_file ? "the message file has no From; " : "");
	if (m->to.n + m->cc.n + m->bcc.n == 0)
		return err_set(err, ERR_USAGE, m->message_file ?
			       "no recipient: give one, or a To, Cc or Bcc header in the message file" :
			       "no recipient: give at least one address (or --to, --cc, --bcc)");
	return 0;
}

/* "no server" under cron or systemd often means the configuration file
 * was not found: say where envoi looked, and why it looked nowhere else. */
static int no_server(struct error *err, const char *config_path)
{
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char user_file[4096] = "";

	if (config_path)
		return err_set(err, ERR_USAGE, "no server: give --server HOST (or server = HOST in %s)",
			       config_path);
	if (xdg && *xdg)
		snprintf(user_file, sizeof user_file, "%s/envoi/config and ", xdg);
	else if (home && *home)
		snprintf(user_file, sizeof user_file, "%s/.config/envoi/config and ", home);
	err_set(err, ERR_USAGE, "no server: give --server HOST, or server = HOST in a configuration "
		"file (none found: looked for %.200s/etc/envoi.conf)", user_file);
	if ((!home || !*home) && !(xdg && *xdg))
		err_hint(err, "HOME is unset, as under cron or systemd: give --config FILE, "
			 "or set ENVOI_CONFIG or HOME");
	return -1;
}

static int check_required(const struct collect *c, const struct options *o)
{
	/* Each queued message names its own account. */
	if (o->flush || o->queue_list)
		return 0;
	if (!o->sess.host && !o->dry_run && !o->pickup_dir)
		return no_server(c->err, o->config_path);
	/* A --message-file may bring its own sender and recipients. */
	if (o->msg.message_file)
		return 0;
	return cli_check_envelope(o, c->err);
}

/* For a parse that failed midway: whether the one JSON object is still
 * wanted. --json is known from check_argv even when argp never ran; a
 * config file or ENVOI_JSON may not have been read yet. */
static bool json_wanted(const struct collect *c)
{
	const struct value *v = last(c, O_JSON);
	const char *env = getenv("ENVOI_JSON");
	struct error ignored;
	bool on = false;

	if (c->json_seen)
		return true;
	if (v)
		parse_bool(v->text, &on, &ignored);
	else if (env)
		parse_bool(env, &on, &ignored);
	return on;
}

static bool wants_quiet(const struct collect *c)
{
	const struct value *v = last(c, O_QUIET);
	struct error scratch;
	bool quiet = false;

	return v && (!v->text || (parse_bool(v->text, &quiet, &scratch) == 0 && quiet));
}

static bool known_env(const char *word)
{
	if (strcmp(word, "config") == 0 || strcmp(word, "account") == 0)
		return true;
	for (int id = 0; id < O_COUNT; id++)
		if (!(opts[id].flags & NOCONF) && strcmp(opts[id].name, word) == 0)
			return true;
	return false;
}

/* An ENVOI_ variable envoi does not know is most likely a typo that
 * would otherwise be ignored without a word. The value is never shown:
 * it may be a secret. */
static void warn_unknown_env(void)
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
		near = nearest_key(word, true);
		env_name(near ? near : "", near_env, sizeof near_env);
		fprintf(stderr, "envoi: warning: unknown variable %.*s ignored%s%s%s\n", (int)len, *e,
			near ? " (did you mean " : "", near ? near_env : "", near ? "?)" : "");
	}
}

int cli_parse(struct options *o, int argc, char **argv, struct error *err)
{
	struct collect c = {.err = err};
	struct cfg cfg = {0};
	int rc;

	memset(o, 0, sizeof *o);
	o->msg.text.fd = o->msg.html.fd = o->msg.message_fd = -1;
	for (int i = 0; i < O_COUNT; i++)
		c.slots[i].level = -1;
	rc = parse_argv(&c, argc, argv);
	if (rc == 0)
		rc = collect_config(&c, o, &cfg);
	if (rc == 0)
		rc = collect_env(&c);
	if (rc == 0)
		rc = build_message(&c, o);
	if (rc == 0)
		rc = build_session(&c, o);
	if (rc == 0)
		rc = check_combinations(&c, o);
	if (rc == 0)
		rc = check_required(&c, o);
	if (rc < 0)
		o->sess.json = json_wanted(&c);
	/* also before a failure: "no server" may be ENVOI_SEVRER's doing */
	if (!wants_quiet(&c))
		warn_unknown_env();
	for (int i = 0; i < O_COUNT; i++)
		free(c.slots[i].v);
	cfg_free(&cfg);
	return rc;
}

void cli_free(struct options *o)
{
	struct session *s = &o->sess;

	msg_free(&o->msg);
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->host);
	free(s->user);
	free(s->password_file);
	free(s->password_command);
	free(s->auth_mech);
	free(s->ca_file);
	free(s->client_cert);
	free(s->client_key);
	free(s->helo);
	free(s->proxy_host);
	free(o->pickup_dir);
	free(o->config_path);
	free(o->account);
	free(o->queue_dir);
	free(o->log);
	free(o->aliases);
	free(o->domain);
	memset(o, 0, sizeof *o);
}
