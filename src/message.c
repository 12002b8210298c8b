/* message.c - getting a message ready to be written, any number of times
 * with the same bytes: files checked and opened, standard input spooled,
 * encodings chosen, Date, Message-ID and boundaries fixed. */
#include "message.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "cid.h"
#include "encode.h"
#include "mimetypes.h"
#include "rawmsg.h"

/* An unlinked temporary file: gone when envoi exits, whatever happens. */
static int temp_fd(struct error *err)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof path, "%s/envoi.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return err_set(err, ERR_OSERR, "cannot create a temporary file in %s: %s", dir,
			       strerror(errno));
	unlink(path);
	return fd;
}

/* Copies everything from in into a temporary file, in blocks, so that a
 * pipe can be read twice (once to measure, once to send). */
static int spool(int in, const char *what, struct error *err)
{
	char buf[65536];
	int fd = temp_fd(err);

	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return err_set(err, ERR_NOPERM, "cannot read %s: %s", what, strerror(errno));
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0 && errno != EINTR) {
				close(fd);
				return err_set(err, ERR_OSERR, "cannot write a temporary file: %s",
					       strerror(errno));
			}
			off += w > 0 ? w : 0;
		}
	}
	return fd;
}

/* Whether st_size tells what reading gives: a regular file, but not on a
 * pseudo file system (procfs shows 0, sysfs 4096, whatever they hold),
 * nor an empty file that reads non-empty. Else the file is spooled. */
static bool size_is_known(int fd, const struct stat *st)
{
	static const long pseudo[] = {PROC_SUPER_MAGIC, SYSFS_MAGIC, DEBUGFS_MAGIC, TRACEFS_MAGIC,
				      SECURITYFS_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC};
	struct statfs fs;
	char c;

	if (!S_ISREG(st->st_mode))
		return false;
	for (size_t i = 0; fstatfs(fd, &fs) == 0 && i < sizeof pseudo / sizeof *pseudo; i++)
		if ((long)fs.f_type == pseudo[i])
			return false;
	return st->st_size > 0 || pread(fd, &c, 1, 0) <= 0;
}

/* Opens a user's file: missing is exit 66, anything else unreadable 77.
 * A pipe, device or file whose size is not known (size_is_known) is
 * spooled when spool_pipes (it must be read twice), else *size is
 * MSG_SIZE_UNKNOWN and it is read once, as it comes. */
static int open_input(const char *path, const char *what, bool spool_pipes, uint64_t *size,
		      struct timespec *mtime, struct error *err)
{
	struct stat st;
	int fd, spooled;

	if (strcmp(path, "-") == 0)
		fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	else
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(err, errno == ENOENT || errno == ENOTDIR ? ERR_NOINPUT : ERR_NOPERM,
			       "%s %s: %s", what, path, errno == ENOENT ? "does not exist" : strerror(errno));
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		close(fd);
		return err_set(err, ERR_NOPERM, "%s %s is a directory", what, path);
	}
	if (!size_is_known(fd, &st) && !spool_pipes) {
		*size = MSG_SIZE_UNKNOWN;
		return fd;
	}
	if (!size_is_known(fd, &st)) {
		spooled = spool(fd, path, err);
		close(fd);
		if (spooled < 0 || fstat(spooled, &st) < 0) {
			if (spooled >= 0)
				close(spooled);
			return -1;
		}
		fd = spooled;
	}
	*size = (uint64_t)st.st_size;
	*mtime = st.st_mtim;
	return fd;
}

void msg_scan_text(struct msg_scan *s, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n && !s->qp; i++) {
		unsigned char c = p[i];

		if (c == '\n') {
			s->col = 0;
		} else {
			if (s->prev == '\r' || c == 0 || c >= 0x80 || ++s->col > 998 ||
			    (c == '_' && s->prev == '='))
				s->qp = true;
		}
		s->prev = c;
	}
}

static int prepare_body(struct body *b, const char *what, struct error *err)
{
	struct msg_scan s = {0};
	struct text_scan t;
	unsigned char buf[65536];
	uint64_t off = 0;

	text_scan_init(&t);
	b->charset = "utf-8";
	if (!b->present)
		return 0;
	if (b->text) {
		msg_scan_text(&s, (const unsigned char *)b->text, strlen(b->text));
		text_scan_update(&t, (const unsigned char *)b->text, strlen(b->text));
	} else {
		struct msg_in in;

		b->fd = open_input(b->path, what, true, &b->size, &b->mtime, err);
		if (b->fd < 0)
			return -1;
		in = (struct msg_in){b->fd, b->size, b->mtime, b->path};
		for (;;) {
			ssize_t n = msg_read_input(&in, buf, sizeof buf, off, err);

			if (n < 0)
				return -1;
			if (n == 0)
				break;
			msg_scan_text(&s, buf, (size_t)n);
			text_scan_update(&t, buf, (size_t)n);
			off += (uint64_t)n;
		}
	}
	b->qp = s.qp || s.prev == '\r';
	text_scan_final(&t);
	/* Not UTF-8 and no way to know what it is: the bytes go as they are,
	 * labelled as RFC 1428 does, never as UTF-8. */
	if (t.invalid)
		b->charset = "unknown-8bit";
	return 0;
}

