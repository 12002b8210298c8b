/* suggest.h - "did you mean": the known name nearest to a mistyped one. */
#ifndef ENVOI_SUGGEST_H
#define ENVOI_SUGGEST_H

#include <stddef.h>

/* The candidate nearest to word (case-insensitive edit distance, a swap
 * of two neighbours counting as one edit), or one that word starts with
 * ("username" -> "user"); NULL when none is near enough to be a likely
 * typo. Returns a pointer into cand; nothing to free. */
const char *suggest_nearest(const char *word, const char *const *cand, size_t n);

#endif
