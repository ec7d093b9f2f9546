/* http_client.h - a raw HTTP/1.1 client for unit tests that drive a server over real sockets: bytes sent as
 * written (pipelined, cut anywhere, malformed on purpose), answers read back strictly (a status line, fields,
 * then a body by its framing: chunked decoded, Content-Length, or to the connection's end) so that one byte
 * too many or too few shows in the next answer.
 *
 * Every wait is bounded by LGW_HCLIENT_WAIT_MS: generous, as the machines the tests run on are shared, and
 * never an assertion of speed. A failure fails the calling cmocka test. Test-only code; one thread per
 * client. */
#ifndef LGW_TEST_HTTP_CLIENT_H
#define LGW_TEST_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define LGW_HCLIENT_WAIT_MS 30000

struct lgw_hclient {
    int fd;
    char *buf; /* received and not yet taken; NUL-terminated when not NULL */
    size_t len, cap;
};

/* One answer as read. */
struct lgw_hanswer {
    int status;
    char head[8192]; /* the status line and the fields, each line CRLF-ended, without the empty line */
    struct lgw_buf body;
    bool chunked;    /* Transfer-Encoding: chunked */
    bool last_chunk; /* its terminating chunk (and trailer section) came */
    char value[512]; /* lgw_hanswer_field's result */
};

/* A socket connected to 127.0.0.1:port, or -1 when the connection was refused. */
int lgw_hclient_connect(int port);
/* Connects cl (the test fails when it cannot). */
void lgw_hclient_open(struct lgw_hclient *cl, int port);
/* Closes the socket (with bytes unread, the kernel resets the connection) and frees what was received. */
void lgw_hclient_close(struct lgw_hclient *cl);
/* Sends every byte (the test fails when the connection is gone). */
void lgw_hclient_send(struct lgw_hclient *cl, const void *data, size_t len);
void lgw_hclient_sends(struct lgw_hclient *cl, const char *s);
/* Reads what arrives before deadline (lgw_mono_ms): 1 bytes came, 0 the server closed or reset the
 * connection, -1 the deadline passed. */
int lgw_hclient_fill(struct lgw_hclient *cl, int64_t deadline);
/* Waits until what was received (not yet taken) contains s; false when it did not in time. */
bool lgw_hclient_wait_for(struct lgw_hclient *cl, const char *s);
/* True when the server closes the connection (eventually), having sent nothing more on it. */
bool lgw_hclient_closed(struct lgw_hclient *cl);
/* True when nothing arrives, and the connection stays open, for ms: for what must not happen yet, so that
 * a slow machine cannot fail a test. */
bool lgw_hclient_quiet(struct lgw_hclient *cl, int ms);

/* Reads the next answer into a (lgw_hanswer_cleanup after): its head, then its body as its framing says,
 * none after a HEAD request (head_request) or for 1xx, 204 and 304. The test fails on anything else. */
void lgw_hclient_read(struct lgw_hclient *cl, struct lgw_hanswer *a, bool head_request);
/* A field's value (the first of that name, any case; in a->value), or NULL; *count (may be NULL) gets how
 * many fields have that name. */
const char *lgw_hanswer_field_n(struct lgw_hanswer *a, const char *name, int *count);
const char *lgw_hanswer_field(struct lgw_hanswer *a, const char *name);
/* The body, NUL-terminated ("" when empty). */
const char *lgw_hanswer_body(const struct lgw_hanswer *a);
void lgw_hanswer_cleanup(struct lgw_hanswer *a);

#endif
