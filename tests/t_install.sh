#!/usr/bin/env bash
# t_install.sh: `make install PREFIX=... DESTDIR=...` puts the binary and
# the profiles in place, and the installed binary looks for its profiles
# under PREFIX, not in the source tree it was built from.
. "$(dirname "$0")/lib.sh"

REPO=$(cd "$(dirname "$0")/.." && pwd)
DEST="$T_TMP/dest"
PREFIX=/opt/govpki-test
if make -C "$REPO" --no-print-directory install DESTDIR="$DEST" PREFIX="$PREFIX" \
	>"$T_TMP/install.out" 2>&1; then
	t_ok "make install"
else
	t_fail "make install" "$(tail -n 5 "$T_TMP/install.out" | tr '\n' ' ')"
	t_done install
	exit 1
fi
BIN="$DEST$PREFIX/bin/govpki"
[ -x "$BIN" ] && t_ok "binary installed" || t_fail "binary installed" "no $BIN"
n=$(ls "$DEST$PREFIX/share/govpki/policies/"*.json 2>/dev/null | wc -l)
[ "$n" -ge 8 ] && t_ok "profiles installed ($n)" || t_fail "profiles installed" "$n files"
[ -n "$(ls "$DEST$PREFIX/share/govpki/policies/approvals/"*.json 2>/dev/null)" ] &&
	t_ok "approval policies installed" || t_fail "approval policies installed" "none"
t_check "installed binary runs" "$BIN" --help
"$BIN" init --dir "$T_TMP/inst" >/dev/null 2>&1
if grep -q "\"profiles_dir\": \"$PREFIX/share/govpki/policies\"" "$T_TMP/inst/govpki.json" 2>/dev/null; then
	t_ok "installed binary uses the installed profiles"
else
	t_fail "installed binary uses the installed profiles" \
		"$(grep profiles_dir "$T_TMP/inst/govpki.json" 2>&1)"
fi
t_done install
