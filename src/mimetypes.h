/* mimetypes.h - MIME type of a file from its name: /etc/mime.types when
 * it exists, else a built-in table, else application/octet-stream. */
#ifndef ENVOI_MIMETYPES_H
#define ENVOI_MIMETYPES_H

/* Returns a malloc'd type ("image/png"); the caller frees it. NULL only
 * when out of memory. mime_types_file NULL means /etc/mime.types. */
char *mimetype_for(const char *filename, const char *mime_types_file);

#endif
