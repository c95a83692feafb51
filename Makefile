# Two commands do everything on a fresh Debian machine: `make test` and `make bench`.
# Both run `setup` first, which installs only what is missing. `make bench QUICK=1` is the
# short version CI runs.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := redis-server nginx-light libnginx-mod-nchan haproxy caddy wrk podman runc debootstrap chromium nodejs
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: setup python-deps system-deps go-binaries images test bench soak serve lint docs clean stack

setup: python-deps system-deps go-binaries images

python-deps: $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> Python packages into $(VENV) (pip, a minute on a fresh machine)"
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> Debian packages:$$missing (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	else echo "==> Debian packages: present ($(APT_PACKAGES))"; fi

go-binaries: python-deps
	@$(PY) -m stack.go_build

images: go-binaries system-deps
	@$(PY) -m stack.images

# Two workers: most tests wait on jobs, servers and proxies rather than on a core.
test: setup
	$(PY) -m pytest -n 2 --dist loadgroup

bench: setup
	$(VENV)/bin/proxybench bench $(if $(QUICK),--quick) --check

# An hour of steady traffic by default; SOAK_S=1500 make soak for a shorter look (less cannot get past warm-up).
soak: setup
	$(PY) -m pytest -m soak -s tests/soak

serve: python-deps
	$(VENV)/bin/proxybench serve

stack: setup
	$(VENV)/bin/proxybench stack --profile cloudflare+nginx-tuned --time-scale 0.02

lint: python-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The docs site into site/; --strict fails on a broken link or a reference page that no longer builds.
docs: python-deps
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache results site
