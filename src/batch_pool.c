/* batch_pool.c - --connections=N (stub) */
#include "batch_int.h"

int batch_pool_run(struct options *o, const char *password, int in_fd)
{
	struct batch_shared sh = {0};

	return batch_loop(o, password, &sh, in_fd, stdout, false);
}
