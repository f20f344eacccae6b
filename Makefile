# kvmnet.hypervisor - the single entry point for building and testing the collection.
# `make test` is what CI runs (.ci/run). `make help` lists the targets.
#
# Every recipe runs with the venv's bin first on PATH and with ANSIBLE_COLLECTIONS_PATH set
# explicitly, so Ansible never picks up a stale copy from ~/.ansible/collections.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

REPO      := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV      ?= $(REPO)/.venv
BUILD     := $(REPO)/build
NAMESPACE := kvmnet
NAME      := hypervisor
FQCN      := $(NAMESPACE).$(NAME)
PYVER     ?= 3.11

# The ansible-core matrix. .venv (requirements-dev.txt) carries the newest ansible-core, which every
# tier runs on; each older line that meta/runtime.yml claims has a pin file
# tests/matrix/ansible-core-X.txt and its own cached venv .venvs/ansible-core-X, made by
# scripts/setup.sh like .venv. `make sanity|units|moddocs ANSIBLE_CORE=2.17` runs one target on
# that line; `make matrix` runs all three on every line. The list of lines is the pin files.
MATRIX_DIR   := $(REPO)/tests/matrix
MATRIX_VENVS ?= $(REPO)/.venvs
MATRIX_CORES := $(sort $(patsubst ansible-core-%.txt,%,$(notdir $(wildcard $(MATRIX_DIR)/ansible-core-*.txt))))
ANSIBLE_CORE ?=
ifeq ($(strip $(ANSIBLE_CORE)),)
REQUIREMENTS := $(REPO)/requirements-dev.txt
else
REQUIREMENTS := $(MATRIX_DIR)/ansible-core-$(ANSIBLE_CORE).txt
ifeq ($(wildcard $(REQUIREMENTS)),)
$(error ANSIBLE_CORE=$(ANSIBLE_CORE) has no pin file $(REQUIREMENTS) (the matrix: $(MATRIX_CORES)))
endif
# override: a VENV=... given for .venv (e.g. the shared one) must not replace the line's own venv
override VENV := $(MATRIX_VENVS)/ansible-core-$(ANSIBLE_CORE)
endif

# build/src/ansible_collections/kvmnet/hypervisor -> repo (live code, for pytest imports,
# ansible-lint, ansible-playbook); build/collections holds the built artifact installed by galaxy;
# build/act holds the real copy ansible-test needs (it resolves symlinks), as its own git
# work tree so ansible-test lists its files (tracked or not, minus .gitignore).
SRC_ROOT  := $(BUILD)/src
SRC_LINK  := $(SRC_ROOT)/ansible_collections/$(NAMESPACE)/$(NAME)
DIST      := $(BUILD)/dist
INSTALLED := $(BUILD)/collections
# tests/ee/execution-environment.yml + the tarball are staged in build/ee-def; ansible-builder
# writes the EE build context (Containerfile, _build/) to build/ee
EE_DEF    := $(BUILD)/ee-def
EE_CTX    := $(BUILD)/ee
ACT_ROOT  := $(BUILD)/act
ACT       := $(ACT_ROOT)/ansible_collections/$(NAMESPACE)/$(NAME)
STAMP     := $(VENV)/.kvmnet-requirements.sha256
TIMINGS   := $(BUILD)/timings.txt
# the docs site: antsibull-docs writes the RST into $(DOCSITE)/rst, Sphinx the HTML into $(DOCSITE)/build/html
DOCSITE   := $(BUILD)/docsite
DOCS_PORT ?= 8000

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(SRC_ROOT)
export ANSIBLE_NOCOLOR ?= 1
export PY_COLORS ?= 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# keep hypothesis' example database out of the source tree (and so out of sanity and the artifact)
export HYPOTHESIS_STORAGE_DIRECTORY ?= $(BUILD)/hypothesis

# Extra arguments, e.g. `make units PYTEST_ARGS='-k bond'`, `make sanity SANITY_ARGS='--test pep8'`.
PYTEST_ARGS ?=
# e.g. `make host HOST_TESTS=tests/host/test_macvtap.py` runs one file of the host tier
HOST_TESTS  ?= tests/host
SANITY_ARGS ?=
UNIT_JOBS   ?= 2

TEST_STAGES := setup build units docs, then sanity lint host matrix beside molecule

