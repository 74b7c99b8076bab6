#!/usr/bin/env bash
# t_tsa.sh: the time-stamp authority end to end over HTTP. A fresh
# instance served on free ports, then: tokens verified by `openssl ts
# -verify` (and refused for another file); nonce and certReq per RFC 3161;
# every rejection with its PKIFailureInfo (wrong hash length, unknown hash,
# SHA-1, garbage, oversized, wrong content type, unknown policy); the
# `govpki tsa stamp|verify` client, a tampered token refused; audit records
# for tokens, and the client's rejections in the aggregated record of its
# address and minute; the clock guard through GOVPKI_TEST_CLOCK
# (unsync, error over the accuracy, stepped back) refusing and /healthz
# saying why; and 100,000 tokens from two servers (nodes tsa-a and tsa-b:
# one name is one process on PostgreSQL) on one store with no
# duplicate serial.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
LOADER=$BUILD/tests/test_tsa
TSA_N=${TSA_N:-100000}

if [ ! -x "$GOVPKI" ]; then
	t_fail "binary" "$GOVPKI not built"
	t_done tsa
	exit 1
fi
if ! "$GOVPKI" init --dir "$D" --dev-clock >"$T_TMP/init.out" 2>&1; then
	t_fail "init" "$(tail -n 3 "$T_TMP/init.out" | tr '\n' ' ')"
	t_done tsa
	exit 1
fi
t_ok "init"

# setcfg SECTION.FIELD=JSON...: in this instance's govpki.json.
setcfg() { t_setcfg "$D/govpki.json" "$@"; }
setcfg 'tsa.policies=["1.3.6.1.4.1.0.99.1"]' 'limits.threads=16'

