/* sendmail.c - sendmail mode: its command line, its input, its exit
 * codes. The message goes out through the same session and queue as
 * envoi's own (handover.c). */
#include "sendmail.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "aliases.h"
#include "bs.h"
#include "cli.h"
#include "config.h"
#include "handover.h"
#include "password.h"
#include "queue.h"
#include "sminput.h"

bool sm_selected(int argc, char **argv)
{
	const char *base = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;

	base = base ? base + 1 : argc > 0 && argv[0] ? argv[0] : "";
	return strcmp(base, "sendmail") == 0 || (argc > 1 && strcmp(argv[1], "--sendmail") == 0);
}

int sm_exit_code(int code)
{
	if (code >= 80 && code <= 83)
		return 69;
	if (code >= 84 && code <= 86)
		return 77;
	if (code == 87 || code == 88)
		return 67;
	if (code == 89)
		return 65;
	return code == 79 ? 69 : code;
}

/* The flags whose value is the rest of the word or the next word. */
static const char **value_slot(struct sm_args *a, char flag, const char **ignored)
{
	switch (flag) {
	case 'f':
	case 'r':
		return &a->sender;
	case 'F':
		return &a->fullname;
	case 'N':
		return &a->dsn_notify;
	case 'R':
		return &a->dsn_ret;
	case 'C':
		return &a->config;
	case 'O':
	case 'B':
	case 'L':
	case 'h':
		return ignored;
	default:
		return NULL;
	}
}

static int unknown(struct error *err, const char *word)
{
	char shown[40];
	size_t n = 0;

	for (const char *p = word; *p && n < sizeof shown - 1; p++)
		shown[n++] = (unsigned char)*p > ' ' && (unsigned char)*p < 0x7f ? *p : '?';
	shown[n] = '\0';
	return err_set(err, ERR_USAGE, "unknown sendmail option %s", shown);
}

/* A flag that takes the rest of its word: -o, -b, -q, -A, -e. */
static int word_flag(struct sm_args *a, const char *p, struct error *err)
{
	const char *rest = p + 1;

	switch (*p) {
	case 'o':
		if (strcmp(rest, "i") == 0)
			a->i = true;
		return 0; /* -oem, -odi, -oXXX: nothing to do for a relay */
	case 'b':
		if (strcmp(rest, "m") == 0 || strcmp(rest, "s") == 0 || strcmp(rest, "p") == 0) {
			a->mode = *rest == 'm' ? SM_SEND : *rest == 's' ? SM_SERVE : SM_LIST;
			return 0;
		}
		break;
	case 'q':
		a->mode = SM_FLUSH; /* the interval (-q15m) is cron's or systemd's job */
		return 0;
	case 'A':
		if (strcmp(rest, "m") == 0 || strcmp(rest, "c") == 0)
			return 0;
		break;
	case 'e':
		if (strlen(rest) == 1 && strchr("mpqw", *rest))
			return 0;
		break;
	}
	return -1;
}

static int parse_word(struct sm_args *a, int argc, char **argv, int *i, struct error *err)
{
	const char *ignored;

	for (const char *p = argv[*i] + 1; *p; p++) {
		const char **slot = value_slot(a, *p, &ignored);

		if (*p == 't' || *p == 'i' || *p == 'v' || *p == 'U') {
			a->t |= *p == 't';
			a->i |= *p == 'i';
			a->verbose |= *p == 'v';
			continue;
		}
		if (strchr("obqAe", *p))
			return word_flag(a, p, err) < 0 ? unknown(err, argv[*i]) : 0;
		if (!slot) {
			char flag[3] = {'-', *p, '\0'};

			return unknown(err, flag);
		}
		if (p[1])
			*slot = p + 1;
		else if (++*i >= argc)
			return err_set(err, ERR_USAGE, "sendmail option -%c needs a value", *p);
		else
			*slot = argv[*i];
		/* The one -O option envoi has a use for: -bs's deadline. */
		if (*p == 'O' && strncasecmp(*slot, "Timeout.command=", 16) == 0)
			a->command_timeout = *slot + 16;
		return 0;
	}
	return 0;
}

int sm_parse(struct sm_args *a, int argc, char **argv, int first, struct error *err)
{
	bool options = true;

	memset(a, 0, sizeof *a);
	a->rcpts = calloc((size_t)argc + 1, sizeof *a->rcpts);
	if (!a->rcpts)
		return err_set(err, ERR_OSERR, "out of memory");
	for (int i = first; i < argc; i++) {
		if (options && strcmp(argv[i], "--") == 0)
			options = false;
		else if (options && argv[i][0] == '-' && argv[i][1]) {
			if (parse_word(a, argc, argv, &i, err) < 0)
				return -1;
		} else
			a->rcpts[a->nrcpts++] = argv[i];
	}
	return 0;
}

