/* reply_encode_tree.h - the reply encoder llmgw had until the twenty-sixth pass: the envelope built as a jansson
 * tree and dumped by jansson. Kept for tests and benches only, as the reference common/envelope.c's field-by-field
 * writer is held to (tests/unit/test_reply_write.c) and timed against (bench/reply_text_bench.c). */
#ifndef LGW_TEST_REPLY_ENCODE_TREE_H
#define LGW_TEST_REPLY_ENCODE_TREE_H

#include "common/buf.h"
#include "common/envelope.h"

/* Appends reply's message to out as the tree encoder wrote it. Returns 0, or LGW_ERR(TOO_LARGE) when jansson's
 * dump stopped (the buffer's cap), with out as it was. */
int lgw_test_reply_encode_tree(const struct lgw_reply *reply, struct lgw_buf *out);

#endif
