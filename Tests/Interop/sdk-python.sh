# shellcheck shell=bash
# The Python with the official SDK, for the tests that run it (Tests/Interop/run.sh, Tests/E2E/watch-e2e.sh);
# sourced, not run.
#
# sdk_python PREFIX [PYTHON]: sets PY. With PYTHON, checks that it can import the SDK (a warning if the versions
# differ, exit 2 if it cannot import it at all). Without, uses <repo>/.venv-interop/bin/python, creating the venv
# with `python3 -m venv` and installing the pinned SDK into it on first use. PREFIX starts the messages.

# prefactor-core 0.5.3 only asks for prefactor-http>=0.4.3; pin both so the tests keep exercising the versions they
# were written against.
SDK_REQUIREMENTS=("prefactor-core==0.5.3" "prefactor-http==0.4.3")
SDK_CHECK='import prefactor_core, prefactor_http, sys; sys.exit(0 if (prefactor_core.__version__, prefactor_http.__version__) == ("0.5.3", "0.4.3") else 3)'
SDK_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

sdk_python() {
    local prefix="$1" venv
    if [[ $# -ge 2 && -n "$2" ]]; then
        PY="$2"
        if "$PY" -c "$SDK_CHECK" >/dev/null 2>&1; then
            :
        elif "$PY" -c 'import prefactor_core, prefactor_http' >/dev/null 2>&1; then
            echo "$prefix: warning: '$PY' does not have ${SDK_REQUIREMENTS[*]}; running anyway" >&2
        else
            echo "$prefix: '$PY' cannot import prefactor_core/prefactor_http (pip install ${SDK_REQUIREMENTS[*]})" >&2
            exit 2
        fi
    else
        venv="$SDK_REPO_ROOT/.venv-interop"
        PY="$venv/bin/python"
        if [[ ! -x "$PY" ]]; then
            echo "$prefix: creating $venv" >&2
            python3 -m venv "$venv"
        fi
        if ! "$PY" -c "$SDK_CHECK" >/dev/null 2>&1; then
            echo "$prefix: installing ${SDK_REQUIREMENTS[*]} into $venv" >&2
            "$PY" -m pip install --quiet --disable-pip-version-check "${SDK_REQUIREMENTS[@]}"
        fi
    fi
}
