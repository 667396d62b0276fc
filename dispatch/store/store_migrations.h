/* Schema migrations embedded at build time (embed_migrations.py turns
 * migrations/NNNN_name.sql into a static table). Static storage: nobody
 * frees anything here. */
#ifndef DP_STORE_MIGRATIONS_H
#define DP_STORE_MIGRATIONS_H

#include <stddef.h>

typedef struct {
    int version;      /* 1, 2, 3... in order */
    const char *name; /* file name */
    const char *sql;  /* one or more statements, run with PQexec */
} store_migration;

extern const store_migration store_migrations[];
extern const size_t store_migrations_count;

#endif
