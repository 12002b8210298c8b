/* encode.h - body encodings of RFC 2045: base64 and quoted-printable.
 *
 * Both are streaming: data arrives in blocks of any size and goes out
 * through a sink as lines ending in CRLF, so no part is ever held whole.
 */
#ifndef ENVOI_ENCODE_H
#define ENVOI_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"

/* Base64 in lines of 76 characters + CRLF: each full line holds 57 input
 * bytes. The last line may be shorter; empty input gives no output. */
#define B64_LINE_IN 57
#define B64_LINE_OUT 78 /* 76 + CRLF */

/* Exact number of bytes b64_encode_lines emits for n input bytes. */
uint64_t b64_encoded_size(uint64_t n);

/* Encodes n bytes into out as complete CRLF-terminated lines. Every call
 * except the last must pass a multiple of B64_LINE_IN bytes. out must
 * hold ((n + 56) / 57) * 78 bytes. Returns the bytes written. */
size_t b64_encode_lines(char *out, const unsigned char *in, size_t n);

/* Plain base64 without line breaks (for SASL, encoded-words). out must
 * hold 4 * ((n + 2) / 3) + 1 bytes; it is NUL-terminated. Returns the
 * length without the NUL. */
size_t b64_encode(char *out, const unsigned char *in, size_t n);

/* Quoted-printable encoder (RFC 2045 6.7) for text. Input line breaks
 * (LF, CRLF or a lone CR) become CRLF hard breaks, the canonical form
 * of text (RFC 2045 6.8, RFC 2046 4.1.1); output lines are at most 76 characters including the
 * "=" of a soft break, and an =XX escape is never split; trailing space
 * or tab before a hard break or at the end is encoded; "=", control and
 * 8-bit bytes are encoded; "." and "From " are left alone (dot-stuffing
 * is the transport's job). The output does not depend on how the input
 * is cut into blocks. Feed blocks with qp_update, then call qp_final.
 *
 * What qp_final leaves: the output always ends with CRLF, unless nothing
 * at all was written (empty input gives empty output). When the input's
 * last line has no line break, that line ends with a soft break "=\r\n",
 * so "abc" gives "abc=\r\n" (decodes to "abc") and "abc\n" gives
 * "abc\r\n" (decodes to "abc\r\n"). The CRLF that MIME puts before a
 * boundary belongs to the boundary, so after a part the composer writes
 * "\r\n--boundary" exactly as it does after base64 lines.
 *
 * Both functions return 0, or -1 when the sink failed (its err is set).
 * The struct is the encoder's state; callers only pass it around. */
struct qp {
	struct sink *out;
	int held;           /* a space/tab waiting to know what follows, or -1 */
	int cr;             /* a CR waiting to know if LF follows */
	char line[96];      /* the output line being built */
	size_t len;         /* characters in line */
};
void qp_init(struct qp *q, struct sink *out);
int qp_update(struct qp *q, const unsigned char *in, size_t n);
int qp_final(struct qp *q);

/* Text in canonical form: every line break (LF, CR or CRLF) written as
 * CRLF. *after_cr carries the state between blocks (start with false):
 * an LF right after a CR belongs to it. out must hold 2 * n bytes.
 * Returns the bytes written. */
size_t crlf_canon(bool *after_cr, const unsigned char *in, size_t n, unsigned char *out);

/* What a text's bytes are, found block by block: text_scan_init, then
 * text_scan_update for each block, then text_scan_final. */
struct text_scan {
	bool nonascii;  /* a byte of 0x80 or more */
	bool invalid;   /* not valid UTF-8 (strict: no overlong forms,
			   surrogates or code points past U+10FFFF) */
	bool nul;       /* a NUL byte */
	uint64_t canon; /* length once crlf_canon has made it canonical */
	/* state between blocks */
	bool cr;
	int need;
	unsigned char lo, hi;
};
void text_scan_init(struct text_scan *t);
void text_scan_update(struct text_scan *t, const unsigned char *p, size_t n);
void text_scan_final(struct text_scan *t);

#endif
