/* pickup.c - delivery into a directory, atomically. */
#include "pickup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mime.h"
#include "parse.h"

/* A name no other writer can pick: time, process and randomness. */
static void unique_name(char *buf, size_t size, const char *dir, const char *suffix)
{
	unsigned char rnd[8];
	unsigned long long r = 0;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(rnd, sizeof rnd, 0) == sizeof rnd)
		memcpy(&r, rnd, sizeof r);
	snprintf(buf, size, "%s/%lld.%09ld.%ld.%016llx%s", dir, (long long)ts.tv_sec, ts.tv_nsec,
		 (long)getpid(), r, suffix);
}

int pickup_deliver(const struct message *m, const char *dir, char *path, size_t size,
		   struct error *err)
{
	char tmp[4096], shown[160];
	struct sink_fd *out;
	int fd, rc;

	unique_name(tmp, sizeof tmp, dir, ".tmp");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(err, ERR_CANTCREAT, "cannot create a file in %s: %s",
			       parse_show(dir, shown, sizeof shown),
			       strerror(errno));
	out = malloc(sizeof *out);
	if (!out) {
		close(fd);
		unlink(tmp);
		return err_set(err, ERR_OSERR, "out of memory");
	}
	sink_fd_init(out, fd, err);
	rc = mime_write(m, &out->base);
	free(out);
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(err, ERR_CANTCREAT, "cannot write %s: %s",
			     parse_show(tmp, shown, sizeof shown), strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = err_set(err, ERR_CANTCREAT, "cannot write %s: %s",
			     parse_show(tmp, shown, sizeof shown), strerror(errno));
	if (rc == 0) {
		/* A .eml name that exists already is never replaced. */
		unique_name(path, size, dir, ".eml");
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
			rc = err_set(err, ERR_CANTCREAT, "cannot create %s: %s",
				     parse_show(path, shown, sizeof shown), strerror(errno));
	}
	if (rc < 0)
		unlink(tmp);
	if (rc < 0 && err->cls == ERR_IOERR)
		err->cls = ERR_CANTCREAT;
	return rc;
}
