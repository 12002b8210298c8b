/* cli.c - options, environment and configuration file, merged.
 *
 * Values are first collected per option with the level they came from
 * (defaults < account < environment < command line); a value from a
 * higher level replaces everything from lower levels, values from the
 * same level accumulate for repeatable options. Only then are they
 * checked and turned into the message and session, so every check is
 * written once whatever the source. The message's own checks are the
 * builder's (msgbuild.c), shared with the other front ends; here they
 * are only blamed on the option, variable or file line that set them.
 */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "jobjson.h"
#include "msgbuild.h"
#include "options.h"
#include "sasl.h"
#include "parse.h"
#include "pickup.h"
#include "queue.h"

#include "cli_int.h"

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
	if (opt_table[id].kind != OPT_LIST)
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

const struct value *cli_last(const struct collect *c, enum opt_id id)
{
	const struct slot *s = &c->slots[id];

	return s->n ? &s->v[s->n - 1] : NULL;
}

bool cli_from_cmdline(const struct collect *c, enum opt_id id)
{
	return c->slots[id].level == L_CMDLINE;
}

/* ---- argp ---------------------------------------------------------- */

static error_t on_option(int key, char *arg, struct argp_state *state)
{
	struct collect *c = state->input;
	char where[64];

	if (key == ARGP_KEY_ARG)
		return slot_add(c, O_TO, L_CMDLINE, arg, "a recipient argument") ? EINVAL : 0;
	for (int id = 0; id < O_COUNT; id++) {
		if (opt_table[id].flags & OPT_NOOPT || opt_argp_key((enum opt_id)id) != key)
			continue;
		snprintf(where, sizeof where, "--%s", opt_table[id].name);
		return slot_add(c, (enum opt_id)id, L_CMDLINE, arg, where) ? EINVAL : 0;
	}
	return ARGP_ERR_UNKNOWN;
}

