/* sendmail.h - sendmail mode: sendmail's command line, so that cron,
 * mail(1), git send-email and PHP can hand envoi their mail. Selected by
 * the program name "sendmail" or by --sendmail as the first argument. */
#ifndef ENVOI_SENDMAIL_H
#define ENVOI_SENDMAIL_H

#include <stdbool.h>

#include "error.h"

enum sm_mode { SM_SEND, SM_LIST, SM_FLUSH, SM_SERVE };

struct sm_args {
	bool t, i, verbose;
	const char *sender, *fullname, *dsn_notify, *dsn_ret, *config;
	const char *command_timeout; /* -O Timeout.command=TIME (for -bs) */
	enum sm_mode mode;
	char **rcpts;    /* points into argv */
	int nrcpts;
};

/* Whether argv asks for sendmail mode. */
bool sm_selected(int argc, char **argv);

/* Parses sendmail's flags from argv[first] on. Returns 0, or -1 with
 * ERR_USAGE naming the one flag that is wrong. a->rcpts is malloc'd
 * (free it), its strings are argv's. */
int sm_parse(struct sm_args *a, int argc, char **argv, int first, struct error *err);

/* sendmail's callers understand sysexits only: envoi's own classes
 * mapped onto them (80-83 -> 69, 84-86 -> 77, 87, 88 -> 67, 89 -> 65,
 * 79 -> 69). */
int sm_exit_code(int code);

/* Runs sendmail mode. Returns the exit code. */
int sendmail_main(int argc, char **argv);

#endif
