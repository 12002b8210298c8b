/* fuzz_header.c - libFuzzer target for header encoding (RFC 2047 and
 * 2231). The first input byte picks the encoder: unstructured text
 * (Subject), an address list (the rest split on '\x1f' into display
 * names, each with a mailbox), or a file-name parameter. The rest, with
 * CR, LF and NUL removed (callers check those earlier), is the value.
 * Whatever the bytes, the field must be 7-bit, end every line in CRLF,
 * keep lines within 998 octets, encoded-words within 75 and lines that
 * hold one within 76 (RFC 2047 2). */
#include "fuzz.h"

#include "address.h"
#include "header.h"

static char *clean_copy(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	size_t n = 0;

	FUZZ_CHECK(s != NULL);
	for (size_t i = 0; i < size; i++)
		if (data[i] != '\r' && data[i] != '\n' && data[i] != '\0')
			s[n++] = (char)data[i];
	s[n] = '\0';
	return s;
}

static char *addresses(char *names)
{
	static char ascii[] = "user@example.com", other[] = "\"first last\"@[192.0.2.1]";
	struct address v[64];
	size_t n = 0;
	char *p = names;

	while (p && n < sizeof v / sizeof v[0]) {
		char *sep = strchr(p, '\x1f');

		if (sep)
			*sep = '\0';
		v[n].name = p;
		v[n].mailbox = n % 3 == 2 ? other : ascii;
		n++;
		p = sep ? sep + 1 : NULL;
	}
	return hdr_addresses("To", v, n);
}

/* The mailboxes here hold no "=?UTF-8?": every one is an encoded-word. */
static void check_ew_lines(const char *h)
{
	for (const char *line = h; *line;) {
		const char *end = strstr(line, "\r\n");
		const char *ew = strstr(line, "=?UTF-8?");

		FUZZ_CHECK(end != NULL);
		FUZZ_CHECK(!ew || ew > end || end - line <= 76);
		line = end + 2;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value, *h;
	const char *name;

	if (size == 0)
		return 0;
	value = clean_copy(data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		h = hdr_text(name = "Subject", value);
		break;
	case 1:
		h = addresses(value);
		name = "To";
		break;
	case 2:
		h = hdr_file_param(name = "Content-Disposition", "attachment", "filename", value);
		break;
	default:
		h = hdr_name_param(name = "Content-Type", "text/plain; charset=utf-8", "name", value);
		break;
	}
	FUZZ_CHECK(h != NULL);
	check_header_field(h, name, data[0] % 4 != 0, false);
	check_ew_lines(h);
	free(h);
	free(value);
	return 0;
}
