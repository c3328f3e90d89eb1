/* The schema migrations compiled into the binary (see sql/embed.sh). */
#ifndef MDMID_MIGRATE_H
#define MDMID_MIGRATE_H

struct migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct migration migrations[];
extern const unsigned migration_count;

#endif
