# rtfarm — GNU make build.
#   make            the four programs in build/bin/ (installs build packages first)
#   make check      every test; ends with one line "N passed, N failed"
#   make lint       clang-format, clang-tidy, mandoc -Tlint, include layering
#   make asan-check the tests under AddressSanitizer and UBSan (build/asan/)
#   make fuzz       every fuzz target (test/fuzz/) for FUZZ_SECONDS each (make check runs them too)
#   make bench      sipfarmd against Kamailio's stateless dispatcher; rtprelayd (userspace,
#                   kernel fast path) against rtpengine and a trivial relay over a veth
#                   pair between network namespaces; one core each (root)
#   make demo       the SIP farm lab (root; network namespaces)
#   make install    programs, man pages, etc/ under share/doc/rtfarm/; PREFIX
#                   (default /usr/local) and DESTDIR honoured; make uninstall
#
# Targets that need Debian packages call mk/deps.sh first and then build in a
# sub-make, so pkg-config is asked only once the packages are there.
#
# Those sub-makes compile on every core (JOBS) unless the command line says how
# many jobs: `make -j1 check` builds one file at a time, `make -j2 check` on two.
# Only compiling and linking run in parallel; the tests run one after another.

VERSION := 0.1.0
BUILD ?= build
PREFIX ?= /usr/local
DESTDIR ?=

CXX ?= g++
PKGS := libevent libosip2 jansson libssl libcrypto libbpf
OPT ?= -O2 -g
SANITIZE ?=
CXXFLAGS_BASE := -std=c++20 $(OPT) $(SANITIZE) -Wall -Wextra -Wshadow -Werror -MMD -MP -pthread
CPPFLAGS_BASE := -Ilibcommon -I$(BUILD)/gen -DRTFARM_VERSION='"$(VERSION)"'
TEST_CPPFLAGS := -DBOOST_TEST_DYN_LINK

