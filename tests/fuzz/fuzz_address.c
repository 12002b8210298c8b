/* fuzz_address.c - libFuzzer target for address lists as users type
 * them (command line, config file, a --message-file's headers). A
 * parsed list must hold only mailboxes without control bytes or
 * line breaks, each with an '@' and a domain; and its To field
 * (hdr_addresses) must pass the header checks (8-bit only when a mailbox
 * is UTF-8). */
#include "fuzz.h"

#include "address.h"
#include "header.h"

static void check_address(const struct address *a)
{
	FUZZ_CHECK(a->mailbox != NULL && strchr(a->mailbox, '@') != NULL);
	FUZZ_CHECK(addr_domain(a) != NULL && addr_domain(a)[0] != '\0');
	for (const char *p = a->mailbox; *p; p++)
		FUZZ_CHECK(*p != '\r' && *p != '\n');
	if (a->name)
		for (const char *p = a->name; *p; p++)
			FUZZ_CHECK(*p != '\r' && *p != '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_str(data, size);
	struct addr_list l = {0};
	struct address one;
	struct error err;

	if (addr_parse_list(&l, text, &err) == 0) {
		bool utf8 = false;
		char *h;

		for (size_t i = 0; i < l.n; i++) {
			struct address a = addr_list_at(&l, i);

			check_address(&a);
			utf8 |= !addr_mailbox_is_ascii(&a);
		}
		h = hdr_address_list("To", &l);
		FUZZ_CHECK(h != NULL);
		check_header_field(h, "To", true, utf8);
		free(h);
	} else {
		FUZZ_CHECK(l.n == 0 && err.cls == ERR_USAGE);
	}
	addr_list_free(&l);
	if (addr_parse(&one, text, &err) == 0) {
		check_address(&one);
		addr_free(&one);
	}
	free(text);
	return 0;
}