.PHONY: help setup build srclink sanity units lint changelog docs moddocs docsite docs-serve host molecule lab lab-down bench matrix test clean

help: ## list the targets
	@echo "kvmnet.hypervisor - make targets (venv: $(VENV), ANSIBLE_COLLECTIONS_PATH=$(SRC_ROOT))"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | \
	  awk -F'\t' '{printf "  %-10s %s\n", $$1, $$2}'
	@echo "  test stages, in order: $(TEST_STAGES)"

# ------------------------------------------------------------------ toolchain
setup: ## apt packages + qemu 10 (backports) + .venv + ansible-test get-pip shim (idempotent)
	bash $(REPO)/scripts/setup.sh

# Any target needing the venv re-runs setup's venv step when the requirements changed.
$(STAMP): $(REQUIREMENTS) $(REPO)/requirements-tests.txt
	VENV=$(VENV) REQUIREMENTS=$(REQUIREMENTS) bash $(REPO)/scripts/setup.sh venv
	touch $@

srclink: $(STAMP) ## symlink tree build/src/ansible_collections/kvmnet/hypervisor -> repo
	@mkdir -p $(dir $(SRC_LINK))
	@ln -sfn $(REPO) $(SRC_LINK)

build: srclink ## galaxy build into build/dist, install into build/collections, EE build context in build/ee, check all three
	rm -rf $(DIST) $(INSTALLED) $(EE_DEF) $(EE_CTX)
	mkdir -p $(DIST) $(INSTALLED) $(EE_DEF)
	cd $(REPO) && ansible-galaxy collection build --force --output-path $(DIST) .
	ANSIBLE_COLLECTIONS_PATH=$(INSTALLED) ansible-galaxy collection install --offline --force -p $(INSTALLED) $(DIST)/$(NAMESPACE)-$(NAME)-*.tar.gz
	@ls -l $(DIST)
	@# the execution environment for AWX/AAP: only its build context (no container engine here)
	cp $(REPO)/tests/ee/execution-environment.yml $(EE_DEF)/
	cp $(DIST)/$(NAMESPACE)-$(NAME)-*.tar.gz $(EE_DEF)/$(NAMESPACE)-$(NAME).tar.gz
	ansible-builder create --file $(EE_DEF)/execution-environment.yml --context $(EE_CTX) --output-filename Containerfile
	cd $(REPO) && KVMNET_DIST=$(DIST) KVMNET_INSTALLED=$(INSTALLED) KVMNET_EE_CONTEXT=$(EE_CTX) \
	  python -m pytest -p no:cacheprovider -q tests/packaging

# ------------------------------------------------------------------ static checks
sanity: $(STAMP) ## ansible-test sanity --venv --python 3.11 on a real copy in build/act + compile on every managed-host Python here
	VENV=$(VENV) bash $(REPO)/scripts/setup.sh get-pip
	rm -rf $(ACT_ROOT)
	mkdir -p $(ACT)
	tar -C $(REPO) --exclude=./.git --exclude=./.venv --exclude=./.venvs --exclude=./build --exclude=./tests/output \
	  --exclude=./.ansible --exclude=./.hypothesis --exclude=__pycache__ --exclude=.pytest_cache --exclude='*.tar.gz' \
	  -cf - . | tar -C $(ACT) -xf -
	@# ansible-test walks up to the nearest .git to list files; without its own the copy would be
	@# judged by the outer repo's index (where build/ is ignored) and every test would be skipped.
	cd $(ACT) && git init -q . && ansible-test sanity --venv --python $(PYVER) $(SANITY_ARGS)
	@# The compile check on the other managed-host Pythons this machine has (scripts/interpreters.sh:
	@# tests/platforms.yml's range), on the newest line only (2.17 knows no 3.13) and in a full run only.
	@if [ -z "$(strip $(SANITY_ARGS))" ] && [ -z "$(strip $(ANSIBLE_CORE))" ]; then \
	  pys=$$(bash $(REPO)/scripts/interpreters.sh $(BUILD)/interpreters); checked=$(PYVER); \
	  for v in $$pys; do \
	    [ "$$v" = $(PYVER) ] && continue; \
	    (cd $(ACT) && PATH=$(BUILD)/interpreters:$$PATH ansible-test sanity --venv --python $$v --test compile); \
	    checked="$$checked $$v"; \
	  done; \
	  echo "sanity: compile check on Python $$checked (the managed-host Pythons found here)"; \
	fi

