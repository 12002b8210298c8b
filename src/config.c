/* config.c - the configuration file (INI).
 *
 * Only the syntax is checked here; key names are checked by cli.c, which
 * knows the options and reports them with the line kept in each entry.
 */
#include "config.h"
#include "printable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096

enum section { IN_DEFAULTS, IN_CHOSEN, IN_OTHER };

struct parser {
	struct cfg *c;          /* NULL when only the names are wanted */
	const char *want;       /* the account to keep */
	char path[256];         /* the file name, made printable */
	unsigned line;
	enum section sect;
	bool saw_password;
	size_t cap_defaults, cap_account;
	char **names;           /* every [account NAME], NULL-terminated */
	unsigned *name_lines;
	size_t nnames, cap_names;
	struct error *err;
};

/* Copies s in its shown form (printable.h), so that a message never
 * carries a raw CR/LF or terminal escape from a file name or a line;
 * the last 4 bytes of out stay unused, as they always did. */
static void printable(char *out, size_t size, const char *s)
{
	if (size > 4)
		printable_copy(out, size - 4, s, strlen(s));
	else if (size)
		out[0] = '\0';
}

/* Fills err with "FILE:LINE: why" and returns -1. */
__attribute__((format(printf, 2, 3)))
static int syntax_error(struct parser *ps, const char *fmt, ...)
{
	char why[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return err_set(ps->err, ERR_CONFIG, "%s:%u: %s", ps->path, ps->line, why);
}

static int oom(struct parser *ps)
{
	return err_set(ps->err, ERR_OSERR, "out of memory");
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *trim(char *s)
{
	char *e = s + strlen(s);

	while (is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		*--e = '\0';
	return s;
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Reads one line, without its newline (or CRLF), into buf of
 * LINE_MAX_LEN + 1 bytes. Returns 1, 0 at the end of the file, or -1. */
static int read_line(struct parser *ps, FILE *f, char *buf)
{
	size_t n = 0;
	int ch;

	ps->line++;
	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (ch == '\0')
			return syntax_error(ps, "NUL byte in the file");
		if (n == LINE_MAX_LEN)
			return syntax_error(ps, "line longer than %d bytes", LINE_MAX_LEN);
		buf[n++] = (char)ch;
	}
	if (ferror(f))
		return err_set(ps->err, ERR_CONFIG, "cannot read configuration file %s: %s",
			ps->path, strerror(errno));
	if (ch == EOF && n == 0)
		return 0;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)buf[i] < 0x20 && buf[i] != '\t') || buf[i] == 0x7f)
			return syntax_error(ps, "control character (\\x%02x) in the line",
				(unsigned char)buf[i]);
	return 1;
}

static int add_name(struct parser *ps, const char *name)
{
	if (ps->nnames + 1 >= ps->cap_names) {
		size_t cap = ps->cap_names ? ps->cap_names * 2 : 8;
		char **v = realloc(ps->names, cap * sizeof *v);
		if (!v)
			return oom(ps);
		ps->names = v;
		unsigned *l = realloc(ps->name_lines, cap * sizeof *l);
		if (!l)
			return oom(ps);
		ps->name_lines = l;
		ps->cap_names = cap;
	}
	if (!(ps->names[ps->nnames] = strdup(name)))
		return oom(ps);
	ps->name_lines[ps->nnames++] = ps->line;
	ps->names[ps->nnames] = NULL;
	return 0;
}

