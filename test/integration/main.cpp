#define BOOST_TEST_MODULE rtfarm_integration
#include <boost/test/unit_test.hpp>