PROGRAMS := sipfarmd rtprelayd cgclusterctl lbcheck
MANPAGES := $(wildcard man/*.[0-9])
# The example configs, their README and the supervision files, installed
# under DOCDIR with etc/'s tree kept (paths relative to etc/).
DOCDIR = $(PREFIX)/share/doc/rtfarm
DOC_FILES := $(sort $(patsubst etc/%,%,$(shell find etc -type f)))

LIB_SRCS := $(sort $(shell find libcommon -name '*.cpp'))
LIB_OBJS := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
LIB := $(BUILD)/lib/libcommon.a
UNIT_SRCS := $(sort $(wildcard test/unit/*.cpp))
UNIT_OBJS := $(UNIT_SRCS:%.cpp=$(BUILD)/obj/%.o)
INTEG_SRCS := $(sort $(wildcard test/integration/*.cpp))
INTEG_OBJS := $(INTEG_SRCS:%.cpp=$(BUILD)/obj/%.o)
TESTS := $(BUILD)/test/unit_tests $(BUILD)/test/integration_tests
# Script tests: the fuzzer, the lab's own checks (the SIPp scenarios catch
# misrouting; the load balancer sprays per packet), and the farm in the
# namespace lab, and the README link check. Those that need root skip with a
# reason without it.
SCRIPT_TESTS := test/fuzz/check.sh test/lab/sipp-check.sh test/lab/selftest.sh test/docs/links.sh \
	$(sort $(filter-out %/farm_lab.sh,$(wildcard test/integration/lab/*.sh)))

# -jN for the building sub-makes when the command line gave no -j. A recipe-time
# test: GNU make 4.3 puts the command line's -j into MAKEFLAGS only once recipes
# run. `make JOBS=` or `make JOBS=-j1` overrides it.
NPROC := $(shell nproc 2>/dev/null || echo 1)
JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(NPROC))

.PHONY: all programs tests check check-run fuzz lint lint-run asan-check demo bench install uninstall clean

all:
	@mk/deps.sh build
	@$(MAKE) $(JOBS) --no-print-directory programs

# Empty on a machine without the packages; the targets above install them and
# then build in a sub-make, which asks again.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ALL_CXXFLAGS = $(CXXFLAGS_BASE) $(CPPFLAGS_BASE) $(PKG_CFLAGS) $(CXXFLAGS)
ALL_LDLIBS = $(PKG_LIBS) $(LDLIBS)

programs: $(PROGRAMS:%=$(BUILD)/bin/%)
# The lab's attacker (test/lab/edgestorm.cpp): a test tool, not a test.
LAB_TOOLS := $(BUILD)/test/edgestorm
tests: programs $(TESTS) $(LAB_TOOLS)

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) -c $< -o $@

$(BUILD)/obj/test/%.o: test/%.cpp
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) $(TEST_CPPFLAGS) -Itest -c $< -o $@

# rtprelayd's kernel fast path (libcommon/relay/fast_path.bpf.c): an eBPF
# object built by clang, embedded in the library as bpftool's skeleton.
BPF_CLANG ?= clang
BPFTOOL ?= $(or $(shell command -v bpftool 2>/dev/null),/usr/sbin/bpftool)
BPF_CFLAGS := -O2 -g -target bpf -Wall -Werror -I/usr/include/$(shell $(CXX) -dumpmachine 2>/dev/null)
$(BUILD)/gen/fast_path.bpf.o: libcommon/relay/fast_path.bpf.c libcommon/relay/fast_path_abi.h
	@mkdir -p $(@D)
	$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/gen/fast_path.skel.h: $(BUILD)/gen/fast_path.bpf.o
	$(BPFTOOL) gen skeleton $< name fast_path_bpf > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/libcommon/relay/fast_path.o: $(BUILD)/gen/fast_path.skel.h

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

define program_rule
$(1)_OBJS := $$(patsubst %.cpp,$$(BUILD)/obj/%.o,$$(sort $$(wildcard cmd/$(1)/*.cpp)))
$$(BUILD)/bin/$(1): $$($(1)_OBJS) $$(LIB)
	@mkdir -p $$(@D)
	$$(CXX) $$(CXXFLAGS_BASE) $$(LDFLAGS) -o $$@ $$($(1)_OBJS) $$(LIB) $$(ALL_LDLIBS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_rule,$(p))))

$(BUILD)/test/unit_tests: $(UNIT_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS_BASE) $(LDFLAGS) -o $@ $(UNIT_OBJS) $(LIB) $(ALL_LDLIBS) -lboost_unit_test_framework

$(BUILD)/test/integration_tests: $(INTEG_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS_BASE) $(LDFLAGS) -o $@ $(INTEG_OBJS) $(LIB) $(ALL_LDLIBS) -lboost_unit_test_framework

$(BUILD)/test/edgestorm: $(BUILD)/obj/test/lab/edgestorm.o
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS_BASE) $(LDFLAGS) -o $@ $^

check:
	@mk/deps.sh build check fuzz
	@$(MAKE) $(JOBS) --no-print-directory tests
	@$(MAKE) --no-print-directory check-run

# Seconds each fuzz target runs in `make check` and `make fuzz`.
FUZZ_SECONDS ?= 20
check-run:
	@RTFARM_BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) test/run-tests.sh $(TESTS) $(SCRIPT_TESTS)

# The flags travel in the environment too, so a test that runs make (the
# install test) builds with the same ones and finds everything up to date.
ASAN_ENV := BUILD=build/asan OPT='-O1 -g' SANITIZE='-fsanitize=address,undefined -fno-omit-frame-pointer'
asan-check:
	@mk/deps.sh build check fuzz
	@$(ASAN_ENV) $(MAKE) $(JOBS) --no-print-directory tests
	@$(ASAN_ENV) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(MAKE) --no-print-directory check-run

fuzz:
	@mk/deps.sh build fuzz
	@test/fuzz/run.sh $(FUZZ_SECONDS)

lint:
	@mk/deps.sh build lint
	@$(MAKE) --no-print-directory lint-run

lint-run:
	@mk/lint.sh

demo:
	@mk/deps.sh build demo
	@$(MAKE) $(JOBS) --no-print-directory programs
	@test/demo/run.sh

# All three benches run (SIP, media, SIP over TCP); the exit status is the highest.
bench:
	@mk/deps.sh build bench
	@$(MAKE) $(JOBS) --no-print-directory programs
	@rc=0; test/bench/run.sh || rc=$$?; \
		test/bench/media.sh || { r=$$?; [ $$r -gt $$rc ] && rc=$$r; }; \
		test/bench/tcp.sh || { r=$$?; [ $$r -gt $$rc ] && rc=$$r; }; exit $$rc

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man7 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(PROGRAMS:%=$(BUILD)/bin/%) $(DESTDIR)$(PREFIX)/bin/
	for m in $(MANPAGES); do \
		s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/ || exit 1; \
	done
	for f in $(DOC_FILES); do \
		mode=0644; [ -x etc/$$f ] && mode=0755; \
		install -D -m $$mode etc/$$f $(DESTDIR)$(DOCDIR)/$$f || exit 1; \
	done

uninstall:
	rm -f $(PROGRAMS:%=$(DESTDIR)$(PREFIX)/bin/%)
	for m in $(MANPAGES); do \
		s=$${m##*.}; rm -f $(DESTDIR)$(PREFIX)/share/man/man$$s/$${m##*/}; \
	done
	for f in $(DOC_FILES); do rm -f $(DESTDIR)$(DOCDIR)/$$f; done
	@# The folders under DOCDIR are ours; remove those left empty.
	if [ -d $(DESTDIR)$(DOCDIR) ]; then \
		find $(DESTDIR)$(DOCDIR) -depth -type d -empty -delete; \
	fi

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
