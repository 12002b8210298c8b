/* password.c - where the password (or OAuth2 token) comes from.
 *
 * Every buffer that held a secret is wiped before it is freed; the one
 * handed out is mlock'ed where the system allows, so that it does not
 * reach swap.
 */
#include "password.h"
#include "oauth2.h"
#include "clock.h"
#include "keyring.h"
#include "wipe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define OUTPUT_MAX (64 * 1024)   /* password file line, command output */
#define NETRC_MAX (1024 * 1024)
#define LINE_MAX_TTY 4096

enum { FOUND = 0, NOT_FOUND = 1, FAILED = -1 };

/* Locks stay in force until exit: munlock in password_free could unlock
 * a page another secret shares, since locks do not nest. */
static int secret_dup(const char *s, size_t n, char **pw, struct error *err)
{
	char *p = malloc(n + 1);

	if (!p)
		return err_set(err, ERR_OSERR, "out of memory");
	memcpy(p, s, n);
	p[n] = '\0';
	(void)mlock(p, n + 1);
	*pw = p;
	return FOUND;
}

void password_free(char *pw)
{
	if (pw)
		wipe_free(pw, strlen(pw));
}

void password_wipe_sources(char **value)
{
	static const char name[] = "ENVOI_PASSWORD=";

	password_free(*value);
	*value = NULL;
	/* unsetenv only drops the pointer: the text stays in the block the
	 * kernel gave (and shows in /proc/PID/environ) unless overwritten. */
	for (char **e = environ; *e; e++)
		if (strncmp(*e, name, sizeof name - 1) == 0)
			explicit_bzero(*e + sizeof name - 1, strlen(*e + sizeof name - 1));
	unsetenv("ENVOI_PASSWORD");
}

static size_t strip_newlines(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return n;
}

/* ---- --password-file: the first line ---- */

static int from_file(const char *path, char **pw, struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char *buf, *nl = NULL;
	size_t len = 0;
	ssize_t r = 0;
	int rc;

	if (fd < 0)
		return err_set(err, ERR_CONFIG, "cannot open password file %s: %s", path,
			       strerror(errno));
	buf = malloc(OUTPUT_MAX);
	if (!buf) {
		close(fd);
		return err_set(err, ERR_OSERR, "out of memory");
	}
	while (!nl && len < OUTPUT_MAX) {
		r = read(fd, buf + len, OUTPUT_MAX - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		nl = memchr(buf + len, '\n', (size_t)r);
		len += (size_t)r;
	}
	close(fd);
	if (r < 0)
		rc = err_set(err, ERR_CONFIG, "cannot read password file %s: %s", path,
			     strerror(errno));
	else if (!nl && len == OUTPUT_MAX)
		rc = err_set(err, ERR_CONFIG, "the first line of password file %s is over %d bytes",
			     path, OUTPUT_MAX);
	else {
		len = strip_newlines(buf, nl ? (size_t)(nl - buf) : len);
		if (memchr(buf, '\0', len))
			rc = err_set(err, ERR_CONFIG, "password file %s holds a NUL byte", path);
		else if (len == 0)
			rc = err_set(err, ERR_CONFIG, "password file %s is empty", path);
		else
			rc = secret_dup(buf, len, pw, err);
	}
	wipe_free(buf, OUTPUT_MAX);
	return rc;
}

/* ---- --password-command ---- */

/* A command that needs none of these means the same to the shell as to
 * the simple splitter below, so it runs without one. */
static bool needs_shell(const char *cmd)
{
	size_t first = strcspn(cmd + strspn(cmd, " \t"), " \t");

	if (strpbrk(cmd, "|&;<>()$`\\*?[#~\n"))
		return true;
	/* VAR=value cmd, and "! cmd", are shell grammar too. */
	cmd += strspn(cmd, " \t");
	return memchr(cmd, '=', first) != NULL || (first == 1 && cmd[0] == '!');
}

/* Splits on blanks, honouring '...' and "..." (nothing inside them is
 * special once needs_shell said no). argv points into buf. */
static int split_command(const char *cmd, char *buf, char **argv, struct error *err)
{
	size_t argc = 0, o = 0;
	char quote = 0;
	bool in_word = false;

	for (const char *p = cmd;; p++) {
		if (quote && *p == quote) {
			quote = 0;
		} else if (quote && *p) {
			buf[o++] = *p;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
			if (!in_word)
				argv[argc++] = buf + o;
			in_word = true;
		} else if (*p == ' ' || *p == '\t' || *p == '\0') {
			if (in_word)
				buf[o++] = '\0';
			in_word = false;
			if (!*p)
				break;
		} else {
			if (!in_word)
				argv[argc++] = buf + o;
			in_word = true;
			buf[o++] = *p;
		}
	}
	argv[argc] = NULL;
	if (quote)
		return err_set(err, ERR_CONFIG, "unterminated %c quote in password command", quote);
	if (argc == 0)
		return err_set(err, ERR_CONFIG, "the password command is empty");
	return 0;
}

/* The command's environment: envoi's, less every ENVOI_ variable
 * (ENVOI_PASSWORD is a secret, and the others are envoi's settings, not
 * the command's). The strings are environ's; free only the array. */
static char **child_environ(void)
{
	size_t n = 0, o = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 1, sizeof *env);
	for (size_t i = 0; env && i < n; i++)
		if (strncmp(environ[i], "ENVOI_", 6) != 0)
			env[o++] = environ[i];
	return env;
}

