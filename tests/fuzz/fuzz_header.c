/* fuzz_header.c - libFuzzer target for header encoding (RFC 2047 and
 * 2231). The first input byte picks the encoder: unstructured text
 * (Subject), an address list (the rest split on '\x1f' into display
 * names, each with a mailbox), or a file-name parameter. The rest, with
 * CR, LF and NUL removed (callers check those earlier), is the value.
 * Whatever the bytes, the field must be 7-bit, end every line in CRLF,
 * keep lines within 998 octets and encoded-words within 75. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value, *h;
	const char *name;

	if (size == 0)
		return 0;
	value = clean_copy(data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		h = hdr_text(name = "Subject", value);
		break;
	case 1:
		h = addresses(value);
		name = "To";
		break;
	default:
		h = hdr_file_param(name = "Content-Disposition", "attachment", "filename", value);
		break;
	}
	FUZZ_CHECK(h != NULL);
	check_header_field(h, name, data[0] % 3 != 0, false);
	free(h);
	free(value);
	return 0;
}
