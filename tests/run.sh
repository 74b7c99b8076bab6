#!/usr/bin/env bash
# Runs every unit-test binary (build/tests/test_*) and every black-box shell
# test (tests/t_*.sh), some of them again on PostgreSQL, each bounded in
# time, and prints their sum last as
# "N passed, N failed". A binary or script that dies without its summary
# line counts as one failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
export GOVPKI="$BUILD/govpki"
export BUILD
passed=0
failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

run_one() {
	local name=$1; shift
	echo "== $name"
	timeout --kill-after=10 600 "$@" >"$log/out" 2>&1
	local rc=$?
	cat "$log/out"
	local sum
	sum=$(grep -E '^[A-Za-z0-9_.-]+: [0-9]+ passed, [0-9]+ failed$' "$log/out" | tail -n 1)
	if [ -z "$sum" ]; then
		echo "$name: died without a summary (exit $rc)"
		failed=$((failed + 1))
		return
	fi
	local p f
	p=$(echo "$sum" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
	f=$(echo "$sum" | sed -E 's/.* ([0-9]+) failed$/\1/')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$name: exit $rc with no failed case"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_one "$(basename "$t")" "$t"
done
for t in tests/t_*.sh; do
	[ -f "$t" ] || continue
	run_one "$(basename "$t")" bash "$t"
done
# The scripts whose reads and edits of the store behind govpki's back (if
# any) go through the helpers of tests/lib.sh that reach either backend
# (t_sql, t_copy, t_unguard, t_inject, tests/tdb.py) run again with every
# instance on PostgreSQL (GOVPKI_TEST_STORE). Of the others, t_postgres,
# t_nodes and t_migrate are about PostgreSQL or moving to it already, and
# t_cli, t_tokens and t_install make no instance.
for t in t_docs.sh t_sign.sh t_verify.sh t_usbkey.sh t_admin.sh t_est.sh \
	t_tender.sh t_status.sh t_audit.sh t_audit_key.sh t_ocsp.sh t_crl.sh t_tsa.sh t_ca.sh \
	t_tender_bidder.sh t_instance.sh t_server.sh t_robust.sh t_sig_fetch.sh; do
	run_one "$t (PostgreSQL)" env GOVPKI_TEST_STORE=pg bash "tests/$t"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
