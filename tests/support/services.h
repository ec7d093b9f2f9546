/* services.h - the servers some unit tests need (PostgreSQL, Redis), named by environment variables that
 * scripts/test.sh sets once it has started them: LLMGW_TEST_PG_URL, LLMGW_TEST_REDIS. Without one, the cases
 * that need it are skipped, so the unit stages that run before the services (and a developer's plain `ctest`)
 * pass; with LLMGW_TEST_SERVICES=required, as test.sh's stage after the services sets it, a missing one fails
 * the case instead, so CI never counts a skipped case as a passed one. CMakeLists.txt labels every unit test
 * that includes this header (or db_fixture.h) "services". */
#ifndef LGW_TEST_SERVICES_H
#define LGW_TEST_SERVICES_H

/* The value of the environment variable name (non-empty), or: the running cmocka case is skipped, or failed
 * when LLMGW_TEST_SERVICES=required. Call from a test case or its setup. */
const char *lgw_test_service(const char *name);

#endif
