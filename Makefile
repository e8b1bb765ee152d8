# cognito-email-otp: the front door. `make demo` and `make test` are the two quick-start commands.
#
# Every cargo command here uses the one `release` profile, so build, tests, demo and benchmarks share
# one target directory and the AWS SDK is compiled once. The arm64 deploy artifact uses `dist`.

CARGO ?= cargo
# The project's Python tools (moto server, cargo-lambda, the emulator, pytest) live in .local/venv,
# never in the system Python (PEP 668), and come first on every recipe's PATH.
VENV := .local/venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Infra tools live in their own virtualenvs (checkov and the SAM CLI pin conflicting dependencies).
TOOLS := .local/tools
SAM_ENV := $(TOOLS)/aws-sam-cli/bin
CHECKOV := $(TOOLS)/checkov/bin/checkov
export SAM_CLI_TELEMETRY := 0
# Where cargo puts build output: ./target unless CARGO_TARGET_DIR or a cargo config's
# build.target-dir moves it (many developers share one). Asked of cargo, and only by the recipes
# that read a build output; scripts/stack.py asks the same way.
TARGET_DIR = $(shell $(CARGO) metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
DEPLOY_ZIP = $(TARGET_DIR)/lambda/cognito-email-otp/bootstrap.zip

.PHONY: help demo test stack-test existing-pool-test cdk-test cdk-tools up down web web-tools browser-tools bench load mutants mutants-triggers tools infra-tools replay build build-local deploy validate lint fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-19s %s\n", $$1, $$2}'

demo: ## whole sign-ins of both flows, locally, with no AWS account
	$(CARGO) run --release --quiet --bin demo

test: tools ## unit, event, trigger and moto-backed AWS tests, then the local-stack tests (the template, then an existing pool), then the CDK construct's tests
	$(CARGO) test --release --workspace
	$(MAKE) --no-print-directory stack-test
	$(MAKE) --no-print-directory existing-pool-test
	$(MAKE) --no-print-directory cdk-test

stack-test: tools web browser-tools ## the template deployed into the emulator, per store: boto3, pycognito SRP, Amplify JS v6, the page (Amplify v6) in headless Chromium
	$(CARGO) build --release --bin cognito-email-otp
	scripts/stack-test.sh

existing-pool-test: tools ## a pool and client made by the API, the template deployed for it (ExistingUserPoolId) in the emulator, otp-admin check and attach --apply from its outputs, then boto3 and pycognito sign in
	$(CARGO) build --release --bin cognito-email-otp --bin otp-admin
	scripts/existing-pool-test.sh

cdk-test: tools cdk-tools ## the CDK construct (cdk/): unit, cdk-nag and IAM tests, then its example app in the emulator with boto3 and pycognito, per store
	cd cdk && npm test
	$(CARGO) build --release --bin cognito-email-otp
	scripts/cdk-stack-test.sh

cdk-tools: ## Node.js 20+ and npm (installed from the distribution's packages when root), then cdk/'s npm packages
	@scripts/cdk-tools.sh

up: tools web ## the whole stack on 127.0.0.1: the emulator, infra/template.yaml deployed into it, the sign-in page (CHALLENGE_STORE=dynamodb for the table)
	$(CARGO) build --release --bin cognito-email-otp
	$(PY) scripts/stack.py up

down: ## stop what make up started
	@test -x $(PY) && $(PY) scripts/stack.py down || true

web: web-tools ## build the sign-in page, examples/web/dist (esbuild)
	cd examples/web && npm run --silent build

web-tools: ## Node.js and npm (installed from the distribution's packages when root), then the page's npm packages
	@scripts/web-tools.sh

browser-tools: ## Chromium for the page's tests (installed from the distribution's packages when root)
	@scripts/web-tools.sh --browser

bench: tools ## benchmarks: criterion on the pure paths, then cold start, warm cost, memory and size as one table (BENCH_JSON=file also writes JSON)
	$(CARGO) build --release --example floor
	$(CARGO) bench --bench decisions
	$(CARGO) bench --bench runtime

load: tools ## concurrent sign-ins through 4 warm processes against moto, per store: rates, p50/p99, invariants
	$(CARGO) bench --bench load

mutants: ## mutation testing of the pure domain (code, policy, flow, state) with cargo-mutants; fails on a survivor
	@command -v cargo-mutants >/dev/null 2>&1 || $(CARGO) install --locked cargo-mutants@27.1.0
	@# A timeout (a mutant that makes the tests hang, such as an endless code-generation loop)
	@# counts as caught; a survivor listed in missed.txt fails the target.
	@mkdir -p .local
	@# --target-dir=target: each tree copy builds in its own target directory, as with no CARGO_TARGET_DIR.
	@# cargo-mutants passes that variable on, and a shared directory would let another cargo process
	@# hold its lock until a mutant's build times out, which counts as caught.
	-$(CARGO) mutants --package otp-domain --test-package otp-domain --profile mutants \
		--cargo-arg=--target-dir=target --output .local/mutants --no-shuffle
	@test -s .local/mutants/mutants.out/outcomes.json || { echo "mutants: cargo-mutants did not run"; exit 1; }
	@if [ -s .local/mutants/mutants.out/missed.txt ]; then \
		echo "mutants: survivors (kill each with a test, or list it in .cargo/mutants.toml with the reason):"; \
		cat .local/mutants/mutants.out/missed.txt; exit 1; fi
	@echo "mutants: none survived"

mutants-triggers: ## mutation testing of src/triggers/*.rs (about 140 mutants, an hour on 2 cores; not in CI); fails on a survivor
	@command -v cargo-mutants >/dev/null 2>&1 || $(CARGO) install --locked cargo-mutants@27.1.0
	@mkdir -p .local
	@# Its own target directory in the tree copy, as in `make mutants`.
	-$(CARGO) mutants --config .cargo/mutants-triggers.toml --package cognito-email-otp \
		--test-package cognito-email-otp --profile mutants --cargo-arg=--target-dir=target \
		--output .local/mutants-triggers --no-shuffle
	@test -s .local/mutants-triggers/mutants.out/outcomes.json || { echo "mutants: cargo-mutants did not run"; exit 1; }
	@if [ -s .local/mutants-triggers/mutants.out/missed.txt ]; then \
		echo "mutants: survivors (kill each with a test, or list it in .cargo/mutants-triggers.toml with the reason):"; \
		cat .local/mutants-triggers/mutants.out/missed.txt; exit 1; fi
	@echo "mutants: none survived"

tools: ## the Python tools (moto server, cargo-lambda, the emulator, pytest) into .local/venv, from PyPI
	@scripts/venv.sh $(VENV) requirements-dev.txt

replay: tools ## replay every file in events/ through the binary over the Lambda Runtime API
	scripts/replay.sh

build: tools ## the arm64 deploy zip, lambda/cognito-email-otp/bootstrap.zip in cargo's target directory (needs: rustup target add aarch64-unknown-linux-gnu)
	$(CARGO) lambda build --profile dist --arm64 --bin cognito-email-otp --output-format zip
	@echo "build: $(DEPLOY_ZIP)"

build-local: ## the release binaries for this machine
	$(CARGO) build --release

deploy: build infra-tools ## sam deploy of infra/template.yaml (guided the first time, then from infra/samconfig.toml); ExistingUserPoolId for a pool you have
	@# The template's CodeUri names the zip under ./target; a copy differing in that line only names the
	@# zip where cargo lambda put it (CARGO_TARGET_DIR moves it), as sam package would rewrite it.
	@mkdir -p .local/deploy
	@sed -E 's#^(      CodeUri: ).*#\1$(DEPLOY_ZIP)#' infra/template.yaml > .local/deploy/template.yaml
	@test "$$(grep -c '^      CodeUri: ' .local/deploy/template.yaml)" = 1 || \
		{ echo "deploy: infra/template.yaml must have exactly one CodeUri line (the function's)"; exit 1; }
	@if [ -f infra/samconfig.toml ]; then \
		cd infra && ../$(SAM_ENV)/sam deploy --config-file samconfig.toml --template-file ../.local/deploy/template.yaml; \
	else \
		cd infra && ../$(SAM_ENV)/sam deploy --guided --template-file ../.local/deploy/template.yaml --config-file samconfig.toml \
			--capabilities CAPABILITY_IAM --resolve-s3; \
	fi

infra-tools: ## the SAM CLI (with cfn-lint) and checkov, each in a virtualenv under .local/tools
	@scripts/venv.sh $(TOOLS)/aws-sam-cli infra/requirements.txt
	@scripts/venv.sh $(TOOLS)/checkov infra/requirements-checkov.txt

validate: infra-tools ## check the template offline, both modes (new pool, ExistingUserPoolId): cfn-lint, sam validate --lint, checkov, graph and structure, every IAM grant
	$(SAM_ENV)/cfn-lint infra/template.yaml
	AWS_DEFAULT_REGION=eu-west-1 $(SAM_ENV)/sam validate --lint --template-file infra/template.yaml
	$(CHECKOV) --skip-download --quiet --compact --framework cloudformation --file infra/template.yaml
	$(SAM_ENV)/python infra/check_graph.py infra/template.yaml
	$(SAM_ENV)/python infra/check_iam.py infra/template.yaml

lint: ## formatting and clippy, warnings as errors; no script looks for build output in ./target
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	scripts/check-target-paths.sh

fmt: ## format the code
	$(CARGO) fmt --all

clean: ## remove build output and local demo/replay state
	$(CARGO) clean
	rm -rf .local
