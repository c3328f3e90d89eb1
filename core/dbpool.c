/* Per-thread database connections through a pthread key. */
#include "mdmid/dbpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

struct dbpool {
	pthread_key_t key;
	char *conninfo;
	char *password;
};

static void store_destroy(void *p) { store_free(p); }

struct dbpool *dbpool_new(const char *conninfo, const char *password)
{
	struct dbpool *pool = calloc(1, sizeof *pool);

	if (!pool)
		return NULL;
	if (pthread_key_create(&pool->key, store_destroy) != 0) {
		free(pool);
		return NULL;
	}
	pool->conninfo = strdup(conninfo ? conninfo : "");
	pool->password = password ? strdup(password) : NULL;
	if (!pool->conninfo || (password && !pool->password)) {
		dbpool_free(pool);
		return NULL;
	}
	return pool;
}

void dbpool_free(struct dbpool *pool)
{
	if (!pool)
		return;
	/* The calling thread's own store; worker threads freed theirs on exit. */
	store_free(pthread_getspecific(pool->key));
	pthread_key_delete(pool->key);
	free(pool->conninfo);
	if (pool->password) {
		OPENSSL_cleanse(pool->password, strlen(pool->password));
		free(pool->password);
	}
	free(pool);
}

struct store *dbpool_get(struct dbpool *pool)
{
	struct store *st = pthread_getspecific(pool->key);

	if (!st && (st = store_new(pool->conninfo, pool->password)) && pthread_setspecific(pool->key, st) != 0) {
		store_free(st);
		st = NULL;
	}
	return st;
}
