/* fuzz_reply.c - libFuzzer target for the SMTP reply parser.
 *
 * The input is what a server could send, split into lines on '\n' (a
 * trailing '\r' is kept, as if the transport had split on bare LF only,
 * so the parser also sees CRs). Besides crashes and sanitizer reports it
 * checks the parser's promises: bounded lines and text, no control bytes
 * in accepted text, and a one-line form that always fits its buffer.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *         tests/fuzz/fuzz_reply.c src/reply.c src/error.c -o fuzz_reply
 *   ./fuzz_reply tests/fuzz/corpus/reply
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_done(const struct reply *r)
{
	char small[9], big[1024];

	if (r->code < 200 || r->code > 559 || r->nlines == 0 ||
	    r->nlines > REPLY_MAX_LINES || r->len > REPLY_MAX_TEXT ||
	    strlen(r->text) != r->len)
		abort();
	for (size_t i = 0; i < r->len; i++) {
		unsigned char c = (unsigned char)r->text[i];

		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
			abort();
	}
	if (r->enhanced[0] && r->enhanced[0] != '0' + r->code / 100)
		abort();
	reply_oneline(r, small, sizeof small);
	reply_oneline(r, big, sizeof big);
	if (strlen(small) >= sizeof small || strlen(big) >= sizeof big)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct reply r;
	struct error err;

	reply_init(&r);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int ret = reply_feed(&r, p, len, &err);

		if (ret == 1)
			check_done(&r);
		else if (ret < 0)
			reply_reset(&r);
		p += len + (nl ? 1 : 0);
	}
	reply_free(&r);
	return 0;
}
