# The two commands of the README: `make demo` and `make test`. Everything they need
# is installed here, into .venv, from the package registry. `make ship` adds the checks for a release.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip brings uv, and uv the rest, pip too: seconds instead of half a minute a venv, as uv keeps what it
# downloads (pip's cache keeps nothing here, the index's answers carry no cache headers), and no venv spends
# 7 s of CPU on ensurepip. Compiled to bytecode at install, as pip does: PYTHONDONTWRITEBYTECODE may be set,
# and every ansible-playbook start would compile ansible. All of it, the test tools too: left to compile what they
# import, make units' four workers compile the same modules at once (9.5 CPU-s more there, 7 saved here).
# The system's certificates, as pip's (a proxy may sign).
UV := $(CURDIR)/$(BIN)/uv
UV_INSTALL := $(UV) pip install --quiet --compile-bytecode --system-certs --python
# Ansible finds the collection through this folder: build/collections/ansible_collections/idcloud/promotions
# is a link to the checkout, so edits are live. ansible-test needs a real tree, made under build/sanity.
COLLECTIONS := $(CURDIR)/build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/idcloud/promotions
SANITY_TREE := $(CURDIR)/build/sanity/ansible_collections/idcloud/promotions
# Bytecode is written (PYTHONDONTWRITEBYTECODE unset, into the ignored __pycache__ folders): with it set, each of the
# suite's hundreds of processes compiled the collection's code again, and each pytest worker rewrote the asserts of
# Hypothesis' 73 modules (pytest rewrites every package of a plugin's distribution): half the units' CPU time.
RUN := env -u PYTHONDONTWRITEBYTECODE ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) PYTHONPATH=$(CURDIR):$(COLLECTIONS) PATH=$(CURDIR)/$(BIN):$$PATH

.PHONY: all demo test tests checks ship sanity units integration compat lint importer bench ee soak venv clean

all: test

venv: $(STAMP) $(COLLECTION_LINK)

$(STAMP): requirements.txt tests/requirements.txt
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install --quiet --disable-pip-version-check 'uv>=0.13'
	$(UV_INSTALL) $(BIN)/python pip -r tests/requirements.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

demo: venv
	$(RUN) $(BIN)/python -m tests.demo

# Two lines at once, the tests (the units, then the integration tests) and the checks (sanity, then lint), at the same
# priority: both cores stay busy to the end (niced, the checks got no CPU until the tests ended and then ran alone on
# one core: 210 s instead of 194). Each line's output is printed whole when it ends; a failure fails make test once
# the other line has ended too.
test: venv
	$(MAKE) --no-print-directory -j2 --keep-going --output-sync=target tests checks

tests: venv
	$(MAKE) --no-print-directory units
	$(MAKE) --no-print-directory integration

checks: venv
	$(MAKE) --no-print-directory sanity
	$(MAKE) --no-print-directory lint

# What a release needs besides make test: Galaxy's importer, ansible-test sanity on each core of the certification's
# matrix (2.16, 2.18, and .venv's 2.19, the newest that Python 3.11 gets: 2.20 needs 3.12), the oldest ansible-core,
# the execution environment. The matrix is whole here, although make test has already run the newest core's sanity.
ship: importer sanity-2.16 sanity-2.18 sanity compat ee

# pytest names its 15 slowest tests. The model's schedules first, so that its one long test starts at once, not last;
# four workers take about 25 s (three 28, two 32).
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider --durations=15
units: venv
	$(RUN) $(PYTEST) -n 4 tests/model tests/simulator/tests tests/unit

# The workflow against the model of the tenant (tests/model) over many more randomized schedules than make test runs:
# prints each invariant broken, and ends with the line "N schedules, K violations". SCHEDULES sets how many.
SCHEDULES ?= 20000
soak: venv
	$(RUN) $(BIN)/python -m tests.model.soak --schedules $(SCHEDULES)

# On the newest ansible-core the index has for this Python (named first, for the record). Four workers: each
# ansible-playbook run keeps about half a core busy, between its waits and the simulator's phases; and
# tests/integration/conftest.py hands out the files with shared runs whole, longest first (the default --dist load;
# loadgroup or loadfile would bypass it).
integration: venv
	$(RUN) $(BIN)/ansible-playbook --version | sed -n 1p
	$(RUN) $(PYTEST) -n 4 tests/integration