/* ---- the account by envelope sender ------------------------------- */

/* The value of key "from" in the account's section, NULL when none. */
static const char *account_from(const struct cfg *c)
{
	for (size_t i = 0; i < c->naccount; i++)
		if (strcmp(c->account[i].key, "from") == 0)
			return c->account[i].value;
	return NULL;
}

/* 2: from is sender itself (or "Name <sender>"), 1: from is *@ the
 * sender's domain, 0: neither. */
static int match(const char *from, const char *sender)
{
	const char *lt = strchr(from, '<'), *at = strrchr(sender, '@');
	size_t n = strlen(sender);

	if (lt && strncasecmp(lt + 1, sender, n) == 0 && lt[n + 1] == '>')
		return 2;
	if (strcasecmp(from, sender) == 0)
		return 2;
	return from[0] == '*' && at && strcasecmp(from + 1, at) == 0;
}

/* The [account NAME] whose from matches sender: exact first, then the
 * first *@domain in the file. Returns a malloc'd name or NULL (the
 * default account). */
static char *account_for(const char *path, const char *sender)
{
	char **names = path ? cfg_account_names(path) : NULL, *best = NULL;
	int best_rank = 0;
	struct error ignored;

	for (char **p = names; p && *p; p++) {
		struct cfg c = {0};
		const char *from;
		int rank = 0;

		if (cfg_load(&c, path, *p, &ignored) == 0 && (from = account_from(&c)))
			rank = match(from, sender);
		if (rank > best_rank) {
			free(best);
			best = strdup(*p);
			best_rank = rank;
		}
		cfg_free(&c);
	}
	for (char **p = names; p && *p; p++)
		free(*p);
	free(names);
	return best;
}

/* ---- the run ---------------------------------------------------- */

static int fail(struct error *err)
{
	char line[2048];

	err_format(err, line, sizeof line);
	fprintf(stderr, "%s\n", line);
	return sm_exit_code(err_exit_code(err->cls));
}

/* envoi's own command line for what sendmail's flags asked. */
static int options_for(const struct sm_args *a, struct options *o, struct error *err)
{
	char *argv[12], name[] = "envoi", mf[] = "--message-file=-", v[] = "-v";
	char cfg[4200], acc[300], dsn[200], ret[40], list[] = "--queue-list", fl[] = "--flush";
	char *config = cli_config_file(a->config), *account = NULL;
	int argc = 0, rc;

	argv[argc++] = name;
	if (a->config && snprintf(cfg, sizeof cfg, "--config=%s", a->config) > 0)
		argv[argc++] = cfg;
	if (a->sender && (account = account_for(config, a->sender)) &&
	    snprintf(acc, sizeof acc, "--account=%s", account) > 0)
		argv[argc++] = acc;
	if (a->verbose)
		argv[argc++] = v;
	if (a->dsn_notify && snprintf(dsn, sizeof dsn, "--dsn-notify=%s", a->dsn_notify) > 0)
		argv[argc++] = dsn;
	if (a->dsn_ret && snprintf(ret, sizeof ret, "--dsn-return=%s",
				   strcmp(a->dsn_ret, "hdrs") == 0 ? "headers" : a->dsn_ret) > 0)
		argv[argc++] = ret;
	argv[argc++] = a->mode == SM_LIST ? list : a->mode == SM_FLUSH ? fl : mf;
	argv[argc] = NULL;
	free(config);
	free(account);
	rc = cli_parse(o, argc, argv, err);
	if (rc == 0 && o->queue < 0)
		o->queue = 1; /* on by default in sendmail mode */
	return rc;
}

/* The recipients already in a list, for the duplicate check: an open
 * addressing table of their indexes + 1 (0: empty), hashed as strcasecmp
 * compares, so that a new one costs one probe, not a look at every
 * earlier one (100,000 recipients took minutes). 4 to 16 bytes each. */
struct rcpt_set {
	uint32_t *slot;
	size_t cap;     /* a power of two, 0 before the first use */
	size_t indexed; /* the list's entries [0, indexed) are in the table */
};

static uint64_t fold_hash(const char *s)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 1099511628211u;
	return h;
}

static void set_place(struct rcpt_set *s, const struct addr_list *l, size_t i)
{
	size_t k = (size_t)fold_hash(addr_list_mailbox(l, i)) & (s->cap - 1);

	while (s->slot[k])
		k = (k + 1) & (s->cap - 1);
	s->slot[k] = (uint32_t)i + 1; /* a list holds < 4 GiB of text: i fits */
}

static int set_grow(struct rcpt_set *s, const struct addr_list *l)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	uint32_t *slot = calloc(cap, sizeof *slot);

	if (!slot)
		return -1;
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	for (size_t i = 0; i < s->indexed; i++)
		set_place(s, l, i);
	return 0;
}

