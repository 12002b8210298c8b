/* sendlog.c - the send log: a line per outcome, in a file or syslog. */
#include "sendlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* Appends " key=value" with the value made one word. */
static size_t put(char *buf, size_t size, size_t n, const char *key, const char *value)
{
	int w;

	if (n >= size)
		return n;
	w = snprintf(buf + n, size - n, " %s=%s", key, value && *value ? value : "-");
	if (w < 0)
		return n;
	for (size_t i = n + strlen(key) + 2; i < size && i < n + (size_t)w && buf[i]; i++)
		if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
			buf[i] = '_';
	return n + (size_t)w < size ? n + (size_t)w : size - 1;
}

static void join_rcpts(char *out, size_t size, const struct sendlog_rec *r)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < r->nrcpts && n + 1 < size; i++) {
		int w = snprintf(out + n, size - n, "%s%s", i ? "," : "", r->rcpts[i]);

		if (w < 0)
			break;
		n += (size_t)w;
	}
}

void sendlog_format(char *buf, size_t size, const struct sendlog_rec *r, time_t t)
{
	char when[32] = "", rcpts[2048], num[32];
	size_t n = 0;
	struct tm tm;

	buf[0] = '\0';
	if (t) {
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		n = (size_t)snprintf(buf, size, "%s", when);
	}
	join_rcpts(rcpts, sizeof rcpts, r);
	n = put(buf, size, n, "outcome", r->outcome);
	n = put(buf, size, n, "account", r->account ? r->account : "default");
	n = put(buf, size, n, "server", r->server);
	n = put(buf, size, n, "from", r->sender);
	n = put(buf, size, n, "to", rcpts);
	snprintf(num, sizeof num, "%llu", (unsigned long long)r->size);
	n = put(buf, size, n, "size", num);
	n = put(buf, size, n, "class", r->cls);
	snprintf(num, sizeof num, "%d", r->exit_code);
	n = put(buf, size, n, "exit", num);
	n = put(buf, size, n, "id", r->queue_id);
	if (r->entry_id)
		put(buf, size, n, "entry", r->entry_id);
	if (!t && buf[0] == ' ')
		memmove(buf, buf + 1, strlen(buf));
}

void sendlog_write(const char *target, const struct sendlog_rec *r)
{
	char line[4096];
	size_t n;
	int fd;

	if (strcmp(target, "syslog") == 0) {
		sendlog_format(line, sizeof line, r, 0);
		openlog("envoi", LOG_PID, LOG_MAIL);
		syslog(r->exit_code ? LOG_WARNING : LOG_INFO, "%s", line);
		closelog();
		return;
	}
	sendlog_format(line, sizeof line - 1, r, time(NULL));
	n = strlen(line);
	line[n++] = '\n';
	/* One write with O_APPEND: lines of concurrent runs never mix. */
	fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, n) != (ssize_t)n)
		fprintf(stderr, "envoi: warning: cannot write the log %s: %s\n", target,
			strerror(errno));
	if (fd >= 0)
		close(fd);
}
