#!/usr/bin/env bash
# t_ocsp.sh: OCSP and CRLs end to end, checked by independent
# implementations (openssl ocsp/verify/crl, GnuTLS ocsptool/certtool).
# A fresh instance serving on free ports; the officer certificate (issued
# by the CA, in the store) is good, then revoked; the auditor certificate is
# held and released; a made-up serial is unknown, never good. Status changes
# are written to the store by another process (the CLI), so the server
# must see them through the store, not its memory.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
P1=$(t_free_port)
P2=$(t_free_port)
PUB=http://127.0.0.1:$P1
ADM=https://127.0.0.1:$P2

if [ ! -x "$GOVPKI" ]; then
	t_fail "binary" "$GOVPKI not built"
	t_done ocsp
	exit 1
fi
# The certificates name this test's listener (--public-url), so that
# relying parties that follow their URLs (Java below) reach it.
if ! "$GOVPKI" init --dir "$D" --dev-clock --public-url "$PUB" >"$T_TMP/init.out" 2>&1; then
	t_fail "init" "$(tail -n 3 "$T_TMP/init.out" | tr '\n' ' ')"
	t_done ocsp
	exit 1
fi
t_ok "init"
# Short OCSP refresh so that a stale pre-signed answer would show.
python3 - "$D/govpki.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c.setdefault("ocsp", {})["refresh_s"] = 600
json.dump(c, open(p, "w"), indent=2)
EOF

t_bg "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$P1" \
	--https "127.0.0.1:$P2" >"$T_TMP/serve.out" 2>"$T_TMP/serve.err"
if ! t_wait_http "$PUB/healthz" 30; then
	t_fail "serve starts" "$(tail -n 5 "$T_TMP/serve.err" | tr '\n' ' ')"
	t_done ocsp
	exit 1
fi
t_ok "serve starts"

C=$D/certs
OFFICER=$D/admin/officer.pem
AUDITOR=$D/admin/auditor.pem
OSER=$(t_serial "$OFFICER")
ASER=$(t_serial "$AUDITOR")
db() { t_sql "$D" "$1"; }
# set_status SERIAL STATUS [REASON]: through the CLI, another process
# writing the store (and the status generation the server's CRL schedule
# watches), with the change's audit record.
set_status() {
	case $2 in
	revoked) "$GOVPKI" ca revoke "$1" --reason "$3" --dir "$D" ;;
	hold) "$GOVPKI" ca hold "$1" --dir "$D" ;;
	*) "$GOVPKI" ca release "$1" --dir "$D" ;;
	esac >"$T_TMP/set_status.out" 2>&1 ||
		t_fail "set_status $1 $2" "$(tail -n 2 "$T_TMP/set_status.out" | tr '\n' ' ')"
}

# ocsp NAME CERT [args]: openssl ocsp against the server, verified
# against the chain; output in $T_TMP/NAME.ocsp.
ocsp() {
	local name=$1 cert=$2; shift 2
	openssl ocsp -issuer "$C/ca.pem" -cert "$cert" -url "$PUB/ocsp" \
		-CAfile "$C/chain.pem" -resp_text "$@" >"$T_TMP/$name.ocsp" 2>&1
}
# expect_ocsp NAME PATTERN CERT [args]
expect_ocsp() {
	local name=$1 pat=$2; shift 2
	if ocsp "$name" "$@" && grep -Eq -- "$pat" "$T_TMP/$name.ocsp" &&
		grep -q "Response verify OK" "$T_TMP/$name.ocsp"; then
		t_ok "$name"
	else
		t_fail "$name" "$(grep -E 'verify|: (good|revoked|unknown)|error' "$T_TMP/$name.ocsp" | head -n 4 | tr '\n' ' ')"
	fi
}

# --- OCSP: good, unknown -------------------------------------------------
expect_ocsp "openssl ocsp good (nonce)" "officer.pem: good" "$OFFICER"
expect_ocsp "openssl ocsp good (no nonce)" "officer.pem: good" "$OFFICER" -no_nonce
expect_ocsp "openssl ocsp good again (pre-signed)" "officer.pem: good" "$OFFICER" -no_nonce
grep -q "OCSP Nonce" "$T_TMP/openssl ocsp good (nonce).ocsp" &&
	t_ok "nonce echoed" || t_fail "nonce echoed" "no nonce in the response"
