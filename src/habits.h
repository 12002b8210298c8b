/* habits.h - what users of other mail tools do by habit, recognised so
 * that envoi can say what it took their input for. */
#ifndef ENVOI_HABITS_H
#define ENVOI_HABITS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether head (the first bytes of a body) starts with a header block:
 * header field lines up to a blank line, among them From, To or Subject,
 * as a whole message piped in would. When it does, names (size bytes)
 * gets the fields found, as "From:, Subject:". */
bool habits_looks_like_message(const char *head, size_t len, char *names, size_t size);

#endif
