/* jobjson.c - a --batch line (JSON) to a job, and a job to a message.
 *
 * Every value is turned into the string the command line would have
 * given for it, so that the builder checks it with the same words; only
 * the shapes JSON adds (arrays, {"name","address"} objects, the
 * EmailMessage keys) are handled here.
 */
#include "jobjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msgbuild.h"
#include "parse.h"

static const enum opt_id message_options[] = {
	O_FROM, O_TO, O_CC, O_BCC, O_REPLY_TO, O_SUBJECT, O_BODY, O_BODY_FILE, O_HTML,
	O_HTML_FILE, O_ATTACH, O_INLINE, O_PRIORITY, O_HEADER, O_READ_RECEIPT, O_MESSAGE_FILE,
	O_DSN_NOTIFY, O_DSN_RETURN};

enum { K_ID = O_COUNT, K_BODY_FORMAT, K_ATTACHMENTS }; /* keys that are no option */

bool job_is_message_option(enum opt_id id)
{
	for (size_t i = 0; i < sizeof message_options / sizeof *message_options; i++)
		if (message_options[i] == id)
			return true;
	return false;
}

static bool is_body(int id)
{
	return id == O_BODY || id == O_BODY_FILE || id == O_HTML || id == O_HTML_FILE;
}

static bool is_address(int id)
{
	return id == O_FROM || id == O_TO || id == O_CC || id == O_BCC || id == O_REPLY_TO;
}

static bool is_list(int id)
{
	return is_address(id) || id == O_ATTACH || id == O_INLINE || id == O_HEADER;
}

/* The key's meaning: an option id, or K_*; -1 when unknown. */
static int key_id(const char *key)
{
	if (!strcasecmp(key, "id"))
		return K_ID;
	if (!strcasecmp(key, "bodyformat"))
		return K_BODY_FORMAT;
	if (!strcasecmp(key, "attachments"))
		return O_ATTACH; /* the same key as attach */
	for (size_t i = 0; i < sizeof message_options / sizeof *message_options; i++)
		if (!strcasecmp(key, opt_table[message_options[i]].name))
			return (int)message_options[i];
	return -1;
}

int jobvals_add(struct jobvals *vals, enum opt_id id, const char *text, struct error *err)
{
	char **v = realloc(vals->v[id], (vals->n[id] + 1) * sizeof *v);

	if (!v)
		return err_set(err, ERR_OSERR, "out of memory");
	vals->v[id] = v;
	if (!(v[vals->n[id]] = strdup(text)))
		return err_set(err, ERR_OSERR, "out of memory");
	vals->n[id]++;
	vals->set[id] = true;
	return 0;
}

void jobvals_free(struct jobvals *vals)
{
	for (int id = 0; id < O_COUNT; id++) {
		for (size_t i = 0; i < vals->n[id]; i++)
			free(vals->v[id][i]);
		free(vals->v[id]);
	}
	memset(vals, 0, sizeof *vals);
}

static int wrong_type(const char *key, const char *want, struct error *err)
{
	return err_set(err, ERR_USAGE, "batch key \"%.60s\": %s expected", key, want);
}

/* A member of an object, its name matched in any case; NULL when none. */
static json_t *member(json_t *obj, const char *name)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v)
		if (!strcasecmp(k, name))
			return v;
	return NULL;
}

/* {"name": ..., "address": ...} as "name" <address>, the name quoted so
 * that a comma or an angle bracket in it stays part of it. */
static int add_mailbox(struct jobvals *vals, int id, const char *key, json_t *obj,
		       struct error *err)
{
	json_t *name = member(obj, "name"), *addr = member(obj, "address");
	char *text, *p;
	const char *n;
	int rc;