/* Whether l holds mailbox (as strcasecmp sees it), after taking in the
 * entries l gained since the last call. Returns 1, 0, or -1 (no memory). */
static int set_has(struct rcpt_set *s, const struct addr_list *l, const char *mailbox)
{
	if (!s->cap && set_grow(s, l) < 0)
		return -1;
	for (; s->indexed < l->n; s->indexed++) {
		if ((s->indexed + 1) * 2 > s->cap && set_grow(s, l) < 0)
			return -1;
		set_place(s, l, s->indexed);
	}
	for (size_t k = (size_t)fold_hash(mailbox) & (s->cap - 1); s->slot[k];
	     k = (k + 1) & (s->cap - 1))
		if (strcasecmp(addr_list_mailbox(l, s->slot[k] - 1), mailbox) == 0)
			return 1;
	return 0;
}

static int add_rcpt(struct message *m, struct rcpt_set *seen, const char *text, size_t len,
		    struct error *err)
{
	char buf[1024];
	struct address a;
	int rc;

	snprintf(buf, sizeof buf, "%.*s", (int)len, text);
	if (addr_parse(&a, buf, err) < 0)
		return -1;
	rc = set_has(seen, &m->to, a.mailbox);
	if (rc == 0) /* once is enough */
		rc = addr_list_add(&m->to, &a);
	addr_free(&a);
	return rc < 0 ? err_set(err, ERR_OSERR, "out of memory") : 0;
}

