# Sourced by the scripts under scripts/ and bench/: Debian packages, the tools llama.cpp
# builds with, the one cargo package selection every build uses, the example repositories
# and the scripted provider. Not a command of its own.

# ns_apt_install PACKAGE...: install Debian packages (with sudo when not root).
ns_apt_install() {
    if ! command -v apt-get >/dev/null; then
        echo "please install: $*" >&2
        exit 1
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "not root and no sudo: run as root, or install: $*" >&2; exit 1; }
        sudo=sudo
    fi
    echo "==> apt-get install $*" >&2
    ($sudo apt-get update -qq || true) >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2
}

# ns_build_tools: git; cmake, clang, libclang-dev and ccache, which build llama.cpp (the
# local model is linked into the gateway); libseccomp-dev, which the sandbox's system-call
# filter links against. ccache becomes cmake's compiler launcher so that a rebuild of
# llama.cpp is cheap.
ns_build_tools() {
    local need=()
    command -v git >/dev/null || need+=(git)
    command -v cmake >/dev/null || need+=(cmake)
    command -v clang >/dev/null || need+=(clang)
    command -v ccache >/dev/null || need+=(ccache)
    ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
    compgen -G '/usr/lib/*/libseccomp.so' >/dev/null || compgen -G /usr/lib/libseccomp.so >/dev/null || need+=(libseccomp-dev)
    if ((${#need[@]})); then ns_apt_install "${need[@]}"; fi
    export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
    export CCACHE_NOHASHDIR=true CCACHE_BASEDIR=/
}

# ns_sandbox_tools: bubblewrap, which every worker and gate runs in (`[sandbox]`), and
# python3, which the sandbox's tests drive; `nightshift doctor` then says whether it works.
ns_sandbox_tools() {
    local need=()
    command -v bwrap >/dev/null || need+=(bubblewrap)
    command -v python3 >/dev/null || need+=(python3)
    if ((${#need[@]})); then ns_apt_install "${need[@]}"; fi
}

# ns_floor_tools: what the floor's tests check it with: `promtool` (Debian's `prometheus`)
# for /metrics, and headless `chromium`, which Playwright drives (no browser download).
ns_floor_tools() {
    local need=()
    command -v promtool >/dev/null || need+=(prometheus)
    command -v chromium >/dev/null || need+=(chromium)
    if ((${#need[@]})); then ns_apt_install "${need[@]}"; fi
}

# ns_build: build every binary with the package selection nextest uses; any other
# selection unifies build-script dependencies differently and rebuilds llama.cpp.
ns_build() {
    cargo build -q --workspace --all-targets
}

# ns_build_release: the benchmarks' release build, one selection for all of them.
ns_build_release() {
    cargo build --release --workspace --bins --examples >&2
}

# ns_example_repos DIR: examples/repos/* as git repositories under DIR/repos.
ns_example_repos() {
    local src name
    mkdir -p "$1/repos"
    for src in examples/repos/*/; do
        name=$(basename "$src")
        cp -r "$src" "$1/repos/$name"
        git -C "$1/repos/$name" init -q -b main
        git -C "$1/repos/$name" add -A
        git -C "$1/repos/$name" -c user.name=demo -c user.email=demo@localhost commit -q -m "$name: initial"
    done
}

# ns_start_scripted BIN SCRIPT OUT: start the scripted provider on a free port, its output
# in OUT; adds its pid to the caller's `pids` and sets `provider` to its HOST:PORT.
ns_start_scripted() {
    "$1/nightshift-scripted" --listen 127.0.0.1:0 --script "$2" >"$3" 2>&1 &
    pids+=($!)
    local tries=0 pid=$!
    until grep -q "listening on" "$3" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null || ((++tries > 600)); then
            echo "error: the scripted provider did not start (30 s); its output, $3:" >&2
            cat "$3" >&2
            return 1
        fi
        sleep 0.05
    done
    provider=$(sed -n 's/.*listening on \(http:\/\/\)\{0,1\}//p' "$3" | head -1)
}
