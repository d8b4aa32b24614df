# minqing - case dispatch daemon for county grid governance and 12345 hotlines.
#
#   make            build everything into build/
#   make run        install what is missing, build, run the broker with demo workers
#   make test       install what is missing, build with ASan+UBSan, run every test
#   make test-faults          the fault-injection tests (kill -9, full disk, bad databases)
#   make test-faults LONG=1   the same with ROUNDS (50) broker kills and a DURATION (600) s soak
#   make fuzz       fuzz the decoder and the message handling, FUZZ_SECONDS each (60)
#   make bench      minqing side by side with beanstalkd and Redis
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
FUZZ_SECONDS ?= 60

PKGS    := libzmq libczmq msgpack sqlite3 libsystemd inih jansson
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla -Wundef
DEFS    := -D_GNU_SOURCE
INCS    := -Iproto -Iworkers -Idaemon -Icli

# SAN=1 builds a separate tree with AddressSanitizer and UBSan, for the tests.
ifeq ($(SAN),1)
O       := build/san
OPT     := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# LSAN=1: LeakSanitizer alone (no ASan quarantine, so RSS stays meaningful), for the soak
else ifeq ($(LSAN),1)
O       := build/lsan
OPT     := -O2 -g -fsanitize=leak -fno-omit-frame-pointer
else
O       := build
OPT     := -O2 -g
endif

# pkg-config only once the libraries exist (before `make deps` they may not).
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  += $(WARN) $(DEFS) $(INCS) $(OPT) $(PKG_CFLAGS)
LDFLAGS += $(OPT)
LDLIBS  += $(PKG_LIBS) -lm

PROTO_SRC  := proto/msg.c proto/mpread.c proto/utf8.c proto/codec.c proto/mask.c proto/loglevel.c \
              proto/keyfile.c
PROTO_OBJ  := $(PROTO_SRC:%.c=$(O)/%.o)
# the broker's modules, without main.c, so tests can link them
CORE_SRC   := daemon/config.c daemon/calendar.c daemon/clock.c daemon/deadline.c \
              daemon/escalation.c daemon/ladders.c daemon/timers.c daemon/service.c daemon/auth.c daemon/ratelimit.c daemon/log.c daemon/rowcache.c daemon/evbuf.c daemon/roundcache.c daemon/walbuf.c daemon/checkpointer.c daemon/store.c daemon/fsm.c daemon/route.c daemon/holdback.c \
              daemon/session.c daemon/stall.c daemon/dispatch.c daemon/outbox.c daemon/apply.c daemon/notices.c daemon/requeue.c daemon/peers.c daemon/sockfile.c daemon/broker.c
