# Two commands do all set-up on a fresh Debian/Ubuntu machine: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
EXTRAS  ?= dev,ros,scale
# EGL/OSMesa for headless MuJoCo.
RENDER_PKGS := libegl1 libgl1-mesa-dri libosmesa6
# FFmpeg's runtime libraries, for torchcodec (LeRobot's video decoder; without them LeRobot falls back
# to PyAV with a long traceback in every process). Its builds link libavdevice and libavfilter too.
# The names carry the FFmpeg major, so each distribution has one set: the first one apt can install is used
# (`apt-cache show` exits 0 with no record for a name it only knows as a dependency, so the record is checked).
FFMPEG_PKGS_7 := libavcodec61 libavformat61 libavutil59 libswscale8 libswresample5 libavdevice61 libavfilter10
FFMPEG_PKGS_6 := libavcodec60 libavformat60 libavutil58 libswscale7 libswresample4 libavdevice60 libavfilter9
FFMPEG_PKGS_5 := libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 libavdevice59 libavfilter8
FFMPEG_SETS   := "$(FFMPEG_PKGS_7)" "$(FFMPEG_PKGS_6)" "$(FFMPEG_PKGS_5)"

# Offline by default: nothing in the demo or the tests reaches a model hub.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

# A Python 3.12: one on PATH that really runs, else pyenv's, else the usual system paths.
define find_python
for c in python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do \
  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; assert sys.version_info[:2]==(3,12)' >/dev/null 2>&1; then command -v $$c; exit 0; fi; \
done; \
if command -v pyenv >/dev/null 2>&1; then \
  for v in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.|$$)' | sort -V -r); do \
    p=$$(PYENV_VERSION=$$v pyenv which python3.12 2>/dev/null) && [ -x "$$p" ] && { echo "$$p"; exit 0; }; \
  done; \
fi; \
exit 1
endef

.PHONY: help setup demo test test-fast bench bench-summary clean
help:
	@echo "make demo   - set up (if needed), then run the whole pipeline on simulated data"
	@echo "make test   - set up (if needed), then run the test suite"
	@echo "make bench  - set up (if needed), then run every benchmark in bench/ (hours: the learning ones)"
	@echo "make bench-summary - only rebuild bench/results/summary.md from the results already there"
	@echo "make setup  - only the set-up: system libraries, .venv, the project (editable)"

setup: $(STAMP)

# Bytecode is compiled once at set-up: with PYTHONDONTWRITEBYTECODE=1 (set on some machines) every
# process would otherwise recompile torch/transformers from source, ~25 s per subprocess on 2 cores.
# uv: the one on PATH only if it runs (a pyenv shim named uv can exist and fail), else the chosen python's.

PLUGIN  := plugins/lerobot_policy_vla_latent

$(STAMP): pyproject.toml $(PLUGIN)/pyproject.toml Makefile
	@set -e; \
	py=$$( $(find_python) ) || { echo "error: no Python 3.12 found. Install it (apt-get install python3.12, or 'pyenv install 3.12') and re-run." >&2; exit 1; }; \
	echo "setup: using $$py"; \
	missing=""; for p in $(RENDER_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	have_ffmpeg=""; for set in $(FFMPEG_SETS); do \
	  dpkg -s $$set >/dev/null 2>&1 && have_ffmpeg=1; done; \
	if [ -n "$$missing" ] || [ -z "$$have_ffmpeg" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq || true; \
	    if [ -z "$$have_ffmpeg" ]; then for set in $(FFMPEG_SETS); do \
	      apt-cache show $${set%% *} 2>/dev/null | grep -q "^Package:" && { missing="$$missing $$set"; break; }; done; fi; \
	    echo "setup: apt-get install$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
	      || echo "warning: apt-get failed; headless rendering or torchcodec may not work" >&2; \
	  else [ -z "$$missing" ] || echo "warning: missing system libraries; run: sudo apt-get install -y$$missing" >&2; \
	    [ -n "$$have_ffmpeg" ] || echo "warning: no FFmpeg runtime libraries; install one set, e.g. Debian 12:" \
	      "sudo apt-get install -y $(FFMPEG_PKGS_5)  (Ubuntu 24.04: $(FFMPEG_PKGS_6))" >&2; fi; \
	fi; \
	uv --version >/dev/null 2>&1 && uv=uv || { $$py -m uv --version >/dev/null 2>&1 || $$py -m pip install -q --user uv || $$py -m pip install -q --break-system-packages uv; uv="$$py -m uv"; }; \
	[ -x $(PY) ] || $$uv venv -q -p "$$py" $(VENV); \
	$$uv pip install -q -p $(PY) -e ".[$(EXTRAS)]" -e $(PLUGIN); \
	echo "setup: compiling bytecode"; $(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true; \
	touch $(STAMP); echo "setup: done ($(VENV))"

demo: setup
	$(VENV)/bin/vla-demo $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

bench: setup
	$(PY) bench/run_all.py

bench-summary: setup
	$(PY) bench/run_all.py --collect

clean:
	rm -rf $(VENV) outputs data/work