	if (!json_is_string(addr) || (name && !json_is_string(name) && !json_is_null(name)))
		return wrong_type(key, "{\"name\": string, \"address\": string}", err);
	n = json_is_string(name) ? json_string_value(name) : "";
	if (!(text = p = malloc(2 * strlen(n) + strlen(json_string_value(addr)) + 8)))
		return err_set(err, ERR_OSERR, "out of memory");
	if (*n) {
		*p++ = '"';
		for (; *n; n++) {
			if (*n == '"' || *n == '\\')
				*p++ = '\\';
			*p++ = *n;
		}
		p += sprintf(p, "\" <%s>", json_string_value(addr));
	} else {
		strcpy(p, json_string_value(addr));
	}
	rc = jobvals_add(vals, (enum opt_id)id, text, err);
	free(text);
	return rc;
}

/* One element of a list key (or the value of a one-value key). */
static int add_one(struct jobvals *vals, int id, const char *key, json_t *v, struct error *err)
{
	if (json_is_string(v))
		return jobvals_add(vals, (enum opt_id)id, json_string_value(v), err);
	if (is_address(id) && json_is_object(v))
		return add_mailbox(vals, id, key, v, err);
	return wrong_type(key, is_address(id) ? "an address string or {\"name\", \"address\"}" :
			  "a string", err);
}

/* "EmailMessagePriority.High" and "High" alike. */
static const char *unprefixed(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncasecmp(s, prefix, n) ? s : s + n;
}

static int add_value(struct job *job, int id, const char *key, json_t *v, struct error *err)
{
	struct jobvals *vals = &job->vals;

	if (id == O_READ_RECEIPT) {
		if (!json_is_boolean(v))
			return wrong_type(key, "true or false", err);
		return jobvals_add(vals, O_READ_RECEIPT, json_is_true(v) ? "yes" : "no", err);
	}
	if (id == O_PRIORITY && json_is_null(v))
		return jobvals_add(vals, O_PRIORITY, "normal", err);
	if (id == O_PRIORITY && json_is_string(v))
		return jobvals_add(vals, O_PRIORITY,
				   unprefixed(json_string_value(v), "EmailMessagePriority."), err);
	if (json_is_null(v) && is_list(id)) {
		vals->set[id] = true; /* EmailMessage's "Cc": null: none */
		return 0;
	}
	if (json_is_array(v) && is_list(id) && id != O_FROM) {
		size_t i;
		json_t *e;

		vals->set[id] = true;
		json_array_foreach(v, i, e)
			if (add_one(vals, id, key, e, err) < 0)
				return -1;
		return 0;
	}
	return add_one(vals, id, key, v, err);
}

/* BodyFormat: whether Body is the text or the HTML body. */
static int body_format(json_t *v, bool *html, struct error *err)
{
	const char *s;

	if (json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return wrong_type("BodyFormat", "\"Text\" or \"Html\"", err);
	s = unprefixed(json_string_value(v), "EmailMessageBodyFormat.");
	if (!strcasecmp(s, "html") || !strcasecmp(s, "text")) {
		*html = !strcasecmp(s, "html");
		return 0;
	}
	return err_set(err, ERR_USAGE, "batch key \"BodyFormat\": \"Text\" or \"Html\" expected");
}

static int take_key(struct job *job, const char *key, json_t *v, bool seen[], bool *html,
		    struct error *err)
{
	int id = key_id(key);

	if (id < 0)
		return err_set(err, ERR_USAGE, "unknown batch key \"%.60s\"", key);
	if (seen[id])
		return err_set(err, ERR_USAGE, "batch key \"%.60s\" given twice", key);
	seen[id] = true;
	if (id == K_ID)
		return 0; /* taken first, see job_parse */
	if (id == K_BODY_FORMAT)
		return body_format(v, html, err);
	if (is_body(id))
		job->sets_body = true;
	return add_value(job, id, key, v, err);
}

/* With BodyFormat Html, Body is the HTML body. */
static int move_body_to_html(struct job *job, struct error *err)
{
	struct jobvals *vals = &job->vals;

	if (!vals->set[O_BODY])
		return 0;
	if (vals->set[O_HTML])
		return err_set(err, ERR_USAGE, "batch key \"html\" given twice (Body with BodyFormat Html)");
	vals->v[O_HTML] = vals->v[O_BODY];
	vals->n[O_HTML] = vals->n[O_BODY];
	vals->set[O_HTML] = true;
	vals->v[O_BODY] = NULL;
	vals->n[O_BODY] = 0;
	vals->set[O_BODY] = false;
	return 0;
}

static int parse_object(json_t *obj, struct job *job, struct error *err)
{
	bool seen[K_ATTACHMENTS + 1] = {false}, html = false;
	json_t *id = member(obj, "id");
	const char *key;
	json_t *v;

	if (id)
		job->id = json_incref(id);
	json_object_foreach(obj, key, v)
		if (take_key(job, key, v, seen, &html, err) < 0)
			return -1;
	return html ? move_body_to_html(job, err) : 0;
}

int job_parse(const char *line, size_t len, struct job *job, struct error *err)
{
	json_error_t jerr;
	json_t *obj;
	int rc;

	memset(job, 0, sizeof *job);
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj && json_error_code(&jerr) == json_error_duplicate_key)
		return err_set(err, ERR_USAGE, "batch key given twice: %.100s", jerr.text);
	if (!obj)
		return err_set(err, ERR_DATA, "not JSON: %.100s (column %d)", jerr.text, jerr.column);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return err_set(err, ERR_DATA, "not a JSON object");
	}
	rc = parse_object(obj, job, err);
	json_decref(obj);
	return rc;
}

