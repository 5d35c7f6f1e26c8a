#!/usr/bin/env bash
# twin.service as installed under /usr (as the Debian package has it) passes
# `systemd-analyze verify` with nothing to say, in a root that holds the installed files and the
# system's own units; its hardening keeps `systemd-analyze security` at an exposure of 2.0 or
# less; and it runs twin serve from the state directory as the user twin, as README.md says.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"
# shellcheck source=lib/install.bash
. "$(dirname "$0")/lib/install.bash"

command -v systemd-analyze >/dev/null ||
    fail "systemd-analyze is missing: install Debian's systemd package (tools/deps does)"
SYSTEM_UNITS=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
SYSTEM_UNITS=${SYSTEM_UNITS:-/lib/systemd/system}
[ -f "$SYSTEM_UNITS/multi-user.target" ] || fail "no systemd units in $SYSTEM_UNITS"

ROOT="$TEST_TMP/root"
UNIT=/usr/lib/systemd/system/twin.service
# The targets the unit is ordered against, from this system, then the installed files over them.
mkdir -p "$ROOT/usr/lib/systemd/system"
cp -r "$SYSTEM_UNITS/." "$ROOT/usr/lib/systemd/system/"
install_into "$ROOT" /usr
[ -f "$ROOT$UNIT" ] || fail "cmake --install left out $UNIT"
cp "$ROOT$UNIT" "$TEST_TMP/twin.service.installed"

# verify exits 0 with warnings too (an unknown key, a bad value): say nothing is the bar.
verify() {
    local rc=0
    systemd-analyze verify --man=no --root="$ROOT" "$1" >"$OUT" 2>"$ERR" || rc=$?
    cat "$OUT" >>"$ERR"
    return $rc
}

check "systemd-analyze verify accepts twin.service and has nothing to say"
verify "$UNIT" || { show_last; fail "systemd-analyze verify failed on twin.service"; }
expect_stderr_empty

check "the same verification names a mistake in the unit (the check can fail)"
sed 's/^RestrictAddressFamilies=.*/&\nRestrictAddressFamily=AF_INET/' \
    "$TEST_TMP/twin.service.installed" >"$ROOT/usr/lib/systemd/system/twin-broken.service"
verify /usr/lib/systemd/system/twin-broken.service || true
expect_stderr_contains "Unknown key 'RestrictAddressFamily'"
sed 's|^ExecStart=/usr/bin/twin|ExecStart=/usr/bin/twin-absent|' \
    "$TEST_TMP/twin.service.installed" >"$ROOT/usr/lib/systemd/system/twin-broken.service"
expect_exit 1 verify /usr/lib/systemd/system/twin-broken.service
expect_stderr_contains "/usr/bin/twin-absent is not executable"
rm "$ROOT/usr/lib/systemd/system/twin-broken.service"

check "systemd-analyze security rates the unit's exposure at 2.0 or less"
rc=0
systemd-analyze security --offline=yes --root="$ROOT" --threshold=20 "$UNIT" >"$OUT" 2>"$ERR" || rc=$?
grep 'Overall exposure level' "$OUT" | sed 's/^→ */   /' || true
[ "$rc" -eq 0 ] || { show_last; fail "twin.service's exposure is above 2.0 (exit $rc)"; }

check "the unit runs twin serve from /var/lib/twin/node as the user twin, restarted on failure"
u="$ROOT$UNIT"
# No options: serve takes its settings from the node (twin config), where nothing overrides them.
for line in 'ExecStart=/usr/bin/twin serve' \
    'User=twin' 'StateDirectory=twin' 'Environment=TWIN_DIR=%S/twin/node' \
    'ConditionPathExists=%S/twin/node/node.key' 'Restart=on-failure' 'ProtectSystem=strict' \
    'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'WantedBy=multi-user.target'; do
    grep -Fx -- "$line" "$u" >/dev/null || fail "twin.service lacks the line: $line"
done
expect_eq "$(grep -v '^#' "$ROOT/usr/lib/sysusers.d/twin.conf")" \
    'u twin - "twin node" /var/lib/twin' "the sysusers.d line of the user twin"
echo "systemd_unit: ok"
