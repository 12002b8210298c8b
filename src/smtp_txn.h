/* smtp_txn.h - one transaction in progress, shared by smtp_transact.c
 * (the commands) and smtp_rcpt.c (the result). Engine-internal. */
#ifndef ENVOI_SMTP_TXN_H
#define ENVOI_SMTP_TXN_H

#include "smtp_int.h"

struct txn {
	struct smtp *x;
	const struct smtp_message *m;
	struct smtp_result *r;
	struct error *err;      /* the transaction's outcome, filled once */
	bool failed;            /* err holds the outcome already */
	struct error scratch;   /* failures after the first: nobody reads them */
	bool mail_read, mail_ok;
	bool auth_refused;      /* a login pipelined with MAIL was refused */
};

int txn_refuse_utf8(struct txn *t);
int txn_record_rcpt(struct txn *t, size_t i, const struct reply *reply);
int txn_no_recipient(struct txn *t);
int txn_partial(struct txn *t);
bool txn_maybe_delivered(const struct smtp_result *r);

#endif
