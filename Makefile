# VBP platform: `make run` and `make test` do all the set-up (see README).

SHELL      := /bin/bash
TOP        := $(CURDIR)
BUILD      := $(TOP)/build
DEV        := $(TOP)/.run/dev
TESTSTATE  := $(TOP)/.run/test

DEV_PG     ?= 54329
DEV_REDIS  ?= 6390
PORT       ?= 8080
TEST_PG    ?= 54330
TEST_REDIS ?= 6391

CFLAGS     ?= -O2 -g
WFLAGS     := -std=gnu11 -Wall -Wextra -Werror
PGINC      := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)

WORKER_SRCS := $(wildcard worker/*.c)
MODULE_SRCS := config $(wildcard ngx_module/*.c ngx_module/*.h)

.PHONY: all deps build run stop test test-unit test-suite test-browser \
        test-valgrind bench clean

all: build

deps:
	@tools/install-deps

build: deps $(BUILD)/vbp-worker $(BUILD)/ngx_http_vbp_module.so

$(BUILD)/vbp-worker: $(WORKER_SRCS) worker/vbp.h
	@mkdir -p $(BUILD)
	$(CC) $(WFLAGS) $(CFLAGS) $(WORKER_CFLAGS) -I$(PGINC) -I/usr/include/libxml2 -o $@ $(WORKER_SRCS) \
	    -lpq -lhiredis -ljansson -lsodium -lzip -lxml2

$(BUILD)/ngx_http_vbp_module.so: $(MODULE_SRCS)
	tools/build-module $(BUILD) $(MODULE_CFLAGS)

$(BUILD)/template_test: ngx_module/t/template_test.c ngx_module/ngx_http_vbp_template.c
	@mkdir -p $(BUILD)
	$(CC) $(WFLAGS) $(CFLAGS) -o $@ $^ -ljansson

$(BUILD)/jpool_test: worker/t/jpool_test.c worker/jpool.c worker/vbp.h
	@mkdir -p $(BUILD)
	$(CC) $(WFLAGS) $(CFLAGS) -I$(PGINC) -o $@ worker/t/jpool_test.c worker/jpool.c -ljansson

$(BUILD)/captcha_test: ngx_module/t/captcha_test.c ngx_module/ngx_http_vbp_captcha_image.c
	@mkdir -p $(BUILD)
	$(CC) $(WFLAGS) $(CFLAGS) -o $@ $^ -lgd -lm

# --- make run: the whole platform on 127.0.0.1:$(PORT) with demo data ------

run: build
	@tools/stack start $(DEV) $(DEV_PG) $(DEV_REDIS) $(PORT)
	@tools/demo-accounts $(DEV) $(PORT)
	@trap 'tools/stack stop $(DEV); exit 0' INT TERM; \
	 echo "Ctrl-C (or make stop) stops everything."; \
	 while kill -0 $$(cat $(DEV)/supervisor.pid 2>/dev/null) 2>/dev/null; do sleep 1; done; \
	 tools/stack stop $(DEV)

stop:
	@tools/stack stop $(DEV)
	@tools/stack stop $(TESTSTATE)

# --- make test: the same set-up in a scratch state, then the whole suite ---

test: build $(BUILD)/template_test $(BUILD)/captcha_test $(BUILD)/jpool_test
	@tools/run-tests $(TESTSTATE) $(TEST_PG) $(TEST_REDIS)

test-valgrind: build $(BUILD)/template_test $(BUILD)/captcha_test $(BUILD)/jpool_test
	@VBP_VALGRIND=1 tools/run-tests $(TESTSTATE) $(TEST_PG) $(TEST_REDIS)

bench: build
	@tools/bench $(TOP)/.run/bench

clean:
	rm -rf $(BUILD) t/servroot*
