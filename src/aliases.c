/* aliases.c - the aliases file and the recursive lookup. */
#include "aliases.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEPTH_MAX 20

static char *trimmed(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

static int add_alias(struct aliases *a, const char *line, struct error *err)
{
	const char *colon = strchr(line, ':');
	struct alias *v;

	if (!colon || colon == line)
		return 0; /* not an alias line: ignored, as newaliases warns */
	v = realloc(a->v, (a->n + 1) * sizeof *v);
	if (!v)
		return err_set(err, ERR_OSERR, "out of memory");
	a->v = v;
	v[a->n].name = trimmed(line, (size_t)(colon - line));
	v[a->n].value = trimmed(colon + 1, strlen(colon + 1));
	if (!v[a->n].name || !v[a->n].value)
		return err_set(err, ERR_OSERR, "out of memory");
	for (char *p = v[a->n].name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	a->n++;
	return 0;
}

/* Joins continuation lines to their alias line, then adds it. */
int aliases_parse(struct aliases *a, const char *text, struct error *err)
{
	char *line = NULL;
	size_t len = 0;
	int rc = 0;

	for (const char *p = text; rc == 0 && *p;) {
		size_t n = strcspn(p, "\n");
		bool cont = *p == ' ' || *p == '\t';

		if (*p == '#' || (cont && !line)) {
			/* comment, or a stray continuation */
		} else if (cont) {
			char *l = realloc(line, len + n + 2);

			if (!l) {
				rc = err_set(err, ERR_OSERR, "out of memory");
				break;
			}
			line = l;
			line[len++] = ' ';
			memcpy(line + len, p, n);
			line[len += n] = '\0';
		} else {
			if (line)
				rc = add_alias(a, line, err);
			free(line);
			line = strndup(p, n);
			len = n;
		}
		p += n + (p[n] == '\n');
	}
	if (rc == 0 && line)
		rc = add_alias(a, line, err);
	free(line);
	return rc;
}

int aliases_load(struct aliases *a, const char *path, struct error *err)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t cap = 0;
	int rc;

	memset(a, 0, sizeof *a);
	if (!f)
		return err_set(err, ERR_CONFIG, "cannot read the aliases file %s: %s", path,
			       strerror(errno));
	if (getdelim(&text, &cap, '\0', f) < 0) {
		free(text);
		text = strdup("");
	}
	fclose(f);
	rc = text ? aliases_parse(a, text, err) : err_set(err, ERR_OSERR, "out of memory");
	free(text);
	return rc;
}

static const struct alias *find(const struct aliases *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcasecmp(a->v[i].name, name) == 0)
			return &a->v[i];
	return NULL;
}

static int push(char ***out, size_t *n, const char *s, size_t len, struct error *err)
{
	char **v = realloc(*out, (*n + 1) * sizeof *v);

	if (!v || !(v[*n] = strndup(s, len)))
		return err_set(err, ERR_OSERR, "out of memory");
	*out = v;
	(*n)++;
	return 0;
}

struct walk {
	const struct aliases *a;
	const char *path[DEPTH_MAX]; /* the names being expanded */
	int depth;
	char ***out;
	size_t *n;
	struct error *err;
};

static int expand(struct walk *w, const char *name);

static bool on_path(const struct walk *w, const char *name)
{
	for (int i = 0; i < w->depth; i++)
		if (strcasecmp(w->path[i], name) == 0)
			return true;
	return false;
}

static int expand_item(struct walk *w, const char *item)
{
	bool local = !strchr(item, '@');

	/* |pipe, /file and :include: need a local delivery agent */
	if (!*item || *item == '|' || *item == '/' || strncasecmp(item, ":include:", 9) == 0)
		return 0;
	if (local && !on_path(w, item) && find(w->a, item))
		return expand(w, item);
	return push(w->out, w->n, item, strlen(item), w->err);
}

static int expand(struct walk *w, const char *name)
{
	const struct alias *al = find(w->a, name);
	char *copy, *save = NULL;
	int rc = 0;

	if (w->depth == DEPTH_MAX)
		return err_set(w->err, ERR_CONFIG, "aliases nest deeper than %d levels at \"%.60s\"",
			       DEPTH_MAX, name);
	if (!(copy = strdup(al->value)))
		return err_set(w->err, ERR_OSERR, "out of memory");
	w->path[w->depth++] = al->name;
	for (char *t = strtok_r(copy, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save)) {
		char *item = trimmed(t, strlen(t));

		if (!item)
			rc = err_set(w->err, ERR_OSERR, "out of memory");
		else
			rc = expand_item(w, item);
		free(item);
	}
	w->depth--;
	free(copy);
	return rc;
}

int aliases_expand(const struct aliases *a, const char *name, char ***out, size_t *n,
		   struct error *err)
{
	struct walk w = {.a = a, .out = out, .n = n, .err = err};
	size_t before = *n;

	if (!find(a, name))
		return 0;
	if (expand(&w, name) < 0)
		return -1;
	return (int)(*n - before);
}

void aliases_free(struct aliases *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].name);
		free(a->v[i].value);
	}
	free(a->v);
	memset(a, 0, sizeof *a);
}