/* A text attachment is read once here: valid UTF-8 without NUL is
 * text, sent in canonical form with its charset; anything else is sent
 * as application/octet-stream, bytes untouched, so that no reader
 * decodes it with a charset it does not have. */
static int scan_text_file(struct file_part *f, struct error *err)
{
	unsigned char buf[65536];
	struct text_scan t;
	struct msg_in in = {f->fd, f->size, f->mtime, f->path};
	uint64_t off = 0;

	text_scan_init(&t);
	for (;;) {
		ssize_t n = msg_read_input(&in, buf, sizeof buf, off, err);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		text_scan_update(&t, buf, (size_t)n);
		off += (uint64_t)n;
	}
	text_scan_final(&t);
	if (t.invalid || t.nul) {
		free(f->type);
		f->type = strdup("application/octet-stream");
		return f->type ? 0 : err_set(err, ERR_OSERR, "out of memory");
	}
	f->charset = t.nonascii ? "utf-8" : "us-ascii";
	f->canon_size = t.canon;
	return 0;
}

static int prepare_files(struct file_part *v, size_t n, const char *what, struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		v[i].type = mimetype_for(v[i].name, NULL);
		if (!v[i].type)
			return err_set(err, ERR_OSERR, "out of memory");
		/* Text must be scanned before it is sent: a pipe is spooled. */
		bool text = strncmp(v[i].type, "text/", 5) == 0;

		v[i].fd = open_input(v[i].path, what, text, &v[i].size, &v[i].mtime, err);
		if (v[i].fd < 0 || (text && scan_text_file(&v[i], err) < 0))
			return -1;
	}
	return 0;
}

/* The HTML refers to an inline image by its file name (cid:NAME), so
 * two images with one name cannot be told apart. */
static int check_inline_names(const struct message *m, struct error *err)
{
	for (size_t i = 0; i < m->ninline; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(m->inlines[i].name, m->inlines[k].name) == 0)
				return err_set(err, ERR_USAGE,
					       "two inline images are named \"%s\" (%s and %s): the "
					       "HTML's cid:%s cannot tell them apart; rename one",
					       m->inlines[i].name, m->inlines[k].path,
					       m->inlines[i].path, m->inlines[i].name);
	return 0;
}

