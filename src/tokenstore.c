/* tokenstore.c - the OAuth2 token files (tokenstore.h). */
#include "tokenstore.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyring.h"
#include "oauth2_http.h"
#include "wipe.h"

#define FILE_MAX (1024 * 1024)

char *token_dup(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	(void)mlock(p, len + 1);
	return p;
}

static void wipe_string(char **s)
{
	if (*s)
		wipe_free(*s, strlen(*s));
	*s = NULL;
}

void token_set_clear(struct token_set *t)
{
	wipe_string(&t->refresh);
	wipe_string(&t->access);
	t->expires_at = 0;
}

/* Creates each missing directory of path (mode 0700). */
static int make_dirs(char *path, struct error *err)
{
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			err_set(err, ERR_CANTCREAT, "cannot create the token directory %.300s: %s", path,
				strerror(errno));
			*p = c;
			return -1;
		}
		*p = c;
		if (!c)
			return 0;
	}
}

/* The tokens directory: made 0700 and checked to be this user's. */
static int token_dir(char *dir, size_t size, struct error *err)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	struct stat st;

	if (state && *state)
		snprintf(dir, size, "%s/envoi/tokens", state);
	else if (home && *home)
		snprintf(dir, size, "%s/.local/state/envoi/tokens", home);
	else
		return err_set(err, ERR_CONFIG, "no place for the OAuth2 token store: "
			       "neither XDG_STATE_HOME nor HOME is set");
	if (make_dirs(dir, err) < 0)
		return -1;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(err, ERR_CANTCREAT, "%.300s is not a directory", dir);
	if (st.st_uid != getuid())
		return err_set(err, ERR_CONFIG, "the token directory %.300s belongs to another user "
			       "(uid %u)", dir, (unsigned)st.st_uid);
	/* Made by an older run or by hand: nobody else may read tokens. */
	if ((st.st_mode & 077) && chmod(dir, 0700) < 0)
		return err_set(err, ERR_CANTCREAT, "cannot chmod 700 %.300s: %s", dir, strerror(errno));
	return 0;
}

/* The account's name as a file name: '/' or a leading '.' would leave
 * the directory or hide the file. */
static void file_name(char *out, size_t size, const char *account)
{
	size_t o = 0;

	for (const char *p = account; *p && o + 1 < size; p++) {
		unsigned char ch = (unsigned char)*p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || strchr("-_@+", ch) || (ch == '.' && o);

		out[o++] = ok ? (char)ch : '_';
	}
	out[o] = '\0';
}

