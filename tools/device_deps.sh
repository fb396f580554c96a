#!/usr/bin/env bash
# Copies the headers and shared libraries mn needs from this Debian machine into .devdeps/, for a
# GPU machine that has the CUDA toolkit but none of these packages and no registry to fetch them,
# and the Fashion-MNIST files the data and training tests read. OpenBLAS travels xz-compressed
# (35 -> 4 MB) to keep the carried folder well under the device tool's 64 MiB; tools/gpu_check.sh
# unpacks it and installs the dataset. Build there with -DCMAKE_PREFIX_PATH=$PWD/.devdeps and run
# with LD_LIBRARY_PATH=$PWD/.devdeps/lib.
set -euo pipefail
cd "$(dirname "$0")/.."
d=.devdeps
rm -rf $d && mkdir -p $d/include $d/lib
inc=/usr/include/x86_64-linux-gnu/openblas-pthread
cp -L $inc/cblas.h $inc/openblas_config.h $d/include/
cp -L /usr/include/turbojpeg.h $d/include/
cp -rL /usr/include/toml++ /usr/include/doctest /usr/include/stb $d/include/
cp -L /usr/local/cuda/include/cudnn*.h $d/include/
cp -L /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 $d/lib/
cp -L /usr/lib/x86_64-linux-gnu/libturbojpeg.so.0 $d/lib/
cp -L /usr/lib/x86_64-linux-gnu/libgfortran.so.5 /usr/lib/x86_64-linux-gnu/libquadmath.so.0 $d/lib/  # openblas needs them
xz -T0 $d/lib/libopenblas.so.0
(cd $d/lib && ln -sf libopenblas.so.0 libopenblas.so && ln -sf libturbojpeg.so.0 libturbojpeg.so)
cp -r /usr/share/datasets/fashion-mnist $d/
du -sh $d