SERVE=""
PORT=""
# serve [ENV=VALUE]: (re)starts the server, optionally with one variable.
serve() {
	if [ -n "$SERVE" ]; then
		kill -TERM "$SERVE" 2>/dev/null
		wait "$SERVE" 2>/dev/null
	fi
	PORT=$(t_free_port)
	local sport
	sport=$(t_free_port)
	if [ $# -gt 0 ]; then
		t_bg env "$1" "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$PORT" \
			--https "127.0.0.1:$sport" --quiet 2>"$T_TMP/serve.err"
	else
		t_bg "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$PORT" \
			--https "127.0.0.1:$sport" --quiet 2>"$T_TMP/serve.err"
	fi
	SERVE=$T_LAST_PID
	t_wait_http "http://127.0.0.1:$PORT/healthz" 20
}

# post NAME FILE [content-type]: POSTs FILE to /tsa; the reply goes to
# $T_TMP/NAME.tsr; prints the HTTP status and content type.
post() {
	curl -s --max-time 10 -o "$T_TMP/$1.tsr" -w '%{http_code} %{content_type}' \
		-H "Content-Type: ${3:-application/timestamp-query}" \
		--data-binary "@$2" "http://127.0.0.1:$PORT/tsa"
}
# failinfo NAME: openssl's "Failure info" line of a reply, or "granted".
failinfo() {
	local t
	t=$(openssl ts -reply -in "$T_TMP/$1.tsr" -text 2>/dev/null)
	if echo "$t" | grep -q '^Status: Granted'; then echo granted; return; fi
	echo "$t" | sed -n 's/^Failure info: //p'
}
# reject NAME WANT FILE [content-type]
reject() {
	local s fi
	s=$(post "$1" "$3" "${4:-}")
	fi=$(failinfo "$1")
	if [ "$s" = "200 application/timestamp-reply" ] && [ "$fi" = "$2" ]; then
		t_ok "$1: $2"
	else
		t_fail "$1" "status '$s', failure info '$fi', want '$2'"
	fi
}
BADALG="unrecognized or unsupported algorithm identifier"
BADREQ="transaction not permitted or supported"
BADFMT="the data submitted has the wrong format"
NOTIME="the TSA's time source is not available"
BADPOL="the requested TSA policy is not supported by the TSA"

serve || { t_fail "serve" "$(tail -n 5 "$T_TMP/serve.err" | tr '\n' ' ')"; t_done tsa; exit 1; }
t_ok "serve"

# --- tokens verified by openssl ------------------------------------------
echo "bid of Example Co., 2024" >"$T_TMP/data.txt"
echo "another document" >"$T_TMP/other.txt"
cat "$D/certs/tsa.pem" "$D/certs/ca.pem" >"$T_TMP/chain.pem"
openssl ts -query -data "$T_TMP/data.txt" -sha256 -cert -out "$T_TMP/q1.tsq" 2>/dev/null
s=$(post r1 "$T_TMP/q1.tsq")
[ "$s" = "200 application/timestamp-reply" ] && [ "$(failinfo r1)" = granted ] &&
	t_ok "POST /tsa grants a token" || t_fail "POST /tsa grants a token" "$s $(failinfo r1)"
if openssl ts -verify -queryfile "$T_TMP/q1.tsq" -in "$T_TMP/r1.tsr" \
	-CAfile "$D/certs/root.pem" -untrusted "$D/certs/tsa.pem" >"$T_TMP/v1" 2>&1; then
	t_ok "openssl ts -verify -queryfile (certReq)"
else
	t_fail "openssl ts -verify -queryfile (certReq)" "$(tail -n 3 "$T_TMP/v1" | tr '\n' ' ')"
fi
if openssl ts -verify -data "$T_TMP/other.txt" -in "$T_TMP/r1.tsr" \
	-CAfile "$D/certs/root.pem" -untrusted "$D/certs/tsa.pem" >"$T_TMP/v2" 2>&1; then
	t_fail "openssl ts -verify of another file fails" "it verified"
else
	t_ok "openssl ts -verify of another file fails"
fi
openssl ts -reply -in "$T_TMP/r1.tsr" -text >"$T_TMP/r1.txt" 2>/dev/null
QN=$(openssl ts -query -in "$T_TMP/q1.tsq" -text 2>/dev/null | sed -n 's/^Nonce: //p')
RN=$(sed -n 's/^Nonce: //p' "$T_TMP/r1.txt")
[ -n "$QN" ] && [ "$QN" = "$RN" ] && t_ok "nonce echoed ($RN)" ||
	t_fail "nonce echoed" "query $QN reply $RN"
POL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tsa"]["policy"])' "$D/govpki.json")
grep -q "^Policy OID: $POL\$" "$T_TMP/r1.txt" && grep -q '^Accuracy: 0x01 seconds' "$T_TMP/r1.txt" &&
	grep -Eq '^Time stamp: .*:[0-9]{2}(\.[0-9]{1,3})? [0-9]{4} GMT' "$T_TMP/r1.txt" &&
	t_ok "policy, accuracy and genTime from the configuration" ||
	t_fail "policy, accuracy and genTime from the configuration" "$(grep -E 'Policy|Accuracy|Time stamp' "$T_TMP/r1.txt" | tr '\n' ' ')"
openssl ts -reply -in "$T_TMP/r1.tsr" -token_out -out "$T_TMP/r1.tok" 2>/dev/null
NC=$(openssl pkcs7 -inform DER -in "$T_TMP/r1.tok" -print_certs 2>/dev/null | grep -c '^subject=')
[ "$NC" -ge 1 ] && t_ok "certReq: certificates in the token ($NC)" ||
	t_fail "certReq: certificates in the token" "$NC"
openssl asn1parse -inform DER -in "$T_TMP/r1.tok" >"$T_TMP/r1.asn" 2>&1
grep -q 'id-smime-aa-signingCertificateV2' "$T_TMP/r1.asn" &&
	! grep -q 'id-smime-aa-signingCertificate$' "$T_TMP/r1.asn" &&
	t_ok "ESSCertIDv2 (signingCertificateV2)" || t_fail "ESSCertIDv2" "not found"

# No certReq, no nonce: no certificate, no nonce; verifies with the chain.
openssl ts -query -data "$T_TMP/data.txt" -sha512 -no_nonce -out "$T_TMP/q2.tsq" 2>/dev/null
s=$(post r2 "$T_TMP/q2.tsq")
openssl ts -reply -in "$T_TMP/r2.tsr" -token_out -out "$T_TMP/r2.tok" 2>/dev/null
NC=$(openssl pkcs7 -inform DER -in "$T_TMP/r2.tok" -print_certs 2>/dev/null | grep -c '^subject=')
[ "$(failinfo r2)" = granted ] && [ "$NC" = 0 ] &&
	! openssl ts -reply -in "$T_TMP/r2.tsr" -text 2>/dev/null | grep -q '^Nonce: 0x' &&
	t_ok "no certReq: no certificate; no nonce asked: none given" ||
	t_fail "no certReq / no nonce" "$(failinfo r2), $NC certificates"
openssl ts -verify -queryfile "$T_TMP/q2.tsq" -in "$T_TMP/r2.tsr" \
	-CAfile "$D/certs/root.pem" -untrusted "$T_TMP/chain.pem" >"$T_TMP/v3" 2>&1 &&
	t_ok "openssl ts -verify (SHA-512, no certReq)" ||
	t_fail "openssl ts -verify (SHA-512, no certReq)" "$(tail -n 2 "$T_TMP/v3" | tr '\n' ' ')"
openssl ts -query -data "$T_TMP/data.txt" -sha384 -cert -tspolicy 1.3.6.1.4.1.0.99.1 \
	-out "$T_TMP/q3.tsq" 2>/dev/null
post r3 "$T_TMP/q3.tsq" >/dev/null
openssl ts -verify -queryfile "$T_TMP/q3.tsq" -in "$T_TMP/r3.tsr" \
	-CAfile "$D/certs/root.pem" -untrusted "$D/certs/tsa.pem" >"$T_TMP/v4" 2>&1 &&
	openssl ts -reply -in "$T_TMP/r3.tsr" -text 2>/dev/null | grep -q '^Policy OID: 1.3.6.1.4.1.0.99.1$' &&
	t_ok "another configured policy is honoured (SHA-384)" ||
	t_fail "another configured policy is honoured" "$(failinfo r3)"

# --- rejections --------------------------------------------------------
# req_der HASH_OID IMPRINT_LEN: a hand-made TimeStampReq (certReq true).
req_der() {
	python3 - "$1" "$2" <<'EOF'
import sys
def tlv(t, b):
    n = len(b)
    if n < 128: l = bytes([n])
    elif n < 256: l = bytes([0x81, n])
    else: l = bytes([0x82, n >> 8, n & 255])
    return bytes([t]) + l + b
def oid(s):
    a = [int(x) for x in s.split(".")]
    out = bytes([a[0] * 40 + a[1]])
    for v in a[2:]:
        enc = [v & 0x7f]
        v >>= 7
        while v:
            enc.insert(0, 0x80 | (v & 0x7f)); v >>= 7
        out += bytes(enc)
    return tlv(6, out)
alg = tlv(0x30, oid(sys.argv[1]) + b"\x05\x00")
mi = tlv(0x30, alg + tlv(4, b"\xab" * int(sys.argv[2])))
sys.stdout.buffer.write(tlv(0x30, b"\x02\x01\x01" + mi + b"\x01\x01\xff"))
EOF
}
SHA256=2.16.840.1.101.3.4.2.1
req_der $SHA256 32 >"$T_TMP/good.der"
s=$(post good "$T_TMP/good.der")
[ "$(failinfo good)" = granted ] && t_ok "hand-made request granted (control)" ||
	t_fail "hand-made request granted (control)" "$s $(failinfo good)"
req_der $SHA256 20 >"$T_TMP/short.der"
reject wrong_length "$BADFMT" "$T_TMP/short.der"
req_der 2.16.840.1.101.3.4.2.1 33 >"$T_TMP/long.der"
reject too_long "$BADFMT" "$T_TMP/long.der"
req_der 1.2.3.4.5.6 32 >"$T_TMP/unknown.der"
reject unknown_hash "$BADALG" "$T_TMP/unknown.der"
openssl ts -query -data "$T_TMP/data.txt" -sha1 -out "$T_TMP/sha1.tsq" 2>/dev/null
reject sha1_refused "$BADALG" "$T_TMP/sha1.tsq"
openssl ts -query -data "$T_TMP/data.txt" -md5 -out "$T_TMP/md5.tsq" 2>/dev/null
reject md5_refused "$BADALG" "$T_TMP/md5.tsq"
printf 'this is not DER at all' >"$T_TMP/garbage"
reject garbage "$BADFMT" "$T_TMP/garbage"
head -c 3000 /dev/urandom >"$T_TMP/random"
reject random_bytes "$BADFMT" "$T_TMP/random"
head -c 5000 /dev/zero >"$T_TMP/oversized"
reject oversized "$BADREQ" "$T_TMP/oversized"
reject wrong_content_type "$BADREQ" "$T_TMP/q1.tsq" "application/octet-stream"
openssl ts -query -data "$T_TMP/data.txt" -sha256 -tspolicy 1.2.3.4 -out "$T_TMP/pol.tsq" 2>/dev/null
reject unknown_policy "$BADPOL" "$T_TMP/pol.tsq"
s=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/tsa")
[ "$s" = 405 ] && t_ok "GET /tsa: 405" || t_fail "GET /tsa: 405" "$s"

# --- the govpki client ------------------------------------------------
URL=http://127.0.0.1:$PORT/tsa
t_check "tsa stamp" "$GOVPKI" tsa stamp "$T_TMP/data.txt" --url "$URL" --dir "$D" \
	--out "$T_TMP/data.tsr"
t_check "tsa verify" "$GOVPKI" tsa verify "$T_TMP/data.txt" "$T_TMP/data.tsr" --dir "$D"
openssl ts -verify -data "$T_TMP/data.txt" -in "$T_TMP/data.tsr" -CAfile "$D/certs/root.pem" \
	-untrusted "$D/certs/tsa.pem" >/dev/null 2>&1 &&
	t_ok "openssl verifies what govpki tsa stamp saved" ||
	t_fail "openssl verifies what govpki tsa stamp saved" "refused"
t_check "tsa stamp --no-cert --hash sha512 --policy" "$GOVPKI" tsa stamp "$T_TMP/data.txt" \
	--url "$URL" --dir "$D" --no-cert --hash sha512 --policy 1.3.6.1.4.1.0.99.1 \
	--out "$T_TMP/data2.tsr"
t_check "tsa verify with --ca and --untrusted" "$GOVPKI" tsa verify "$T_TMP/data.txt" \
	"$T_TMP/data2.tsr" --ca "$D/certs/root.pem" --untrusted "$T_TMP/chain.pem"
t_refuse "tsa verify: another file" "^govpki: time-stamp does not verify: .*data.tsr" \
	"$GOVPKI" tsa verify "$T_TMP/other.txt" "$T_TMP/data.tsr" --dir "$D"
! grep -q "audit log" "$T_TMP/last.out" && t_ok "tsa verify failure is no audit log failure" ||
	t_fail "tsa verify failure is no audit log failure" "$(cat "$T_TMP/last.out")"
"$GOVPKI" tsa verify "$T_TMP/other.txt" "$T_TMP/data.tsr" --dir "$D" --json >"$T_TMP/vj.out" 2>&1
grep -q '"message": *"time-stamp does not verify' "$T_TMP/vj.out" &&
	t_ok "tsa verify --json: the message says time-stamp" || t_fail "tsa verify --json" "$(cat "$T_TMP/vj.out")"
# A saved reply is never replaced unasked (nothing is even sent); --force
# replaces it.
sum0=$(sha256sum "$T_TMP/data.tsr")
t_refuse "tsa stamp refuses to overwrite an existing reply" "data.tsr exists; nothing was sent.*--force" \
	"$GOVPKI" tsa stamp "$T_TMP/data.txt" --url "$URL" --dir "$D" --out "$T_TMP/data.tsr"
[ "$(sha256sum "$T_TMP/data.tsr")" = "$sum0" ] && t_ok "the existing reply is untouched" ||
	t_fail "the existing reply is untouched" "changed"
cp "$T_TMP/data.tsr" "$T_TMP/data.txt.tsr"
t_refuse "tsa stamp refuses to overwrite the default FILE.tsr" "data.txt.tsr exists" \
	"$GOVPKI" tsa stamp "$T_TMP/data.txt" --url "$URL" --dir "$D"
t_check "tsa stamp --force replaces it" "$GOVPKI" tsa stamp "$T_TMP/data.txt" --url "$URL" \
	--dir "$D" --out "$T_TMP/data.tsr" --force
[ "$(sha256sum "$T_TMP/data.tsr")" != "$sum0" ] && t_ok "--force wrote a new reply" ||
	t_fail "--force wrote a new reply" "unchanged"
python3 - "$T_TMP/data.tsr" "$T_TMP/tampered.tsr" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
i = b.find(bytes.fromhex("060b2a864886f70d0109100104"))  # id-smime-ct-TSTInfo
b[i + 40] ^= 1  # inside the TSTInfo
open(sys.argv[2], "wb").write(b)
EOF
t_refuse "tsa verify: tampered token" "time-stamp does not verify" \
	"$GOVPKI" tsa verify "$T_TMP/data.txt" "$T_TMP/tampered.tsr" --dir "$D"
t_refuse "tsa verify: a rejection is no token" "rejection" \
	"$GOVPKI" tsa verify "$T_TMP/data.txt" "$T_TMP/garbage.tsr" --dir "$D"
EVIL=$T_TMP/evil
mkdir -p "$EVIL"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$EVIL/k" \
	-out "$EVIL/root.pem" -days 2 -subj "/CN=govpki root" >/dev/null 2>&1
t_refuse "tsa verify: another trust anchor" "time-stamp does not verify" \
	"$GOVPKI" tsa verify "$T_TMP/data.txt" "$T_TMP/data.tsr" --ca "$EVIL/root.pem"
t_refuse "tsa stamp: unknown policy refused" "rejection.*unacceptedPolicy" \
	"$GOVPKI" tsa stamp "$T_TMP/data.txt" --url "$URL" --dir "$D" --policy 1.2.3.4 \
	--out "$T_TMP/nope.tsr"
[ ! -e "$T_TMP/nope.tsr" ] && t_ok "a refused stamp saves nothing" ||
	t_fail "a refused stamp saves nothing" "file written"

# --- audit -------------------------------------------------------------
sql() { t_sql "$D" "$1"; }
NS=$(sql "SELECT count(*) FROM audit WHERE op='tsa.stamp' AND outcome='success'
	AND json_extract(details,'$.serial') = object AND json_extract(details,'$.md') IS NOT NULL
	AND length(json_extract(details,'$.imprint')) >= 64 AND json_extract(details,'$.policy') IS NOT NULL
	AND client = '127.0.0.1'" 2>&1)
NR=$(sql "SELECT count(*) FROM audit WHERE op='tsa.reject' AND outcome='failure'
	AND json_extract(details,'$.fail') IS NOT NULL" 2>&1)
NRP=$(sql "SELECT count(*) FROM audit WHERE op='tsa.reject' AND object='unacceptedPolicy'
	AND json_extract(details,'$.imprint') IS NOT NULL" 2>&1)
# Granted: r1 r2 r3 good, stamp x2, stamp --force = 7 (the two refused
# overwrites sent nothing); refused: 10 above + stamp --policy = 11.
[ "$NS" = 7 ] && t_ok "every token audited with serial, hash, policy, client ($NS)" ||
	t_fail "every token audited" "$NS records"
# The client's rejections are not recorded one by one (NR above is 0) but
# counted in the aggregated record of the address and minute
# ("http.refused"), which a restart writes.
NR1=$NR
serve || t_fail "serve again" "$(tail -n 3 "$T_TMP/serve.err" | tr '\n' ' ')"
REFUSED="SELECT details FROM audit WHERE op='http.refused' AND client='127.0.0.1'"
NR=$(t_sqljs "$D" "$REFUSED" 'sum(v for j in js for k, v in j["kinds"].items() if k.startswith("tsa."))')
NRP=$(t_sqljs "$D" "$REFUSED" 'sum(j["kinds"].get("tsa.unacceptedPolicy", 0) for j in js)')
[ "$NR" = 11 ] && [ "$NRP" = 2 ] && [ "$NR1" = 0 ] &&
	t_ok "every rejection counted in the aggregated record ($NR, $NRP policy)" ||
	t_fail "every rejection counted in the aggregated record" "$NR counted, $NRP policy, $NR1 one by one"

# No token without its record: make the log refuse tsa.stamp records (a
# trigger added under the running server) and ask again. The answer must
# be a systemFailure rejection, never a token; once the log accepts
# records again, tokens come back.
t_inject "$D" t_tsa_fail "BEFORE INSERT ON audit" "NEW.op = 'tsa.stamp'" 'injected audit failure' >/dev/null
s=$(post nolog "$T_TMP/q1.tsq")
fi=$(failinfo nolog)
if [ "$s" = "200 application/timestamp-reply" ] && echo "$fi" | grep -qi "system failure"; then
	t_ok "a token whose audit record fails is never sent ($fi)"
else
	t_fail "a token whose audit record fails is never sent" "status '$s', failure info '$fi'"
fi
t_uninject "$D" t_tsa_fail audit >/dev/null
s=$(post relog "$T_TMP/q1.tsq")
[ "$(failinfo relog)" = granted ] && t_ok "tokens again once the log accepts records" ||
	t_fail "tokens again once the log accepts records" "$(failinfo relog)"

# No token past the durable genTime bound: while the store refuses to move
# it, once the clock has passed it (1 s ahead at most), the answer is a
# systemFailure rejection; then tokens come back.
t_inject "$D" t_bound_fail "BEFORE UPDATE ON meta" "NEW.key LIKE 'tsa.last_gentime_us%'" 'injected store failure' >/dev/null
sleep 1.2
s=$(post nobound "$T_TMP/q1.tsq")
fi=$(failinfo nobound)
echo "$fi" | grep -qi "system failure" &&
	t_ok "no token while the genTime bound cannot be stored ($fi)" ||
	t_fail "no token while the genTime bound cannot be stored" "status '$s', failure info '$fi'"
t_uninject "$D" t_bound_fail meta >/dev/null
s=$(post bound "$T_TMP/q1.tsq")
[ "$(failinfo bound)" = granted ] && t_ok "tokens again once the bound can be stored" ||
	t_fail "tokens again once the bound can be stored" "$(failinfo bound)"

s=$(curl -s -o "$T_TMP/h.json" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert "tsa" in j' "$T_TMP/h.json" 2>/dev/null &&
	t_ok "/healthz reports the TSA clock ($s: $(cat "$T_TMP/h.json"))" ||
	t_fail "/healthz reports the TSA clock" "$(cat "$T_TMP/h.json")"

# --- clock guard ----------------------------------------------------------
setcfg 'tsa.clock_check="strict"'
clock_case() {
	local name=$1 hook=$2 why=$3 s h
	if ! serve "GOVPKI_TEST_CLOCK=$hook"; then
		t_fail "$name" "server did not start: $(tail -n 3 "$T_TMP/serve.err" | tr '\n' ' ')"
		return
	fi
	reject "$name" "$NOTIME" "$T_TMP/q1.tsq"
	h=$(curl -s -o "$T_TMP/h.json" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")
	[ "$h" = 503 ] && grep -q "\"tsa\":\"[^\"]*$why" "$T_TMP/h.json" &&
		t_ok "$name: /healthz 503 says why" ||
		t_fail "$name: /healthz 503 says why" "$h $(cat "$T_TMP/h.json")"
	grep -q "TEST HOOK GOVPKI_TEST_CLOCK=$hook" "$T_TMP/serve.err" &&
		t_ok "$name: the hook is announced at start" ||
		t_fail "$name: the hook is announced at start" "no warning"
}
clock_case clock_unsync unsync unsynchronised
clock_case clock_error error:1500000 "above the accuracy"
clock_case clock_backwards backwards "backwards"
serve "GOVPKI_TEST_CLOCK=ok"
reject clock_ok granted "$T_TMP/q1.tsq"
kill -TERM "$SERVE" 2>/dev/null
wait "$SERVE" 2>/dev/null
SERVE=""
t_refuse "an unknown hook value stops the start" "GOVPKI_TEST_CLOCK" \
	env GOVPKI_TEST_CLOCK=bogus timeout 10 "$GOVPKI" serve --dir "$D" \
	--http "127.0.0.1:$(t_free_port)" --https "127.0.0.1:$(t_free_port)" --quiet

# --- serials: two instances, one store ------------------------------------
setcfg 'tsa.clock_check="warn"'
P1=$(t_free_port); P2=$(t_free_port); S1=$(t_free_port); S2=$(t_free_port)
t_bg env GOVPKI_TEST_CLOCK=ok "$GOVPKI" serve --dir "$D" --node tsa-a --http "127.0.0.1:$P1" \
	--https "127.0.0.1:$S1" --quiet 2>"$T_TMP/serve1.err"
A=$T_LAST_PID
t_bg env GOVPKI_TEST_CLOCK=ok "$GOVPKI" serve --dir "$D" --node tsa-b --http "127.0.0.1:$P2" \
	--https "127.0.0.1:$S2" --quiet 2>"$T_TMP/serve2.err"
B=$T_LAST_PID
if t_wait_http "http://127.0.0.1:$P1/healthz" 20 && t_wait_http "http://127.0.0.1:$P2/healthz" 20; then
	BEFORE=$(sql "SELECT count(*) FROM audit WHERE op='tsa.stamp'")
	start=$(date +%s)
	if "$LOADER" --load "$P1" "$P2" "$TSA_N" 16 "$T_TMP/serials" >"$T_TMP/load.out" 2>&1; then
		t_ok "$TSA_N tokens from two servers in $(( $(date +%s) - start )) s ($(cat "$T_TMP/load.out"))"
	else
		t_fail "$TSA_N tokens from two servers" "$(tail -n 2 "$T_TMP/load.out" | tr '\n' ' ')"
	fi
	kill -TERM "$A" "$B" 2>/dev/null
	wait "$A" "$B" 2>/dev/null
	NL=$(wc -l <"$T_TMP/serials")
	ND=$(sort "$T_TMP/serials" | uniq -d | wc -l)
	[ "$NL" = "$TSA_N" ] && [ "$ND" = 0 ] &&
		t_ok "no duplicate among the $NL serials received" ||
		t_fail "no duplicate serial received" "$NL serials, $ND duplicated"
	IFS='|' read -r NA NDA <<<"$(sql "SELECT count(*), count(DISTINCT object) FROM audit
		WHERE op='tsa.stamp'")"
	[ "$((NA - BEFORE))" = "$TSA_N" ] && [ "$NA" = "$NDA" ] &&
		t_ok "audit: $TSA_N more tsa.stamp records, all serials distinct" ||
		t_fail "audit: serials distinct" "$NA records ($BEFORE before), $NDA distinct"
	t_check "audit log verifies after both servers" "$GOVPKI" audit verify --dir "$D"
else
	t_fail "two servers on one store" "did not start: A: $(tail -n 2 "$T_TMP/serve1.err" | tr "\n" " ") B: $(tail -n 2 "$T_TMP/serve2.err" | tr "\n" " ")"
fi

t_done tsa
