#!/usr/bin/env bash
# t_install.sh: `make install PREFIX=... DESTDIR=...` puts the binary and
# the profiles in place, and the installed binary copies its profiles into
# a new instance from PREFIX, not from the source tree it was built from.
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
# The installed binary copies the profiles installed under PREFIX into
# each new instance: staged under DESTDIR, they are not at PREFIX yet, so
# init names that path (not the source tree's)...
t_refuse "installed binary looks for the installed profiles" \
	"$PREFIX/share/govpki/policies" "$BIN" init --dir "$T_TMP/inst0"
# ... and, given them, the instance holds its own copy.
if "$BIN" init --dir "$T_TMP/inst" --profiles "$DEST$PREFIX/share/govpki/policies" \
	>"$T_TMP/init.out" 2>&1 && grep -q '"profiles_dir": "policies"' "$T_TMP/inst/govpki.json" &&
	diff -r "$DEST$PREFIX/share/govpki/policies" "$T_TMP/inst/policies" >/dev/null; then
	t_ok "the instance holds a copy of the installed profiles"
else
	t_fail "the instance holds a copy of the installed profiles" \
		"$(tail -n 2 "$T_TMP/init.out" | tr '\n' ' ') $(grep profiles_dir "$T_TMP/inst/govpki.json" 2>&1)"
fi
t_done install
