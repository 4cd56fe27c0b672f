# Latchkey. The two commands a newcomer needs: `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Every directory under functions/ except internal is one Lambda function.
FUNCTIONS := $(filter-out internal,$(notdir $(patsubst %/,%,$(wildcard functions/*/))))
# Deployed functions run on provided.al2023/arm64; `make build ARCH=amd64` builds for this host.
ARCH ?= arm64
GOBUILD := CGO_ENABLED=0 GOOS=linux go build -tags lambda.norpc -trimpath -ldflags "-s -w"
ADDR ?= 127.0.0.1:3001

.PHONY: help dev gateway test bench build synth deploy clean dev-token machine-secret $(FUNCTIONS:%=build-%)

help:
	@echo "make dev       run the whole service locally (emulators, table, key, functions, demo page)"
	@echo "make test      install what is missing and run every test"
	@echo "make bench     CPU per request of each kind against the local stack (N=300; PROFILE=1 adds perf profiles)"
	@echo "make gateway   a second local gateway on ADDR=$(ADDR) against the running emulators"
	@echo "make build     build every function for linux/ARCH=$(ARCH) into build/linux_ARCH/<fn>/bootstrap"
	@echo "make synth     synthesize the CDK stack offline"
	@echo "make deploy    cdk deploy the stack into the current AWS account"
	@echo "make machine-secret STEP=create|rotate|promote|remove|show CLIENT=id SECRET_ID=arn"
	@echo "               a machine client's secret in the deployment's MachineSecret"
	@echo "make clean     remove build output, installed tools and local state"

dev:
	bash local/dev.sh

gateway:
	bash local/gateway.sh "$(ADDR)"

test:
	bash local/test.sh

# Not part of test: it measures, and asserts nothing (docs/performance.md).
bench:
	bash local/bench.sh

build: $(FUNCTIONS:%=build/linux_$(ARCH)/%/bootstrap)

build/linux_$(ARCH)/%/bootstrap: FORCE
	GOARCH=$(ARCH) $(GOBUILD) -o $@ ./functions/$*

# SAM's `BuildMethod: makefile` calls build-<LogicalId> with ARTIFACTS_DIR set.
build-%Function:
	fn=$$(echo "$*" | tr 'A-Z' 'a-z'); GOARCH=arm64 $(GOBUILD) -o "$(ARTIFACTS_DIR)/bootstrap" ./functions/$$fn

synth:
	bash infra/cdk.sh synth

deploy:
	bash infra/cdk.sh deploy

clean:
	rm -rf build infra/cdk.out .aws-sam local/.state local/.tools

FORCE:

# Tokens for a fresh test user of the running `make dev` stack (local only).
dev-token:
	@test -f local/.state/env || { echo "make dev is not running: start it in another terminal first" >&2; exit 1; }
	@set -a; . local/.state/env; set +a; go run ./functions/internal/devtoken

# One step of a machine client's secret in the deployment's MachineSecret (the stack output
# MachineSecretArn), with the AWS credentials of this shell; prints the secret to hand over.
machine-secret:
	@test -n "$(STEP)" -a -n "$(CLIENT)" || { echo "usage: make machine-secret STEP=create|rotate|promote|remove|show CLIENT=<id> SECRET_ID=<MachineSecretArn>" >&2; exit 1; }
	@go run ./functions/internal/machinesecret $(if $(SECRET_ID),-secret-id "$(SECRET_ID)") "$(STEP)" "$(CLIENT)"
