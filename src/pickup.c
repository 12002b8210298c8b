/* pickup.c - delivery into a directory, atomically. */
#include "pickup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
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

/* The temporary file, for a signal that ends envoi while it is written. */
static char live_tmp[4096];
static volatile sig_atomic_t tmp_live;
static const int end_signals[] = {SIGTERM, SIGINT, SIGHUP};
#define END_SIGNALS (sizeof end_signals / sizeof end_signals[0])

static void on_end_signal(int sig)
{
	if (tmp_live)
		unlink(live_tmp); /* async-signal-safe, as are the rest */
	signal(sig, SIG_DFL);
	raise(sig);
}

/* on: handlers that remove live_tmp once it is ours (create_tmp), the
 * old ones saved in old; off: the old ones back. */
static void guard_tmp(bool on, struct sigaction *old)
{
	struct sigaction sa = {.sa_handler = on_end_signal};

	sigemptyset(&sa.sa_mask);
	tmp_live = 0;
	for (size_t i = 0; i < END_SIGNALS; i++) {
		if (on)
			sigaction(end_signals[i], &sa, &old[i]);
		else
			sigaction(end_signals[i], &old[i], NULL);
	}
}

/* Creates live_tmp. Signals wait meanwhile, so that the handler unlinks
 * the file exactly when it is ours: never one that was there before. */
static int create_tmp(void)
{
	sigset_t ends, old;
	int fd;

	sigemptyset(&ends);
	for (size_t i = 0; i < END_SIGNALS; i++)
		sigaddset(&ends, end_signals[i]);
	sigprocmask(SIG_BLOCK, &ends, &old);
	fd = open(live_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	tmp_live = fd >= 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return fd;
}

/* Writes the message into fd and syncs it. */
static int write_file(const struct message *m, int fd, unsigned mode, struct error *err)
{
	struct sink_fd *out = malloc(sizeof *out);
	char shown[160];
	int rc;

	if (!out)
		return err_set(err, ERR_OSERR, "out of memory");
	sink_fd_init(out, fd, err);
	/* The umask may only take bits away; the mode asked for is exact. */
	rc = fchmod(fd, mode) < 0 ? err_set(err, ERR_CANTCREAT, "cannot set the mode of %s: %s",
					    parse_show(live_tmp, shown, sizeof shown), strerror(errno))
				  : mime_write(m, &out->base);
	free(out);
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(err, ERR_CANTCREAT, "cannot write %s: %s",
			     parse_show(live_tmp, shown, sizeof shown), strerror(errno));
	return rc;
}

int pickup_deliver(const struct message *m, const char *dir, unsigned mode, char *path,
		   size_t size, struct error *err)
{
	struct sigaction saved[END_SIGNALS];
	char shown[160];
	int fd, rc;

	unique_name(live_tmp, sizeof live_tmp, dir, ".tmp");
	guard_tmp(true, saved);
	fd = create_tmp();
	if (fd < 0) {
		rc = err_set(err, ERR_CANTCREAT, "cannot create a file in %s: %s",
			     parse_show(dir, shown, sizeof shown), strerror(errno));
		guard_tmp(false, saved);
		return rc;
	}
	rc = write_file(m, fd, mode, err);
	if (close(fd) < 0 && rc == 0)
		rc = err_set(err, ERR_CANTCREAT, "cannot write %s: %s",
			     parse_show(live_tmp, shown, sizeof shown), strerror(errno));
	if (rc == 0) {
		/* A .eml name that exists already is never replaced. */
		unique_name(path, size, dir, ".eml");
		if (renameat2(AT_FDCWD, live_tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
			rc = err_set(err, ERR_CANTCREAT, "cannot create %s: %s",
				     parse_show(path, shown, sizeof shown), strerror(errno));
	}
	if (rc < 0)
		unlink(live_tmp);
	guard_tmp(false, saved);
	if (rc < 0 && err->cls == ERR_IOERR)
		err->cls = ERR_CANTCREAT;
	return rc;
}
