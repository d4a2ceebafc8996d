// The unit test binary: pure functions and in-process components, no daemons.
#define BOOST_TEST_MODULE rtfarm_unit
#include <boost/test/unit_test.hpp>