/* A name without '@': its aliases, else name@domain, else no way. */
static int add_local(struct message *m, struct rcpt_set *seen, const struct aliases *al,
		     const char *name, const char *domain, struct error *err)
{
	char **found = NULL, buf[1024];
	size_t n = 0;
	int rc = aliases_expand(al, name, &found, &n, err);

	if (rc == 0 && n == 0) {
		found = malloc(sizeof *found);
		if (found && (found[0] = strdup(name)))
			n = 1;
	}
	for (size_t i = 0; rc >= 0 && i < n; i++) {
		if (strchr(found[i], '@'))
			rc = add_rcpt(m, seen, found[i], strlen(found[i]), err);
		else if (domain && snprintf(buf, sizeof buf, "%s@%s", found[i], domain) > 0)
			rc = add_rcpt(m, seen, buf, strlen(buf), err);
		else
			rc = err_set(err, ERR_ALL_RCPT, "no such recipient \"%.60s\": not in the aliases "
				     "file and no domain key to complete it", found[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(found[i]);
	free(found);
	return rc < 0 ? -1 : 0;
}

/* Each recipient word may hold a list ("a@x, b@y"). */
static int add_words(struct message *m, struct rcpt_set *seen, char **words, size_t nwords,
		     const struct aliases *al, const char *domain, struct error *err)
{
	for (size_t w = 0; w < nwords; w++) {
		char **specs = NULL;
		size_t n = 0;
		int rc = 0;

		free(smin_complete(words[w], NULL, &specs, &n));
		for (size_t i = 0; i < n; i++) {
			if (rc == 0)
				rc = strchr(specs[i], '@') ?
					     add_rcpt(m, seen, specs[i], strlen(specs[i]), err) :
					     add_local(m, seen, al, specs[i], domain, err);
			free(specs[i]);
		}
		free(specs);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int take_sender(struct options *o, const struct sm_args *a, struct error *err)
{
	char buf[1024];
	const char *s = a->sender;

	if (!s)
		return 0;
	/* -f '<>' or -f '': a bounce, sent with the null reverse-path (RFC
	 * 5321 4.5.5) as Postfix does; the account's from stays the From. */
	if (!*s || strcmp(s, "<>") == 0) {
		o->msg.null_sender = true;
		return 0;
	}
	if (!strchr(s, '@') && o->domain && snprintf(buf, sizeof buf, "%s@%s", s, o->domain) > 0)
		s = buf;
	addr_free(&o->msg.from);
	if (addr_parse(&o->msg.from, s, err) < 0)
		return -1;
	o->msg.have_from = true;
	return 0;
}

static const char *domain_of(const struct options *o)
{
	const char *at = o->msg.have_from ? strrchr(o->msg.from.mailbox, '@') : NULL;

	return o->domain ? o->domain : at ? at + 1 : NULL;
}

/* Standard input into a temporary file, recipients resolved. */
static int read_message(struct options *o, const struct sm_args *a, char *path,
			struct error *err)
{
	struct address shown = o->msg.from;
	struct smin_opts so = {.dot_ends = !a->i, .domain = domain_of(o),
			       .sender = o->msg.have_from ? &shown : NULL};
	struct smin_result res = {0};
	struct aliases al = {0};
	struct rcpt_set seen = {0};
	const char *tmp = getenv("TMPDIR");
	int fd, rc;

	if (a->fullname)
		shown.name = (char *)a->fullname;
	snprintf(path, 4096, "%s/envoi-sendmail-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if ((fd = mkstemp(path)) < 0) {
		path[0] = '\0';
		return err_set(err, ERR_CANTCREAT, "cannot create a temporary file in %s",
			       tmp && *tmp ? tmp : "/tmp");
	}
	rc = smin_read(stdin, fd, &so, &res, err);
	close(fd);
	if (rc == 0 && o->aliases)
		rc = aliases_load(&al, o->aliases, err);
	/* Recipients take the domain key only: mail for a local name must
	 * not go to whoever has that name at the sender's provider. */
	if (rc == 0)
		rc = add_words(&o->msg, &seen, a->rcpts, (size_t)a->nrcpts, &al, o->domain, err);
	if (rc == 0 && a->t)
		rc = add_words(&o->msg, &seen, res.rcpts, res.nrcpts, &al, o->domain, err);
	free(seen.slot);
	if (rc == 0 && o->msg.to.n == 0)
		rc = err_set(err, ERR_USAGE, "no recipients: give them as arguments, or -t to read "
			     "the message's To, Cc and Bcc");
	aliases_free(&al);
	smin_result_free(&res);
	free(o->msg.message_file);
	o->msg.message_file = strdup(path);
	return rc;
}

/* The server could not take it for now: kept, and the caller told so. */
static int queue_it(struct options *o, struct error *err)
{
	char id[64];

	if (handover_enqueue(o, id, err) < 0)
		return fail(err);
	fprintf(stderr, "envoi: queued as %s\n", id);
	handover_log(o, "queued", 0, err, NULL, id);
	return 0;
}

static int deliver(struct options *o, struct error *err)
{
	struct smtp_result r = {0};
	char *password = NULL, dir[4096];
	int rc = 0;

	if (o->sess.user) {
		struct password_source src = cli_password_source(&o->sess);

		rc = password_get(&src, &password, err);
	}
	password_wipe_sources(&o->sess.password);
	if (rc == 0)
		rc = handover_send(o, password, &r, err);
	password_free(password);
	if (rc == 0)
		handover_log(o, "sent", 0, NULL, &r, NULL);
	else if (o->queue == 1 && handover_queueable(err->cls) && !r.maybe_delivered &&
		 handover_queue_dir(o, dir, sizeof dir) == 0)
		rc = queue_it(o, err);
	else {
		rc = fail(err);
		handover_log(o, "failed", rc, err, &r, NULL);
	}
	smtp_result_free(&r);
	return rc;
}

static int send_message(struct sm_args *a, struct options *o)
{
	struct error err = {0};
	char path[4096] = "";
	int rc = take_sender(o, a, &err);

	if (rc == 0)
		rc = read_message(o, a, path, &err);
	if (rc == 0)
		rc = msg_prepare(&o->msg, &err);
	if (rc == 0)
		rc = cli_check_envelope(o, &err);
	rc = rc < 0 ? fail(&err) : deliver(o, &err);
	if (path[0])
		unlink(path);
	return rc;
}

/* -bs: SMTP with the caller on standard input and output. */
static int serve(const struct sm_args *a, struct options *o)
{
	struct bs_opts bo = {.fullname = a->fullname, .in = 0, .out = 1};
	struct error err = {0};
	unsigned long secs;

	if (a->command_timeout) {
		if (queue_parse_lifetime(a->command_timeout, &secs, &err) < 0 || secs > 86400) {
			err_set(&err, ERR_USAGE, "invalid -O Timeout.command=%.40s: give a number with "
				"s, m or h, at most a day", a->command_timeout);
			return fail(&err);
		}
		bo.timeout = (unsigned)secs;
	}
	if (a->nrcpts || a->t) {
		err_set(&err, ERR_USAGE, "sendmail -bs takes its recipients from RCPT, not from "
			"arguments or -t");
		return fail(&err);
	}
	return bs_serve(o, &bo);
}

int sendmail_main(int argc, char **argv)
{
	struct sm_args a;
	struct options o;
	struct error err = {0};
	int first = argc > 1 && strcmp(argv[1], "--sendmail") == 0 ? 2 : 1, rc;

	if (sm_parse(&a, argc, argv, first, &err) < 0) {
		free(a.rcpts);
		return fail(&err);
	}
	if (options_for(&a, &o, &err) < 0)
		rc = fail(&err);
	else if (a.mode == SM_SERVE)
		rc = serve(&a, &o);
	else if (a.mode == SM_LIST)
		rc = handover_list(&o, true);
	else if (a.mode == SM_FLUSH)
		rc = sm_exit_code(handover_flush(&o));
	else
		rc = send_message(&a, &o);
	cli_free(&o);
	free(a.rcpts);
	return rc;
}