grep -q "Responder Id: .*[0-9A-F]\{40\}\|Responder Id: [0-9A-F]" "$T_TMP/openssl ocsp good (nonce).ocsp" &&
	t_ok "responderID byKey" || t_fail "responderID byKey" "$(grep 'Responder Id' "$T_TMP/openssl ocsp good (nonce).ocsp")"
grep -q "Next Update" "$T_TMP/openssl ocsp good (nonce).ocsp" &&
	t_ok "nextUpdate set" || t_fail "nextUpdate set" "missing"
if openssl ocsp -issuer "$C/ca.pem" -serial 0x7e57000000000000000000000000abcd \
	-url "$PUB/ocsp" -CAfile "$C/chain.pem" >"$T_TMP/unknown.ocsp" 2>&1 &&
	grep -q ": unknown" "$T_TMP/unknown.ocsp"; then
	t_ok "made-up serial is unknown"
else
	t_fail "made-up serial is unknown" "$(cat "$T_TMP/unknown.ocsp" | head -n 5 | tr '\n' ' ')"
fi
# The responder is authorised by the issuing CA only (RFC 6960 4.2.2.2).
# Asked about the root's certificates (the issuing CA's own), it answers
# "unauthorized" (RFC 6960 2.3), unsigned; with a CertID naming the CA
# (its name and key) and the serial of ca.pem (which the store holds, as
# the root's), "unknown", never good.
openssl ocsp -issuer "$C/root.pem" -cert "$C/ca.pem" -url "$PUB/ocsp" \
	-CAfile "$C/root.pem" >"$T_TMP/other.ocsp" 2>&1
if grep -q "Responder Error: unauthorized (6)" "$T_TMP/other.ocsp"; then
	t_ok "openssl ocsp about ca.pem (issuer root) is unauthorized"
else
	t_fail "openssl ocsp about ca.pem (issuer root) is unauthorized" "$(head -n 5 "$T_TMP/other.ocsp" | tr '\n' ' ')"
fi
if openssl ocsp -issuer "$C/ca.pem" -serial "0x$(t_serial "$C/ca.pem")" -url "$PUB/ocsp" \
	-noverify >"$T_TMP/other2.ocsp" 2>&1 &&
	grep -q ": unknown" "$T_TMP/other2.ocsp"; then
	t_ok "the root's certificate under the CA's CertID is unknown"
else
	t_fail "the root's certificate under the CA's CertID is unknown" "$(head -n 5 "$T_TMP/other2.ocsp" | tr '\n' ' ')"
fi
# ... so no certificate the root signs names the responder: ca.pem has
# the root's CRL and caIssuers, no OCSP URL.
aia=$(openssl x509 -in "$C/ca.pem" -noout -ext authorityInfoAccess 2>&1)
cdp=$(openssl x509 -in "$C/ca.pem" -noout -ext crlDistributionPoints 2>&1)
if echo "$aia" | grep -q "CA Issuers - URI:.*/certs/root.crt" && ! echo "$aia" | grep -q "OCSP" &&
	echo "$cdp" | grep -q "URI:.*/crl/root.crl"; then
	t_ok "ca.pem: authorityInfoAccess without an OCSP URL, the root CRL"
else
	t_fail "ca.pem: authorityInfoAccess without an OCSP URL" "$aia $cdp"
fi
if openssl x509 -in "$OFFICER" -noout -ext authorityInfoAccess | grep -q "OCSP - URI:$PUB/ocsp"; then
	t_ok "the CA's certificates name the responder"
else
	t_fail "the CA's certificates name the responder" "$(openssl x509 -in "$OFFICER" -noout -ext authorityInfoAccess)"
fi

