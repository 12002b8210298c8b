/* fuzz_rawmsg.c - libFuzzer target for the --message-file reader. The
 * input is the file (in a memfd). When raw_scan accepts it, raw_write
 * must give CRLF lines of at most 998 octets, a header without Bcc, a
 * Date and a Message-ID, and the envelope read from the headers must
 * hold only mailboxes with an '@'. */
#include <strings.h>

#include "fuzz.h"

#include "message.h"
#include "rawmsg.h"

static void check_list(const struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		FUZZ_CHECK(l->v[i].mailbox && strchr(l->v[i].mailbox, '@'));
}

static void check_output(const char *s, size_t len)
{
	bool in_header = true, date = false, id = false;

	for (size_t i = 0; i < len;) {
		const char *crlf = memmem(s + i, len - i, "\r\n", 2);
		size_t n;

		FUZZ_CHECK(crlf != NULL);
		n = (size_t)(crlf - (s + i));
		FUZZ_CHECK(n <= 998 && memchr(s + i, '\n', n) == NULL);
		FUZZ_CHECK(memchr(s + i, '\r', n) == NULL && memchr(s + i, '\0', n) == NULL);
		if (in_header) {
			FUZZ_CHECK(n < 4 || strncasecmp(s + i, "Bcc:", 4) != 0);
			date |= n >= 5 && strncasecmp(s + i, "Date:", 5) == 0;
			id |= n >= 11 && strncasecmp(s + i, "Message-ID:", 11) == 0;
			in_header = n > 0;
		}
		i += n + 2;
	}
	FUZZ_CHECK(date && id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct message m;
	struct error err;

	memset(&m, 0, sizeof m);
	m.text.fd = m.html.fd = -1;
	m.message_fd = fuzz_memfd(data, size);
	snprintf(m.date, sizeof m.date, "Sat, 22 Nov 2025 10:00:00 +0000");
	snprintf(m.message_id, sizeof m.message_id, "<fuzz.1@example.com>");
	if (raw_scan(&m, &err) == 0) {
		struct mem_sink out;

		if (m.have_from)
			FUZZ_CHECK(m.from.mailbox && strchr(m.from.mailbox, '@'));
		check_list(&m.to);
		check_list(&m.cc);
		check_list(&m.bcc);
		mem_init(&out, &err);
		FUZZ_CHECK(raw_write(&m, &out.base) == 0);
		check_output(out.buf, out.len);
		free(out.buf);
	} else {
		FUZZ_CHECK(err.cls == ERR_DATA || err.cls == ERR_OSERR);
	}
	msg_free(&m);
	return 0;
}
