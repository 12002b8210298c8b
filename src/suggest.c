/* suggest.c - "did you mean": the known name nearest to a mistyped one. */
#include "suggest.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define WORD_MAX 64

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

/* Optimal string alignment distance: insertions, deletions, changes and
 * swaps of neighbours, the typing mistakes people make. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[WORD_MAX + 1][WORD_MAX + 1];

	if (la > WORD_MAX || lb > WORD_MAX)
		return (size_t)-1;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);

			d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
			if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < d[i][j])
				d[i][j] = d[i - 2][j - 2] + 1;
		}
	return d[la][lb];
}

const char *suggest_nearest(const char *word, const char *const *cand, size_t n)
{
	size_t len = strlen(word), best_d = len >= 8 ? 3 : len >= 4 ? 2 : 1;
	const char *best = NULL;

	for (size_t i = 0; i < n; i++) {
		size_t d = distance(word, cand[i]), cl = strlen(cand[i]);

		if (d < best_d || (d == best_d && !best)) {
			best = cand[i];
			best_d = d;
		}
		/* "username", "subjectline": the known name and something more */
		if (!best && cl >= 3 && cl < len && strncasecmp(word, cand[i], cl) == 0)
			best = cand[i];
	}
	return best;
}