/* stdin and stderr stay: gpg's pinentry may need the terminal. Nothing
 * else is inherited, whatever a library left open without O_CLOEXEC. The
 * command gets a process group of its own, so that a timeout ends what
 * it started too. A SIGPIPE that envoi ignores must not stay ignored. */
static void spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr, int out)
{
	sigset_t none, dfl;

	posix_spawn_file_actions_init(fa);
	posix_spawn_file_actions_adddup2(fa, out, STDOUT_FILENO);
	posix_spawn_file_actions_addclosefrom_np(fa, 3);
	posix_spawnattr_init(attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &dfl);
	posix_spawnattr_setpgroup(attr, 0);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				       POSIX_SPAWN_SETPGROUP);
}

/* In its own group the command is in the background of envoi's terminal
 * and would stop (SIGTTIN) at a passphrase prompt: when envoi is in the
 * foreground, the command's group gets the terminal while it runs, and
 * a continue in case it stopped before. Returns the terminal or -1. */
static int tty_lend(pid_t group)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd >= 0 && tcgetpgrp(fd) == getpgrp() && tcsetpgrp(fd, group) == 0) {
		kill(-group, SIGCONT);
		return fd;
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

/* envoi is in the background now: SIGTTOU would stop it. */
static void tty_take_back(int fd)
{
	sigset_t ttou, old;

	if (fd < 0)
		return;
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	tcsetpgrp(fd, getpgrp());
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(fd);
}

/* While the command runs, a SIGTERM, SIGINT or SIGHUP that ends envoi
 * ends the command's group first: it is in a group of its own, which a
 * signal to envoi's group no longer reaches. */
static volatile sig_atomic_t command_group;
static const int abort_signals[] = {SIGTERM, SIGINT, SIGHUP};
#define ABORT_SIGNALS (sizeof abort_signals / sizeof abort_signals[0])

static void on_abort_signal(int sig)
{
	if (command_group > 0)
		kill(-(pid_t)command_group, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* group > 0: guards it, saving the old handlers; 0: restores them. */
static void guard_group(pid_t group, struct sigaction *old)
{
	struct sigaction sa = {.sa_handler = on_abort_signal};

	sigemptyset(&sa.sa_mask);
	command_group = group;
	for (size_t i = 0; i < ABORT_SIGNALS; i++) {
		if (group > 0)
			sigaction(abort_signals[i], &sa, &old[i]);
		else
			sigaction(abort_signals[i], &old[i], NULL);
	}
}

static int spawn_command(const char *cmd, int *out, pid_t *pid, struct error *err)
{
	static char sh[] = "sh", dash_c[] = "-c";
	size_t n = strlen(cmd);
	char *buf = malloc(n + 1), **argv = calloc(n / 2 + 4, sizeof *argv), **env = child_environ();
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int p[2] = {-1, -1}, rc = -1;

	if (!buf || !argv || !env) {
		err_set(err, ERR_OSERR, "out of memory");
		goto done;
	}
	if (needs_shell(cmd)) {
		argv[0] = sh;
		argv[1] = dash_c;
		argv[2] = strcpy(buf, cmd);
	} else if (split_command(cmd, buf, argv, err) != 0) {
		goto done;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		err_set(err, ERR_OSERR, "cannot create a pipe: %s", strerror(errno));
		goto done;
	}
	spawn_setup(&fa, &attr, p[1]);
	rc = argv[0] == sh ? posix_spawn(pid, "/bin/sh", &fa, &attr, argv, env)
			   : posix_spawnp(pid, argv[0], &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		rc = err_set(err, ERR_CONFIG, "cannot run password command `%.100s`: %s", cmd,
			     strerror(rc));
		goto done;
	}
	*out = p[0];
done:
	free(buf);
	free(argv);
	free(env);
	return rc;
}

static int ms_left(long long deadline)
{
	long long left;

	if (deadline < 0)
		return -1;
	left = deadline - clock_ms();
	return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

enum output_end { OUT_EOF, OUT_TIMEOUT, OUT_TOO_LONG, OUT_READ_ERROR };

/* Reads the child's stdout until EOF (errno set on OUT_READ_ERROR). */
static enum output_end collect_output(int fd, char *buf, size_t *len, long long deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, ms_left(deadline));
		ssize_t r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return OUT_READ_ERROR;
		if (n == 0 && ms_left(deadline) == 0)
			return OUT_TIMEOUT;
		if (n == 0)
			continue;
		/* Full: one more byte tells exactly 64 KiB from too much. */
		if (*len == OUTPUT_MAX) {
			char probe;

			r = read(fd, &probe, 1);
			if (r > 0)
				return OUT_TOO_LONG;
		} else {
			r = read(fd, buf + *len, OUTPUT_MAX - *len);
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return OUT_READ_ERROR;
		if (r == 0)
			return OUT_EOF;
		*len += (size_t)r;
	}
}

/* Waits for the child, up to the deadline: it may close its stdout and
 * still hang. The child is always reaped; when it is killed, so is its
 * whole process group (what it left running in the background). Returns
 * true if it exited. */
static bool reap(pid_t pid, int *status, long long deadline, bool kill_now)
{
	if (!kill_now) {
		for (;;) {
			pid_t r = waitpid(pid, status, WNOHANG);

			if (r == pid)
				return true;
			if (r < 0 && errno != EINTR)
				return false;
			if (ms_left(deadline) == 0)
				break;
			nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
		}
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return false;
}

static int status_error(const char *cmd, int status, struct error *err)
{
	if (WIFSIGNALED(status))
		return err_set(err, ERR_CONFIG, "password command `%.100s` was killed by signal %d (%s)",
			       cmd, WTERMSIG(status), strsignal(WTERMSIG(status)));
	err_set(err, ERR_CONFIG, "password command `%.100s` exited with status %d", cmd,
		WEXITSTATUS(status));
	if (WEXITSTATUS(status) == 127)
		err_hint(err, "the shell did not find the command: check its name and PATH");
	return -1;
}

static int output_error(const char *cmd, enum output_end how, unsigned timeout, int errnum,
			struct error *err)
{
	switch (how) {
	case OUT_TIMEOUT:
		err_set(err, ERR_CONFIG, "password command `%.100s` did not finish in time (%u s)",
			cmd, timeout);
		err_hint(err, "it was stopped; a longer --timeout gives it more time");
		return -1;
	case OUT_TOO_LONG:
		return err_set(err, ERR_CONFIG, "password command `%.100s` printed over %d bytes",
			       cmd, OUTPUT_MAX);
	default:
		return err_set(err, ERR_CONFIG, "cannot read the output of password command "
			       "`%.100s`: %s", cmd, strerror(errnum));
	}
}

static int from_command(const char *cmd, unsigned timeout, char **pw, struct error *err)
{
	long long deadline = timeout ? clock_ms() + (long long)timeout * 1000 : -1;
	char *buf = malloc(OUTPUT_MAX);
	size_t len = 0;
	enum output_end how;
	int fd = -1, status = 0, rc, read_errno, tty;
	struct sigaction saved[ABORT_SIGNALS];
	pid_t pid;

	if (!buf)
		return err_set(err, ERR_OSERR, "out of memory");
	if (spawn_command(cmd, &fd, &pid, err) != 0) {
		free(buf);
		return -1;
	}
	guard_group(pid, saved);
	tty = tty_lend(pid);
	how = collect_output(fd, buf, &len, deadline);
	read_errno = errno;
	close(fd);
	if (!reap(pid, &status, deadline, how != OUT_EOF) && how == OUT_EOF)
		how = OUT_TIMEOUT;
	tty_take_back(tty);
	guard_group(0, saved);
	len = strip_newlines(buf, len);
	if (how != OUT_EOF)
		rc = output_error(cmd, how, timeout, read_errno, err);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		rc = status_error(cmd, status, err);
	else if (len == 0)
		rc = err_set(err, ERR_CONFIG, "password command `%.100s` printed nothing", cmd);
	else if (memchr(buf, '\0', len))
		rc = err_set(err, ERR_CONFIG, "password command `%.100s` printed a NUL byte", cmd);
	else
		rc = secret_dup(buf, len, pw, err);
	/* What a failed command left running is not wanted either. */
	if (rc != 0)
		kill(-pid, SIGKILL);
	wipe_free(buf, OUTPUT_MAX);
	return rc;
}

/* ---- ~/.netrc ---- */

static bool netrc_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

/* Next token, unquoted in place (the result never outgrows its source).
 * *last gets the byte that ended it, before the terminating NUL may
 * cover it, so that macdef can tell where its line ends. */
static char *netrc_token(char **pp, char *end, char *last)
{
	char *p = *pp, *tok, *o;

	while (p < end && netrc_space(*p))
		p++;
	if (p >= end)
		return NULL;
	tok = o = p;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			*o++ = *p;
		}
		p += p < end; /* the closing quote */
	} else {
		while (p < end && !netrc_space(*p))
			*o++ = *p++;
	}
	*last = p < end ? *p : '\n';
	if (p < end && netrc_space(*p))
		p++;
	*o = '\0';
	*pp = p;
	return tok;
}

/* A macdef body runs to the first empty line. */
static char *skip_macdef(char *p, char *end, char last)
{
	if (last != '\n')
		while (p < end && *p++ != '\n')
			;
	while (p < end && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n'))
		while (p < end && *p++ != '\n')
			;
	return p;
}

struct netrc_entry {
	bool host_match, is_default;
	const char *login, *password;
};

/* Ends an entry: returns its password when it is the machine sought,
 * and remembers the first fitting default entry in *dflt. */
static const char *netrc_close(const struct netrc_entry *e, const char *user,
			       const char **dflt)
{
	if (!e->host_match || !e->password || (user && e->login && strcmp(e->login, user)))
		return NULL;
	if (!e->is_default)
		return e->password;
	if (!*dflt)
		*dflt = e->password;
	return NULL;
}

/* Finds the password of the first entry for host (and user, when the
 * entry names a login), else that of the default entry. Returns a
 * pointer into buf or NULL. */
static const char *netrc_find(char *buf, size_t len, const char *host, const char *user)
{
	struct netrc_entry e = {0};
	const char *dflt = NULL, *found;
	char *p = buf, *end = buf + len, *tok, last;

	while ((tok = netrc_token(&p, end, &last))) {
		bool is_machine = strcmp(tok, "machine") == 0;

		if (is_machine || strcmp(tok, "default") == 0) {
			if ((found = netrc_close(&e, user, &dflt)))
				return found;
			memset(&e, 0, sizeof e);
			e.is_default = e.host_match = !is_machine;
			if (is_machine && (tok = netrc_token(&p, end, &last)))
				e.host_match = strcasecmp(tok, host) == 0;
		} else if (strcmp(tok, "login") == 0) {
			e.login = netrc_token(&p, end, &last);
		} else if (strcmp(tok, "password") == 0) {
			e.password = netrc_token(&p, end, &last);
		} else if (strcmp(tok, "account") == 0) {
			netrc_token(&p, end, &last);
		} else if (strcmp(tok, "macdef") == 0) {
			if (netrc_token(&p, end, &last))
				p = skip_macdef(p, end, last);
		}
	}
	found = netrc_close(&e, user, &dflt);
	return found ? found : dflt;
}

static char *netrc_path(void)
{
	const char *env = getenv("NETRC"), *home = getenv("HOME");
	struct passwd *pw;
	char *path;

	if (env && *env)
		return strdup(env);
	if (!home || !*home) {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home || asprintf(&path, "%s/.netrc", home) < 0)
		return NULL;
	return path;
}

/* A missing or unreadable netrc is simply not a source (as with curl). */
static int from_netrc(const struct password_source *s, char **pw, struct error *err)
{
	char *path = netrc_path(), *buf;
	const char *found;
	size_t len = 0;
	ssize_t r;
	int fd, rc = NOT_FOUND;

	fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
	free(path);
	if (fd < 0)
		return NOT_FOUND;
	buf = malloc(NETRC_MAX + 1);
	if (!buf) {
		close(fd);
		return err_set(err, ERR_OSERR, "out of memory");
	}
	while (len < NETRC_MAX) {
		r = read(fd, buf + len, NETRC_MAX - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	found = netrc_find(buf, len, s->host ? s->host : "", s->user);
	if (found && *found)
		rc = secret_dup(found, strlen(found), pw, err);
	wipe_free(buf, NETRC_MAX + 1);
	return rc;
}

/* ---- the no-echo prompt on the terminal ---- */

static volatile sig_atomic_t prompt_signal;

static void on_prompt_signal(int sig)
{
	prompt_signal = sig;
}

static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
#define PROMPT_SIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])

/* No SA_RESTART: read() must return so that the terminal's echo can be
 * put back before the signal takes its usual effect. */
static void catch_signals(struct sigaction *old)
{
	struct sigaction sa = {.sa_handler = on_prompt_signal};

	sigemptyset(&sa.sa_mask);
	prompt_signal = 0;
	for (size_t i = 0; i < PROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &sa, &old[i]);
}

static void restore_signals(const struct sigaction *old)
{
	for (size_t i = 0; i < PROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &old[i], NULL);
}

/* Reads one line with echo off; *len = -1 when a signal cut it short. */
static void read_quiet_line(int fd, char *buf, ssize_t *len)
{
	ssize_t n = 0, r;
	char c;

	while (!prompt_signal && n < LINE_MAX_TTY) {
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || c == '\n')
			break;
		buf[n++] = c;
	}
	explicit_bzero(&c, sizeof c);
	*len = prompt_signal ? -1 : n;
}

/* The prompt is a courtesy: reading works even if it cannot be shown. */
static void tty_write(int fd, const char *text)
{
	size_t n = strlen(text);

	while (n > 0) {
		ssize_t r = write(fd, text, n);

		if (r < 0 && errno == EINTR && !prompt_signal)
			continue;
		if (r <= 0)
			return;
		text += r;
		n -= (size_t)r;
	}
}

static ssize_t prompt_once(int fd, const struct termios *old, const char *prompt, char *buf)
{
	struct termios quiet = *old;
	struct sigaction saved[PROMPT_SIGNALS];
	ssize_t len;
	int sig;

	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	catch_signals(saved);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	tty_write(fd, prompt);
	read_quiet_line(fd, buf, &len);
	/* Flush only what is left of an overlong line, so that it is not
	 * read as input later; keep ordinary typeahead. */
	tcsetattr(fd, len >= LINE_MAX_TTY ? TCSAFLUSH : TCSANOW, old);
	tty_write(fd, "\n");
	restore_signals(saved);
	sig = prompt_signal;
	if (sig)
		raise(sig); /* now with the caller's handling: usually the end */
	return len;
}

static int from_tty(const struct password_source *s, char **pw, struct error *err)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	char prompt[600], *buf;
	struct termios old;
	ssize_t len;
	int rc;

	if (fd < 0)
		return NOT_FOUND;
	if (tcgetattr(fd, &old) != 0 || !(buf = malloc(LINE_MAX_TTY))) {
		close(fd);
		return NOT_FOUND;
	}
	snprintf(prompt, sizeof prompt, "Password for %.200s%s%.200s: ", s->user ? s->user : "",
		 s->user ? "@" : "", s->host ? s->host : "");
	/* After a stop (^Z) and fg, ask again. */
	do
		len = prompt_once(fd, &old, prompt, buf);
	while (len < 0 && prompt_signal == SIGTSTP);
	close(fd);
	if (len < 0)
		rc = err_set(err, ERR_CONFIG, "password prompt interrupted");
	else if (len >= LINE_MAX_TTY)
		rc = err_set(err, ERR_CONFIG, "the password typed is over %d bytes",
			     LINE_MAX_TTY - 1);
	else if (len == 0)
		rc = err_set(err, ERR_CONFIG, "no password entered");
	else
		rc = secret_dup(buf, (size_t)len, pw, err);
	wipe_free(buf, LINE_MAX_TTY);
	return rc;
}

static int from_keyring(const struct password_source *s, char **pw, struct error *err)
{
	char *found = keyring_lookup(s->host, s->user);
	int rc;

	if (!found)
		return NOT_FOUND;
	rc = secret_dup(found, strlen(found), pw, err);
	explicit_bzero(found, strlen(found));
	free(found);
	return rc;
}

int password_get(const struct password_source *s, char **pw, struct error *err)
{
	char origin[32];

	return password_get_from(s, pw, origin, sizeof origin, err);
}

int password_get_from(const struct password_source *s, char **pw, char *origin, size_t size,
		      struct error *err)
{
	const char *env = getenv("ENVOI_PASSWORD");
	int rc;

	*pw = NULL;
	snprintf(origin, size, "from the OAuth2 token store");
	if (s->oauth2 && s->oauth2->provider != OAUTH2_NONE)
		return oauth2_token(s->oauth2, false, pw, err);
	/* A source the user named is the only one tried: its failure must
	 * not quietly become another source's password. */
	snprintf(origin, size, "from password-file %s", s->file ? s->file : "");
	if (s->file)
		return from_file(s->file, pw, err);
	snprintf(origin, size, "from password-command");
	if (s->command)
		return from_command(s->command, s->timeout, pw, err);
	snprintf(origin, size, s->value_from_env ? "from ENVOI_PASSWORD" : "from the config file");
	if (s->value && *s->value)
		return secret_dup(s->value, strlen(s->value), pw, err);
	snprintf(origin, size, "from ENVOI_PASSWORD");
	if (env && *env)
		return secret_dup(env, strlen(env), pw, err);
	snprintf(origin, size, "from ~/.netrc");
	rc = from_netrc(s, pw, err);
	if (rc != NOT_FOUND)
		return rc;
	snprintf(origin, size, "from the keyring");
	rc = from_keyring(s, pw, err);
	if (rc != NOT_FOUND)
		return rc;
	snprintf(origin, size, "typed at the prompt");
	rc = from_tty(s, pw, err);
	if (rc != NOT_FOUND)
		return rc;
	err_set(err, ERR_CONFIG, "no password for %.200s on %.200s", s->user ? s->user : "you",
		s->host ? s->host : "the server");
	err_hint(err, "give --password-file, --password-command or ENVOI_PASSWORD");
	return -1;
}
