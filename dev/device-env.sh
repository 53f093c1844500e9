#!/usr/bin/env bash
# Source on the GPU machine (which has no Debian -dev packages and no network): unpacks the
# Debian packages carried in .deps/ (see dev/fetch-deps.sh) into /tmp/deps and points pkg-config,
# the compiler and the loader at them. Usage: source dev/device-env.sh
D=/tmp/deps
stamp=$(ls .deps/*.deb | md5sum | cut -c1-8)
if [ ! -f $D/.stamp-$stamp ]; then # unpacked again when the carried set changes
  rm -rf $D; mkdir -p $D
  for f in .deps/*.deb; do dpkg -x "$f" $D; done
  touch $D/.stamp-$stamp
fi
A=$D/usr/lib/x86_64-linux-gnu
export PKG_CONFIG_PATH=$A/pkgconfig:$A/openblas-openmp/pkgconfig:$D/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$D
export PKG_CONFIG=$D/usr/bin/pkgconf
export PATH=$D/usr/bin:$PATH
export LD_LIBRARY_PATH=$A:$A/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LIBRARY_PATH=$A:$A/openblas-openmp
export C_INCLUDE_PATH=$D/usr/include:$D/usr/include/x86_64-linux-gnu