static int parse_argv(struct collect *c, int argc, char **argv)
{
	struct argp_option *options = opt_argp_options();
	struct argp argp = {options, on_option, "[RECIPIENT...]", opt_doc, NULL, NULL, NULL};
	int idx, rc;

	if (!options)
		return err_set(c->err, ERR_OSERR, "out of memory");
	if (opt_check_argv(argc, argv, &c->json_seen, c->err) < 0) {
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

static int collect_env(struct collect *c)
{
	char name[64];

	for (int id = 0; id < O_COUNT; id++) {
		const char *v;

		if (opt_table[id].flags & OPT_NOCONF)
			continue;
		opt_env_name(opt_table[id].name, name, sizeof name);
		v = getenv(name);
		if (v && slot_add(c, (enum opt_id)id, L_ENV, v, name) < 0)
			return -1;
	}
	return 0;
}

static int unknown_key(struct error *err, const char *where, const char *key)
{
	const char *near = opt_nearest_key(key, false);

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
			if (!(opt_table[id].flags & OPT_NOCONF) && strcmp(opt_table[id].name, e[i].key) == 0)
				break;
		if (id == O_COUNT)
			return unknown_key(c->err, where, e[i].key);
		if (!e[i].value && opt_table[id].kind != OPT_FLAG)
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
	const struct value *v = cli_last(c, O_CONFIG);
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
	const struct value *acc = cli_last(c, O_ACCOUNT);
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
int cli_blame(const struct collect *c, enum opt_id id, const struct value *v)
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

int cli_take_str(const struct collect *c, enum opt_id id, char **out)
{
	const struct value *v = cli_last(c, id);

	if (!v)
		return 0;
	free(*out);
	*out = strdup(v->text);
	return *out ? 0 : err_set(c->err, ERR_OSERR, "out of memory");
}

int cli_take_flag(const struct collect *c, enum opt_id id, bool *out)
{
	const struct value *v = cli_last(c, id);

	*out = false;
	if (v && parse_bool(v->text, out, c->err) < 0)
		return cli_blame(c, id, v);
	return 0;
}

/* Each value of a list option, in order, through the builder. */
static int take_each(const struct collect *c, enum opt_id id, int kind,
		     int (*add)(struct message *, int, const char *, struct error *),
		     struct message *m)
{
	const struct slot *s = &c->slots[id];

	for (size_t i = 0; i < s->n; i++)
		if (add(m, kind, s->v[i].text, c->err) < 0)
			return cli_blame(c, id, &s->v[i]);
	return 0;
}

static int add_address(struct message *m, int field, const char *text, struct error *err)
{
	return msg_add_address(m, (enum msg_field)field, text, err);
}

static int add_file(struct message *m, int kind, const char *path, struct error *err)
{
	return msg_add_file(m, (enum msg_file)kind, path, err);
}

/* A malformed header is blamed on its source; a refused name (Bcc,
 * Content-*) has always been reported without it, and still is. */
static int take_headers(const struct collect *c, struct message *m)
{
	const struct slot *s = &c->slots[O_HEADER];

	for (size_t i = 0; i < s->n; i++) {
		size_t before = m->nheaders;

		if (msg_add_header(m, s->v[i].text, c->err) < 0)
			return m->nheaders > before ? -1 : cli_blame(c, O_HEADER, &s->v[i]);
	}
	return 0;
}

/* A text option and a file option for one body: the one set at the
 * higher level wins; both at the same level is a usage error. */
static int take_body(const struct collect *c, enum opt_id text, enum opt_id file,
		     enum msg_body which, struct message *m)
{
	const struct value *t = cli_last(c, text), *f = cli_last(c, file);

	if (t && f && c->slots[text].level == c->slots[file].level)
		return err_set(c->err, ERR_USAGE, "give --%s or --%s, not both", opt_table[text].name,
			       opt_table[file].name);
	if (t && f) {
		if (c->slots[text].level > c->slots[file].level)
			f = NULL;
		else
			t = NULL;
	}
	if (!t && !f)
		return 0;
	return msg_set_body(m, which, t ? t->text : NULL, f ? f->text : NULL, c->err);
}

/* Values the builder checks one at a time, each blamed on its source. */
static int take_one(const struct collect *c, enum opt_id id, struct message *m,
		    int (*set)(struct message *, const char *, struct error *))
{
	const struct value *v = cli_last(c, id);

	if (v && set(m, v->text, c->err) < 0)
		return cli_blame(c, id, v);
	return 0;
}

static int set_from(struct message *m, const char *text, struct error *err)
{
	return msg_add_address(m, MSG_FROM, text, err);
}

static int build_message(const struct collect *c, struct options *o)
{
	struct message *m = &o->msg;

	if (take_one(c, O_FROM, m, set_from) || take_each(c, O_TO, MSG_TO, add_address, m) ||
	    take_each(c, O_CC, MSG_CC, add_address, m) ||
	    take_each(c, O_BCC, MSG_BCC, add_address, m) ||
	    take_each(c, O_REPLY_TO, MSG_REPLY_TO, add_address, m) ||
	    take_one(c, O_SUBJECT, m, msg_set_subject) ||
	    take_body(c, O_BODY, O_BODY_FILE, MSG_TEXT, m) ||
	    take_body(c, O_HTML, O_HTML_FILE, MSG_HTML, m) ||
	    take_each(c, O_ATTACH, MSG_ATTACH, add_file, m) ||
	    take_each(c, O_INLINE, MSG_INLINE, add_file, m) ||
	    take_headers(c, m) || take_one(c, O_PRIORITY, m, msg_set_priority) ||
	    cli_take_flag(c, O_READ_RECEIPT, &m->read_receipt) ||
	    take_one(c, O_MESSAGE_FILE, m, msg_set_message_file))
		return -1;
	return 0;
}

/* Port and TLS mode can come from --server (scheme, :PORT) and from
 * --port / --tls; the value set at the higher level wins, --port and
 * --tls on a tie. */
static int take_endpoint(const struct collect *c, struct session *s)
{
	const struct value *sv = cli_last(c, O_SERVER), *pv = cli_last(c, O_PORT), *tv = cli_last(c, O_TLS);
	enum tls_mode scheme = TLS_AUTO, mode = TLS_AUTO;
	unsigned sport = 0, port = 0;

	if (sv && parse_server(sv->text, &s->host, &sport, &scheme, c->err) < 0)
		return cli_blame(c, O_SERVER, sv);
	if (pv && parse_port(pv->text, &port, c->err) < 0)
		return cli_blame(c, O_PORT, pv);
	if (tv && parse_tls_mode(tv->text, &mode, c->err) < 0)
		return cli_blame(c, O_TLS, tv);
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
		if (cli_last(c, ids[i]) && (best < 0 || c->slots[ids[i]].level > c->slots[ids[best]].level))
			best = i;
	if (best < 0)
		return 0;
	s->password_from_env = best == 2 && c->slots[O_PASSWORD].level == L_ENV;
	return cli_take_str(c, ids[best], best == 0 ? &s->password_file :
			best == 1 ? &s->password_command : &s->password);
}

static int take_checked(const struct collect *c, enum opt_id id, char **out,
			int (*check)(const char *, struct error *))
{
	const struct value *v = cli_last(c, id);

	if (v && check(v->text, c->err) < 0)
		return cli_blame(c, id, v);
	return cli_take_str(c, id, out);
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
	/* Found now, not after connecting and reading the server's offer. */
	if (!sasl_mech_known(s)) {
		err_set(err, ERR_USAGE, "unknown SASL mechanism %s", s);
		err_hint(err, "envoi knows %s", sasl_mech_names());
		return -1;
	}
	return 0;
}

static int take_numbers(const struct collect *c, struct session *s)
{
	const struct value *v;

	s->timeout = 60;
	if ((v = cli_last(c, O_TIMEOUT)) &&
	    parse_uint(v->text, 1, 86400, "--timeout", &s->timeout, c->err) < 0)
		return cli_blame(c, O_TIMEOUT, v);
	if ((v = cli_last(c, O_RETRY)) && parse_uint(v->text, 0, 100, "--retry", &s->retry, c->err) < 0)
		return cli_blame(c, O_RETRY, v);
	if ((v = cli_last(c, O_FINGERPRINT))) {
		if (parse_fingerprint(v->text, s->fingerprint, c->err) < 0)
			return cli_blame(c, O_FINGERPRINT, v);
		s->have_fingerprint = true;
	}
	if ((v = cli_last(c, O_PROXY)) && parse_proxy(v->text, &s->proxy_host, &s->proxy_port, c->err) < 0)
		return cli_blame(c, O_PROXY, v);
	if ((v = cli_last(c, O_DSN_NOTIFY)) && parse_dsn_notify(v->text, &s->dsn_notify, c->err) < 0)
		return cli_blame(c, O_DSN_NOTIFY, v);
	if ((v = cli_last(c, O_DSN_RETURN)) && parse_dsn_return(v->text, &s->dsn_ret, c->err) < 0)
		return cli_blame(c, O_DSN_RETURN, v);
	return 0;
}

/* Two switches that exclude each other: the one set at the higher level
 * wins; both at the same level is a usage error. *which: 0 none, 1 a, 2 b. */
static int take_either(const struct collect *c, enum opt_id a, enum opt_id b, int *which)
{
	bool va, vb;

	if (cli_take_flag(c, a, &va) < 0 || cli_take_flag(c, b, &vb) < 0)
		return -1;
	if (va && vb && c->slots[a].level == c->slots[b].level)
		return err_set(c->err, ERR_USAGE, "--%s and --%s exclude each other", opt_table[a].name,
			       opt_table[b].name);
	if (va && vb)
		*which = c->slots[a].level > c->slots[b].level ? 1 : 2;
	else
		*which = va ? 1 : vb ? 2 : 0;
	return 0;
}

/* An octal file mode without execute, setuid, setgid or sticky bits. */
static int take_pickup_mode(const struct collect *c, unsigned *mode)
{
	const struct value *v = cli_last(c, O_PICKUP_MODE);
	char show[80], *end;
	unsigned long m;

	*mode = PICKUP_MODE_DEFAULT;
	if (!v)
		return 0;
	m = strtoul(v->text, &end, 8);
	if (!*v->text || *end || strspn(v->text, "01234567") != strlen(v->text) || (m & ~0666ul)) {
		err_set(c->err, ERR_USAGE, "invalid --pickup-mode %s: give an octal mode such as "
			"600 or 640, without execute bits", parse_show(v->text, show, sizeof show));
		return cli_blame(c, O_PICKUP_MODE, v);
	}
	*mode = (unsigned)m;
	return 0;
}

static int take_queue(const struct collect *c, struct options *o)
{
	const struct value *v = cli_last(c, O_QUEUE_LIFETIME);
	bool on;

	o->queue = -1;
	if (cli_last(c, O_QUEUE)) {
		if (cli_take_flag(c, O_QUEUE, &on) < 0)
			return -1;
		o->queue = on;
	}
	o->queue_lifetime = QUEUE_LIFETIME_DEFAULT;
	if (v && queue_parse_lifetime(v->text, &o->queue_lifetime, c->err) < 0)
		return cli_blame(c, O_QUEUE_LIFETIME, v);
	if (cli_take_flag(c, O_FLUSH, &o->flush) || cli_take_flag(c, O_QUEUE_LIST, &o->queue_list) ||
	    cli_take_str(c, O_QUEUE_DIR, &o->queue_dir) || cli_take_str(c, O_LOG, &o->log) ||
	    cli_take_str(c, O_ALIASES, &o->aliases) || cli_take_str(c, O_DOMAIN, &o->domain))
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
	    cli_take_str(c, O_CA_FILE, &s->ca_file) || cli_take_str(c, O_CLIENT_CERT, &s->client_cert) ||
	    cli_take_str(c, O_CLIENT_KEY, &s->client_key) || cli_take_flag(c, O_INSECURE, &s->insecure) ||
	    cli_take_flag(c, O_PROBE, &s->probe) || cli_take_flag(c, O_JSON, &s->json) ||
	    cli_take_flag(c, O_DRY_RUN, &o->dry_run) || cli_take_str(c, O_PICKUP_DIR, &o->pickup_dir) ||
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
		if (cli_from_cmdline(c, composing[i]))
			return err_set(c->err, ERR_USAGE,
				       "--message-file sends the message as it is: --%s cannot change it",
				       opt_table[composing[i]].name);
	return 0;
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
	if (msg_finish(m, c->err) < 0)
		return -1;
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
	if (msg_missing(m) == MSG_NO_SENDER)
		return err_set(err, ERR_USAGE, "no sender: %sgive --from ADDR (or from = ADDR in the configuration file)",
			       m->message_file ? "the message file has no From; " : "");
	if (msg_missing(m) == MSG_NO_RECIPIENT)
		return err_set(err, ERR_USAGE, m->message_file ?
			       "no recipient: give one, or a To, Cc or Bcc header in the message file" :
			       "no recipient: give at least one address (or --to, --cc, --bcc)");
	return 0;
}

/* "no server" under cron or systemd often means the configuration file
 * was not found: say where envoi looked, and why it looked nowhere else. */
int cli_no_server(struct error *err, const char *config_path)
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
		return cli_no_server(c->err, o->config_path);
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
	const struct value *v = cli_last(c, O_JSON);
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
	const struct value *v = cli_last(c, O_QUIET);
	struct error scratch;
	bool quiet = false;

	return v && (!v->text || (parse_bool(v->text, &quiet, &scratch) == 0 && quiet));
}

/* ---- --batch ----------------------------------------------------------- */

/* --rate=N/s|N/m|N/h */
/* The run's steps after collecting: a batch's message is built per line. */
static int build_all(struct collect *c, struct options *o)
{
	int rc = cli_build_batch(c, o);

	if (rc == 0 && !o->batch)
		rc = build_message(c, o);
	if (rc == 0)
		rc = build_session(c, o);
	if (rc == 0)
		rc = cli_take_oauth2(c, o);
	if (rc == 0 && o->oauth2_login)
		return 0; /* nothing is sent */
	if (rc == 0 && o->batch)
		return cli_check_batch(c, o);
	if (rc == 0)
		rc = check_combinations(c, o);
	if (rc == 0)
		rc = check_required(c, o);
	return rc;
}

int cli_parse(struct options *o, int argc, char **argv, struct error *err)
{
	struct collect c = {.err = err};
	struct cfg cfg = {0};
	int rc;

	memset(o, 0, sizeof *o);
	msg_init(&o->msg);
	for (int i = 0; i < O_COUNT; i++)
		c.slots[i].level = -1;
	rc = parse_argv(&c, argc, argv);
	if (rc == 0)
		rc = collect_config(&c, o, &cfg);
	if (rc == 0)
		rc = collect_env(&c);
	if (rc == 0)
		rc = build_all(&c, o);
	if (rc < 0)
		o->sess.json = json_wanted(&c);
	/* also before a failure: "no server" may be ENVOI_SEVRER's doing */
	if (!wants_quiet(&c))
		opt_warn_unknown_env();
	for (int i = 0; i < O_COUNT; i++)
		free(c.slots[i].v);
	cfg_free(&cfg);
	return rc;
}

struct password_source cli_password_source(const struct session *s)
{
	return (struct password_source){
		.host = s->host, .user = s->user, .file = s->password_file,
		.command = s->password_command, .value = s->password,
		.value_from_env = s->password_from_env, .timeout = s->timeout,
		.oauth2 = &s->oauth2,
	};
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
	oauth2_config_free(&s->oauth2);
	free(o->pickup_dir);
	free(o->config_path);
	free(o->account);
	free(o->queue_dir);
	free(o->log);
	free(o->aliases);
	free(o->domain);
	free(o->batch);
	if (o->batch_defaults)
		jobvals_free(o->batch_defaults);
	free(o->batch_defaults);
	memset(o, 0, sizeof *o);
}
