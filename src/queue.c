/* queue.c - the queue directory: entries written atomically, listed,
 * locked one by one and settled after a flush. */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int queue_default_dir(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg && *xdg)
		n = snprintf(buf, size, "%s/envoi/queue", xdg);
	else if (home && *home)
		n = snprintf(buf, size, "%s/.local/state/envoi/queue", home);
	else if (geteuid() == 0)
		n = snprintf(buf, size, "/var/spool/envoi");
	else
		return -1; /* no place of this user's own: report, not queue */
	return n > 0 && (size_t)n < size ? 0 : -1;
}

int queue_parse_lifetime(const char *s, unsigned long *secs, struct error *err)
{
	static const char units[] = "smhd";
	static const unsigned long mult[] = {1, 60, 3600, 86400};
	const char *u = units;
	unsigned long v = 0;
	char *end = NULL;

	errno = 0;
	if (*s >= '0' && *s <= '9')
		v = strtoul(s, &end, 10);
	if (!end || errno || (end[0] && end[1]) || (end[0] && !(u = strchr(units, end[0]))))
		goto bad;
	if (v == 0 || v > 3650ul * 86400 / mult[u - units])
		goto bad;
	*secs = v * mult[u - units];
	return 0;
bad:
	return err_set(err, ERR_USAGE, "invalid queue lifetime \"%.40s\": give a number with s, m, h "
		       "or d, e.g. 5d", s);
}

/* mkdir -p, each directory it creates 0700: a queue holds mail. */
static int make_dir(const char *dir, struct error *err)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof path)
		return err_set(err, ERR_CANTCREAT, "invalid queue directory");
	memcpy(path, dir, n + 1);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return err_set(err, ERR_CANTCREAT, "cannot create the queue directory %s: %s",
				       path, strerror(errno));
		*p = c;
		if (!c)
			return 0;
	}
}

