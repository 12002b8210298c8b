/* config.h - the configuration file (INI).
 *
 *     # comment            ; comment
 *     server = smtp.example.com      <- before any section: defaults
 *     [account work]
 *     user = me@example.com
 *     password-command = pass show mail/work
 *
 * Keys are option long names; a value may be "double quoted" (\" and \\
 * escapes) to keep leading or trailing spaces; a key alone on its line is
 * a flag (value NULL). Only [account NAME] sections exist.
 */
#ifndef ENVOI_CONFIG_H
#define ENVOI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct cfg_entry {
	char *key;
	char *value; /* NULL for a bare flag */
	unsigned line;
};

struct cfg {
	char *path;
	struct cfg_entry *defaults;  /* before any section, in file order */
	size_t ndefaults;
	struct cfg_entry *account;   /* the chosen account's section */
	size_t naccount;
	bool has_account;            /* the chosen section exists */
};

/* Reads path and keeps the defaults and the section [account NAME]
 * (account NULL means "default"). Returns 0, or -1 with ERR_CONFIG on a
 * syntax error (with file and line), an unreadable file, or a file that
 * holds a "password" key and is accessible to group or others. A missing
 * section is not an error here: see has_account. Free with cfg_free. */
int cfg_load(struct cfg *c, const char *path, const char *account, struct error *err);

/* Names of every [account NAME] in path, NULL-terminated, malloc'd (free
 * each and the array). Returns NULL when the file cannot be read. */
char **cfg_account_names(const char *path);

void cfg_free(struct cfg *c);

#endif
