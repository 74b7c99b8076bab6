#!/usr/bin/env bash
# t_crl.sh: delta CRLs (RFC 5280 5.2.4) end to end. An instance with
# crl.delta_s set serves a full CRL naming its delta (freshestCRL) and the
# delta; status changes made with the CLI (another process) reach the
# delta, not the full CRL, and `openssl verify -use_deltas` sees them only
# with the delta: a revoked certificate is refused, a released hold
# (removeFromCRL) accepted. A new full CRL becomes the base of the next
# delta. Every CRL is audited.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
P1=$(t_free_port)
P2=$(t_free_port)
PUB=http://127.0.0.1:$P1

if [ ! -x "$GOVPKI" ]; then
	t_fail "binary" "$GOVPKI not built"
	t_done crl
	exit 1
fi
if ! "$GOVPKI" init --dir "$D" --dev-clock >"$T_TMP/init.out" 2>&1; then
	t_fail "init" "$(tail -n 3 "$T_TMP/init.out" | tr '\n' ' ')"
	t_done crl
	exit 1
fi
mkdir -p "$T_TMP/bad"
cp "$D/govpki.json" "$T_TMP/bad/govpki.json"
t_setcfg "$T_TMP/bad/govpki.json" crl.delta_s=5
t_refuse "crl.delta_s below 10 is refused, naming the field" 'crl.delta_s' \
	"$GOVPKI" ca list --dir "$T_TMP/bad"
t_setcfg "$D/govpki.json" crl.delta_s=60 crl.delay_s=0
t_refuse "a delta CRL needs a full one first" 'no full CRL' \
	"$GOVPKI" ca crl --dir "$D" --ca ca-delta

t_bg "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$P1" \
	--https "127.0.0.1:$P2" >"$T_TMP/serve.out" 2>"$T_TMP/serve.err"
if ! t_wait_http "$PUB/healthz" 30; then
	t_fail "serve starts" "$(tail -n 5 "$T_TMP/serve.err" | tr '\n' ' ')"
	t_done crl
	exit 1
fi
t_ok "serve starts"

C=$D/certs
OFFICER=$D/admin/officer.pem
AUDITOR=$D/admin/auditor.pem
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
cat "$C/root.pem" "$C/ca.pem" >"$T_TMP/chain.pem"