/* "[account NAME]": the only kind of section there is. */
static int parse_section(struct parser *ps, char *s)
{
	size_t len = strlen(s);
	char shown[160], *inner, *name;

	printable(shown, sizeof shown, s);
	if (!strchr(s, ']'))
		return syntax_error(ps, "\"%s\" lacks its closing \"]\"", shown);
	if (s[len - 1] != ']')
		return syntax_error(ps, "unknown syntax \"%s\"", shown);
	s[len - 1] = '\0';
	inner = trim(s + 1);
	if (strncmp(inner, "account", 7) != 0 || (inner[7] && !is_blank(inner[7])))
		return syntax_error(ps, "unknown section \"%s\": only [account NAME] exists", shown);
	name = trim(inner + 7);
	if (!*name)
		return syntax_error(ps, "section \"%s\" has no account name", shown);
	if (strchr(name, ']') || strchr(name, '['))
		return syntax_error(ps, "unknown syntax \"%s\"", shown);
	for (size_t i = 0; i < ps->nnames; i++)
		if (strcmp(ps->names[i], name) == 0)
			return syntax_error(ps, "duplicate section [account %s] (first at line %u)",
				name, ps->name_lines[i]);
	ps->sect = strcmp(name, ps->want) == 0 ? IN_CHOSEN : IN_OTHER;
	if (ps->c && ps->sect == IN_CHOSEN)
		ps->c->has_account = true;
	return add_name(ps, name);
}

/* Unquotes a "double-quoted" value in place; only \" and \\ are escapes,
 * so that a Windows-style path needs no doubling. */
static int unquote(struct parser *ps, char *v, const char *shown)
{
	char *o = v;

	for (const char *p = v + 1; *p; p++) {
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
			*o++ = *++p;
		} else if (*p == '"') {
			if (p[1])
				return syntax_error(ps, "text after the closing quote in \"%s\"", shown);
			*o = '\0';
			return 0;
		} else {
			*o++ = *p;
		}
	}
	return syntax_error(ps, "unterminated quoted value in \"%s\"", shown);
}

static int push_entry(struct parser *ps, const char *key, const char *value)
{
	struct cfg_entry **v = ps->sect == IN_DEFAULTS ? &ps->c->defaults : &ps->c->account;
	size_t *n = ps->sect == IN_DEFAULTS ? &ps->c->ndefaults : &ps->c->naccount;
	size_t *cap = ps->sect == IN_DEFAULTS ? &ps->cap_defaults : &ps->cap_account;
	struct cfg_entry e = { strdup(key), value ? strdup(value) : NULL, ps->line };

	if (!e.key || (value && !e.value))
		goto fail;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct cfg_entry *nv = realloc(*v, ncap * sizeof *nv);
		if (!nv)
			goto fail;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = e;
	return 0;
fail:
	free(e.key);
	free(e.value);
	return oom(ps);
}

/* "key = value", "key = \"value\"" or a bare "key". */
static int parse_entry(struct parser *ps, char *s)
{
	char shown[160], *p = s, *value = NULL;

	/* An error about the password's line must not show the password. */
	if (strncmp(s, "password", 8) == 0 && !is_key_char(s[8]))
		snprintf(shown, sizeof shown, "password ...");
	else
		printable(shown, sizeof shown, s);
	while (is_key_char(*p))
		p++;
	if (p == s || (*p && *p != '=' && !is_blank(*p)))
		return syntax_error(ps, "unknown syntax \"%s\" (a key is lower-case letters, "
			"digits and \"-\")", shown);
	value = p;
	while (is_blank(*value))
		value++;
	if (*value && *value != '=')
		return syntax_error(ps, "unknown syntax \"%s\" (expected \"key = value\")", shown);
	if (*value) {
		value = trim(value + 1);
		if (*value == '"' && unquote(ps, value, shown) < 0)
			return -1;
	} else {
		value = NULL;
	}
	*p = '\0'; /* ends the key; may overwrite the '=', read above */
	explicit_bzero(shown, sizeof shown); /* it may show the password */
	if (strcmp(s, "password") == 0)
		ps->saw_password = true;
	if (!ps->c || ps->sect == IN_OTHER)
		return 0;
	return push_entry(ps, s, value);
}

/* A line may hold the password: the buffer is wiped, as is stdio's
 * (parse_file's caller gives it one of its own for that). */