lint: srclink ## ansible-lint (offline, production profile) + antsibull-changelog lint + CHANGELOG.rst up to date
	cd $(REPO) && ansible-lint --offline --profile production
	cd $(REPO) && antsibull-changelog lint
	cd $(REPO) && antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	bash $(REPO)/scripts/changelog.sh check

changelog: srclink ## regenerate CHANGELOG.rst from changelogs/ (after adding a fragment; scripts/changelog.sh)
	bash $(REPO)/scripts/changelog.sh update

docs: build ## ansible-doc renders every module from the built artifact + antsibull-docs lint + docsite
	@$(MAKE) -C $(REPO) moddocs
	cd $(REPO) && antsibull-docs lint-collection-docs --plugin-docs .
	@$(MAKE) -C $(REPO) docsite

# ansible-doc of every module from the collection installed from the tarball (make build): the
# ansible-core of the venv renders it (ANSIBLE_CORE=X: that line's; the matrix runs it per line).
moddocs: $(STAMP) ## ansible-doc renders every module of the built artifact (run make build first)
	@set -e; cd $(REPO); n=0; failed=""; \
	[ -d $(INSTALLED)/ansible_collections/$(NAMESPACE)/$(NAME) ] || { echo "moddocs: no built artifact in $(INSTALLED): make build first"; exit 1; }; \
	for f in plugins/modules/*.py; do \
	  [ -e "$$f" ] || continue; m=$$(basename "$$f" .py); [ "$$m" = __init__ ] && continue; n=$$((n+1)); \
	  if out=$$(ANSIBLE_COLLECTIONS_PATH=$(INSTALLED) ansible-doc -t module $(FQCN).$$m 2>&1) \
	     && grep -q "^> MODULE $(FQCN).$$m " <<<"$$out" && ! grep -qiE '^\[?(ERROR|WARNING)' <<<"$$out"; then \
	    echo "ansible-doc $(FQCN).$$m: ok"; \
	  else echo "$$out"; echo "ansible-doc $(FQCN).$$m: FAILED"; failed="$$failed $$m"; fi; \
	done; \
	echo "ansible-doc (ansible-core $$(python -c 'from ansible.release import __version__; print(__version__)')): $$n module(s) checked"; \
	[ -z "$$failed" ] || { echo "modules whose docs do not render:$$failed"; exit 1; }

# The guides are Markdown (docs/*.md, docs/patterns/*.md; docs/README.md is their index on GitHub).
# antsibull-docs takes extra docs as RST only, so each guide has a stub docs/docsite/rst/<page>.rst
# (listed in docs/docsite/extra-docs.yml) and the site gets the Markdown in the stub's place,
# rendered by myst-parser: one home per page. Sphinx runs with -W: a warning fails the build.
docsite: srclink ## docs site: antsibull-docs + Sphinx (-W) into build/docsite/build/html
	@cd $(REPO); t0=$$(date +%s); bad=""; \
	for f in docs/*.md docs/patterns/*.md; do \
	  [ "$$f" = docs/README.md ] && continue; p=$${f#docs/}; p=$${p%.md}; \
	  [ -f docs/docsite/rst/$$p.rst ] || bad="$$bad\n  $$f has no stub docs/docsite/rst/$$p.rst (copy another stub) listed in docs/docsite/extra-docs.yml"; \
	done; \
	for s in $$(cd docs/docsite/rst && find . -name '*.rst' | sed 's|^\./||'); do \
	  [ -f docs/$${s%.rst}.md ] || bad="$$bad\n  docs/docsite/rst/$$s is the stub of docs/$${s%.rst}.md, which does not exist"; \
	done; \
	[ -z "$$bad" ] || { echo -e "docsite: guides and their stubs do not match:$$bad"; exit 1; }; \
	rm -rf $(DOCSITE); mkdir -p -m 755 $(DOCSITE); mkdir -m 700 $(DOCSITE)/rst; \
	antsibull-docs sphinx-init --use-current --fail-on-error --dest-dir $(DOCSITE) --project $(FQCN) \
	  --copyright "$(FQCN) contributors" --title $(FQCN) --html-short-title $(FQCN) $(FQCN) >/dev/null; \
	cat scripts/docsite-conf.py >> $(DOCSITE)/conf.py; \
	(cd $(DOCSITE) && antsibull-docs --config-file antsibull-docs.cfg collection --use-current --fail-on-error --dest-dir rst $(FQCN)); \
	site=$(DOCSITE)/rst/collections/$(NAMESPACE)/$(NAME)/docsite; \
	for s in $$(cd docs/docsite/rst && find . -name '*.rst' | sed 's|^\./||'); do \
	  rm $$site/$$s; cp docs/$${s%.rst}.md $$site/$${s%.rst}.md; \
	done; \
	(cd $(DOCSITE) && sphinx-build -M html rst build -c . -W --keep-going -q); \
	echo "docsite: $(DOCSITE)/build/html/index.html built in $$(( $$(date +%s) - t0 ))s (view it: make docs-serve)"

docs-serve: docsite ## build the docs site and serve it on http://localhost:8000/ (DOCS_PORT=...)
	python -m http.server --bind 127.0.0.1 --directory $(DOCSITE)/build/html $(DOCS_PORT)

# ------------------------------------------------------------------ test tiers
# No unit tests is only acceptable while there is no plugin code to test.
units: srclink ## tier 1: pytest tests/unit (PYTHONPATH=build/src)
	@cd $(REPO); rc=0; \
	PYTHONPATH=$(SRC_ROOT) python -m pytest -p no:cacheprovider -rs -n $(UNIT_JOBS) tests/unit $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc = 5 ]; then \
	  if find plugins -name '*.py' ! -name '__init__.py' | grep -q .; then \
	    echo "units: no unit tests collected but plugins/ has code: add tests/unit/plugins/..."; exit 1; fi; \
	  echo "units: no unit tests yet (and no plugin code)"; rc=0; fi; \
	exit $$rc

host: srclink ## tier 2: pytest tests/host as root (real kernel, netns, private OVS/libvirtd)
	@[ "$$(id -u)" = 0 ] || { echo "host: the host tier needs root"; exit 1; }
	@cd $(REPO); rc=0; \
	PYTHONPATH=$(SRC_ROOT) python -m pytest -p no:cacheprovider -rs $(HOST_TESTS) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc = 5 ]; then echo "host: no tests collected in tests/host (the host tier is not written yet)"; fi; \
	exit $$rc

# build first: the last entry, user-repo, installs the built tarball (tests/molecule-user/run.sh)
molecule: build ## tier 3: Molecule scenarios on qemu VMs + the sample user repo (tests/vm/molecule-all.sh)
	@$(call run_owned_script,tests/vm/molecule-all.sh)

lab: setup srclink ## set up what is missing (idempotent), boot the lab VM, run playbooks/hypervisor.yml (tests/vm/lab-up.sh)
	@$(call run_owned_script,tests/vm/lab-up.sh)

lab-down: ## stop the VM lab (tests/vm/lab-down.sh)
	@$(call run_owned_script,tests/vm/lab-down.sh)

bench: srclink ## performance benchmark (tests/perf/run.sh)
	@$(call run_owned_script,tests/perf/run.sh)

# run_owned_script(path): run a script another part of the project owns; fail loudly if absent.
define run_owned_script
cd $(REPO); if [ ! -f "$(1)" ]; then echo "$@: $(1) does not exist yet - refusing to pass without running it"; exit 1; fi; \
echo "$@: bash $(1)"; bash "$(1)"
endef

# ------------------------------------------------------------------ everything
# the older ansible-core lines: units, moddocs and sanity on each (MATRIX_LINES='2.17' for some);
# builds the artifact first only when build/collections has none
MATRIX_LINES ?=
matrix: srclink ## ansible-core matrix: units, docs rendering, sanity on every line of tests/matrix/ (scripts/matrix.sh)
	@bash $(REPO)/scripts/matrix.sh "$(MAKE)" $(REPO) $(TIMINGS) $(MATRIX_LINES)

test: ## CI: setup build units docs, then sanity lint host matrix beside molecule (scripts/test.sh), timed
	@bash $(REPO)/scripts/test.sh "$(MAKE)" $(REPO)

clean: ## remove build/ (keeps .venv and .venvs)
	rm -rf $(BUILD)