# Java's PKIX validator with its revocation checker (the JDK's own, which
# refused govpki chains while ca.pem named this responder: "Responder's
# certificate is not authorized to sign OCSP responses"): the officer's
# path to the root validates with every certificate checked, OCSP first,
# the CRL distribution point where a certificate names no responder (the
# CA's, now); and the officer's OCSP answer alone, without CRL fallback,
# is accepted. After the revocation below, the same check fails.
if command -v java >/dev/null 2>&1; then
	JAVA=1
	pkix() { java -Dcom.sun.security.enableCRLDP=true "$(dirname "$0")/PkixCheck.java" \
		"$@" >"$T_TMP/pkix.out" 2>&1; }
	for mode in chain leaf-ocsp; do
		if pkix $mode "$C/root.pem" "$OFFICER" "$C/ca.pem"; then
			t_ok "Java PKIX $mode accepts the officer's path ($(tail -n 1 "$T_TMP/pkix.out"))"
		else
			t_fail "Java PKIX $mode accepts the officer's path" "$(tail -n 3 "$T_TMP/pkix.out" | tr '\n' ' ')"
		fi
	done
else
	JAVA=0
	t_fail "Java PKIX" "no java: make installs openjdk-17-jdk-headless"
fi

# SHA-256 CertID.
if openssl ocsp -sha256 -issuer "$C/ca.pem" -cert "$OFFICER" -url "$PUB/ocsp" \
	-CAfile "$C/chain.pem" >"$T_TMP/sha256.ocsp" 2>&1 && grep -q "officer.pem: good" "$T_TMP/sha256.ocsp"; then
	t_ok "SHA-256 CertID good"
else
	t_fail "SHA-256 CertID good" "$(head -n 3 "$T_TMP/sha256.ocsp" | tr '\n' ' ')"
fi

# GnuTLS ocsptool.
if ocsptool --ask="$PUB/ocsp" --nonce --load-issuer "$C/ca.pem" --load-cert "$OFFICER" \
	--load-signer "$C/ocsp.pem" >"$T_TMP/gnutls.out" 2>&1 &&
	grep -qi "Nonce" "$T_TMP/gnutls.out" &&
	grep -qi "Certificate Status: good" "$T_TMP/gnutls.out" &&
	grep -qi "Verifying OCSP Response: Success" "$T_TMP/gnutls.out"; then
	t_ok "ocsptool good"
else
	t_fail "ocsptool good" "$(grep -Ei 'status|verif|error' "$T_TMP/gnutls.out" | head -n 4 | tr '\n' ' ')"
fi

# GET (RFC 5019 5) with caching headers.
openssl ocsp -issuer "$C/ca.pem" -cert "$OFFICER" -no_nonce -reqout "$T_TMP/req.der" >/dev/null 2>&1
B64=$(base64 -w0 "$T_TMP/req.der" | python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read().strip(), safe=""))')
s=$(curl -s -o "$T_TMP/get.der" -D "$T_TMP/get.hdr" -w '%{http_code}' "$PUB/ocsp/$B64")
if [ "$s" = 200 ] && grep -qi '^content-type: application/ocsp-response' "$T_TMP/get.hdr" &&
	openssl ocsp -respin "$T_TMP/get.der" -issuer "$C/ca.pem" -cert "$OFFICER" \
	-CAfile "$C/chain.pem" 2>&1 | grep -q "officer.pem: good\|: good"; then
	t_ok "GET /ocsp/<base64> good"
else
	t_fail "GET /ocsp/<base64> good" "status $s"
fi
grep -qi '^cache-control: max-age=[0-9]*, public, no-transform, must-revalidate' "$T_TMP/get.hdr" &&
	grep -qi '^etag: "' "$T_TMP/get.hdr" && grep -qi '^last-modified:' "$T_TMP/get.hdr" &&
	t_ok "RFC 5019 caching headers" || t_fail "RFC 5019 caching headers" "$(tr '\r\n' '  ' <"$T_TMP/get.hdr")"

