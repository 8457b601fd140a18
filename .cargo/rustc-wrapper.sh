#!/bin/sh
# Passes every call through to rustc; on cargo's first question to rustc
# (`--print`, asked once per build before any crate compiles) it makes sure
# the wasm32-wasip2 target is installed. See .cargo/config.toml.
case "$*" in
*--print*)
    if ! ls "$(rustc --print target-libdir --target wasm32-wasip2 2>/dev/null)" 2>/dev/null | grep -q '^libstd-'; then
        echo "tapline: the wasm32-wasip2 target is missing; adding it with rustup" >&2
        log=$(mktemp)
        if ! RUST_BACKTRACE=0 rustup target add wasm32-wasip2 >"$log" 2>&1; then
            grep -i -m3 'error' "$log" >&2
            rm -f "$log"
            echo "tapline: could not add the wasm32-wasip2 target the demo plugins build for." >&2
            echo "tapline: run \`rustup target add wasm32-wasip2\`, or build with TAPLINE_SKIP_PLUGIN_BUILD=1" >&2
            exit 1
        fi
        rm -f "$log"
    fi
    ;;
esac
exec "$@"