int tokenstore_open(struct tokenstore *ts, const char *account, struct error *err)
{
	char dir[3800], name[200], lock[4096];

	ts->lock_fd = -1;
	if (token_dir(dir, sizeof dir, err) < 0)
		return -1;
	snprintf(ts->account, sizeof ts->account, "%s", account && *account ? account : "default");
	ts->in_keyring = false;
	file_name(name, sizeof name, ts->account);
	snprintf(ts->path, sizeof ts->path, "%s/%s.json", dir, name);
	snprintf(lock, sizeof lock, "%s/%s.lock", dir, name);
	ts->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ts->lock_fd < 0)
		return err_set(err, ERR_CANTCREAT, "cannot open %.300s: %s", lock, strerror(errno));
	while (flock(ts->lock_fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return err_set(err, ERR_CANTCREAT, "cannot lock %.300s: %s", lock, strerror(errno));
	return 0;
}

void tokenstore_close(struct tokenstore *ts)
{
	if (ts->lock_fd >= 0)
		close(ts->lock_fd); /* releases the lock */
	ts->lock_fd = -1;
}

/* Reads the whole file (at most FILE_MAX bytes) into *buf. */
static int read_all(int fd, const char *path, char **buf, size_t *len, struct error *err)
{
	size_t cap = 4096;
	ssize_t n;

	*len = 0;
	if (!(*buf = malloc(cap)))
		return err_set(err, ERR_OSERR, "out of memory");
	while ((n = read(fd, *buf + *len, cap - *len)) > 0) {
		*len += (size_t)n;
		if (*len == cap && cap < FILE_MAX) {
			char *bigger = malloc(cap * 2);

			if (!bigger)
				return err_set(err, ERR_OSERR, "out of memory");
			memcpy(bigger, *buf, *len);
			wipe_free(*buf, cap);
			*buf = bigger;
			cap *= 2;
		}
		if (*len == cap)
			return err_set(err, ERR_CONFIG, "%.300s is larger than %d bytes", path, FILE_MAX);
	}
	if (n < 0)
		return err_set(err, ERR_CONFIG, "cannot read %.300s: %s", path, strerror(errno));
	return 0;
}

static int take(json_t *o, const char *key, char **out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		return 0;
	*out = token_dup(json_string_value(v), json_string_length(v));
	return *out ? 0 : -1;
}

/* The refresh token the file says is in the keyring. */
static int from_keyring(const struct tokenstore *ts, struct token_set *t, struct error *err)
{
	char *found = keyring_lookup_token(ts->account);

	if (!found) {
		err_set(err, ERR_CONFIG, "the OAuth2 refresh token of account %.100s is in the desktop "
			"keyring, which envoi cannot reach now", ts->account);
		err_hint(err, "run envoi where the keyring is unlocked, or run envoi --oauth2-login "
			 "--account=%.100s again", ts->account);
		return -1;
	}
	t->refresh = token_dup(found, strlen(found));
	wipe_free(found, strlen(found));
	return t->refresh ? 0 : err_set(err, ERR_OSERR, "out of memory");
}

static int parse_entry(const struct tokenstore *ts, const char *buf, size_t len,
		       struct token_set *t, struct error *err)
{
	json_t *o = json_loadb(buf, len, 0, NULL);
	const char *where = json_string_value(json_object_get(o, "refresh_token_in"));
	int rc = 0;

	if (!json_is_object(o))
		rc = err_set(err, ERR_CONFIG, "%.300s is not a token file (a JSON object)", ts->path);
	else if (take(o, "refresh_token", &t->refresh) < 0 || take(o, "access_token", &t->access) < 0)
		rc = err_set(err, ERR_OSERR, "out of memory");
	else if (!t->refresh && where && strcmp(where, "keyring") == 0)
		rc = from_keyring(ts, t, err);
	if (rc == 0 && json_is_integer(json_object_get(o, "expires_at")))
		t->expires_at = json_integer_value(json_object_get(o, "expires_at"));
	json_decref(o);
	return rc;
}

int tokenstore_load(struct tokenstore *ts, struct token_set *t, struct error *err)
{
	int fd = open(ts->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(t, 0, sizeof *t);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return err_set(err, ERR_CONFIG, "cannot read %.300s: %s", ts->path, strerror(errno));
	oauth2_json_wiping();
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		rc = err_set(err, ERR_CONFIG, "%.300s holds tokens and is readable by others "
			     "(mode %04o): chmod 600 %.300s", ts->path, (unsigned)(st.st_mode & 07777),
			     ts->path);
	else
		rc = read_all(fd, ts->path, &buf, &len, err);
	close(fd);
	if (rc == 0)
		rc = parse_entry(ts, buf, len, t, err);
	if (buf)
		wipe_free(buf, len);
	if (rc < 0)
		token_set_clear(t);
	return rc;
}

static char *entry_text(const struct token_set *t, bool in_keyring)
{
	json_t *o;
	char *text;

	oauth2_json_wiping();
	if (!(o = json_object()))
		return NULL;
	if (in_keyring)
		json_object_set_new(o, "refresh_token_in", json_string("keyring"));
	else if (t->refresh)
		json_object_set_new(o, "refresh_token", json_string(t->refresh));
	if (t->access)
		json_object_set_new(o, "access_token", json_string(t->access));
	json_object_set_new(o, "expires_at", json_integer(t->expires_at));
	text = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	return text;
}

/* Writes text to a new 0600 file beside path, flushed to the disk. */
static int write_temp(const char *path, const char *text, char *tmp, size_t size, struct error *err)
{
	size_t len = strlen(text), done = 0;
	int fd;

	snprintf(tmp, size, "%s.XXXXXX", path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return err_set(err, ERR_CANTCREAT, "cannot create %.300s: %s", tmp, strerror(errno));
	(void)fchmod(fd, 0600);
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		done += (size_t)n;
	}
	if (done < len || fsync(fd) < 0 || close(fd) < 0) {
		err_set(err, ERR_CANTCREAT, "cannot write %.300s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int tokenstore_save(struct tokenstore *ts, const struct token_set *t, struct error *err)
{
	char tmp[4200], dir[4096], *text;
	int rc, dfd;

	/* The keyring first: the file then never names a token not there. */
	ts->in_keyring = t->refresh && keyring_store_token(ts->account, t->refresh) == 0;
	text = entry_text(t, ts->in_keyring);

	if (!text)
		return err_set(err, ERR_OSERR, "out of memory");
	rc = write_temp(ts->path, text, tmp, sizeof tmp, err);
	wipe_free(text, strlen(text));
	if (rc < 0)
		return -1;
	if (rename(tmp, ts->path) < 0) {
		err_set(err, ERR_CANTCREAT, "cannot rename %.300s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* The rename itself must reach the disk before the token is used. */
	snprintf(dir, sizeof dir, "%s", ts->path);
	*strrchr(dir, '/') = '\0';
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}