# fetch NAME: the served CRL as PEM in $T_TMP/NAME.pem, verified against
# the issuing CA; its text in $T_TMP/NAME.txt.
fetch() {
	curl -s -o "$T_TMP/$1.der" "$PUB/crl/$1.crl" && [ -s "$T_TMP/$1.der" ] &&
		openssl crl -inform DER -in "$T_TMP/$1.der" -out "$T_TMP/$1.pem" 2>/dev/null &&
		openssl crl -in "$T_TMP/$1.pem" -CAfile "$C/ca.pem" -noout 2>&1 | grep -q "verify OK" &&
		openssl crl -in "$T_TMP/$1.pem" -noout -text >"$T_TMP/$1.txt" 2>/dev/null
}
# number NAME: the cRLNumber, decimal; base NAME: a delta's BaseCRLNumber.
number() { echo $((16#$(openssl crl -in "$T_TMP/$1.pem" -noout -crlnumber | cut -d= -f2 | sed 's/^0x//'))); }
base() { grep -A1 "Delta CRL Indicator" "$T_TMP/$1.txt" | tail -n 1 | tr -d ' '; }
# wait_crl NAME PATTERN: until the served CRL's text matches PATTERN.
wait_crl() {
	for _ in $(seq 1 60); do
		fetch "$1" && grep -Eq -- "$2" "$T_TMP/$1.txt" && return 0
		sleep 0.25
	done
	return 1
}
# verify CERT CRL...: openssl verify with the given CRLs and deltas.
verify() {
	local cert=$1 args=() c; shift
	for c in "$@"; do args+=(-CRLfile "$T_TMP/$c.pem"); done
	openssl verify -crl_check -use_deltas -CAfile "$T_TMP/chain.pem" \
		"${args[@]}" "$cert" >"$T_TMP/verify.out" 2>&1
}

if wait_crl ca "Freshest CRL" && wait_crl ca-delta "Delta CRL Indicator: critical"; then
	t_ok "the full CRL and its delta are served"
else
	t_fail "the full CRL and its delta are served" "$(head -c 300 "$T_TMP/ca.txt" 2>/dev/null)"
fi
grep -A2 "Freshest CRL" "$T_TMP/ca.txt" | grep -q "URI:.*/crl/ca-delta.crl" &&
	t_ok "freshestCRL names the delta's URL" ||
	t_fail "freshestCRL names the delta's URL" "$(grep -A2 'Freshest CRL' "$T_TMP/ca.txt")"
FULL1=$(number ca)
[ "$(base ca-delta)" = "$FULL1" ] && [ "$(number ca-delta)" -gt "$FULL1" ] &&
	t_ok "the delta names the full CRL as its base ($FULL1)" ||
	t_fail "the delta names the full CRL as its base" "base $(base ca-delta), full $FULL1"
verify "$AUDITOR" ca ca-delta && t_ok "openssl verify -use_deltas: good certificate" ||
	t_fail "openssl verify -use_deltas: good certificate" "$(tail -n 2 "$T_TMP/verify.out")"

# --- a revocation reaches the delta, not the full CRL --------------------
ASER=$(serial_of "$AUDITOR")
t_check "CLI: revoke" "$GOVPKI" ca revoke --dir "$D" --reason keyCompromise "$ASER"
if wait_crl ca-delta "Serial Number: $ASER"; then
	t_ok "the revocation is in the next delta"
else
	t_fail "the revocation is in the next delta" "$(grep -c 'Serial Number' "$T_TMP/ca-delta.txt") entries"
fi
grep -A4 "Serial Number: $ASER" "$T_TMP/ca-delta.txt" | grep -q "Key Compromise" &&
	t_ok "with its reason" || t_fail "with its reason" "$(grep -A4 "Serial Number: $ASER" "$T_TMP/ca-delta.txt")"
fetch ca
[ "$(number ca)" = "$FULL1" ] && ! grep -q "$ASER" "$T_TMP/ca.txt" &&
	t_ok "the full CRL is not reissued for it" ||
	t_fail "the full CRL is not reissued for it" "number $(number ca), was $FULL1"
if verify "$AUDITOR" ca ca-delta; then
	t_fail "openssl verify -use_deltas refuses the revoked certificate" "accepted"
else
	grep -q "certificate revoked" "$T_TMP/verify.out" &&
		t_ok "openssl verify -use_deltas refuses the revoked certificate" ||
		t_fail "openssl verify -use_deltas refuses the revoked certificate" "$(tail -n 2 "$T_TMP/verify.out")"
fi
verify "$AUDITOR" ca && t_ok "without the delta the full CRL alone does not know yet" ||
	t_fail "without the delta the full CRL alone does not know yet" "$(tail -n 2 "$T_TMP/verify.out")"

# --- a hold in a new base, released in the delta (removeFromCRL) -----------
OSER=$(serial_of "$OFFICER")
t_check "CLI: hold" "$GOVPKI" ca hold --dir "$D" "$OSER"
t_check "CLI: full CRL on demand" "$GOVPKI" ca crl --dir "$D"
if wait_crl ca "Serial Number: $OSER" && wait_crl ca-delta "No Revoked Certificates"; then
	t_ok "a new full CRL is the base of an empty delta"
else
	t_fail "a new full CRL is the base of an empty delta" "$(grep -c 'Serial Number' "$T_TMP/ca-delta.txt") delta entries"
fi
FULL2=$(number ca)
[ "$FULL2" -gt "$FULL1" ] && [ "$(base ca-delta)" = "$FULL2" ] &&
	t_ok "numbers are one sequence and the delta follows the new base" ||
	t_fail "numbers are one sequence and the delta follows the new base" "full $FULL1 -> $FULL2"
t_check "CLI: release" "$GOVPKI" ca release --dir "$D" "$OSER"
if wait_crl ca-delta "Remove From CRL"; then
	t_ok "the release is in the delta as removeFromCRL"
else
	t_fail "the release is in the delta as removeFromCRL" "$(grep -A3 'Serial' "$T_TMP/ca-delta.txt" | head -n 4 | tr '\n' ' ')"
fi
verify "$OFFICER" ca ca-delta && t_ok "openssl verify -use_deltas accepts the released certificate" ||
	t_fail "openssl verify -use_deltas accepts the released certificate" "$(tail -n 2 "$T_TMP/verify.out")"
verify "$OFFICER" ca && t_fail "the full CRL alone still lists the hold" "accepted" ||
	t_ok "the full CRL alone still lists the hold"

kill -TERM "$T_LAST_PID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$T_LAST_PID" 2>/dev/null || break; sleep 0.1; done
n=$(t_sql "$D" \
	"SELECT count(*) FROM audit WHERE op='crl.issue' AND outcome='success' AND details LIKE '%\"delta\":%true%';")
[ "${n:-0}" -ge 3 ] && t_ok "every delta CRL audited ($n)" || t_fail "every delta CRL audited" "$n records"
# One server on a SQLite store serves its own files: no CRL is copied into
# the store as well. On PostgreSQL, which nodes share (t_nodes.sh), the
# store holds the latest of each CRL, the same bytes as DIR/crl/NAME.crl
# with the number of DIR/crl/NAME.number.
if t_is_pg "$D"; then
	for c in ca ca-delta root; do
		got=$(t_sql "$D" "SELECT number, string_agg(encode(data, 'hex'), '' ORDER BY part)
			FROM published WHERE name = '$c' GROUP BY number ORDER BY number DESC LIMIT 1")
		want="$(cat "$D/crl/$c.number")|$(od -An -v -tx1 "$D/crl/$c.crl" | tr -d ' \n')"
		[ -s "$D/crl/$c.crl" ] && [ "$got" = "$want" ] &&
			t_ok "the store holds the latest $c CRL as served (number ${got%%|*})" ||
			t_fail "the store holds the latest $c CRL as served" "store ${got:0:60}, file ${want:0:60}"
	done
else
	n=$(t_sql "$D" "SELECT count(*) FROM published")
	[ "$n" = 0 ] && t_ok "no copy of the CRLs in the SQLite store" ||
		t_fail "no copy of the CRLs in the SQLite store" "${n:-?} parts"
fi
t_check "audit log verifies" "$GOVPKI" audit verify --dir "$D"
t_done crl
