# mdmid: `make` builds, `make check` runs every test, `make run` starts a dev instance.
# `make check SAN=1` builds with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-san/ and runs the same tests.

PREFIX ?= /usr/local
DESTDIR ?=
PORT ?= 8080
ADMIN_PORT ?= 8081
SAN ?=

CC ?= cc
PKG_CONFIG ?= pkg-config
PKGS := libssl libcrypto libmicrohttpd libpq jansson libplist-2.0 libsystemd

ifeq ($(SAN),1)
BUILD ?= build-san
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
BUILD ?= build
OPT := -O2 -g
endif

PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lmicrohttpd -lpq -ljansson -lplist-2.0 -lsystemd)
CPPFLAGS += -Iinclude -I. -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
CFLAGS += -std=c11 -Wall -Wextra -Werror $(OPT) $(PKG_CFLAGS) -MMD -MP
LDFLAGS += $(OPT)
LDLIBS += $(PKG_LIBS) -lpthread

CORE_SRC := $(wildcard core/*.c)
SCEP_SRC := $(wildcard scep/*.c)
PKCS12_SRC := $(wildcard pkcs12/*.c)
CLI_SRC := $(wildcard cli/*.c) mdmid.c
SQL := $(sort $(wildcard sql/[0-9]*.sql))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
SUPPORT_SRC := tests/support/scep_client.c

LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(CORE_SRC) $(SCEP_SRC) $(PKCS12_SRC)) $(BUILD)/obj/sql_migrations.o
CLI_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRC))
SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(SUPPORT_SRC))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all check unit integration run install clean deps bench-tools valgrind
# Keep object files of the test binaries (no "rm ..." after the last test line).
.SECONDARY:
all: $(BUILD)/mdmid $(BUILD)/scep-req $(BUILD)/scep_load

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/sql_migrations.c: $(SQL) sql/embed.sh
	@mkdir -p $(dir $@)
	sh sql/embed.sh $@ $(SQL)

$(BUILD)/obj/sql_migrations.o: $(BUILD)/sql_migrations.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-overlength-strings -c $< -o $@

$(BUILD)/libmdmid.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/mdmid: $(CLI_OBJ) $(BUILD)/libmdmid.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/scep-req: $(BUILD)/obj/tests/tools/scep-req.o $(SUPPORT_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/tests/%.o: CPPFLAGS += -Itests/support

# The SCEP load generator (tests/bench/README.md): `make bench-tools`.
$(BUILD)/scep_load: $(BUILD)/obj/tests/bench/scep_load.o $(SUPPORT_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-tools: $(BUILD)/mdmid $(BUILD)/scep_load

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(SUPPORT_OBJ) $(BUILD)/libmdmid.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Unit tests (cmocka, as TAP) and integration scenarios (TAP scripts against a
# real server, real PostgreSQL and real clients) all run under one prove.
INTEGRATION := tests/lib/pg-selftest.sh $(sort $(wildcard tests/integration/*.t))

check: all $(UNIT_BIN)
	MDMID_BUILD=$(BUILD) bash tests/run-tests.sh $(UNIT_BIN) $(INTEGRATION)

# The integration scenarios under valgrind memcheck: the server and every CLI run
# (tests/integration/lib.sh: any memory error or definite/indirect leak fails the
# scenario). Left out: 02 and 90 (no mdmid process), 87 (container files), and the
# scenarios that are load or timing by nature and too slow under memcheck:
# 60 (a thousand RSA keys), 82 (2,000 enrollments with kills), 83 (outages under load).
VALGRIND_TESTS := $(addprefix tests/integration/,01_cli.t 10_scepclient_ra.t 11_scepclient_ca_only.t \
	12_get_pkioperation.t 20_refusals.t 30_certrep.t 40_database.t 50_device_binding.t 51_challenge_race.t \
	52_mdm_signature.t 53_profile.t 61_p12_crash.t 62_p12_resume_guards.t 70_revocation.t 71_renewal_time.t \
	72_getcert_getcrl.t 73_algorithms.t 74_pending.t 75_rollover.t 80_hostile_requests.t \
	81_secrets_privileges.t 84_systemd.t 85_metrics.t 86_nginx_tls.t 88_ca_import_report.t)
valgrind: all $(UNIT_BIN)
	MDMID_BUILD=$(BUILD) MDMID_VALGRIND=1 bash tests/run-tests.sh $(VALGRIND_TESTS)

unit: $(UNIT_BIN)
	MDMID_BUILD=$(BUILD) bash tests/run-tests.sh $(UNIT_BIN)

deps:
	bash deploy/install-deps.sh

# A development instance: throwaway PostgreSQL and CA under ./var/.
run:
	bash deploy/install-deps.sh
	$(MAKE) all
	MDMID_BIN=$(BUILD)/mdmid bash deploy/dev-run.sh --port $(PORT) --admin-port $(ADMIN_PORT)

install: $(BUILD)/mdmid
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/mdmid/sql $(DESTDIR)$(PREFIX)/share/doc/mdmid
	install -m 0755 $(BUILD)/mdmid $(DESTDIR)$(PREFIX)/bin/mdmid
	install -m 0644 $(SQL) $(DESTDIR)$(PREFIX)/share/mdmid/sql/
	install -m 0644 deploy/mdmid.conf.example README.md $(DESTDIR)$(PREFIX)/share/doc/mdmid/
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 mdmid.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	# The systemd unit runs the binary just installed; sysusers makes its user.
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/lib/sysusers.d
	sed 's|^ExecStart=/usr/local/bin/mdmid |ExecStart=$(PREFIX)/bin/mdmid |' deploy/systemd/mdmid.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/mdmid.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/mdmid.service
	install -m 0644 deploy/systemd/mdmid.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/mdmid.conf

clean:
	rm -rf build build-san

include tests/fuzz/fuzz.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
