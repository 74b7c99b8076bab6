#!/usr/bin/env bash
# t_status.sh: a certificate's status at the time of signing, from its
# status history, the same in `govpki verify`, POST /api/v1/verify, OCSP
# (read by openssl ocsp) and the CRL (read by openssl crl and openssl
# verify -crl_check). A certificate put on hold, used for a B-T signature
# while held, then revoked for keyCompromise: the signature is refused,
# OCSP answers revoked with the revocation time equal to the hold's start,
# and the CRL lists it with that date. A revocation whose invalidity date
# comes before the time-stamp refuses the signature although the
# revocation came after it, and OCSP carries that date as the CRL does. A signature made after a release is valid; one
# made inside an earlier, released hold is not. The history table refuses
# to be edited.
. "$(dirname "$0")/lib.sh"

t_instance t_status

head -c 50000 /dev/urandom >doc.bin
# cert NAME: a software key and an enterprise certificate from the instance.
cert() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null &&
	openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=x" 2>/dev/null &&
	"$GOVPKI" ca issue --dir "$D" --profile enterprise --csr "$1.csr" \
		--field organization="$1 公司" --field uscc=91350100M000100Y43 --out "$1.pem" >/dev/null 2>&1
}
serial() { openssl x509 -in "$1.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'; }
# sign_bt NAME OUT: a B-T signature stamped by the instance's TSA.
sign_bt() { "$GOVPKI" sign --key "file:$T_TMP/$1.key" --cert "$1.pem" --in doc.bin \
	--chain "$D/certs/ca.pem" --out "$2" --tsa "$PUB/tsa" >"$2.out" 2>&1; }
# revoked_at SERIAL: the stored revocation (or hold) time, Unix seconds.
revoked_at() { "$GOVPKI" ca show --dir "$D" --json "$1" 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin).get("revoked_at", 0))'; }
# vfy NAME WANT_EXIT PATTERN ARGS...: govpki verify's exit and output.
vfy() {
	local name=$1 want=$2 pat=$3 rc; shift 3
	"$GOVPKI" verify --dir "$D" --in doc.bin "$@" >"$name.vout" 2>&1; rc=$?
	if [ "$rc" = "$want" ] && grep -Eq -- "$pat" "$name.vout"; then t_ok "$name"
	else t_fail "$name" "exit $rc (want $want): $(head -c 600 "$name.vout" | tr '\n' ' ')"; fi
}
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
# ocsp CERT OUT [ARGS...]: openssl ocsp asks the instance about CERT.
ocsp() { openssl ocsp -issuer "$D/certs/ca.pem" -cert "$1" -url "$PUB/ocsp" \
	-CAfile "$D/certs/root.pem" "${@:3}" >"$2" 2>&1; }

# --- hold, sign while held, revoke keyCompromise -----------------------------
ok=1
cert held || ok=0
S=$(serial held)
"$GOVPKI" ca hold --dir "$D" "$S" >/dev/null 2>&1 || ok=0
H=$(revoked_at "$S")
sleep 1.1
sign_bt held held.p7s || ok=0
sleep 1.1
"$GOVPKI" ca revoke --dir "$D" --reason keyCompromise "$S" >/dev/null 2>&1 || ok=0
[ $ok = 1 ] && [ "${H:-0}" -gt 0 ] && t_ok "held, signed B-T while held, then revoked (keyCompromise)" ||
	t_fail "hold/sign/revoke" "a step failed ($(tail -n 2 held.p7s.out | tr '\n' ' '))"
[ "$(revoked_at "$S")" = "$H" ] && t_ok "the store keeps the hold's start as the revocation time" ||
	t_fail "revocation time" "stored $(revoked_at "$S"), hold started $H"
vfy "govpki verify refuses the signature made while held" 1 \
	"status: certificate $S was revoked at $(iso "$H") \(keyCompromise\), not after the time of signing" \
	--sig held.p7s
python3 -c "
import json,base64,hashlib
sig=base64.b64encode(open('held.p7s','rb').read()).decode()
json.dump({'signature':sig,'digest':hashlib.sha256(open('doc.bin','rb').read()).hexdigest()},open('hv.json','w'))"
code=$(curl -s --max-time 20 -o hv.out -w '%{http_code}' -X POST --data-binary @hv.json "$PUB/api/v1/verify")
[ "$code" = 200 ] && grep -q '"valid": *false' hv.out && grep -q "was revoked at $(iso "$H")" hv.out &&
	t_ok "POST /api/v1/verify refuses it too" || t_fail "public verify held" "$code $(head -c 400 hv.out)"
# OCSP, read by openssl: revoked, keyCompromise, since the hold's start.
ocsp held.pem ocsp.out
want=$(LC_ALL=C date -u -d "@$H" '+%b %e %H:%M:%S %Y GMT')
grep -q 'Response verify OK' ocsp.out && grep -q 'held.pem: revoked' ocsp.out &&
	grep -q 'Reason: keyCompromise' ocsp.out && grep -q "Revocation Time: $want" ocsp.out &&
	t_ok "openssl ocsp: revoked, keyCompromise, revocation time = hold start ($want)" ||
	t_fail "openssl ocsp" "want $want: $(tr '\n' ' ' <ocsp.out)"
