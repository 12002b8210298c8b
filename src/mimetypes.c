/* mimetypes.c - MIME type of a file from its name.
 *
 * The file is read on every call: it happens once per attachment, and
 * keeping no state makes the function safe to call from anywhere.
 */
#include "mimetypes.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MIME_TYPES "/etc/mime.types"
#define OCTET_STREAM "application/octet-stream"

/* For systems without /etc/mime.types (containers, macOS, BSDs without
 * the package): the types people actually attach. */
static const struct {
	const char *ext, *type;
} builtin[] = {
	{ "7z", "application/x-7z-compressed" },
	{ "avi", "video/x-msvideo" },
	{ "bmp", "image/bmp" },
	{ "bz2", "application/x-bzip2" },
	{ "css", "text/css" },
	{ "csv", "text/csv" },
	{ "diff", "text/x-diff" },
	{ "doc", "application/msword" },
	{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
	{ "eml", "message/rfc822" },
	{ "epub", "application/epub+zip" },
	{ "flac", "audio/flac" },
	{ "gif", "image/gif" },
	{ "gz", "application/gzip" },
	{ "heic", "image/heic" },
	{ "htm", "text/html" },
	{ "html", "text/html" },
	{ "ico", "image/vnd.microsoft.icon" },
	{ "ics", "text/calendar" },
	{ "jpeg", "image/jpeg" },
	{ "jpg", "image/jpeg" },
	{ "js", "text/javascript" },
	{ "json", "application/json" },
	{ "log", "text/plain" },
	{ "m4a", "audio/mp4" },
	{ "md", "text/markdown" },
	{ "mkv", "video/x-matroska" },
	{ "mov", "video/quicktime" },
	{ "mp3", "audio/mpeg" },
	{ "mp4", "video/mp4" },
	{ "odp", "application/vnd.oasis.opendocument.presentation" },
	{ "ods", "application/vnd.oasis.opendocument.spreadsheet" },
	{ "odt", "application/vnd.oasis.opendocument.text" },
	{ "ogg", "audio/ogg" },
	{ "patch", "text/x-diff" },
	{ "pdf", "application/pdf" },
	{ "png", "image/png" },
	{ "ppt", "application/vnd.ms-powerpoint" },
	{ "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
	{ "rar", "application/vnd.rar" },
	{ "rtf", "application/rtf" },
	{ "svg", "image/svg+xml" },
	{ "tar", "application/x-tar" },
	{ "tgz", "application/gzip" },
	{ "tif", "image/tiff" },
	{ "tiff", "image/tiff" },
	{ "tsv", "text/tab-separated-values" },
	{ "txt", "text/plain" },
	{ "vcf", "text/vcard" },
	{ "wav", "audio/wav" },
	{ "webm", "video/webm" },
	{ "webp", "image/webp" },
	{ "xls", "application/vnd.ms-excel" },
	{ "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
	{ "xml", "application/xml" },
	{ "xz", "application/x-xz" },
	{ "zip", "application/zip" },
	{ "zst", "application/zstd" },
};

/* The extension of the base name, NULL when there is none. A leading
 * dot marks a hidden file (".profile"), not an extension. */
static const char *extension(const char *filename)
{
	const char *base = strrchr(filename, '/');
	const char *dot;

	base = base ? base + 1 : filename;
	dot = strrchr(base, '.');
	if (!dot || dot == base || dot[1] == '\0')
		return NULL;
	return dot + 1;
}

/* RFC 2045 token characters: the type goes into a Content-Type header,
 * so a broken or hostile mime.types line must not reach it. */
static bool is_token(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c))
			return false;
	}
	return true;
}

static bool is_media_type(const char *t)
{
	const char *slash = strchr(t, '/');

	return slash && is_token(t, (size_t)(slash - t)) && is_token(slash + 1, strlen(slash + 1));
}

/* The type on a mime.types line that lists ext, else NULL. The line is
 * cut into words in place. */
static const char *match_line(char *line, const char *ext)
{
	const char *sep = " \t\r\n";
	char *save, *type, *word;

	line[strcspn(line, "#")] = '\0';
	type = strtok_r(line, sep, &save);
	if (!type || !is_media_type(type))
		return NULL;
	while ((word = strtok_r(NULL, sep, &save)))
		if (strcasecmp(word, ext) == 0)
			return type;
	return NULL;
}

/* The first type in file that lists ext, malloc'd; NULL when none (or
 * the file can't be read). Sets *oom when strdup fails. */
static char *from_file(const char *file, const char *ext, bool *oom)
{
	FILE *f = fopen(file, "re");
	char *line = NULL, *found = NULL;
	size_t size = 0;

	if (!f)
		return NULL;
	while (!found && getline(&line, &size, f) >= 0) {
		const char *type = match_line(line, ext);
		if (type && !(found = strdup(type)))
			*oom = true;
		if (*oom)
			break;
	}
	free(line);
	fclose(f);
	return found;
}

char *mimetype_for(const char *filename, const char *mime_types_file)
{
	const char *ext = extension(filename);
	bool oom = false;
	char *type;

	if (!ext)
		return strdup(OCTET_STREAM);
	type = from_file(mime_types_file ? mime_types_file : DEFAULT_MIME_TYPES, ext, &oom);
	if (type || oom)
		return type;
	for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
		if (strcasecmp(builtin[i].ext, ext) == 0)
			return strdup(builtin[i].type);
	return strdup(OCTET_STREAM);
}
