/* test_mimetypes.c - MIME type from a file name. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mimetypes.h"

#define NO_FILE "/nonexistent/envoi/mime.types"

static char tmp_path[64];

static const char *write_types(const char *text)
{
	int fd;
	size_t len = strlen(text);

	strcpy(tmp_path, "/tmp/envoi-test-mime-XXXXXX");
	fd = mkstemp(tmp_path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return tmp_path;
}

static void remove_types(void)
{
	if (tmp_path[0])
		unlink(tmp_path);
	tmp_path[0] = '\0';
}

TestSuite(mimetypes, .fini = remove_types);

static void expect_type(const char *filename, const char *file, const char *want)
{
	char *type = mimetype_for(filename, file);

	cr_assert_not_null(type);
	cr_expect_str_eq(type, want, "type of \"%s\"", filename);
	free(type);
}

static const char types[] =
	"# a comment naming image/x-never qqq\n"
	"\n"
	"image/x-foo\t\tfoo bar\n"
	"text/x-baz baz   # a trailing comment: text/x-wrong zzz\n"
	"application/x-only-type\n"
	"application/x-custom-pdf pdf\n"
	"application/x-second foo\n"
	"not-a-type tok1\n"
	"text/ht<ml tok2\n"
	"text/x-crlf crlf\r\n";

Test(mimetypes, extension_listed_in_file_gives_its_type)
{
	const char *f = write_types(types);

	expect_type("a.foo", f, "image/x-foo");
	expect_type("a.bar", f, "image/x-foo");
	expect_type("a.baz", f, "text/x-baz");
}

Test(mimetypes, extension_match_ignores_case)
{
	const char *f = write_types(types);

	expect_type("PHOTO.FOO", f, "image/x-foo");
	expect_type("x.Baz", f, "text/x-baz");
}

Test(mimetypes, first_line_listing_the_extension_wins)
{
	expect_type("a.foo", write_types(types), "image/x-foo");
}

Test(mimetypes, file_takes_precedence_over_builtin_table)
{
	expect_type("report.pdf", write_types(types), "application/x-custom-pdf");
}

Test(mimetypes, comments_are_ignored)
{
	const char *f = write_types(types);

	expect_type("a.qqq", f, "application/octet-stream");
	expect_type("a.zzz", f, "application/octet-stream");
}

Test(mimetypes, crlf_lines_are_read)
{
	expect_type("a.crlf", write_types(types), "text/x-crlf");
}

Test(mimetypes, malformed_type_in_file_is_never_returned)
{
	const char *f = write_types(types);

	expect_type("a.tok1", f, "application/octet-stream");
	expect_type("a.tok2", f, "application/octet-stream");
}

Test(mimetypes, extension_must_match_a_whole_word)
{
	const char *f = write_types(types);

	expect_type("a.fo", f, "application/octet-stream");
	expect_type("a.foobar", f, "application/octet-stream");
}

Test(mimetypes, builtin_table_covers_what_file_lacks)
{
	expect_type("photo.png", write_types(types), "image/png");
}

Test(mimetypes, builtin_table_is_used_without_file)
{
	expect_type("a.pdf", NO_FILE, "application/pdf");
	expect_type("a.png", NO_FILE, "image/png");
	expect_type("a.jpg", NO_FILE, "image/jpeg");
	expect_type("a.jpeg", NO_FILE, "image/jpeg");
	expect_type("a.gif", NO_FILE, "image/gif");
	expect_type("a.webp", NO_FILE, "image/webp");
	expect_type("a.svg", NO_FILE, "image/svg+xml");
	expect_type("a.txt", NO_FILE, "text/plain");
	expect_type("a.csv", NO_FILE, "text/csv");
	expect_type("a.html", NO_FILE, "text/html");
	expect_type("a.htm", NO_FILE, "text/html");
	expect_type("a.json", NO_FILE, "application/json");
	expect_type("a.xml", NO_FILE, "application/xml");
	expect_type("a.zip", NO_FILE, "application/zip");
	expect_type("a.gz", NO_FILE, "application/gzip");
	expect_type("a.tgz", NO_FILE, "application/gzip");
	expect_type("a.tar", NO_FILE, "application/x-tar");
	expect_type("a.bz2", NO_FILE, "application/x-bzip2");
	expect_type("a.xz", NO_FILE, "application/x-xz");
	expect_type("a.7z", NO_FILE, "application/x-7z-compressed");
	expect_type("a.doc", NO_FILE, "application/msword");
	expect_type("a.docx", NO_FILE,
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document");
	expect_type("a.xlsx", NO_FILE,
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
	expect_type("a.pptx", NO_FILE,
		"application/vnd.openxmlformats-officedocument.presentationml.presentation");
	expect_type("a.odt", NO_FILE, "application/vnd.oasis.opendocument.text");
	expect_type("a.rtf", NO_FILE, "application/rtf");
	expect_type("a.mp3", NO_FILE, "audio/mpeg");
	expect_type("a.wav", NO_FILE, "audio/wav");
	expect_type("a.ogg", NO_FILE, "audio/ogg");
	expect_type("a.mp4", NO_FILE, "video/mp4");
	expect_type("a.mov", NO_FILE, "video/quicktime");
	expect_type("a.avi", NO_FILE, "video/x-msvideo");
	expect_type("a.webm", NO_FILE, "video/webm");
	expect_type("a.ics", NO_FILE, "text/calendar");
	expect_type("a.eml", NO_FILE, "message/rfc822");
	expect_type("a.log", NO_FILE, "text/plain");
	expect_type("a.md", NO_FILE, "text/markdown");
}

Test(mimetypes, builtin_match_ignores_case)
{
	expect_type("SCAN.PDF", NO_FILE, "application/pdf");
	expect_type("Photo.JpEg", NO_FILE, "image/jpeg");
}

Test(mimetypes, unknown_extension_is_octet_stream)
{
	expect_type("a.unknownext", NO_FILE, "application/octet-stream");
}

Test(mimetypes, no_extension_is_octet_stream)
{
	expect_type("Makefile", NO_FILE, "application/octet-stream");
	expect_type("/usr/share/doc/README", NO_FILE, "application/octet-stream");
	expect_type("", NO_FILE, "application/octet-stream");
}

Test(mimetypes, trailing_dot_is_no_extension)
{
	expect_type("archive.", NO_FILE, "application/octet-stream");
}

Test(mimetypes, leading_dot_of_hidden_file_is_no_extension)
{
	expect_type(".txt", NO_FILE, "application/octet-stream");
	expect_type("/home/u/.pdf", NO_FILE, "application/octet-stream");
	expect_type(".hidden.png", NO_FILE, "image/png");
}

Test(mimetypes, dot_in_directory_name_is_not_an_extension)
{
	expect_type("/etc/conf.d/settings", NO_FILE, "application/octet-stream");
	expect_type("dir.pdf/", NO_FILE, "application/octet-stream");
}

Test(mimetypes, last_suffix_decides)
{
	expect_type("backup.tar.gz", NO_FILE, "application/gzip");
	expect_type("/tmp/a.b/report.final.PDF", NO_FILE, "application/pdf");
}

Test(mimetypes, empty_file_falls_back_to_builtin_table)
{
	expect_type("a.pdf", write_types(""), "application/pdf");
}

Test(mimetypes, system_file_is_the_default)
{
	/* with or without /etc/mime.types, a PNG is a PNG */
	expect_type("a.png", NULL, "image/png");
	expect_type("a.unknownext", NULL, "application/octet-stream");
}
