# shellcheck shell=bash
# Shared by scripts/test and scripts/simulate: installs the Debian packages that are missing.
#   ensure_packages NAME...     (as root, or through sudo)
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "missing packages ${missing[*]}; install them as root" >&2; return 1; }
        sudo=(sudo)
    fi
    echo "installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Puts the toolchain on PATH when it is installed under /opt/swift but not on PATH.
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    fi
    command -v swift >/dev/null 2>&1 || { echo "swift not found on PATH (nor at /opt/swift/usr/bin)" >&2; return 1; }
}

# The libraries the package builds and runs with (libcurl: FoundationNetworking, used by `met query`).
MET_BUILD_PACKAGES=(libuv1-dev libpq-dev pkg-config libcurl4 curl)
