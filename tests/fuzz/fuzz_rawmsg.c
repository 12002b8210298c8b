/* fuzz_rawmsg.c - libFuzzer target for the --message-file reader. The
 * input is the file (in a memfd). When raw_scan accepts it, raw_write
 * must give CRLF lines of at most 998 octets, a header without Bcc or
 * Resent-Bcc in any form (white space before the colon too), a Date, a
 * Message-ID and a From, and the envelope read from the headers must
 * hold only mailboxes with an '@'. */
#include <strings.h>
#include <sys/stat.h>

#include "fuzz.h"

#include "message.h"
#include "rawmsg.h"

static void check_list(const struct addr_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		FUZZ_CHECK(addr_list_mailbox(l, i) && strchr(addr_list_mailbox(l, i), '@'));
}

/* Whether the line s (n bytes) starts a field called name: name, any
 * white space, colon; in any case. */
static bool starts_field(const char *s, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(s, name, k) != 0)
		return false;
	while (k < n && (s[k] == ' ' || s[k] == '\t'))
		k++;
	return k < n && s[k] == ':';
}

static void check_output(const char *s, size_t len)
{
	bool in_header = true, date = false, id = false, from = false, cont = false;

	for (size_t i = 0; i < len;) {
		const char *crlf = memmem(s + i, len - i, "\r\n", 2);
		size_t n;

		FUZZ_CHECK(crlf != NULL);
		n = (size_t)(crlf - (s + i));
		FUZZ_CHECK(n <= 998 && memchr(s + i, '\n', n) == NULL);
		FUZZ_CHECK(memchr(s + i, '\r', n) == NULL && memchr(s + i, '\0', n) == NULL);
		if (in_header) {
			bool folded = n && (s[i] == ' ' || s[i] == '\t');

			FUZZ_CHECK(!starts_field(s + i, n, "Bcc") && !starts_field(s + i, n, "Resent-Bcc"));
			/* the first line of a header is never a continuation */
			FUZZ_CHECK(!folded || cont);
			date |= starts_field(s + i, n, "Date");
			id |= starts_field(s + i, n, "Message-ID");
			from |= starts_field(s + i, n, "From");
			in_header = n > 0;
			cont = true;
		}
		i += n + 2;
	}
	FUZZ_CHECK(date && id && from);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct message m;
	struct error err;

	memset(&m, 0, sizeof m);
	m.text.fd = m.html.fd = -1;
	m.message_fd = fuzz_memfd(data, size);
	{
		struct stat st;

		FUZZ_CHECK(fstat(m.message_fd, &st) == 0);
		m.message_size = (uint64_t)st.st_size;
		m.message_mtime = st.st_mtim;
		m.message_file = strdup("fuzz.eml");
	}
	snprintf(m.date, sizeof m.date, "Sat, 22 Nov 2025 10:00:00 +0000");
	snprintf(m.message_id, sizeof m.message_id, "<fuzz.1@example.com>");
	if (raw_scan(&m, &err) == 0) {
		struct mem_sink out;

		if (m.have_from)
			FUZZ_CHECK(m.from.mailbox && strchr(m.from.mailbox, '@'));
		/* as cli_check_envelope insists on a sender before sending */
		if (!m.have_from)
			FUZZ_CHECK(addr_parse(&m.from, "fuzz@example.com", &err) == 0);
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
