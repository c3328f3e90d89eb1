# Fuzzing (tests/fuzz/README.md), included by the Makefile.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="pkimsg config"]
#       builds every harness with clang and libFuzzer (+ ASan, UBSan) into
#       build-fuzz/ and runs each, one after the other, for FUZZ_SECONDS on a
#       scratch copy of its corpus; prints seconds, executions, coverage and
#       corpus size per harness, and fails when one crashed.
#   make fuzz-build      only builds them
#   make fuzz-seeds      regenerates the generated seeds in tests/fuzz/corpus/
#
# `make check` (and `make check SAN=1`) builds the same harnesses without
# libFuzzer, with the normal compiler and flags, as $(BUILD)/fuzz/replay-*:
# tests/integration/90_fuzz_regressions.t runs every seed and every input
# of tests/fuzz/regressions/ through them.
#
# Built with -DMDMID_FUZZING, scep_msg.c and mdmsig.c let a signature that
# does not verify through and scep_msg.c reads the encrypted content as the
# plaintext; nothing else changes. Only the fuzz and replay builds define it.

FUZZ_HARNESSES := pkimsg get_query mdmsig admin_json config p12_udids forwarded_for
FUZZ_TARGETS ?= $(FUZZ_HARNESSES)
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build-fuzz
FUZZ_CC ?= clang
FUZZ_OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
# The sources whose behaviour -DMDMID_FUZZING changes.
FUZZ_FLAGGED_SRC := scep/scep_msg.c core/mdmsig.c

.PHONY: fuzz fuzz-build fuzz-seeds fuzz-clean

# ---- the replay build (part of the normal build: $(BUILD) is build or build-san)

FUZZ_REPLAY := $(patsubst %,$(BUILD)/fuzz/replay-%,$(FUZZ_HARNESSES))
FUZZ_REPLAY_LIB_OBJ := $(filter-out $(patsubst %.c,$(BUILD)/obj/%.o,$(FUZZ_FLAGGED_SRC)),$(LIB_OBJ)) \
	$(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(FUZZ_FLAGGED_SRC))

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DMDMID_FUZZING $(CFLAGS) -c $< -o $@

$(BUILD)/fuzz/replay-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/replay_main.o $(FUZZ_REPLAY_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

check: $(FUZZ_REPLAY)

$(BUILD)/fuzz/mkseeds: $(BUILD)/obj/tests/fuzz/mkseeds.o $(SUPPORT_OBJ) $(BUILD)/libmdmid.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

fuzz-seeds: $(BUILD)/fuzz/mkseeds
	$(BUILD)/fuzz/mkseeds tests/fuzz/corpus

-include $(shell find $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)

# ---- the libFuzzer build: this Makefile again, with BUILD=build-fuzz, clang
# and FUZZ_LIB=1 (every library object then has -DMDMID_FUZZING)

ifeq ($(FUZZ_LIB),1)
CPPFLAGS += -DMDMID_FUZZING
$(BUILD)/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/libmdmid.a
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
endif

fuzz-build:
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: $(FUZZ_CC) not found (make deps installs clang and libclang-rt-14-dev)" >&2; exit 1; }
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) SAN= CC=$(FUZZ_CC) OPT='$(FUZZ_OPT)' FUZZ_LIB=1 \
		$(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))

clean: fuzz-clean
fuzz-clean:
	rm -rf $(FUZZ_BUILD)

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run-fuzz.sh $(FUZZ_TARGETS)
