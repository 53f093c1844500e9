#!/usr/bin/env bash
# Installs what hark needs to build and test on Debian/Ubuntu (run as root, or with sudo).
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
need="cmake make gcc pkg-config libopenblas-openmp-dev libpcre2-dev libjansson-dev zlib1g-dev
      libavformat-dev libavcodec-dev libavutil-dev libswresample-dev ffmpeg
      libcurl4-openssl-dev libssl-dev libmicrohttpd-dev libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
      libutf8proc-dev sctk chromium
      curl python3"
missing=""
for p in $need; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# Node.js and npm run the interop tests with the official client libraries (tests/node); any
# Node.js on the PATH will do (NodeSource's package carries its own npm).
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