CORE_OBJ   := $(CORE_SRC:%.c=$(O)/%.o)
LIB_SRC    := $(wildcard workers/mq_*.c)
LIB_OBJ    := $(LIB_SRC:%.c=$(O)/%.o)
# minqing-worker, the exec adapter: one module per idea (workers/adapter/main.c)
ADAPTER_SRC := $(wildcard workers/adapter/*.c)
ADAPTER_OBJ := $(ADAPTER_SRC:%.c=$(O)/%.o)

CLI_SRC    := $(wildcard cli/*.c)
CLI_OBJ    := $(CLI_SRC:%.c=$(O)/%.o)
PROGRAMS   := $(O)/minqingd $(O)/loadgen $(O)/simworker \
              $(if $(ADAPTER_SRC),$(O)/minqing-worker) \
              $(if $(CLI_SRC),$(O)/minqing)
UNIT_TESTS := test_codec test_config test_libminqing test_fsm test_dispatch test_store test_apply \
              test_calendar test_clock test_timers test_escalation test_ratelimit test_walbuf \
              test_notices test_adapter test_log test_requeue test_auth test_holdback
UNIT_BINS  := $(UNIT_TESTS:%=$(O)/tests/%)

.PHONY: all deps run test test-bins test-faults test-faults-long fuzz fuzz-long fuzz-bin bench install uninstall clean
all: $(O)/libproto.a $(O)/libminqing.a $(PROGRAMS)

deps:
	@sh scripts/deps.sh build

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/libproto.a: $(PROTO_OBJ)
	$(AR) rcs $@ $^

$(O)/libcore.a: $(CORE_OBJ)
	$(AR) rcs $@ $^

# libminqing carries the codec, so adapters link one library. Its objects are
# joined into one and every name but the API's (mq_*, and msg_* of msg.h) made
# local: an adapter may have its own utf8_valid or codec_new without a clash.
LIB_API    := --keep-global-symbol='mq_*' --keep-global-symbol='msg_*'
$(O)/libminqing.a: $(LIB_OBJ) $(PROTO_OBJ)
	$(LD) -r -o $(O)/workers/libminqing.o $^
	objcopy -w $(LIB_API) $(O)/workers/libminqing.o
	rm -f $@ && $(AR) rcs $@ $(O)/workers/libminqing.o

$(O)/minqingd: $(O)/daemon/main.o $(O)/libcore.a $(O)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libproto after libminqing for the one name libminqing hides that the adapter
# needs (loglevel_*: the level names the broker uses too)
$(O)/minqing-worker: $(ADAPTER_OBJ) $(O)/libminqing.a $(O)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the CLI reads the broker's config and database; it changes state only through the
# broker (restore, with the broker stopped, replaces the database)
$(O)/minqing: $(CLI_OBJ) $(O)/libcore.a $(O)/libminqing.a $(O)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/loadgen $(O)/simworker: $(O)/%: $(O)/bench/%.o $(O)/libminqing.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the floors under submit->dispatch (bench/README.md): one ZeroMQ hop, one
# durable write to this disk
$(O)/zmq_hop $(O)/fsync_floor: $(O)/%: $(O)/bench/%.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/test_%: $(O)/tests/test_%.o $(O)/libcore.a $(O)/libminqing.a $(O)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka -lpthread

# the adapter's modules that need no broker; test_adapter stands in for the
# few libminqing calls they make, so libminqing is not linked
ADAPTER_UNIT_OBJ := $(addprefix $(O)/workers/adapter/,reader.o wconfig.o delivery.o input.o \
                    job.o seen.o wlog.o)
$(O)/tests/test_adapter.o: CFLAGS += -Iworkers/adapter
$(O)/tests/test_adapter: $(O)/tests/test_adapter.o $(ADAPTER_UNIT_OBJ) $(O)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

run: deps all
	@sh scripts/run-demo.sh

test-bins: $(UNIT_BINS) $(PROGRAMS)

# Builds and tests use every core (JOBS=1: one at a time, as a debugging aid).
JOBS ?= $(shell nproc 2>/dev/null || echo 1)

test:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=1 test-bins
	@$(MAKE) --no-print-directory -j$(JOBS) fuzz-bin
	@JOBS=$(JOBS) sh tests/run.sh

# The fault-injection suite (README, "Fault injection"): the fault scripts of
# `make test` alone; LONG=1 runs the broker kill -9 test for ROUNDS rounds and
# the DURATION-second soak at 1,000 cases/s on a LeakSanitizer broker.
FAULT_SCRIPTS := tests/e2e/kill9.sh tests/e2e/escalation_kill9.sh tests/e2e/faults.sh \
                 tests/e2e/failover.sh
ROUNDS   ?= 50
DURATION ?= 600
test-faults:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=1 test-bins
ifeq ($(LONG),1)
	@$(MAKE) --no-print-directory LSAN=1 build/lsan/minqingd
	@ROUNDS=$(ROUNDS) DURATION=$(DURATION) TEST_TIMEOUT=$$(( $(DURATION) + 600 )) \
	  sh tests/run.sh -s $(FAULT_SCRIPTS) tests/faults/soak.sh
else
	@sh tests/run.sh -s $(FAULT_SCRIPTS)
endif

test-faults-long:
	@$(MAKE) --no-print-directory test-faults LONG=1

# minqing side by side with beanstalkd and Redis (installed from Debian, run on
# loopback): a Markdown table, and a last line a script can read
bench:
	@sh scripts/deps.sh bench
	@$(MAKE) --no-print-directory all build/zmq_hop build/fsync_floor
	sh bench/run.sh

# libFuzzer needs clang; the fuzz tree is separate from both gcc trees.
FUZZ_CFLAGS := $(WARN) $(DEFS) $(INCS) -O1 -g -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz-bin: build/fuzz/fuzz_decode build/fuzz/fuzz_apply build/fuzz/fuzz_mask

build/fuzz/fuzz_decode: fuzz/fuzz_decode.c $(PROTO_SRC) $(wildcard proto/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -o $@ fuzz/fuzz_decode.c $(PROTO_SRC) $(PKG_LIBS) -lm

build/fuzz/fuzz_mask: fuzz/fuzz_mask.c proto/mask.c proto/utf8.c $(wildcard proto/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ fuzz/fuzz_mask.c proto/mask.c proto/utf8.c

build/fuzz/fuzz_apply: fuzz/fuzz_apply.c $(PROTO_SRC) $(CORE_SRC) $(wildcard proto/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -o $@ fuzz/fuzz_apply.c $(PROTO_SRC) $(CORE_SRC) $(PKG_LIBS) -lm

fuzz:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory fuzz-bin
	sh scripts/fuzz.sh build/fuzz/fuzz_decode fuzz/corpus/decode $(FUZZ_SECONDS)
	sh scripts/fuzz.sh build/fuzz/fuzz_apply fuzz/corpus/apply $(FUZZ_SECONDS)
	sh scripts/fuzz.sh build/fuzz/fuzz_mask fuzz/corpus/mask $(FUZZ_SECONDS)

# each target for 10 minutes, outside CI
fuzz-long:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=600

install: all
	@set -e; d='$(DESTDIR)'; p='$(PREFIX)'; g='$(O)/install'; \
	mkdir -p "$$g"; \
	for b in minqingd minqing minqing-worker; do \
	  if [ -x '$(O)'/$$b ]; then install -D -m 0755 '$(O)'/$$b "$$d$$p/bin/$$b"; \
	  else echo "install: $(O)/$$b was not built; skipping it"; fi; \
	done; \
	for u in minqingd.service minqing-worker@.service; do \
	  sed "s|/usr/bin/|$$p/bin/|g" systemd/$$u > "$$g/$$u"; \
	  install -D -m 0644 "$$g/$$u" "$$d$$p/lib/systemd/system/$$u"; \
	done; \
	install -D -m 0644 systemd/minqing.sysusers "$$d$$p/lib/sysusers.d/minqing.conf"; \
	install -D -m 0644 systemd/minqing.tmpfiles "$$d$$p/lib/tmpfiles.d/minqing.conf"; \
	for m in man/*.[158]; do \
	  install -D -m 0644 "$$m" "$$d$$p/share/man/man$${m##*.}/$${m##*/}"; \
	done; \
	install -D -m 0644 '$(O)'/libminqing.a "$$d$$p/lib/libminqing.a"; \
	install -D -m 0644 workers/minqing.h "$$d$$p/include/minqing/minqing.h"; \
	install -D -m 0644 proto/msg.h "$$d$$p/include/minqing/msg.h"; \
	sed -e 's|ipc://var/|ipc:///run/minqing/|g' \
	    -e 's|^\(database *= *\)var/|\1/var/lib/minqing/|' \
	    -e 's|^\(holidays *= *\)examples/|\1/etc/minqing/|' \
	    -e 's|^; This copy is the demo config used by `make run`, so its paths are relative$$|; Installed by `make install` from examples/minqing.conf: the production paths|' \
	    -e 's|^; to the repository root. The installed one lives at /etc/minqing/minqing.conf.$$|; are /run/minqing (sockets), /var/lib/minqing (database), /etc/minqing.|' \
	    examples/minqing.conf > "$$g/minqing.conf"; \
	for f in "$$g/minqing.conf:minqing.conf" examples/holidays.txt:holidays.txt \
	         examples/worker.conf:workers/example.conf; do \
	  if [ -e "$$d/etc/minqing/$${f#*:}" ]; then echo "install: keeping $$d/etc/minqing/$${f#*:}"; \
	  else install -D -m 0644 "$${f%%:*}" "$$d/etc/minqing/$${f#*:}"; fi; \
	done; \
	echo "installed under $$d$$p; next: systemd-sysusers; systemd-tmpfiles --create;" \
	     "systemctl daemon-reload; systemctl enable --now minqingd (docs/operations.md)"

uninstall:
	@d='$(DESTDIR)'; p='$(PREFIX)'; \
	if [ ! -e "$$d$$p/bin/minqingd" ] && [ ! -e "$$d$$p/bin/minqing" ]; then \
	  echo "uninstall: no minqing under $$d$$p: was it installed with another PREFIX? (this one is $$p)" >&2; \
	  exit 1; \
	fi; \
	rm -f "$$d$$p/bin/minqingd" "$$d$$p/bin/minqing" "$$d$$p/bin/minqing-worker" \
	      "$$d$$p/lib/systemd/system/minqingd.service" \
	      "$$d$$p/lib/systemd/system/minqing-worker@.service" \
	      "$$d$$p/lib/sysusers.d/minqing.conf" "$$d$$p/lib/tmpfiles.d/minqing.conf" \
	      "$$d$$p/lib/libminqing.a" \
	      "$$d$$p/include/minqing/minqing.h" "$$d$$p/include/minqing/msg.h"; \
	for m in man/*.[158]; do rm -f "$$d$$p/share/man/man$${m##*.}/$${m##*/}"; done; \
	rmdir "$$d$$p/include/minqing" 2>/dev/null; \
	echo "uninstalled from $$d$$p; kept $$d/etc/minqing and /var/lib/minqing (config, database):" \
	     "remove them by hand if you mean to"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
