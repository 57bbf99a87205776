# Shared by docker/test.sh and docker/topology-test.sh: progress lines and the failure exit.
# The caller sets PASSED=0 first.
say() { printf '==> %s\n' "$*"; }
ok() { PASSED=$((PASSED + 1)); printf '  ok  %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    printf 'docker/%s: %d passed, 1 failed\n' "$(basename "$0")" "$PASSED" >&2
    exit 1
}
