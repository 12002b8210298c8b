/* main.c - envoi: parse, prepare, deliver, and turn the outcome into one
 * line and an exit code. The only place that prints a result or exits. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "mime.h"
#include "pickup.h"

static int fail(const struct options *o, const struct error *err)
{
	char line[2048];

	err_format(err, line, sizeof line);
	fprintf(stderr, "%s\n", line);
	(void)o;
	return err_exit_code(err->cls);
}

static int dry_run(const struct message *m, struct error *err)
{
	struct sink_fd *out = malloc(sizeof *out);
	int rc;

	if (!out)
		return err_set(err, ERR_OSERR, "out of memory");
	sink_fd_init(out, STDOUT_FILENO, err);
	rc = mime_write(m, &out->base);
	free(out);
	return rc;
}

static int deliver(struct options *o, struct error *err)
{
	char path[4096];

	if (o->dry_run)
		return dry_run(&o->msg, err);
	if (o->pickup_dir) {
		if (pickup_deliver(&o->msg, o->pickup_dir, path, sizeof path, err) < 0)
			return -1;
		if (o->sess.output != OUT_QUIET)
			fprintf(stderr, "envoi: written to %s\n", path);
		return 0;
	}
	return err_set(err, ERR_SOFTWARE, "sending over SMTP is not built yet");
}

int main(int argc, char **argv)
{
	struct options o;
	struct error err = {0};
	int rc;

	/* A vanished reader must be an error we report, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	rc = cli_parse(&o, argc, argv, &err);
	if (rc == 0)
		rc = msg_prepare(&o.msg, &err);
	if (rc == 0)
		rc = cli_check_envelope(&o, &err);
	if (rc == 0)
		rc = deliver(&o, &err);
	rc = rc < 0 ? fail(&o, &err) : 0;
	cli_free(&o);
	return rc;
}