# The CRL, read by openssl: the same entry, the same date.
"$GOVPKI" ca crl --dir "$D" >/dev/null 2>&1
openssl crl -inform DER -in "$D/crl/ca.crl" -out ca-crl.pem 2>/dev/null
openssl crl -in ca-crl.pem -noout -text >crl.txt 2>&1
SU=$(echo "$S" | tr 'a-f' 'A-F')
python3 - "$SU" "$want" crl.txt <<'EOF' >crlcheck.out 2>&1
import re, sys
serial, want, text = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
m = re.search(r"Serial Number: 0*%s\s+Revocation Date: ([^\n]+)\s+CRL entry extensions:\s+"
              r"X509v3 CRL Reason Code:\s+([^\n]+)" % serial, text)
assert m, "entry not found"
assert m.group(1).strip() == want, (m.group(1), want)
assert m.group(2).strip() == "Key Compromise", m.group(2)
print("ok")
EOF
grep -q '^ok$' crlcheck.out && t_ok "openssl crl -text: listed, Key Compromise, revocation date = hold start" ||
	t_fail "openssl crl" "$(tail -n 2 crlcheck.out | tr '\n' ' ')"
openssl verify -crl_check -CAfile "$D/certs/root.pem" -untrusted "$D/certs/ca.pem" \
	-CRLfile ca-crl.pem held.pem >crlv.out 2>&1
grep -q 'certificate revoked' crlv.out && t_ok "openssl verify -crl_check: certificate revoked" ||
	t_fail "openssl verify -crl_check" "$(tr '\n' ' ' <crlv.out)"

# --- revoked later, with an invalidity date before the time-stamp --------------
ok=1
cert inv || ok=0
S2=$(serial inv)
T0=$(date +%s)
sleep 1.1
sign_bt inv inv.p7s || ok=0
vfy "before the revocation: the B-T signature is valid" 0 '^valid$' --sig inv.p7s
sleep 1.1
"$GOVPKI" ca revoke --dir "$D" --reason keyCompromise --invalidity-date "$(iso "$T0")" \
	"$S2" >/dev/null 2>&1 || ok=0
[ $ok = 1 ] && t_ok "signed B-T, then revoked with an invalidity date before the signing" ||
	t_fail "invalidity setup" "a step failed"
vfy "invalidity date before the time-stamp: the signature is refused" 1 \
	"certificate $S2 is invalid from $(iso "$T0"), the invalidity date of its revocation" --sig inv.p7s
# OCSP carries the invalidity date too (RFC 6960 4.4.5), as the CRL does.
ocsp inv.pem ocsp2.out -resp_text
want2=$(LC_ALL=C date -u -d "@$T0" '+%b %e %H:%M:%S %Y GMT')
grep -q 'inv.pem: revoked' ocsp2.out && grep -A1 'Invalidity Date' ocsp2.out | grep -q "$want2" &&
	t_ok "openssl ocsp: the answer carries the invalidity date ($want2)" ||
	t_fail "ocsp invalidity date" "want $want2: $(grep -A2 -i 'invalidity\|revoked' ocsp2.out | tr '\n' ' ')"

# --- hold, release: signed after the release valid, inside the hold not --------
ok=1
cert rel || ok=0
S3=$(serial rel)
"$GOVPKI" ca hold --dir "$D" "$S3" >/dev/null 2>&1 || ok=0
H3=$(revoked_at "$S3")
sleep 1.1
sign_bt rel in-hold.p7s || ok=0
sleep 1.1
"$GOVPKI" ca release --dir "$D" "$S3" >/dev/null 2>&1 || ok=0
sleep 1.1
sign_bt rel after.p7s || ok=0
[ $ok = 1 ] && t_ok "held, signed, released, signed again" || t_fail "release setup" "a step failed"
vfy "signed after the release: valid" 0 '^valid$' --sig after.p7s
vfy "signed inside the released hold: refused" 1 \
	"certificate $S3 was on hold \(certificateHold\) from $(iso "$H3") until .*, which covers the time of signing" \
	--sig in-hold.p7s
ocsp rel.pem ocsp3.out
grep -q 'rel.pem: good' ocsp3.out && t_ok "OCSP says good now (the current state)" ||
	t_fail "ocsp after release" "$(tr '\n' ' ' <ocsp3.out)"

# The officer sees the history: hold then release, each with who and when.
"$GOVPKI" ca show --dir "$D" --json "$S3" >show3.json 2>&1
h=$(python3 -c 'import json,sys
j=json.load(open(sys.argv[1]))
print(" ".join("%s:%s" % (e["change"], e.get("actor", "")) for e in j["history"]))' show3.json 2>&1)
case "$h" in
"hold:local:"*" release:local:"*) t_ok "ca show lists the history with its actors ($h)" ;;
*) t_fail "ca show history" "$h" ;;
esac

# --- the history refuses to be edited ------------------------------------------
n=$(t_sql "$D" "SELECT count(*) FROM cert_status_history" 2>/dev/null)
[ "${n:-0}" -ge 5 ] && t_ok "every hold, release and revocation is in the history ($n events)" ||
	t_fail "history rows" "${n:-none}"
if t_sql "$D" "DELETE FROM cert_status_history" 2>/dev/null ||
	t_sql "$D" "UPDATE cert_status_history SET time = time + 100000" 2>/dev/null; then
	t_fail "history append-only" "an edit went through"
else t_ok "the history refuses UPDATE and DELETE"; fi
vfy "after the refused edits the held signature is still refused" 1 'was revoked at' --sig held.p7s

t_done t_status
