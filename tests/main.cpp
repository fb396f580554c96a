// The doctest main shared by every test binary (one per tests/ folder).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