# The oldest ansible-core meta/runtime.yml allows (requires_ansible) that runs on Python 3.11, in a venv of its own
# with only what the modules and the tests need: the unit tests, ansible-doc on every module, the filter and the role,
# and one whole promotion by promote.yml. The tests start the ansible-playbook next to their Python: the one whose
# version is checked first.
COMPAT_CORE := 2.16
COMPAT_VENV := build/venv-$(COMPAT_CORE)
COMPAT_BIN := $(COMPAT_VENV)/bin
COMPAT_STAMP := $(COMPAT_VENV)/.installed
COMPAT_RUN := env -u PYTHONDONTWRITEBYTECODE ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS) PYTHONPATH=$(CURDIR):$(COLLECTIONS) PATH=$(CURDIR)/$(COMPAT_BIN):$$PATH
COMPAT_DOCS := $(patsubst plugins/modules/%.py,idcloud.promotions.%,$(wildcard plugins/modules/*.py))

# One venv per older ansible-core (build/venv-2.16, build/venv-2.18), for make compat and make sanity-<core>: that
# core, what the modules need, and pytest. Kept when make made it only on the way to another target.
build/venv-%/.installed: requirements.txt | $(STAMP)
	$(PYTHON) -m venv --without-pip build/venv-$*
	$(UV_INSTALL) build/venv-$*/bin/python pip -r requirements.txt 'ansible-core==$*.*' pytest pytest-xdist
	touch $@

.PRECIOUS: build/venv-%/.installed

compat: $(COMPAT_STAMP) $(COLLECTION_LINK)
	$(COMPAT_RUN) $(COMPAT_BIN)/ansible-playbook --version | grep -F 'ansible-playbook [core $(COMPAT_CORE).'
	$(COMPAT_RUN) $(COMPAT_BIN)/ansible-doc $(COMPAT_DOCS) >/dev/null
	$(COMPAT_RUN) $(COMPAT_BIN)/ansible-doc -t filter idcloud.promotions.promotion_plan >/dev/null
	$(COMPAT_RUN) $(COMPAT_BIN)/ansible-doc -t role idcloud.promotions.promote >/dev/null
	$(COMPAT_RUN) $(COMPAT_BIN)/python -m pytest -q -p no:cacheprovider -n 2 tests/unit tests/simulator/tests \
		tests/integration/test_role_promote.py::test_happy_path_then_rerun_unchanged

# ansible-test reads the collection from a plain copy of the files git knows about (tracked or new),
# made into a repository of its own so ansible-test lists exactly those files; no ignore file
# (tests/sanity/ignore-*.txt): a finding is fixed, not ignored. It runs on its venv's Python:
# --venv would build one more venv in that new copy each run. The tests that need packages run in venvs it
# makes once per machine (~/.ansible/test/venv, one per test, Python and set of requirements, so the cores' venvs
# live side by side), into which it bootstraps pip with a get-pip.py from outside the package index; tests/utils has
# a stand-in (pip by .venv's uv) that it finds in its cache under the name that core's ansible-test looks for.
# $(call ansible_test_sanity,BIN,TREE): the sanity tests of the ansible-test in BIN on a fresh copy at TREE.
ANSIBLE_TEST_CACHE := $(HOME)/.ansible/test/cache
PYTHON_VERSION_OF = $$($(1)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
GET_PIP_VERSION_OF = $$($(1)/python -c 'import sys, types; from ansible_test._internal.python_requirements import get_venv_packages; \
	print(get_venv_packages(types.SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"].replace(".", "_"))')
define ansible_test_sanity
	rm -rf $(2) && mkdir -p $(2) $(ANSIBLE_TEST_CACHE)
	git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -cf - -T - | tar -xf - -C $(2)
	if ls $(2)/tests/sanity/ignore-*.txt 2>/dev/null; then echo 'ansible-test sanity runs with no ignore file' >&2; exit 1; fi
	cd $(2) && git init -q . && git add -A
	cp tests/utils/get_pip_offline.py $(ANSIBLE_TEST_CACHE)/get_pip_$(call GET_PIP_VERSION_OF,$(1)).py
	cd $(2) && env -u PYTHONDONTWRITEBYTECODE PATH=$(CURDIR)/$(1):$(CURDIR)/$(BIN):$$PATH $(CURDIR)/$(1)/ansible-test sanity \
		--color no --python $(call PYTHON_VERSION_OF,$(CURDIR)/$(1))
endef

# On the newest ansible-core, .venv's: part of make test.
sanity: venv
	$(call ansible_test_sanity,$(BIN),$(SANITY_TREE))

# On an older ansible-core, in build/venv-<core>: make sanity-2.16, make sanity-2.18 (make ship runs both), each on a
# copy of its own (build/sanity-<core>), where its tests/output stays, apart from the newest core's.
sanity-%: build/venv-%/.installed
	$(call ansible_test_sanity,build/venv-$*/bin,$(CURDIR)/build/sanity-$*/ansible_collections/idcloud/promotions)

# ansible-lint on the whole collection; the changelog's fragments and changelog.yaml; the guides (docs/docsite: extra-docs.yml,
# links.yml, the reStructuredText and the collection references in it) and the documentation of every plugin and role, as
# antsibull-docs renders them with the collection's docs.
lint: venv
	$(RUN) $(BIN)/ansible-lint --profile production
	$(RUN) $(BIN)/antsibull-changelog lint
	$(RUN) $(BIN)/antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs .

# galaxy-importer, Galaxy's own import checks, on the tarball users get (built into build/importer): the manifest and
# FILES.json, ansible-doc on every plugin, the READMEs, the changelog, ansible-lint and flake8 as Galaxy runs them,
# with the settings in tests/galaxy-importer.cfg; fails on any error it reports (tests/utils/galaxy_importer_check.py).
# In a virtual environment of its own: its pins (attrs<24, a capped ansible-lint) would change .venv's.
IMPORTER_VENV := build/importer-venv
IMPORTER_STAMP := $(IMPORTER_VENV)/.installed
IMPORTER_DIR := build/importer

$(IMPORTER_STAMP): tests/importer-requirements.txt | $(STAMP)
	$(PYTHON) -m venv --without-pip $(IMPORTER_VENV)
	$(UV_INSTALL) $(IMPORTER_VENV)/bin/python pip -r tests/importer-requirements.txt
	touch $@

importer: $(IMPORTER_STAMP)
	rm -rf $(IMPORTER_DIR) && mkdir -p $(IMPORTER_DIR)
	$(IMPORTER_VENV)/bin/ansible-galaxy collection build --force --output-path $(IMPORTER_DIR) .
	$(IMPORTER_VENV)/bin/python tests/utils/galaxy_importer_check.py --config tests/galaxy-importer.cfg \
		$(IMPORTER_DIR)/idcloud-promotions-*.tar.gz

bench: venv
	$(RUN) $(BIN)/python benchmarks/promote_benchmark.py

# An execution environment (docs/ee) with the collection built from this checkout: the image where a container
# runtime answers, else its build context only (build/ee/context).
EE_DIR := build/ee
ee: venv
	rm -rf $(EE_DIR) && mkdir -p $(EE_DIR) && cp docs/ee/execution-environment.yml docs/ee/requirements.yml $(EE_DIR)/
	$(RUN) $(BIN)/ansible-galaxy collection build --force --output-path $(EE_DIR) .
	runtime=$$(for name in podman docker; do command -v $$name >/dev/null && $$name info >/dev/null 2>&1 && echo $$name && break; done); \
	if [ -n "$$runtime" ]; then \
		$(RUN) $(BIN)/ansible-builder build -f $(EE_DIR)/execution-environment.yml -c $(EE_DIR)/context -t idcloud-promotions-ee \
			--container-runtime $$runtime; \
	else \
		echo "No container runtime answers: making the build context only."; \
		$(RUN) $(BIN)/ansible-builder create -f $(EE_DIR)/execution-environment.yml -c $(EE_DIR)/context; \
	fi

clean:
	rm -rf build $(VENV) demo-output tests/output
