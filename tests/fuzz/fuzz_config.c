/* fuzz_config.c - libFuzzer target for the configuration file. The
 * input is the file (in a memfd, read through /proc/self/fd/N, mode
 * 0600 so a "password" key is allowed); it is loaded for the default
 * section and for [account work], and its account names are listed.
 * Every entry must have a key of [a-z0-9-], a value without control
 * bytes and a line number within the file; an error must be ERR_CONFIG with a text. */
#include <sys/stat.h>

#include "fuzz.h"

#include "config.h"

static void check_entries(const struct cfg_entry *v, size_t n, unsigned lines)
{
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(v[i].key != NULL && v[i].key[0] != '\0');
		FUZZ_CHECK(v[i].line >= 1 && v[i].line <= lines);
		for (const char *p = v[i].key; *p; p++)
			FUZZ_CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
		for (const char *p = v[i].value; p && *p; p++)
			FUZZ_CHECK((unsigned char)*p >= 0x20 || *p == '\t');
	}
}

static void load(const char *path, const char *account, unsigned lines)
{
	struct cfg c;
	struct error err;

	memset(&c, 0, sizeof c);
	if (cfg_load(&c, path, account, &err) == 0) {
		check_entries(c.defaults, c.ndefaults, lines);
		check_entries(c.account, c.naccount, lines);
		FUZZ_CHECK(c.naccount == 0 || c.has_account);
	} else {
		FUZZ_CHECK(err.cls == ERR_CONFIG && err.text[0]);
	}
	cfg_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = fuzz_memfd(data, size);
	char path[64], **names;
	unsigned lines = 1;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	FUZZ_CHECK(fchmod(fd, 0600) == 0);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	load(path, NULL, lines);
	load(path, "work", lines);
	names = cfg_account_names(path);
	if (names) {
		for (size_t i = 0; names[i]; i++)
			free(names[i]);
		free(names);
	}
	close(fd);
	return 0;
}
