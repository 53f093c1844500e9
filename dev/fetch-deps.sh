#!/usr/bin/env bash
# Downloads (here, where Debian's mirror is reachable) the packages the GPU machine needs to build
# hark, into .deps/ (git-ignored; carried to the device run). See dev/device-env.sh.
set -euo pipefail
mkdir -p .deps && cd .deps
apt-get download libopenblas0-openmp libopenblas-openmp-dev libopenblas-dev libgfortran5 libquadmath0 \
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libjansson-dev libjansson4 \
  zlib1g zlib1g-dev pkgconf pkgconf-bin libpkgconf3 libmicrohttpd12 libmicrohttpd-dev \
  libgrpc-dev libgrpc29 libabsl-dev libabsl20220623 libssl-dev libssl3 libc-ares-dev libc-ares2 \
  libre2-dev libre2-9 libprotobuf-c-dev libprotobuf-c1 protobuf-c-compiler libprotoc32 libprotobuf32
