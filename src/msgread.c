/* msgread.c - reading input files no further than they were measured. */
#include "msgread.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t msg_read_full(int fd, void *buf, size_t len, uint64_t off, const char *what,
		      struct error *err)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, ERR_NOPERM, "cannot read %s: %s", what, strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int changed(const struct msg_in *in, struct error *err)
{
	return err_set(err, ERR_DATA, "%s changed while it was being sent; nothing was sent",
		       in->what);
}

/* At the measured end: nothing more to read, size and time of change
 * as measured (a write in place shows in the time of change). */
static int check_end(const struct msg_in *in, struct error *err)
{
	struct stat st;
	char c;
	ssize_t n;

	do
		n = pread(in->fd, &c, 1, (off_t)in->size);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(err, ERR_NOPERM, "cannot read %s: %s", in->what, strerror(errno));
	if (n > 0 || fstat(in->fd, &st) < 0 || (uint64_t)st.st_size != in->size ||
	    st.st_mtim.tv_sec != in->mtime.tv_sec || st.st_mtim.tv_nsec != in->mtime.tv_nsec)
		return changed(in, err);
	return 0;
}

ssize_t msg_read_input(const struct msg_in *in, void *buf, size_t cap, uint64_t off,
		       struct error *err)
{
	size_t want;
	ssize_t n;

	if (in->size == 0 && off == 0)
		return check_end(in, err) < 0 ? -1 : 0;
	if (off >= in->size)
		return 0;
	want = in->size - off < cap ? (size_t)(in->size - off) : cap;
	n = msg_read_full(in->fd, buf, want, off, in->what, err);
	if (n < 0)
		return -1;
	if ((size_t)n < want)
		return changed(in, err);
	if (off + want == in->size && check_end(in, err) < 0)
		return -1;
	return n;
}
