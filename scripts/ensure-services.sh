#!/usr/bin/env bash
# Install the real services the test suite needs, when they are missing (Debian/Ubuntu).
# Under CI=true a missing service is an error the tests will report, never a silent skip.
set -euo pipefail
need=()
if [ "${1:-}" = "--bench" ]; then
    # benchmarks/run.py drives scenarios f and g with wrk (a Python client stands in without it).
    command -v wrk >/dev/null 2>&1 || need+=(wrk)
else
    # tests/test_browser.py drives Debian's Chromium through playwright (never `playwright install`).
    [ -x /usr/bin/chromium ] || need+=(chromium)
    # tests/test_hub_*.py start their own redis-server (a real Redis for asgiws.hub).
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
fi
if ((${#need[@]})); then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
    else
        echo "ensure-services: please install: ${need[*]}" >&2
    fi
fi
