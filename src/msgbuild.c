/* msgbuild.c - the message checks every front end shares. */
#include "msgbuild.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

void msg_init(struct message *m)
{
	memset(m, 0, sizeof *m);
	m->text.fd = m->html.fd = m->message_fd = -1;
}

static int no_memory(struct error *err)
{
	return err_set(err, ERR_OSERR, "out of memory");
}

int msg_add_address(struct message *m, enum msg_field f, const char *text,
		    struct error *err)
{
	struct addr_list *lists[] = {[MSG_TO] = &m->to, [MSG_CC] = &m->cc, [MSG_BCC] = &m->bcc,
				     [MSG_REPLY_TO] = &m->reply_to};

	if (f != MSG_FROM)
		return addr_parse_list(lists[f], text, err);
	if (m->have_from)
		addr_free(&m->from);
	m->have_from = false;
	if (addr_parse(&m->from, text, err) < 0)
		return -1;
	m->have_from = true;
	return 0;
}

int msg_set_subject(struct message *m, const char *text, struct error *err)
{
	if (parse_no_breaks(text, strlen(text), "subject", err) < 0)
		return -1;
	free(m->subject);
	m->subject = strdup(text);
	return m->subject ? 0 : no_memory(err);
}

int msg_set_body(struct message *m, enum msg_body which, const char *text, const char *path,
		 struct error *err)
{
	struct body *b = which == MSG_HTML ? &m->html : &m->text;

	free(b->text);
	free(b->path);
	b->text = text ? strdup(text) : NULL;
	b->path = path ? strdup(path) : NULL;
	b->present = text || path;
	if ((text && !b->text) || (path && !b->path))
		return no_memory(err);
	return 0;
}

int msg_add_file(struct message *m, enum msg_file kind, const char *path, struct error *err)
{
	struct file_part **v = kind == MSG_INLINE ? &m->inlines : &m->attach, *f;
	size_t *n = kind == MSG_INLINE ? &m->ninline : &m->nattach;
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (!*base)
		return err_set(err, ERR_USAGE, "--%s needs a file, not the directory \"%s\"",
			       kind == MSG_INLINE ? "inline" : "attach", path);
	if (parse_no_breaks(base, strlen(base), "file name", err) < 0)
		return -1;
	f = realloc(*v, (*n + 1) * sizeof *f);
	if (!f)
		return no_memory(err);
	*v = f;
	f = &f[(*n)++];
	memset(f, 0, sizeof *f);
	f->fd = -1;
	f->path = strdup(path);
	f->name = strdup(base);
	return f->path && f->name ? 0 : no_memory(err);
}

int msg_add_header(struct message *m, const char *line, struct error *err)
{
	struct header *h = realloc(m->headers, (m->nheaders + 1) * sizeof *h);

	if (!h)
		return no_memory(err);
	m->headers = h;
	h = &h[m->nheaders];
	if (parse_header(line, &h->name, &h->value, err) < 0)
		return -1;
	m->nheaders++;
	if (strcasecmp(h->name, "Bcc") == 0 || strcasecmp(h->name, "MIME-Version") == 0 ||
	    strncasecmp(h->name, "Content-", 8) == 0)
		return err_set(err, ERR_DATA, "header \"%s\" cannot be set with --header: %s", h->name,
			       strcasecmp(h->name, "Bcc") == 0 ? "use --bcc" :
			       "envoi writes the MIME structure itself");
	return 0;
}

int msg_set_priority(struct message *m, const char *name, struct error *err)
{
	static const char *const names[] = {"normal", "low", "high", "urgent"};

	for (unsigned i = 0; i < 4; i++)
		if (strcasecmp(name, names[i]) == 0) {
			m->priority = (enum priority)i;
			return 0;
		}
	/* Not shown: "-p SECRET" is how other tools take a password. */
	return err_set(err, ERR_USAGE, "invalid priority (the value is not shown): use low, "
		       "normal, high or urgent");
}

int msg_set_message_file(struct message *m, const char *path, struct error *err)
{
	free(m->message_file);
	m->message_file = strdup(path);
	return m->message_file ? 0 : no_memory(err);
}

static bool is_stdin(const char *path)
{
	return path && strcmp(path, "-") == 0;
}

int msg_finish(struct message *m, struct error *err)
{
	if (m->message_file)
		return 0;
	if (m->ninline && !m->html.present)
		return err_set(err, ERR_USAGE,
			       "--inline images need an HTML body (--html or --html-file)");
	if (is_stdin(m->text.path) + is_stdin(m->html.path) > 1)
		return err_set(err, ERR_USAGE,
			       "standard input can feed only one of --body-file and --html-file");
	return 0;
}

enum msg_missing msg_missing(const struct message *m)
{
	if (!m->have_from)
		return MSG_NO_SENDER;
	if (msg_rcpt_count(m) == 0)
		return MSG_NO_RECIPIENT;
	return MSG_COMPLETE;
}

size_t msg_rcpt_count(const struct message *m)
{
	return m->to.n + m->cc.n + m->bcc.n;
}

const char *msg_rcpt(const struct message *m, size_t i)
{
	if (i < m->to.n)
		return addr_list_mailbox(&m->to, i);
	i -= m->to.n;
	if (i < m->cc.n)
		return addr_list_mailbox(&m->cc, i);
	return addr_list_mailbox(&m->bcc, i - m->cc.n);
}
