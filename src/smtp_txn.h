/* smtp_txn.h - one transaction in progress, shared by smtp_transact.c
 * (the commands) and smtp_rcpt.c (the result). Engine-internal. */
#ifndef ENVOI_SMTP_TXN_H
#define ENVOI_SMTP_TXN_H

#include "smtp_int.h"

struct txn {
	struct smtp *x;
	void *tag;              /* the caller's, handed back with the outcome */
	const struct smtp_message *m;
	struct smtp_result *r;
	struct error *err;      /* the transaction's outcome, filled once */
	bool failed;            /* err holds the outcome already */
	struct error scratch;   /* failures after the first: nobody reads them */
	bool mail_read, mail_ok;
	bool auth_refused;      /* a login pipelined with MAIL was refused */
	/* in the window */
	size_t owed;            /* replies owed to its commands */
	bool bdat;              /* its data command is BDAT */
	int data_code;          /* the reply to DATA, 0 before it */
	bool written;           /* everything it sends has gone out */
	bool session_err;       /* the session ended in one of its own steps */
	enum smtp_state lost_at; /* ...awaiting the reply to this */
	bool done;              /* rc, err and r hold the outcome */
	int rc;
	struct smtp_result result; /* r and err point here in the window */
	struct error error;
};

int txn_refuse_utf8(struct txn *t);
int txn_record_rcpt(struct txn *t, size_t i, const struct reply *reply);
int txn_no_recipient(struct txn *t);
int txn_partial(struct txn *t);
bool txn_maybe_delivered(const struct smtp_result *r);

#endif