void job_free(struct job *job)
{
	jobvals_free(&job->vals);
	json_decref(job->id);
	job->id = NULL;
}

/* ---- job to message --------------------------------------------------- */

/* The values that apply for id: the line's when it set them, else the
 * default's; a line with any body key replaces all the body defaults. */
static const struct jobvals *source(const struct job *job, const struct jobvals *defaults,
				    enum opt_id id)
{
	if (is_body(id))
		return job->sets_body ? &job->vals : defaults;
	return job->vals.set[id] ? &job->vals : defaults;
}

static int set_from(struct message *m, const char *text, struct error *err)
{
	return msg_add_address(m, MSG_FROM, text, err);
}

static int each(const struct jobvals *vals, enum opt_id id, struct message *m,
		int (*set)(struct message *, int, const char *, struct error *), int arg,
		struct error *err)
{
	for (size_t i = 0; i < vals->n[id]; i++)
		if (set(m, arg, vals->v[id][i], err) < 0)
			return -1;
	return 0;
}

static int last(const struct jobvals *vals, enum opt_id id, struct message *m,
		int (*set)(struct message *, const char *, struct error *), struct error *err)
{
	return vals->n[id] ? set(m, vals->v[id][vals->n[id] - 1], err) : 0;
}

static int add_address(struct message *m, int f, const char *text, struct error *err)
{
	return msg_add_address(m, (enum msg_field)f, text, err);
}

static int add_file(struct message *m, int kind, const char *path, struct error *err)
{
	return msg_add_file(m, (enum msg_file)kind, path, err);
}

static int add_header(struct message *m, int unused, const char *line, struct error *err)
{
	(void)unused;
	return msg_add_header(m, line, err);
}

/* Standard input carries the batch itself (or nothing meant as a body). */
static int no_stdin(const char *key, struct error *err)
{
	return err_set(err, ERR_USAGE, "%s: standard input is never read as a body in batch mode", key);
}

static int body(const struct jobvals *vals, enum opt_id text, enum opt_id file,
		enum msg_body which, struct message *m, struct error *err)
{
	bool t = vals->n[text] > 0, f = vals->n[file] > 0;

	if (t && f)
		return err_set(err, ERR_USAGE, "give %s or %s, not both", opt_table[text].name,
			       opt_table[file].name);
	if (!t && !f)
		return 0;
	if (f && !strcmp(vals->v[file][vals->n[file] - 1], "-"))
		return no_stdin(opt_table[file].name, err);
	return msg_set_body(m, which, t ? vals->v[text][vals->n[text] - 1] : NULL,
			    f ? vals->v[file][vals->n[file] - 1] : NULL, err);
}