static void new_id(char *id, size_t size)
{
	static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned char rnd[8] = {0};
	char tail[9];
	time_t now = time(NULL);
	struct tm tm;

	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		abort(); /* an id that could collide would overwrite mail */
	for (size_t i = 0; i < 8; i++)
		tail[i] = alphabet[rnd[i] % 36];
	tail[8] = '\0';
	gmtime_r(&now, &tm);
	snprintf(id, size, "%04d%02d%02d%02d%02d%02d-%s", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tail);
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int write_text(void *ctx, int fd, struct error *err)
{
	const char *text = ctx;

	if (write_all(fd, text, strlen(text)) < 0)
		return err_set(err, ERR_CANTCREAT, "cannot write to the queue: %s", strerror(errno));
	return 0;
}

/* dir/name appears whole or not at all: written as dir/tmp.name,
 * synced, renamed, and the directory synced. */
static int write_atomic(const char *dir, const char *name,
			int (*fill)(void *ctx, int fd, struct error *err), void *ctx,
			struct error *err)
{
	char tmp[4200], final[4200];
	int fd, rc;

	snprintf(tmp, sizeof tmp, "%s/tmp.%s", dir, name);
	snprintf(final, sizeof final, "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(err, ERR_CANTCREAT, "cannot create %s: %s", tmp, strerror(errno));
	rc = fill(ctx, fd, err);
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(err, ERR_CANTCREAT, "cannot sync %s: %s", tmp, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(err, ERR_CANTCREAT, "cannot write %s: %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, final) < 0)
		rc = err_set(err, ERR_CANTCREAT, "cannot rename %s: %s", tmp, strerror(errno));
	if (rc < 0) {
		unlink(tmp);
		return -1;
	}
	if (sync_dir(dir) < 0)
		return err_set(err, ERR_CANTCREAT, "cannot sync %s: %s", dir, strerror(errno));
	return 0;
}

static int write_env(const char *dir, const char *id, const struct queue_env *env,
		     struct error *err)
{
	char name[80], *text = queue_env_format(env);
	int rc;

	if (!text)
		return err_set(err, ERR_OSERR, "out of memory");
	snprintf(name, sizeof name, "%s.env", id);
	rc = write_atomic(dir, name, write_text, text, err);
	free(text);
	return rc;
}

int queue_add(const char *dir, const struct queue_env *env,
	      int (*write_msg)(void *ctx, int fd, struct error *err), void *ctx, char *id,
	      struct error *err)
{
	char name[80], path[4200];

	if (make_dir(dir, err) < 0)
		return -1;
	new_id(id, 64);
	snprintf(name, sizeof name, "%s.msg", id);
	if (write_atomic(dir, name, write_msg, ctx, err) < 0)
		return -1;
	if (write_env(dir, id, env, err) < 0) {
		snprintf(path, sizeof path, "%s/%s", dir, name);
		unlink(path);
		return -1;
	}
	return 0;
}

/* ---- the envelope file ------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

/* Appends "key value\n", control bytes of the value made '?' so that a
 * value can never start a line of its own. */
static void put_kv(struct buf *b, const char *key, const char *value)
{
	size_t need = strlen(key) + strlen(value) + 3;

	if (b->failed)
		return;
	if (b->len + need > b->cap) {
		size_t cap = (b->cap + need) * 2;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	b->len += (size_t)sprintf(b->p + b->len, "%s %s\n", key, value);
	for (char *q = b->p + b->len - strlen(value) - 1; q < b->p + b->len - 1; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
}

char *queue_env_format(const struct queue_env *env)
{
	struct buf b = {0};
	char num[32];

	put_kv(&b, "envoi-queue", "1");
	if (env->account)
		put_kv(&b, "account", env->account);
	if (env->config)
		put_kv(&b, "config", env->config);
	put_kv(&b, "sender", env->sender ? env->sender : "");
	for (size_t i = 0; i < env->nrcpts; i++)
		put_kv(&b, "rcpt", env->rcpts[i]);
	snprintf(num, sizeof num, "%lld", (long long)env->created);
	put_kv(&b, "created", num);
	snprintf(num, sizeof num, "%u", env->attempts);
	put_kv(&b, "attempts", num);
	if (env->error)
		put_kv(&b, "error", env->error);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p ? b.p : strdup("");
}

static int take_line(struct queue_env *env, const char *key, const char *value)
{
	char **slot = NULL, **v;

	if (strcmp(key, "account") == 0)
		slot = &env->account;
	else if (strcmp(key, "config") == 0)
		slot = &env->config;
	else if (strcmp(key, "sender") == 0)
		slot = &env->sender;
	else if (strcmp(key, "error") == 0)
		slot = &env->error;
	else if (strcmp(key, "created") == 0)
		env->created = (time_t)strtoll(value, NULL, 10);
	else if (strcmp(key, "attempts") == 0)
		env->attempts = (unsigned)strtoul(value, NULL, 10);
	else if (strcmp(key, "rcpt") == 0) {
		if (!(v = realloc(env->rcpts, (env->nrcpts + 1) * sizeof *v)))
			return -1;
		env->rcpts = v;
		slot = &env->rcpts[env->nrcpts++];
		*slot = NULL;
	}
	if (slot) {
		free(*slot);
		if (!(*slot = strdup(value)))
			return -1;
	}
	return 0;
}

int queue_env_parse(const char *text, struct queue_env *env, struct error *err)
{
	memset(env, 0, sizeof *env);
	if (strncmp(text, "envoi-queue 1\n", 14) != 0)
		return err_set(err, ERR_DATA, "not an envoi queue entry");
	for (const char *p = text + 14; *p;) {
		const char *nl = strchr(p, '\n'), *sp = strchr(p, ' ');
		char key[32], *value;

		if (!nl || !sp || sp > nl || (size_t)(sp - p) >= sizeof key)
			break;
		snprintf(key, sizeof key, "%.*s", (int)(sp - p), p);
		value = strndup(sp + 1, (size_t)(nl - sp - 1));
		if (!value || take_line(env, key, value) < 0) {
			free(value);
			queue_env_free(env);
			return err_set(err, ERR_OSERR, "out of memory");
		}
		free(value);
		p = nl + 1;
	}
	if (!env->sender || env->nrcpts == 0) {
		queue_env_free(env);
		return err_set(err, ERR_DATA, "queue entry without sender or recipients");
	}
	return 0;
}

void queue_env_free(struct queue_env *env)
{
	free(env->account);
	free(env->config);
	free(env->sender);
	for (size_t i = 0; i < env->nrcpts; i++)
		free(env->rcpts[i]);
	free(env->rcpts);
	free(env->error);
	memset(env, 0, sizeof *env);
}

/* ---- reading the directory ------------------------------------- */

static int is_env(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 4 && n < 60 && strcmp(d->d_name + n - 4, ".env") == 0 &&
	       strncmp(d->d_name, "tmp.", 4) != 0;
}

/* The ids in dir, oldest first (ids start with the time). Returns the
 * count with *ids malloc'd (free each and the array), or -1. */
static long scan_ids(const char *dir, char ***ids, struct error *err)
{
	struct dirent **list;
	int n = scandir(dir, &list, is_env, alphasort);

	*ids = NULL;
	if (n < 0 && errno == ENOENT)
		return 0;
	if (n < 0)
		return err_set(err, ERR_NOPERM, "cannot read the queue %s: %s", dir, strerror(errno));
	*ids = calloc((size_t)n + 1, sizeof **ids);
	for (int i = 0; i < n; i++) {
		if (*ids)
			(*ids)[i] = strndup(list[i]->d_name, strlen(list[i]->d_name) - 4);
		free(list[i]);
	}
	free(list);
	return *ids ? n : err_set(err, ERR_OSERR, "out of memory");
}

static void free_ids(char **ids, long n)
{
	for (long i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static char *read_small(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return NULL;
	n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Reads dir/ID.env and measures ID.msg. Returns 0, or -1 when the
 * entry is gone or unreadable. */
static int load_entry(const char *dir, const char *id, struct queue_entry *e, struct error *err)
{
	char path[4200], *text;
	struct stat st;
	int rc;

	memset(e, 0, sizeof *e);
	e->lock_fd = -1;
	snprintf(e->id, sizeof e->id, "%s", id);
	snprintf(e->msg_path, sizeof e->msg_path, "%s/%s.msg", dir, id);
	snprintf(path, sizeof path, "%s/%s.env", dir, id);
	if (!(text = read_small(path)))
		return err_set(err, ERR_NOPERM, "cannot read %s: %s", path, strerror(errno));
	rc = queue_env_parse(text, &e->env, err);
	free(text);
	if (rc == 0 && stat(e->msg_path, &st) == 0)
		e->size = (uint64_t)st.st_size;
	return rc;
}

static void format_age(time_t secs, char *buf, size_t size)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(buf, size, "%llds", (long long)secs);
	else if (secs < 7200)
		snprintf(buf, size, "%lldm", (long long)secs / 60);
	else if (secs < 172800)
		snprintf(buf, size, "%lldh", (long long)secs / 3600);
	else
		snprintf(buf, size, "%lldd", (long long)secs / 86400);
}

static void print_entry(FILE *out, const struct queue_entry *e, time_t now)
{
	char age[32];

	format_age(now - e->env.created, age, sizeof age);
	fprintf(out, "%s\t%s\t%llu\t<%s>\t", e->id, age, (unsigned long long)e->size,
		e->env.sender);
	for (size_t i = 0; i < e->env.nrcpts; i++)
		fprintf(out, "%s<%s>", i ? "," : "", e->env.rcpts[i]);
	fprintf(out, "\t%s\n", e->env.error ? e->env.error : "-");
}

long queue_list(const char *dir, FILE *out, time_t now, struct error *err)
{
	char **ids;
	long n = scan_ids(dir, &ids, err), shown = 0;
	struct error skip;

	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		struct queue_entry e;

		/* An entry sent while we list it is simply gone. */
		if (load_entry(dir, ids[i], &e, &skip) < 0)
			continue;
		print_entry(out, &e, now);
		queue_env_free(&e.env);
		shown++;
	}
	free_ids(ids, n);
	return shown;
}

/* ---- flushing ---------------------------------------------------- */

/* Takes the entry's lock without waiting. 1: held (and the entry still
 * there), 0: another flush holds it or it is gone, -1: cannot open. */
static int lock_entry(const char *dir, struct queue_entry *e)
{
	char path[4200];
	struct stat st;
	int fd = open(e->msg_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return 0;
	}
	/* A flush that finished between our listing and our lock has
	 * removed the entry: the .env is gone, the .msg unlinked. */
	snprintf(path, sizeof path, "%s/%s.env", dir, e->id);
	if (fstat(fd, &st) < 0 || st.st_nlink == 0 || access(path, F_OK) < 0) {
		close(fd);
		return 0;
	}
	e->lock_fd = fd;
	return 1;
}

static void unlock_entry(struct queue_entry *e)
{
	if (e->lock_fd >= 0)
		close(e->lock_fd);
	e->lock_fd = -1;
}

/* The .env goes first: from then on the entry is not in the queue. */
static void remove_entry(const char *dir, const struct queue_entry *e)
{
	char path[4200];

	snprintf(path, sizeof path, "%s/%s.env", dir, e->id);
	unlink(path);
	unlink(e->msg_path);
	sync_dir(dir);
}

static void move_to_failed(const char *dir, const struct queue_entry *e, const char *reply)
{
	char failed[4200], from[4200], to[4300], name[80];
	struct error ignored;

	snprintf(failed, sizeof failed, "%s/failed", dir);
	if (make_dir(failed, &ignored) < 0)
		return;
	snprintf(name, sizeof name, "%s.reply", e->id);
	if (write_atomic(failed, name, write_text, (void *)reply, &ignored) < 0)
		return;
	snprintf(from, sizeof from, "%s/%s.env", dir, e->id);
	snprintf(to, sizeof to, "%s/%s.env", failed, e->id);
	if (rename(from, to) < 0)
		return;
	snprintf(to, sizeof to, "%s/%s.msg", failed, e->id);
	rename(e->msg_path, to);
	sync_dir(failed);
	sync_dir(dir);
}

static void settle(const char *dir, struct queue_entry *e, struct queue_outcome *o,
		   struct queue_tally *t)
{
	struct error ignored;

	if (o->verdict == QV_SENT) {
		remove_entry(dir, e);
		t->sent++;
	} else if (o->verdict == QV_FAILED) {
		move_to_failed(dir, e, o->reply);
		t->failed++;
	} else {
		free(e->env.error);
		e->env.error = strdup(o->reply);
		e->env.attempts++;
		write_env(dir, e->id, &e->env, &ignored);
		t->deferred++;
	}
}

static bool same_account(const struct queue_env *a, const struct queue_env *b)
{
	return !a->account == !b->account && (!a->account || strcmp(a->account, b->account) == 0) &&
	       !a->config == !b->config && (!a->config || strcmp(a->config, b->config) == 0);
}

/* Locks and loads one entry. 1: held, 0: skipped (busy or gone). */
static int take_entry(const char *dir, const char *id, struct queue_entry *e)
{
	struct error ignored;
	int rc;

	memset(e, 0, sizeof *e);
	snprintf(e->id, sizeof e->id, "%s", id);
	snprintf(e->msg_path, sizeof e->msg_path, "%s/%s.msg", dir, id);
	if ((rc = lock_entry(dir, e)) <= 0)
		return 0;
	rc = e->lock_fd;
	/* Read under the lock: another flush may have narrowed it. */
	if (load_entry(dir, id, e, &ignored) < 0) {
		close(rc);
		return 0;
	}
	e->lock_fd = rc;
	return 1;
}

static void expire(const char *dir, struct queue_entry *e, unsigned long lifetime,
		   queue_note_fn note, void *ctx)
{
	struct queue_outcome o = {.verdict = QV_FAILED};
	char age[32];

	format_age((time_t)lifetime, age, sizeof age);
	snprintf(o.reply, sizeof o.reply, "expired: still queued after %s; last error: %s", age,
		 e->env.error ? e->env.error : "none");
	move_to_failed(dir, e, o.reply);
	if (note)
		note(ctx, e, &o, true);
}

/* Hands the held entries to send, a group per account, and settles them. */
static int send_groups(const char *dir, struct queue_entry *held, size_t n, queue_send_fn send,
		       queue_note_fn note, void *ctx, struct queue_tally *t)
{
	struct queue_entry **group = calloc(n ? n : 1, sizeof *group);
	struct queue_outcome *out = calloc(n ? n : 1, sizeof *out);
	bool *done = calloc(n ? n : 1, sizeof *done);

	for (size_t i = 0; group && out && done && i < n; i++) {
		size_t k = 0;

		if (done[i])
			continue;
		for (size_t j = i; j < n; j++)
			if (!done[j] && same_account(&held[i].env, &held[j].env)) {
				group[k++] = &held[j];
				done[j] = true;
			}
		memset(out, 0, k * sizeof *out);
		send(ctx, group, k, out);
		for (size_t j = 0; j < k; j++) {
			settle(dir, group[j], &out[j], t);
			if (note)
				note(ctx, group[j], &out[j], false);
			unlock_entry(group[j]);
		}
	}
	free(done);
	free(out);
	free(group);
	return 0;
}

int queue_flush(const char *dir, unsigned long lifetime, queue_send_fn send,
		queue_note_fn note, void *ctx, struct queue_tally *t, struct error *err)
{
	char **ids;
	long n = scan_ids(dir, &ids, err);
	struct queue_entry *held;
	size_t nheld = 0;
	time_t now = time(NULL);

	memset(t, 0, sizeof *t);
	if (n < 0)
		return -1;
	held = calloc((size_t)n + 1, sizeof *held);
	if (!held) {
		free_ids(ids, n);
		return err_set(err, ERR_OSERR, "out of memory");
	}
	for (long i = 0; i < n; i++) {
		struct queue_entry *e = &held[nheld];

		if (!take_entry(dir, ids[i], e)) {
			t->busy++;
			continue;
		}
		if (now - e->env.created <= (time_t)lifetime) {
			nheld++;
			continue;
		}
		expire(dir, e, lifetime, note, ctx);
		t->failed++;
		unlock_entry(e);
		queue_env_free(&e->env);
	}
	send_groups(dir, held, nheld, send, note, ctx, t);
	for (size_t i = 0; i < nheld; i++)
		queue_env_free(&held[i].env);
	free(held);
	free_ids(ids, n);
	return 0;
}
