/* dotstuff.c - CRLF normalising and dot-stuffing for DATA.
 *
 * The composer already writes CRLF only, so the common case is a line
 * found with memchr that ends in CRLF and does not start with '.': it
 * stays in the run, and a whole block goes on in one write. Only the
 * rare bytes (a lone CR, a bare LF, a leading '.') are handled one by
 * one.
 */
#include "dotstuff.h"

#include <string.h>

static int emit(struct dot_sink *d, const char *p, size_t n)
{
	return sink_write(d->next, p, n);
}

/* Handles one byte that needs thought (CR, LF, or '.' at a line start). */
static int special(struct dot_sink *d, char c)
{
	if (d->cr && c != '\n') {
		/* A lone CR ends a line of its own. */
		if (emit(d, "\n", 1) < 0)
			return -1;
		d->cr = false;
		d->line_start = true;
	}
	if (c == '\r') {
		d->cr = true;
		return emit(d, "\r", 1);
	}
	if (c == '\n') {
		int rc = d->cr ? emit(d, "\n", 1) : emit(d, "\r\n", 2);

		d->cr = false;
		d->line_start = true;
		return rc;
	}
	if (c == '.' && d->line_start && emit(d, ".", 1) < 0)
		return -1;
	d->line_start = false;
	return emit(d, &c, 1);
}

/* Writes the bytes from *run to p, then handles the byte at p alone. */
static int step(struct dot_sink *d, const char **run, const char *p)
{
	if (p > *run && emit(d, *run, (size_t)(p - *run)) < 0)
		return -1;
	*run = p + 1;
	return special(d, *p);
}

static int dot_write(struct sink *s, const void *buf, size_t len)
{
	struct dot_sink *d = (struct dot_sink *)s;
	const char *p = buf, *end = p + len, *run = p;

	while (p < end) {
		const char *nl, *stop, *cr;

		if (d->cr || (d->line_start && *p == '.')) {
			if (step(d, &run, p++) < 0)
				return -1;
			continue;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		stop = nl ? nl : end;
		cr = memchr(p, '\r', (size_t)(stop - p));
		if (cr && cr != stop - 1) {          /* a CR inside the line */
			p = cr;
		} else if (!nl) {                    /* the line goes on in the next block */
			if (cr)
				p = cr;
			else {
				p = end;
				d->line_start = false;
				break;
			}
		} else if (nl == p || nl[-1] != '\r') { /* a bare LF */
			p = nl;
		} else {                             /* a proper CRLF: stays in the run */
			p = nl + 1;
			d->line_start = true;
			continue;
		}
		if (step(d, &run, p++) < 0)
			return -1;
	}
	return p > run ? emit(d, run, (size_t)(p - run)) : 0;
}

static int dot_flush(struct sink *s)
{
	return sink_flush(((struct dot_sink *)s)->next);
}

void dot_init(struct dot_sink *d, struct sink *next)
{
	d->base.write = dot_write;
	d->base.flush = dot_flush;
	d->base.err = next->err;
	d->next = next;
	d->line_start = true;
	d->cr = false;
}

int dot_finish(struct dot_sink *d)
{
	if (d->cr && special(d, '\n') < 0)
		return -1;
	if (!d->line_start && emit(d, "\r\n", 2) < 0)
		return -1;
	return emit(d, ".\r\n", 3);
}