# Malformed requests: malformedRequest, and the server stays up.
malformed() {
	local name=$1; shift
	local s
	s=$(curl -s -o "$T_TMP/mal.der" -w '%{http_code}' "$@")
	if [ "$s" = 200 ] && openssl ocsp -respin "$T_TMP/mal.der" -resp_text -noverify 2>&1 |
		grep -q "malformedrequest\|malformedRequest\|(1)"; then
		t_ok "$name"
	else
		t_fail "$name" "status $s: $(openssl ocsp -respin "$T_TMP/mal.der" -resp_text -noverify 2>&1 | head -n 2 | tr '\n' ' ')"
	fi
}
printf 'garbage' >"$T_TMP/garbage"
malformed "garbage POST is malformedRequest" -H 'Content-Type: application/ocsp-request' \
	--data-binary "@$T_TMP/garbage" "$PUB/ocsp"
cat "$T_TMP/req.der" "$T_TMP/garbage" >"$T_TMP/trailing"
malformed "trailing bytes are malformedRequest" -H 'Content-Type: application/ocsp-request' \
	--data-binary "@$T_TMP/trailing" "$PUB/ocsp"
malformed "bad base64 GET is malformedRequest" "$PUB/ocsp/%25%25notbase64"
# A 33-byte nonce (RFC 8954: more than 32 octets) is malformedRequest.
python3 - "$T_TMP/req.der" "$T_TMP/nonce33.der" <<'EOF'
import sys
def tlv(t, b):
    n = len(b)
    if n < 128: return bytes([t, n]) + b
    l = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([t, 0x80 | len(l)]) + l + b
def parse(b):
    t = b[0]; n = b[1]; o = 2
    if n & 0x80:
        k = n & 0x7f; n = int.from_bytes(b[2:2 + k], "big"); o = 2 + k
    return t, b[o:o + n]
req = open(sys.argv[1], "rb").read()
_, ocspreq = parse(req)
_, tbs = parse(ocspreq)
nonce = tlv(0x04, tlv(0x04, b"\x01" * 33))
ext = tlv(0x30, tlv(0x06, bytes.fromhex("2b0601050507300102")) + nonce)
tbs2 = tbs + tlv(0xa2, tlv(0x30, ext))
open(sys.argv[2], "wb").write(tlv(0x30, tlv(0x30, tbs2)))
EOF
malformed "33-byte nonce is malformedRequest" -H 'Content-Type: application/ocsp-request' \
	--data-binary "@$T_TMP/nonce33.der" "$PUB/ocsp"
t_check "server alive after malformed requests" curl -sf "$PUB/healthz"

# --- CRL: on demand, served as DER -------------------------------------
req_admin() {
	curl -s --max-time 30 -o "$T_TMP/$1.body" -w '%{http_code}' --cacert "$C/root.pem" \
		--cert "$D/admin/$2.pem" --key "$D/admin/$2.key" "${@:3}"
}
s=$(req_admin crlgen officer -X POST "$ADM/api/v1/crl?ca=ca")
[ "$s" = 200 ] && t_ok "POST /api/v1/crl (officer)" || t_fail "POST /api/v1/crl (officer)" "status $s $(cat "$T_TMP/crlgen.body")"
s=$(req_admin crlgen2 auditor -X POST "$ADM/api/v1/crl?ca=ca")
[ "$s" = 403 ] && t_ok "POST /api/v1/crl refused to the auditor" || t_fail "POST /api/v1/crl refused to the auditor" "status $s"
N1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["number"])' "$T_TMP/crlgen.body" 2>/dev/null)
s=$(curl -s -o "$T_TMP/ca.crl" -D "$T_TMP/crl.hdr" -w '%{http_code}' "$PUB/crl/ca.crl")
if [ "$s" = 200 ] && grep -qi '^content-type: application/pkix-crl' "$T_TMP/crl.hdr" &&
	openssl crl -inform DER -in "$T_TMP/ca.crl" -CAfile "$C/chain.pem" -noout 2>&1 | grep -q "verify OK"; then
	t_ok "GET /crl/ca.crl verifies (openssl crl)"
else
	t_fail "GET /crl/ca.crl verifies (openssl crl)" "status $s"
