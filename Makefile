# The two commands a newcomer needs:
#   make run   - install what is missing, build in release, serve on http://127.0.0.1:3000
#                (and DNS on 127.0.0.1:8600: dig @127.0.0.1 -p 8600 logservice.service.consul)
#   make test  - install what is missing, then every check: fmt, clippy, tests, build, end2end
# and the whole system as a cluster on one machine:
#   make cluster - three etcd members, three registry nodes, PostgreSQL, two log and two
#                  grading instances, the portal on http://127.0.0.1:8080 and Prometheus
#                  on http://127.0.0.1:9090; Ctrl-C stops all
# Installs are idempotent and version-checked (scripts/bootstrap.sh).

SHELL := /bin/bash
# wasm-opt (binaryen 132) for release builds lives in tools/node_modules/.bin.
export PATH := $(CURDIR)/tools/node_modules/.bin:$(PATH)

.PHONY: run test bench soak soak-cluster cluster cluster-check screenshots deps deps-test build

# The registry answers DNS on Consul's port, as make cluster's first node does
# (REGISTRY_DNS_ADDR=off make run: no DNS; another address: there).
REGISTRY_DNS_ADDR ?= 127.0.0.1:8600
run: deps
	$(if $(filter off,$(REGISTRY_DNS_ADDR)),env -u REGISTRY_DNS_ADDR,env REGISTRY_DNS_ADDR=$(REGISTRY_DNS_ADDR)) cargo leptos serve --release

test: deps-test
	scripts/test.sh

# Release builds of the site (target/site) and of every binary (target/release/).
build: deps
	cargo leptos build --release
	cargo build --release -p server --bins

# The README's screenshots of the portal (docs/screenshots/), from the release build.
screenshots: build deps-test
	scripts/screenshots.sh

# Measures the registry, the log service and the portal (see BENCHMARKS.md); a few
# minutes. `cargo run --release -p bench -- lookups` runs only the figures matching a word.
bench: build
	scripts/bootstrap.sh bench
	cargo run --release -p bench

# 200 instances registering, deregistering and killed against the registry; fails if a
# view disagrees or the registry grows (see bench/src/soak.rs). CI runs it for 2m.
SOAK_DURATION ?= 10m
soak: deps
	cargo build --release -p server --bin registryservice
	cargo run --release -p bench -- soak --duration $(SOAK_DURATION)

# The same churn against three registry nodes on a three-member etcd, with a fault every
# 20 s (a node or the leader killed, a node paused past its lease, an etcd member killed);
# after each, every view on every node must agree. CI runs it for 2m after the soak.
soak-cluster:
	scripts/bootstrap.sh cluster
	cargo build --release -p server --bin registryservice
	cargo run --release -p bench -- soak --cluster --duration $(SOAK_DURATION)

# The cluster (scripts/cluster.sh): data and logs in ./cluster/, kept across restarts.
cluster: build
	scripts/bootstrap.sh cluster
	scripts/cluster.sh

# Starts make cluster's script on a scratch data dir, checks that every URL it prints
# answers, stops it with Ctrl-C (SIGINT) and checks that no process is left (CI runs it).
cluster-check: build
	scripts/bootstrap.sh cluster
	scripts/cluster-check.sh

deps:
	scripts/bootstrap.sh run

deps-test:
	scripts/bootstrap.sh test