static void random_token(char *out, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[64];
	size_t got = 0;

	if (len > sizeof rnd)
		len = sizeof rnd;
	while (got < len) {
		ssize_t n = getrandom(rnd + got, len - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			abort(); /* no randomness means no safe boundaries */
	}
	for (size_t i = 0; i < len; i++)
		out[i] = alphabet[rnd[i] % 62];
	out[len] = '\0';
}

void msg_format_date(char *buf, size_t size)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	time_t now = time(NULL);
	struct tm tm;
	long off;

	localtime_r(&now, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(buf, size, "%.3s, %d %.3s %d %02d:%02d:%02d %c%02ld%02ld",
		 days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60,
		 labs(off) % 60);
}

/* The right side of the Message-ID: the sender's domain when it is a
 * plain ASCII name, else this host's name. */
static void id_domain(const struct message *m, char *buf, size_t size)
{
	const char *d = m->have_from ? addr_domain(&m->from) : NULL;

	if (d && *d && d[0] != '[' && strspn(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == strlen(d)) {
		snprintf(buf, size, "%s", d);
		return;
	}
	if (gethostname(buf, size) != 0 || !*buf)
		snprintf(buf, size, "localhost");
	buf[size - 1] = '\0';
}

static void fix_identity(struct message *m)
{
	char token[32], domain[256];

	msg_format_date(m->date, sizeof m->date);
	random_token(token, 24);
	id_domain(m, domain, sizeof domain);
	snprintf(m->message_id, sizeof m->message_id, "<%lld.%s@%s>", (long long)time(NULL),
		 token, domain);
	snprintf(m->cid_suffix, sizeof m->cid_suffix, "%s@%s", token, domain);
	for (int i = 0; i < 3; i++) {
		random_token(token, 24);
		snprintf(m->boundary[i], sizeof m->boundary[i], "=_envoi_%s", token);
	}
}

static bool list_is_ascii(const struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct address a = addr_list_at(l, i);

		if (!addr_mailbox_is_ascii(&a))
			return false;
	}
	return true;
}

/* RFC 6531/6532: a UTF-8 mailbox anywhere makes the message need
 * SMTPUTF8; in a header it cannot be encoded away. */
static void note_smtputf8(struct message *m)
{
	m->utf8_headers = (m->have_from && !addr_mailbox_is_ascii(&m->from)) ||
			  !list_is_ascii(&m->to) || !list_is_ascii(&m->cc) || !list_is_ascii(&m->reply_to);
	m->smtputf8 = m->utf8_headers || !list_is_ascii(&m->bcc);
}

static int scan_emit(void *ctx, const unsigned char *p, size_t n)
{
	msg_scan_text(ctx, p, n);
	return 0;
}

/* The HTML goes out with its cid: references rewritten (cid.h), which
 * makes lines longer: whether 7bit still fits is decided again on what
 * will be sent. */
static int rescan_html(struct message *m, struct error *err)
{
	struct body *b = &m->html;
	struct msg_scan s = {0};
	struct cid_rewrite r;
	unsigned char buf[65536];
	uint64_t off = 0;
	ssize_t n = 0;
	int rc = cid_rewrite_init(&r, m);

	r.emit = scan_emit;
	r.ctx = &s;
	if (rc == 0 && b->text)
		rc = cid_rewrite_update(&r, (const unsigned char *)b->text, strlen(b->text));
	struct msg_in in = {b->fd, b->size, b->mtime, b->path};

	while (rc == 0 && !b->text && (n = msg_read_input(&in, buf, sizeof buf, off, err)) > 0) {
		rc = cid_rewrite_update(&r, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (rc == 0 && n == 0)
		rc = cid_rewrite_final(&r);
	cid_rewrite_free(&r);
	if (n < 0)
		return -1;
	if (rc < 0)
		return err_set(err, ERR_OSERR, "out of memory");
	b->qp = b->qp || s.qp || s.prev == '\r';
	return 0;
}

int msg_prepare(struct message *m, struct error *err)
{
	if (m->message_file) {
		m->message_fd = open_input(m->message_file, "message file", true, &m->message_size,
					   &m->message_mtime, err);
		if (m->message_fd < 0 || raw_scan(m, err) < 0)
			return -1;
	} else if (check_inline_names(m, err) < 0 ||
		   prepare_body(&m->text, "body file", err) < 0 ||
		   prepare_body(&m->html, "HTML file", err) < 0 ||
		   prepare_files(m->attach, m->nattach, "attachment", err) < 0 ||
		   prepare_files(m->inlines, m->ninline, "inline image", err) < 0) {
		return -1;
	}
	fix_identity(m);
	note_smtputf8(m);
	if (!m->message_file && m->html.present && m->ninline && !m->html.qp)
		return rescan_html(m, err);
	return 0;
}

static int spool_part(struct file_part *f, struct error *err)
{
	struct stat st;
	int fd;

	if (f->size != MSG_SIZE_UNKNOWN)
		return 0;
	fd = spool(f->fd, f->path, err);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_set(err, ERR_OSERR, "cannot stat a temporary file: %s", strerror(errno));
	}
	close(f->fd);
	f->fd = fd;
	f->size = (uint64_t)st.st_size;
	f->mtime = st.st_mtim;
	return 0;
}

int msg_spool_pipes(struct message *m, struct error *err)
{
	for (size_t i = 0; i < m->nattach; i++)
		if (spool_part(&m->attach[i], err) < 0)
			return -1;
	for (size_t i = 0; i < m->ninline; i++)
		if (spool_part(&m->inlines[i], err) < 0)
			return -1;
	return 0;
}

static void free_files(struct file_part *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].name);
		free(v[i].type);
		if (v[i].fd >= 0)
			close(v[i].fd);
	}
	free(v);
}

static void free_body(struct body *b)
{
	free(b->text);
	free(b->path);
	if (b->fd >= 0)
		close(b->fd);
}

void msg_free(struct message *m)
{
	addr_free(&m->from);
	addr_list_free(&m->to);
	addr_list_free(&m->cc);
	addr_list_free(&m->bcc);
	addr_list_free(&m->reply_to);
	free(m->subject);
	free_body(&m->text);
	free_body(&m->html);
	free_files(m->attach, m->nattach);
	free_files(m->inlines, m->ninline);
	for (size_t i = 0; i < m->nheaders; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	free(m->message_file);
	if (m->message_fd >= 0)
		close(m->message_fd);
	memset(m, 0, sizeof *m);
	m->text.fd = m->html.fd = m->message_fd = -1;
}