fi
openssl crl -inform DER -in "$T_TMP/ca.crl" -out "$T_TMP/ca-crl.pem" 2>/dev/null
openssl crl -in "$T_TMP/ca-crl.pem" -noout -text >"$T_TMP/crl1.txt" 2>&1
grep -q "X509v3 CRL Number" "$T_TMP/crl1.txt" && grep -q "X509v3 Authority Key Identifier" "$T_TMP/crl1.txt" &&
	grep -q "No Revoked Certificates" "$T_TMP/crl1.txt" &&
	t_ok "CRL has number and AKI, no entries yet" || t_fail "CRL has number and AKI, no entries yet" "$(head -n 20 "$T_TMP/crl1.txt" | tr '\n' ' ')"
cat "$C/ca.pem" "$C/root.pem" >"$T_TMP/ca-chain.pem"
t_check "openssl verify -crl_check good before revocation" \
	openssl verify -crl_check -CAfile "$C/root.pem" -untrusted "$C/ca.pem" -CRLfile "$T_TMP/ca-crl.pem" "$OFFICER"

# --- revoke (another process writes the store) ---------------------------
set_status "$OSER" revoked keyCompromise
expect_ocsp "revoked at once after revocation (no nonce, was pre-signed)" "officer.pem: revoked" "$OFFICER" -no_nonce
grep -q "Reason: keyCompromise" "$T_TMP/revoked at once after revocation (no nonce, was pre-signed).ocsp" &&
	t_ok "revocation reason in OCSP" || t_fail "revocation reason in OCSP" "$(grep -i reason "$T_TMP/revoked at once after revocation (no nonce, was pre-signed).ocsp")"
expect_ocsp "revoked with nonce" "officer.pem: revoked" "$OFFICER"
if [ "$JAVA" = 1 ]; then
	if ! pkix leaf-ocsp "$C/root.pem" "$OFFICER" "$C/ca.pem" && grep -qi "revoked" "$T_TMP/pkix.out"; then
		t_ok "Java PKIX refuses the revoked officer by OCSP ($(tail -n 1 "$T_TMP/pkix.out"))"
	else
		t_fail "Java PKIX refuses the revoked officer by OCSP" "$(tail -n 3 "$T_TMP/pkix.out" | tr '\n' ' ')"
	fi
fi
if ocsptool --ask="$PUB/ocsp" --load-issuer "$C/ca.pem" --load-cert "$OFFICER" \
	--load-signer "$C/ocsp.pem" >"$T_TMP/gnutls2.out" 2>&1; grep -qi "Certificate Status: revoked" "$T_TMP/gnutls2.out"; then
	t_ok "ocsptool revoked"
else
	t_fail "ocsptool revoked" "$(grep -Ei 'status|error' "$T_TMP/gnutls2.out" | head -n 3 | tr '\n' ' ')"
fi

# The schedule notices the status change (within the delay) and publishes.
ok=0
for _ in $(seq 1 40); do
	curl -s -o "$T_TMP/ca2.crl" "$PUB/crl/ca.crl"
	if openssl crl -inform DER -in "$T_TMP/ca2.crl" -noout -text 2>/dev/null | grep -qi "Serial Number: 0*$OSER"; then
		ok=1; break
	fi
	sleep 0.5
done
[ $ok = 1 ] && t_ok "next CRL lists the revoked certificate (schedule)" || t_fail "next CRL lists the revoked certificate (schedule)" "not within 20 s"
openssl crl -inform DER -in "$T_TMP/ca2.crl" -out "$T_TMP/ca2-crl.pem" 2>/dev/null
openssl crl -in "$T_TMP/ca2-crl.pem" -noout -text >"$T_TMP/crl2.txt" 2>&1
N2=$(grep -A1 "CRL Number" "$T_TMP/crl2.txt" | tail -n 1 | tr -d ' ')
[ -n "$N1" ] && [ -n "$N2" ] && [ "$N2" -gt "$N1" ] && t_ok "CRL number grows ($N1 -> $N2)" ||
	t_fail "CRL number grows" "$N1 -> $N2"
