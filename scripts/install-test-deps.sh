#!/usr/bin/env bash
# Install the system packages the test suite needs: Dovecot (IMAP), PostgreSQL, Chromium
# (and python3-venv if python3 cannot make a venv).
#
# - As root on Debian: installs whatever is missing with one `apt-get update` and one
#   `apt-get install -y --no-install-recommends`, without letting the packages start their
#   system services (the tests start their own servers on free ports of 127.0.0.1).
# - Not root, or not Debian: prints what is missing and exits 0; the integration tests then
#   skip (or fail, when CI=true).
# Idempotent and silent when everything is already there.
set -euo pipefail

missing=()

have_dovecot() {
    command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]
}
have_postgres() {
    command -v postgres >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && return 0
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
have_chromium() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}
have_venv() {
    # `make venv` runs `python3 -m venv`; Debian's own python3 needs python3-venv for that.
    ! command -v python3 >/dev/null 2>&1 || python3 -c 'import ensurepip, venv' >/dev/null 2>&1
}

have_dovecot || missing+=(dovecot-imapd)
have_postgres || missing+=(postgresql)
have_chromium || missing+=(chromium)
have_venv || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: missing system packages: ${missing[*]}" >&2
    echo "install-test-deps: not root or no apt-get; install them yourself (Debian: apt-get install ${missing[*]})." >&2
    echo "install-test-deps: integration tests needing them will skip (or fail when CI=true)." >&2
    exit 0
fi

echo "install-test-deps: installing ${missing[*]}" >&2

# Keep the packages' maintainer scripts from starting system services (a system dovecot on
# port 143, a postgres cluster on 5432): a policy-rc.d answering 101 ("action forbidden") is
# honoured by invoke-rc.d and deb-systemd-invoke. Leave an existing policy alone.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Belt and braces: if systemd runs here and started or enabled the services anyway, stop them.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for unit in dovecot.service dovecot.socket postgresql.service; do
        systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
fi

status=0
have_dovecot || { echo "install-test-deps: dovecot still missing after install" >&2; status=1; }
have_postgres || { echo "install-test-deps: postgres still missing after install" >&2; status=1; }
have_chromium || { echo "install-test-deps: chromium still missing after install" >&2; status=1; }
have_venv || { echo "install-test-deps: python3 -m venv still unusable after install" >&2; status=1; }
exit "$status"