static int parse_file(struct parser *ps, FILE *f)
{
	char buf[LINE_MAX_LEN + 1];
	int rc;

	while ((rc = read_line(ps, f, buf)) > 0) {
		char *s = trim(buf);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if ((*s == '[' ? parse_section(ps, s) : parse_entry(ps, s)) < 0) {
			rc = -1;
			break;
		}
	}
	explicit_bzero(buf, sizeof buf);
	return rc;
}

static void free_names(char **names)
{
	if (!names)
		return;
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

/* Opens path for reading; NULL with err set when it can't. */
static FILE *open_config(struct parser *ps, const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	FILE *f;

	if (fd < 0 || fstat(fd, st) < 0 || !(f = fdopen(fd, "r"))) {
		err_set(ps->err, ERR_CONFIG, "cannot read configuration file %s: %s",
			ps->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	return f;
}

/* The file decides where the password goes (server, tls, insecure) and
 * which command runs (password-command): one that another user can
 * change is not this user's configuration. Refused as ssh refuses such
 * a config: owned by someone else than the user or root, or writable by
 * group or others. */
static int check_owner(struct parser *ps, const struct stat *st)
{
	uid_t me = getuid();

	if (st->st_uid != me && st->st_uid != 0) {
		err_set(ps->err, ERR_CONFIG, "%s belongs to another user (uid %u), who could change "
			"what envoi does as you (uid %u)", ps->path, (unsigned)st->st_uid, (unsigned)me);
		err_hint(ps->err, "use a configuration file of your own (or root's)");
		return -1;
	}
	if (st->st_mode & 022)
		return err_set(ps->err, ERR_CONFIG, "%s is writable by %s (mode %04o), who could change "
			       "what envoi does as you: chmod go-w %s", ps->path,
			       st->st_mode & 002 ? "others" : "its group",
			       (unsigned)(st->st_mode & 07777), ps->path);
	return 0;
}

int cfg_load(struct cfg *c, const char *path, const char *account, struct error *err)
{
	struct parser ps = { .c = c, .want = account ? account : "default", .err = err };
	struct stat st;
	char iobuf[4096]; /* stdio's own buffer would keep the file, password too */
	FILE *f;
	int rc;

	memset(c, 0, sizeof *c);
	printable(ps.path, sizeof ps.path, path);
	if (!(f = open_config(&ps, path, &st)))
		return -1;
	setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
	rc = check_owner(&ps, &st);
	if (rc == 0)
		rc = (c->path = strdup(path)) ? parse_file(&ps, f) : oom(&ps);
	fclose(f);
	explicit_bzero(iobuf, sizeof iobuf);
	free_names(ps.names);
	free(ps.name_lines);
	/* A secret other users can read is no longer a secret: refuse it
	 * rather than let the mistake go on unnoticed (as ssh does). */
	if (rc == 0 && ps.saw_password && (st.st_mode & 077))
		rc = err_set(err, ERR_CONFIG, "%s holds a password and is readable by others "
			"(mode %04o): chmod 600 %s", ps.path, (unsigned)(st.st_mode & 07777), ps.path);
	if (rc < 0)
		cfg_free(c);
	return rc;
}

char **cfg_account_names(const char *path)
{
	struct error err;
	struct parser ps = { .c = NULL, .want = "", .err = &err };
	struct stat st;
	FILE *f;

	printable(ps.path, sizeof ps.path, path);
	if (!(f = open_config(&ps, path, &st)))
		return NULL;
	/* for completions: a syntax error later on still leaves the names
	 * found before it worth offering */
	parse_file(&ps, f);
	fclose(f);
	free(ps.name_lines);
	if (!ps.names)
		ps.names = calloc(1, sizeof *ps.names);
	return ps.names;
}

/* Any value may be the password: each is wiped before it is freed. */
static void free_entries(struct cfg_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		if (v[i].value)
			explicit_bzero(v[i].value, strlen(v[i].value));
		free(v[i].value);
	}
	free(v);
}

void cfg_free(struct cfg *c)
{
	free(c->path);
	free_entries(c->defaults, c->ndefaults);
	free_entries(c->account, c->naccount);
	memset(c, 0, sizeof *c);
}