grep -q "Key Compromise" "$T_TMP/crl2.txt" && t_ok "CRL entry reason" || t_fail "CRL entry reason" "none"
t_refuse "openssl verify -crl_check fails after revocation" "revoked" \
	openssl verify -crl_check -CAfile "$C/root.pem" -untrusted "$C/ca.pem" -CRLfile "$T_TMP/ca2-crl.pem" "$OFFICER"
certtool --verify-crl --load-ca-certificate "$C/ca.pem" --infile "$T_TMP/ca2-crl.pem" >"$T_TMP/ct.out" 2>&1 &&
	t_ok "certtool --verify-crl" || t_fail "certtool --verify-crl" "$(tail -n 3 "$T_TMP/ct.out" | tr '\n' ' ')"
cat "$OFFICER" "$C/ca.pem" >"$T_TMP/officer-chain.pem"
# certtool --verify with the CRL: the revoked officer fails.
if certtool --verify --load-ca-certificate "$C/root.pem" --load-crl "$T_TMP/ca2-crl.pem" \
	--infile "$T_TMP/officer-chain.pem" >"$T_TMP/ct2.out" 2>&1; then
	t_fail "certtool --verify with the CRL refuses the revoked certificate" "$(tail -n 3 "$T_TMP/ct2.out" | tr '\n' ' ')"
elif grep -qi "revoked" "$T_TMP/ct2.out"; then
	t_ok "certtool --verify with the CRL refuses the revoked certificate"
else
	t_fail "certtool --verify with the CRL refuses the revoked certificate" "$(tail -n 3 "$T_TMP/ct2.out" | tr '\n' ' ')"
fi
cat "$AUDITOR" "$C/ca.pem" >"$T_TMP/auditor-chain.pem"
certtool --verify --load-ca-certificate "$C/root.pem" --load-crl "$T_TMP/ca2-crl.pem" \
	--infile "$T_TMP/auditor-chain.pem" >"$T_TMP/ct3.out" 2>&1 &&
	t_ok "certtool --verify with the CRL accepts a good certificate" ||
	t_fail "certtool --verify with the CRL accepts a good certificate" "$(tail -n 3 "$T_TMP/ct3.out" | tr '\n' ' ')"

# --- hold and release ----------------------------------------------------
expect_ocsp "auditor good (pre-signed)" "auditor.pem: good" "$AUDITOR" -no_nonce
set_status "$ASER" hold
expect_ocsp "hold shows as revoked" "auditor.pem: revoked" "$AUDITOR" -no_nonce
grep -q "Reason: certificateHold" "$T_TMP/hold shows as revoked.ocsp" &&
	t_ok "hold reason certificateHold" || t_fail "hold reason certificateHold" "$(grep -i reason "$T_TMP/hold shows as revoked.ocsp")"
# (The officer is revoked now, so the schedule publishes this one.)
ok=0
for _ in $(seq 1 40); do
	curl -s -o "$T_TMP/ca3.crl" "$PUB/crl/ca.crl"
	openssl crl -inform DER -in "$T_TMP/ca3.crl" -noout -text >"$T_TMP/crl3.txt" 2>&1
	grep -q "Certificate Hold" "$T_TMP/crl3.txt" && { ok=1; break; }
	sleep 0.5
done
[ $ok = 1 ] && t_ok "CRL lists the hold as certificateHold" ||
	t_fail "CRL lists the hold as certificateHold" "not within 20 s"
s=$(req_admin crlgen3 officer -X POST "$ADM/api/v1/crl")
[ "$s" = 401 ] && t_ok "the revoked officer is refused by the admin listener" ||
	t_fail "the revoked officer is refused by the admin listener" "status $s"
set_status "$ASER" good
expect_ocsp "released goes back to good" "auditor.pem: good" "$AUDITOR" -no_nonce

