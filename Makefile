# cognito-email-otp: the front door. `make demo` and `make test` are the two quick-start commands.
#
# Every cargo command here uses the one `release` profile, so build, tests, demo and benchmarks share
# one target directory and the AWS SDK is compiled once. The arm64 deploy artifact uses `dist`.

CARGO ?= cargo
PIP ?= python3 -m pip

.PHONY: help demo test tools replay build build-lambda lint fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

demo: ## whole sign-ins of both flows, locally, with no AWS account
	$(CARGO) run --release --quiet --bin demo

test: tools ## unit, event, trigger and moto-backed AWS tests
	$(CARGO) test --release

tools: ## install moto server and cargo-lambda from PyPI if they are missing
	@command -v moto_server >/dev/null 2>&1 && command -v cargo-lambda >/dev/null 2>&1 \
		|| $(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt

replay: tools ## replay every file in events/ through the binary over the Lambda Runtime API
	scripts/replay.sh

build: ## the release binaries for this machine
	$(CARGO) build --release

build-lambda: tools ## the arm64 deploy zip: target/lambda/cognito-email-otp/bootstrap.zip
	$(CARGO) lambda build --profile dist --arm64 --bin cognito-email-otp --output-format zip

lint: ## formatting and clippy, warnings as errors
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt

clean: ## remove build output and local demo/replay state
	$(CARGO) clean
	rm -rf .local