static int envelope(const struct job *job, const struct jobvals *d, struct message *m,
		    struct error *err)
{
	return last(source(job, d, O_FROM), O_FROM, m, set_from, err) ||
	       each(source(job, d, O_TO), O_TO, m, add_address, MSG_TO, err) ||
	       each(source(job, d, O_CC), O_CC, m, add_address, MSG_CC, err) ||
	       each(source(job, d, O_BCC), O_BCC, m, add_address, MSG_BCC, err) ? -1 : 0;
}

static int compose(const struct job *job, const struct jobvals *d, struct message *m,
		   struct error *err)
{
	const struct jobvals *b = source(job, d, O_BODY), *rr = source(job, d, O_READ_RECEIPT);
	bool receipt = false;

	if (each(source(job, d, O_REPLY_TO), O_REPLY_TO, m, add_address, MSG_REPLY_TO, err) ||
	    last(source(job, d, O_SUBJECT), O_SUBJECT, m, msg_set_subject, err) ||
	    body(b, O_BODY, O_BODY_FILE, MSG_TEXT, m, err) ||
	    body(b, O_HTML, O_HTML_FILE, MSG_HTML, m, err) ||
	    each(source(job, d, O_ATTACH), O_ATTACH, m, add_file, MSG_ATTACH, err) ||
	    each(source(job, d, O_INLINE), O_INLINE, m, add_file, MSG_INLINE, err) ||
	    each(source(job, d, O_HEADER), O_HEADER, m, add_header, 0, err) ||
	    last(source(job, d, O_PRIORITY), O_PRIORITY, m, msg_set_priority, err))
		return -1;
	if (rr->n[O_READ_RECEIPT] &&
	    parse_bool(rr->v[O_READ_RECEIPT][rr->n[O_READ_RECEIPT] - 1], &receipt, err) < 0)
		return -1;
	m->read_receipt = receipt;
	/* no body at all: an empty text body, never standard input */
	if (!m->text.present && !m->html.present && msg_set_body(m, MSG_TEXT, "", NULL, err) < 0)
		return -1;
	return msg_finish(m, err);
}

/* A ready message is sent as it is: a line may not compose on top of
 * it; composing defaults do not apply to it (as a configuration file's). */
static int ready_message(const struct job *job, const char *path, struct message *m,
			 struct error *err)
{
	static const enum opt_id composing[] = {
		O_SUBJECT, O_BODY, O_BODY_FILE, O_HTML, O_HTML_FILE, O_ATTACH, O_INLINE,
		O_PRIORITY, O_HEADER, O_READ_RECEIPT, O_REPLY_TO};

	for (size_t i = 0; i < sizeof composing / sizeof *composing; i++)
		if (job->vals.set[composing[i]])
			return err_set(err, ERR_USAGE, "message-file sends the message as it is: "
				       "%s cannot change it", opt_table[composing[i]].name);
	if (!strcmp(path, "-"))
		return no_stdin("message-file", err);
	return msg_set_message_file(m, path, err);
}

static int dsn(const struct job *job, const struct jobvals *d, struct session *s,
	       struct error *err)
{
	const struct jobvals *n = source(job, d, O_DSN_NOTIFY), *r = source(job, d, O_DSN_RETURN);

	if (n->n[O_DSN_NOTIFY] &&
	    parse_dsn_notify(n->v[O_DSN_NOTIFY][n->n[O_DSN_NOTIFY] - 1], &s->dsn_notify, err) < 0)
		return -1;
	if (r->n[O_DSN_RETURN] &&
	    parse_dsn_return(r->v[O_DSN_RETURN][r->n[O_DSN_RETURN] - 1], &s->dsn_ret, err) < 0)
		return -1;
	return 0;
}

int job_build(const struct job *job, const struct jobvals *defaults, struct message *m,
	      struct session *s, struct error *err)
{
	const struct jobvals *mf = source(job, defaults, O_MESSAGE_FILE);

	if (envelope(job, defaults, m, err) < 0 || dsn(job, defaults, s, err) < 0)
		return -1;
	if (mf->n[O_MESSAGE_FILE])
		return ready_message(job, mf->v[O_MESSAGE_FILE][mf->n[O_MESSAGE_FILE] - 1], m, err);
	return compose(job, defaults, m, err);
}