# --- root CRL and the audit trail -----------------------------------------
ok=0
for _ in $(seq 1 20); do
	curl -s -o "$T_TMP/root.crl" "$PUB/crl/root.crl" && [ -s "$T_TMP/root.crl" ] &&
		openssl crl -inform DER -in "$T_TMP/root.crl" -CAfile "$C/root.pem" -noout 2>&1 | grep -q "verify OK" && { ok=1; break; }
	sleep 0.5
done
[ $ok = 1 ] && t_ok "root CRL signed by the root" || t_fail "root CRL signed by the root" "missing or not verifying"
s=$(curl -s -o /dev/null -w '%{http_code}' "$PUB/crl/tsa.crl")
[ "$s" = 404 ] && t_ok "unknown CRL name is 404" || t_fail "unknown CRL name is 404" "status $s"

# On demand from the CLI (another process): the server serves its file and
# the number continues the same sequence.
if "$GOVPKI" ca crl --dir "$D" --json >"$T_TMP/cli.json" 2>"$T_TMP/cli.err"; then
	NC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["number"])' "$T_TMP/cli.json")
	curl -s -o "$T_TMP/ca4.crl" "$PUB/crl/ca.crl"
	NS=$(openssl crl -inform DER -in "$T_TMP/ca4.crl" -noout -crlnumber 2>/dev/null | cut -d= -f2 | sed "s/^0x//")
	[ -n "$NC" ] && [ "$((16#${NS:-0}))" = "$NC" ] && [ "$NC" -gt "${N2:-0}" ] &&
		t_ok "govpki ca crl publishes the next number ($NC)" ||
		t_fail "govpki ca crl publishes the next number" "cli $NC served $NS"
else
	t_fail "govpki ca crl" "$(cat "$T_TMP/cli.err")"
fi

# Every signature of the responder key has its record: the server's own
# count of OCSP signatures equals the ocsp.sign records.
SIGS=$(curl -s "$PUB/metrics" | sed -n 's/^govpki_signatures_total{key="ocsp"} //p')

# No signed answer without its record: while the log refuses ocsp.sign
# records, a nonce request gets internalError; a pre-signed answer, which
# makes no signature, still flows; once the log accepts records, signed
# answers come back.
t_inject "$D" t_ocsp_fail "BEFORE INSERT ON audit" "NEW.op = 'ocsp.sign'" 'injected audit failure' >/dev/null
ocsp nolog "$AUDITOR" || true
grep -qi "internalerror" "$T_TMP/nolog.ocsp" &&
	t_ok "a signed answer whose record fails is never sent" ||
	t_fail "a signed answer whose record fails is never sent" "$(head -n 3 "$T_TMP/nolog.ocsp" | tr '\n' ' ')"
expect_ocsp "pre-signed answers need no new record" "auditor.pem: good" "$AUDITOR" -no_nonce
t_uninject "$D" t_ocsp_fail audit >/dev/null
expect_ocsp "signed answers again once the log accepts records" "auditor.pem: good" "$AUDITOR"
kill -TERM "$T_LAST_PID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$T_LAST_PID" 2>/dev/null || break; sleep 0.1; done
n=$(db "SELECT count(*) FROM audit WHERE op='ocsp.sign' AND outcome='success';")
[ -n "$SIGS" ] && [ "$SIGS" -gt 5 ] && [ "$n" = "$((SIGS + 1))" ] &&
	t_ok "every OCSP signature audited ($n)" ||
	t_fail "every OCSP signature audited" "$n records, $SIGS signatures"
n=$(db "SELECT count(*) FROM audit WHERE op='ocsp.sign' AND object='7e57000000000000000000000000abcd' AND details LIKE '%\"unknown\"%';")
[ "${n:-0}" -ge 1 ] && t_ok "the made-up serial's answer is on record as unknown" ||
	t_fail "the made-up serial's answer is on record as unknown" "$n records"
n=$(db "SELECT count(*) FROM audit WHERE op='crl.issue' AND outcome='success';")
[ "${n:-0}" -ge 3 ] && t_ok "every CRL generation audited ($n)" || t_fail "every CRL generation audited" "$n records"
t_check "audit log verifies" "$GOVPKI" audit verify --dir "$D"
t_done ocsp
