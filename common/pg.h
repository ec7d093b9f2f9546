/* pg.h - connecting to PostgreSQL with the gateway's defaults, for every role that keeps a connection. */
#ifndef LGW_PG_H
#define LGW_PG_H

#include <libpq-fe.h>

/* Connects to url (a postgresql:// URL or a conninfo string) with defaults the URL may override
 * (expand_dbname: values from the URL win over the ones before it): without connect_timeout a black-holed
 * host blocks the caller for the kernel's TCP timeout (minutes), and without keepalives / tcp_user_timeout a
 * dead server is only noticed when the OS gives up on the socket. application_name names the role in
 * pg_stat_activity; options (NULL: none) are server settings ("-c name=value"). Returns what
 * PQconnectdbParams does: NULL only when out of memory; check PQstatus. */
PGconn *lgw_pg_connect(const char *url, const char *application_name, const char *options);

#endif
