/* cli_modes.c - the options of two modes: --batch (its numbers and the
 * message options kept as every line's defaults) and OAuth2 (the
 * account's keys, handed to oauth2_configure). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "jobjson.h"
#include "parse.h"

static int parse_rate(const char *text, unsigned *n, unsigned *window_ms, struct error *err)
{
	static const struct { char unit; unsigned ms; } units[] = {
		{'s', 1000}, {'m', 60000}, {'h', 3600000}};
	const char *slash = strchr(text, '/');
	char number[16];

	if (!slash || slash == text || (size_t)(slash - text) >= sizeof number || strlen(slash) != 2)
		return err_set(err, ERR_USAGE, "--rate: N/s, N/m or N/h expected");
	snprintf(number, sizeof number, "%.*s", (int)(slash - text), text);
	if (parse_uint(number, 1, 1000000, "--rate", n, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof *units; i++)
		if (slash[1] == units[i].unit) {
			*window_ms = units[i].ms;
			return 0;
		}
	return err_set(err, ERR_USAGE, "--rate: N/s, N/m or N/h expected");
}

static int take_batch_numbers(const struct collect *c, struct options *o)
{
	const struct value *v;

	o->connections = 1;
	o->max_per_connection = 100;
	if ((v = cli_last(c, O_CONNECTIONS)) &&
	    parse_uint(v->text, 1, 16, "--connections", &o->connections, c->err) < 0)
		return cli_blame(c, O_CONNECTIONS, v);
	if ((v = cli_last(c, O_MAX_PER_CONNECTION)) &&
	    parse_uint(v->text, 1, 1000000, "--max-per-connection", &o->max_per_connection, c->err) < 0)
		return cli_blame(c, O_MAX_PER_CONNECTION, v);
	if ((v = cli_last(c, O_RATE)) && parse_rate(v->text, &o->rate_n, &o->rate_window_ms, c->err) < 0)
		return cli_blame(c, O_RATE, v);
	return 0;
}

/* In batch mode the message options, wherever they came from, are the
 * defaults of every line, kept as given. */
static int take_defaults(const struct collect *c, struct options *o)
{
	if (!(o->batch_defaults = calloc(1, sizeof *o->batch_defaults)))
		return err_set(c->err, ERR_OSERR, "out of memory");
	for (int id = 0; id < O_COUNT; id++) {
		const struct slot *s = &c->slots[id];

		if (!job_is_message_option((enum opt_id)id))
			continue;
		for (size_t i = 0; i < s->n; i++)
			if (jobvals_add(o->batch_defaults, (enum opt_id)id,
					s->v[i].text ? s->v[i].text : "yes", c->err) < 0)
				return -1;
	}
	return 0;
}

int cli_check_batch(const struct collect *c, struct options *o)
{
	if (o->dry_run || o->pickup_dir || o->sess.probe || cli_from_cmdline(c, O_QUEUE) || o->flush ||
	    o->queue_list)
		return err_set(c->err, ERR_USAGE, "--batch sends: it cannot be combined with "
			       "--dry-run, --pickup-dir, --probe, --queue, --flush or --queue-list");
	if (!o->sess.host)
		return cli_no_server(c->err, o->config_path);
	return 0;
}

/* Without --batch, the batch options mean nothing: say so. */
int cli_build_batch(const struct collect *c, struct options *o)
{
	static const enum opt_id only[] = {O_CONNECTIONS, O_MAX_PER_CONNECTION, O_RATE};

	if (!cli_last(c, O_BATCH)) {
		for (size_t i = 0; i < sizeof only / sizeof *only; i++)
			if (cli_from_cmdline(c, only[i]))
				return err_set(c->err, ERR_USAGE, "--%s needs --batch",
					       opt_table[only[i]].name);
		return 0;
	}
	if (cli_take_str(c, O_BATCH, &o->batch) < 0 || take_batch_numbers(c, o) < 0)
		return -1;
	return take_defaults(c, o);
}

/* ---- OAuth2 --------------------------------------------------------- */

/* The account's oauth2 keys as they were set, for oauth2_configure. */
int cli_take_oauth2(const struct collect *c, struct options *o)
{
	const char *raw[OAUTH2_NKEYS];
	const struct value *from = cli_last(c, O_FROM);

	_Static_assert(O_OAUTH2_SCOPE - O_OAUTH2_PROVIDER + 1 == OAUTH2_NKEYS, "oauth2 keys");
	if (cli_take_flag(c, O_OAUTH2_LOGIN, &o->oauth2_login) < 0)
		return -1;
	for (int i = 0; i < OAUTH2_NKEYS; i++) {
		const struct value *v = cli_last(c, (enum opt_id)(O_OAUTH2_PROVIDER + i));

		raw[i] = v ? v->text : NULL;
	}
	o->sess.oauth2.timeout = o->sess.timeout;
	o->sess.oauth2.verbose = o->sess.output == OUT_VERBOSE;
	return oauth2_configure(&o->sess.oauth2, raw, &(struct oauth2_target){
		.account = o->account, .from = o->msg.from.mailbox ? o->msg.from.mailbox :
		from ? from->text : NULL, .login = o->oauth2_login,
		.mech = &o->sess.auth_mech, .user = &o->sess.user}, c->err);
}
