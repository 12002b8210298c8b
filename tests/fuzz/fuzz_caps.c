/* fuzz_caps.c - libFuzzer target for the EHLO capability parser: the
 * text of a 250 reply as the reply parser hands it over (lines joined
 * by '\n'). It must never read or write out of bounds, keep the AUTH
 * mechanisms NUL-terminated within their buffer, and give the same
 * result twice. */
#include "fuzz.h"

#include "caps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_str(data, size);
	struct caps a, b;

	memset(&a, 0x55, sizeof a);
	caps_parse(&a, text);
	caps_parse(&b, text);
	FUZZ_CHECK(memchr(a.mechs, '\0', sizeof a.mechs) != NULL);
	FUZZ_CHECK(strcmp(a.mechs, b.mechs) == 0 && a.size == b.size && a.auth == b.auth);
	if (a.mechs[0])
		FUZZ_CHECK(a.auth);
	free(text);
	return 0;
}
