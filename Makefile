# Entry points for building, checking, signing and running the Account Lockdown plugin.
# The README's commands are these targets; CI (.ci/run) runs `make test`.

CARGO       ?= cargo
WASM_TARGET := wasm32-unknown-unknown
PLUGIN_PKG  := account-lockdown-plugin
HARNESS     := $(CARGO) run --quiet --package stage-harness --

DIST        := dist
COMPONENT   := $(DIST)/account-lockdown.wasm
DEV_WASM    := $(DIST)/account-lockdown.dev.wasm
SIGNED      := $(DIST)/account-lockdown.signed.wasm
DIST_PUB    := $(DIST)/account-lockdown.pub
DIST_SUM    := $(SIGNED).sha256
RELEASE_FILES := $(SIGNED) $(DIST_PUB) $(DIST_SUM)

# Development key pair, created on first `make run` (git-ignored; never a release key).
DEV_KEYS    := .dev-keys
DEV_SECRET  := $(DEV_KEYS)/dev.secret
DEV_PUB     := $(DEV_KEYS)/dev.pub
DEMO        := tests/scenarios/admin-locks-other-account.json

# Release signing: `make dist SIGNING_KEY=path/to/NAME.secret`. The public key defaults
# to NAME.pub next to it (what `stage-harness keygen` writes); override with SIGNING_PUBKEY.
SIGNING_KEY    ?=
SIGNING_PUBKEY ?= $(if $(filter %.secret,$(SIGNING_KEY)),$(SIGNING_KEY:.secret=.pub),$(SIGNING_KEY).pub)

.DEFAULT_GOAL := build
.PHONY: help build wasm-target lint test test-reproducible run bench dist release-files clean

help:
	@echo "make build   build the plugin component: $(COMPONENT)"
	@echo "make lint    rustfmt check and clippy (host, plugin native, plugin on $(WASM_TARGET))"
	@echo "make test    build, lint, every test (including the slow reproducibility test)"
	@echo "make run     sign with a development key and run the demo scenario"
	@echo "make bench   measure the component: size, compile time, time and fuel per run"
	@echo "make dist SIGNING_KEY=path/NAME.secret   signed release files in $(DIST)/"
	@echo "make clean   remove $(DIST)/ and the plugin's target folder"

# Install the wasm target for the pinned toolchain (rust-toolchain.toml), then build.
build: wasm-target
	$(CARGO) xtask build

wasm-target:
	rustup target add $(WASM_TARGET)

lint: wasm-target
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --package $(PLUGIN_PKG) --all-targets -- -D warnings
	$(CARGO) clippy --package $(PLUGIN_PKG) --target $(WASM_TARGET) -- -D warnings

# --workspace: the plugin is not a default member, but its native unit tests must run.
test: build lint
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory test-reproducible

# Slow: builds the plugin twice in two fresh folders and compares the bytes.
test-reproducible:
	$(CARGO) test --package xtask --test reproducible -- --ignored --nocapture

run: build $(DEV_SECRET)
	$(HARNESS) sign $(COMPONENT) -o $(DEV_WASM) --key $(DEV_SECRET)
	$(HARNESS) run $(DEMO) --plugin $(DEV_WASM) --trust $(DEV_PUB)

# Measures and reports (release build of the harness); asserts nothing about time.
bench: build
	$(CARGO) bench --package stage-harness --bench lockdown

$(DEV_SECRET):
	$(HARNESS) keygen --out $(DEV_KEYS) --name dev

# Signing is the last step that touches the component: nothing rewrites it afterwards.
# The three release files come as a set: a previous run's are removed first, and if any
# step fails (a public key that does not match SIGNING_KEY, say) none is left behind.
dist:
	@test -n "$(SIGNING_KEY)" || { echo "error: SIGNING_KEY is not set; run \`make dist SIGNING_KEY=path/to/NAME.secret\` (create a key pair with \`cargo run -p stage-harness -- keygen --out DIR --name NAME\`)" >&2; exit 2; }
	@test -f "$(SIGNING_KEY)" || { echo "error: SIGNING_KEY=$(SIGNING_KEY) does not exist" >&2; exit 2; }
	@test -f "$(SIGNING_PUBKEY)" || { echo "error: public key $(SIGNING_PUBKEY) not found; put NAME.pub next to NAME.secret or set SIGNING_PUBKEY=path/to/key.pub" >&2; exit 2; }
	$(MAKE) --no-print-directory build
	@rm -f $(RELEASE_FILES)
	@$(MAKE) --no-print-directory release-files || { rm -f $(RELEASE_FILES); echo "error: make dist failed (see above); no release files were left in $(DIST)/" >&2; exit 1; }
	@echo "release files:" && ls -l $(RELEASE_FILES)

# The steps of `make dist` after the build; run it through `make dist`, which checks
# the keys and cleans up after a failure.
release-files:
	$(HARNESS) sign $(COMPONENT) -o $(SIGNED) --key $(SIGNING_KEY)
	$(HARNESS) verify $(SIGNED) --trust $(SIGNING_PUBKEY)
	cp $(SIGNING_PUBKEY) $(DIST_PUB)
	cd $(DIST) && sha256sum $(notdir $(SIGNED)) > $(notdir $(DIST_SUM))

# Only this project's outputs; `cargo clean` removes the rest of target/. Keys are kept.
clean:
	rm -rf $(DIST) target/plugin-build
