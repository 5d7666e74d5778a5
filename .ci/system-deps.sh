#!/usr/bin/env bash
# System packages the test suite uses (Debian): headless Chromium for the browser test of the
# built book, and the full Fashion-MNIST (IDX files) for the real-loader test.
# Idempotent and quick when they are present. Without root (a developer laptop) it only warns:
# the tests that need them then skip locally (they never skip in CI, where CI=true).
set -u
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${need[*]} (run as root: apt-get install -y ${need[*]})" >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
