#!/usr/bin/env bash
# t_est.sh: EST (RFC 7030) on `govpki serve --est`, checked with curl and
# openssl only (no govpki client): an officer's one-time enrolment code;
# /cacerts as base64 certs-only PKCS#7; /simpleenroll with the code as
# HTTP Basic password and an application/pkcs10 request, its signing
# certificate verified by openssl; the code refused a second time and
# once expired; /serverkeygen by the holder's certificate over TLS: the
# encryption key as EnvelopedData to the request's key, which `openssl
# cms -decrypt` opens into a SignedData (the KMC's seal, verified under
# the root) holding the AsymmetricKeyPackage, whose key is the one of the
# keyEncipherment-only certificate in the second part; /simplereenroll.
# Bad input, each a 4xx, recorded, nothing issued: no code, a wrong code,
# a wrong content type, a tampered request, a reused or expired code, a
# serverkeygen without a client certificate or without proof of
# possession or with an EC key, a renewal for another subject, by a
# revoked certificate or (store-simulated) after expiry. The audit log
# verifies at the end and holds no code.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
P1=$(t_free_port)
P2=$(t_free_port)
P3=$(t_free_port)
ADM=https://127.0.0.1:$P2
EST=https://127.0.0.1:$P3/.well-known/est
CA="--cacert $D/certs/root.pem"
cd "$T_TMP" || exit 1

if ! "$GOVPKI" init --dir "$D" --dev-clock >init.out 2>&1; then
	t_fail init "$(tail -n 3 init.out | tr '\n' ' ')"; t_done est; exit 1
fi
GOVPKI_TEST_CLOCK=ok t_bg "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$P1" \
	--https "127.0.0.1:$P2" --est "127.0.0.1:$P3" --quiet >serve.out 2>serve.err
if ! t_wait_http "http://127.0.0.1:$P1/healthz" 30 || ! t_wait_http "$EST/cacerts" 10; then
	t_fail "serve --est starts" "$(tail -n 5 serve.err | tr '\n' ' ')"; t_done est; exit 1
fi
t_ok "serve --est starts the EST listener"

OFF="--cert $D/admin/officer.pem --key $D/admin/officer.key"
AUD="--cert $D/admin/auditor.pem --key $D/admin/auditor.key"
ENT='{"organization":"福州市某某科技有限公司","uscc":"91350100M000100Y43"}'

# code NAME [VALID_S]: an enterprise code for $ENT into NAME.json
code() {
	local extra=""
	[ -n "${2:-}" ] && extra=",\"valid_s\":$2"
	t_req "$1" "$ADM/api/v1/enrolments" $CA $OFF -X POST \
		-d "{\"profile\":\"enterprise\",\"subject\":$ENT$extra}"
}
# certcount: certificates the officer's API lists
certcount() {
	curl -s $CA $OFF "$ADM/api/v1/certificates?limit=1000" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)["certificates"]))'
}
# last_record OP: "outcome reason" of the last record of OP
last_record() {
	"$GOVPKI" audit list --dir "$D" --json 2>/dev/null | python3 -c '
import json, sys
last = None
for l in sys.stdin:
    j = json.loads(l)
    if j.get("op") == sys.argv[1]:
        last = j
if last:
    print(last["outcome"], (last.get("details") or {}).get("reason", ""))
' "$1"
}
# est_post NAME OP FILE [curl args]: POST base64 FILE as application/pkcs10
est_post() {
	local name=$1 op=$2 file=$3; shift 3
	t_req "$name" "$EST/$op" $CA -H 'Content-Type: application/pkcs10' \
		--data-binary "@$file" -D "$name.hdr" "$@"
}

# err_case REQ DESC WANT GOT PATTERN: the status of request REQ, and an
# error body matching PATTERN
err_case() {
	if [ "$4" = "$3" ] && grep -Eq -- "$5" "$T_TMP/$1.body"; then t_ok "$2"; else
		t_fail "$2" "status $4 (want $3): $(head -c 300 "$T_TMP/$1.body" 2>/dev/null)"; fi
}

# --- enrolment codes -------------------------------------------------------
s=$(code c1)
t_expect "officer creates an enrolment code (201)" 201 "$s"
CODE=$(t_jget c1.body 'j["code"]')
EID=$(t_jget c1.body 'j["id"]')
if echo "$CODE" | grep -Eq '^[0-9A-Z]{4}(-[0-9A-Z]{4}){5}$'; then
	t_ok "the code is 24 base32 characters in groups of four"
else t_fail "code format" "$CODE"; fi
s=$(t_req bad1 "$ADM/api/v1/enrolments" $CA $OFF -X POST \
	-d '{"profile":"enterprise","subject":{"organization":"x","uscc":"91350100M000100Y44"}}')
err_case bad1 "a subject that fails its check is 400 naming the field" 400 "$s" 'subject\.uscc'
s=$(t_req bad2 "$ADM/api/v1/enrolments" $CA $OFF -X POST \
	-d '{"profile":"tls-server","subject":{"name":"a.example"}}')
err_case bad2 "a profile without an encryption twin is 400" 400 "$s" 'no encryption twin'
s=$(t_req bad3 "$ADM/api/v1/enrolments" $CA $AUD -X POST -d "{\"profile\":\"enterprise\",\"subject\":$ENT}")
t_expect "an auditor cannot create codes (403)" 403 "$s"

# --- cacerts ---------------------------------------------------------------
s=$(t_req cacerts "$EST/cacerts" $CA -D cacerts.hdr)
t_expect "GET /cacerts (200)" 200 "$s"
if grep -qi '^content-type: application/pkcs7-mime' cacerts.hdr &&
	base64 -d cacerts.body >cacerts.der 2>/dev/null &&
	openssl pkcs7 -inform DER -in cacerts.der -print_certs -out cacerts.pem 2>/dev/null &&
	[ "$(grep -c 'BEGIN CERTIFICATE' cacerts.pem)" = 2 ]; then
	t_ok "cacerts: application/pkcs7-mime, base64 certs-only, CA and root (RFC 7030 4.1.3)"
else t_fail "cacerts format" "$(cat cacerts.hdr | tr '\r\n' '  ')"; fi

# --- simpleenroll: refusals first ------------------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout h.key \
	-subj "/CN=ignored" -outform DER -out h.csr.der 2>/dev/null
base64 h.csr.der >h.csr
N0=$(certcount)
s=$(est_post nocode simpleenroll h.csr)
if [ "$s" = 401 ] && grep -qi '^www-authenticate: basic' nocode.hdr; then
	t_ok "simpleenroll without a code: 401 with WWW-Authenticate (RFC 7617)"
else t_fail "no code" "status $s $(cat nocode.body)"; fi
s=$(est_post wrongcode simpleenroll h.csr -u "holder:0000-0000-0000-0000-0000-0000")
err_case wrongcode "a wrong code is 401" 401 "$s" 'not one this CA gave out'
case "$(last_record est.enroll)" in denied*) t_ok "the wrong code is recorded (denied)";;
	*) t_fail "wrong code recorded" "$(last_record est.enroll)";; esac
s=$(t_req wrongct "$EST/simpleenroll" $CA -u "holder:$CODE" -H 'Content-Type: text/plain' --data-binary @h.csr)
err_case wrongct "a request that is not application/pkcs10 is 415" 415 "$s" 'application/pkcs10'
cp h.csr.der bad.csr.der
python3 - bad.csr.der <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-5] ^= 0x01
open(sys.argv[1], "wb").write(b)
PY
base64 bad.csr.der >bad.csr
s=$(est_post tampered simpleenroll bad.csr -u "holder:$CODE")
err_case tampered "a tampered request is 400 (no proof of possession)" 400 "$s" 'proof of possession'
case "$(last_record est.enroll)" in failure*possession*) t_ok "the tampered request is recorded";;
	*) t_fail "tampered recorded" "$(last_record est.enroll)";; esac
printf 'not base64 !\n' >junk.csr
s=$(est_post junk simpleenroll junk.csr -u "holder:$CODE")
err_case junk "a body that is not base64 is 400" 400 "$s" 'csr: not base64'
N1=$(certcount)
[ "$N0" = "$N1" ] && t_ok "nothing was issued by the refused requests" ||
	t_fail "nothing issued" "$N0 -> $N1"

# --- simpleenroll ------------------------------------------------------------
s=$(est_post enroll simpleenroll h.csr -u "holder:$CODE")
t_expect "simpleenroll with the code (200)" 200 "$s"
if grep -qi '^content-type: application/pkcs7-mime; smime-type=certs-only' enroll.hdr &&
	base64 -d enroll.body | openssl pkcs7 -inform DER -print_certs -out sign.pem 2>/dev/null &&
	openssl verify -CAfile "$D/certs/root.pem" -untrusted "$D/certs/ca.pem" sign.pem >/dev/null 2>&1 &&
	[ "$(openssl x509 -in sign.pem -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" = \
	  "$(openssl pkey -in h.key -pubout -outform DER | sha256sum)" ]; then
	t_ok "the signing certificate (certs-only, RFC 7030 4.2.3) verifies and is the request's key"
else t_fail "signing certificate" "$(head -c 300 enroll.body)"; fi
N2=$(certcount)
[ "$N2" = $((N1 + 2)) ] && t_ok "enrolment issued two certificates (the pair)" ||
	t_fail "two certificates" "$N1 -> $N2"
s=$(est_post again simpleenroll h.csr -u "holder:$CODE")
err_case again "the same code a second time is 401" 401 "$s" 'used already'
code c2 1 >/dev/null
CODE2=$(t_jget c2.body 'j["code"]')
sleep 2
s=$(est_post expired simpleenroll h.csr -u "holder:$CODE2")
err_case expired "an expired code is 401" 401 "$s" 'expired at'
N3=$(certcount)
[ "$N3" = "$N2" ] && t_ok "nothing issued for the reused or expired code" || t_fail "nothing" "$N2 -> $N3"

# --- serverkeygen ------------------------------------------------------------
openssl req -new -newkey rsa:2048 -nodes -keyout t.key -subj "/CN=transport" \
	-outform DER -out t.csr.der 2>/dev/null
base64 t.csr.der >t.csr
s=$(est_post skg_nocert serverkeygen t.csr)
err_case skg_nocert "serverkeygen without a client certificate is 401" 401 "$s" 'client certificate'
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout e.key \
	-subj "/CN=ec" -outform DER -out e.csr.der 2>/dev/null
base64 e.csr.der >e.csr
s=$(est_post skg_ec serverkeygen e.csr --cert sign.pem --key h.key)
err_case skg_ec "serverkeygen to an EC key is 400" 400 "$s" 'transport key must be RSA'
cp t.csr.der tbad.csr.der
python3 - tbad.csr.der <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-5] ^= 0x01
open(sys.argv[1], "wb").write(b)
PY
base64 tbad.csr.der >tbad.csr
s=$(est_post skg_pop serverkeygen tbad.csr --cert sign.pem --key h.key)
err_case skg_pop "serverkeygen without proof of possession is 400" 400 "$s" 'proof of possession'
case "$(last_record kmc.key.release)" in failure*possession*) t_ok "the refused release is recorded";;
	*) t_fail "release refusal recorded" "$(last_record kmc.key.release)";; esac
s=$(est_post skg serverkeygen t.csr --cert sign.pem --key h.key)
t_expect "serverkeygen by the signing certificate (200)" 200 "$s"
python3 - skg.hdr skg.body <<'PY' >skg.parts 2>&1
import base64, re, sys
ct = [l for l in open(sys.argv[1]).read().splitlines() if l.lower().startswith("content-type:")][0]
b = re.search(r"boundary=(\S+)", ct).group(1)
body = open(sys.argv[2], "rb").read().decode()
parts = [p for p in body.split("--" + b) if p.strip() and p.strip() != "--"]
for i, p in enumerate(parts):
    h, _, d = p.partition("\r\n\r\n")
    open("part%d.der" % i, "wb").write(base64.b64decode("".join(d.split())))
    print(i, [x for x in h.splitlines() if x.lower().startswith("content-type")][0])
PY
if grep -q 'multipart/mixed' skg.hdr && grep -q '^0 Content-Type: application/pkcs7-mime; smime-type=server-generated-key' skg.parts &&
	grep -q '^1 Content-Type: application/pkcs7-mime; smime-type=certs-only' skg.parts; then
	t_ok "serverkeygen: multipart/mixed, the key then the certificate (RFC 7030 4.4.2)"
else t_fail "serverkeygen parts" "$(cat skg.hdr skg.parts | tr '\r\n' '  ')"; fi
if openssl cms -decrypt -inform DER -in part0.der -inkey t.key -out sd.der 2>cms.err &&
	openssl cms -verify -inform DER -in sd.der -CAfile "$D/certs/root.pem" -purpose any \
		-out akp.der 2>>cms.err &&
	openssl cms -cmsout -inform DER -in sd.der -print 2>/dev/null | grep -q '2.16.840.1.101.2.1.2.78.5'; then
	t_ok "openssl cms -decrypt opens it with the transport key; the SignedData verifies under the root (id-ct-KP-aKeyPackage)"
else t_fail "decrypt and verify" "$(cat cms.err | tail -n 3 | tr '\n' ' ')"; fi
openssl asn1parse -inform DER -in akp.der -strparse 4 -out p8.der >/dev/null 2>&1 ||
	python3 -c "d=open('akp.der','rb').read(); open('p8.der','wb').write(d[4:] if d[1]==0x82 else d[2:])"
openssl pkcs7 -inform DER -in part1.der -print_certs -out enc.pem 2>/dev/null
if [ -s enc.pem ] && [ "$(openssl rsa -inform DER -in p8.der -noout -modulus 2>/dev/null)" = \
	"$(openssl x509 -in enc.pem -noout -modulus)" ] &&
	openssl verify -CAfile "$D/certs/root.pem" -untrusted "$D/certs/ca.pem" enc.pem >/dev/null 2>&1; then
	t_ok "the key is the private key of the encryption certificate, which verifies"
else t_fail "key matches certificate" "$(openssl x509 -in enc.pem -noout -subject 2>&1)"; fi
ku=$(openssl x509 -in enc.pem -noout -ext keyUsage 2>/dev/null | tail -n 1 | tr -d ' ')
[ "$ku" = "KeyEncipherment" ] && t_ok "the encryption certificate is keyEncipherment only, never digitalSignature" ||
	t_fail "encryption key usage" "$ku"
printf 'sealed bid\n' >bid.txt
openssl cms -encrypt -binary -aes256 -in bid.txt -out bid.p7m -outform DER enc.pem 2>/dev/null
openssl pkey -inform DER -in p8.der -out enc.key 2>/dev/null
if openssl cms -decrypt -inform DER -in bid.p7m -recip enc.pem -inkey enc.key 2>/dev/null | grep -q 'sealed bid'; then
	t_ok "a document enveloped to the encryption certificate opens with the delivered key"
else t_fail "document round trip" "cms decrypt failed"; fi

# --- simplereenroll ------------------------------------------------------------
openssl req -new -key h.key -subj "/CN=someone else" -outform DER -out other.csr.der 2>/dev/null
base64 other.csr.der >other.csr
N4=$(certcount)
s=$(est_post reother simplereenroll other.csr --cert sign.pem --key h.key)
err_case reother "renewal for another subject is 400" 400 "$s" 'csr\.subject'
openssl x509 -x509toreq -in sign.pem -signkey h.key 2>/dev/null | openssl req -outform DER -out re.csr.der
base64 re.csr.der >re.csr
s=$(est_post renew simplereenroll re.csr --cert sign.pem --key h.key)
t_expect "simplereenroll by the current certificate (200)" 200 "$s"
base64 -d renew.body | openssl pkcs7 -inform DER -print_certs -out sign2.pem 2>/dev/null
if [ -s sign2.pem ] && [ "$(openssl x509 -in sign2.pem -noout -subject)" = "$(openssl x509 -in sign.pem -noout -subject)" ] &&
	[ "$(openssl x509 -in sign2.pem -noout -serial)" != "$(openssl x509 -in sign.pem -noout -serial)" ]; then
	t_ok "the renewed certificate has the same subject and a new serial"
else t_fail "renewed certificate" "$(head -c 200 renew.body)"; fi
s=$(t_req rvk "$ADM/api/v1/certificates/$(openssl x509 -in sign.pem -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')/revoke" \
	$CA $OFF -X POST -d '{"reason":"keyCompromise"}')
t_expect "the officer revokes the first signing certificate" 200 "$s"
s=$(est_post rerevoked simplereenroll re.csr --cert sign.pem --key h.key)
err_case rerevoked "renewal by a revoked certificate is 401" 401 "$s" 'revoked'
# After expiry: the handshake verifies the certificate's own dates; the
# store's view is simulated here by moving its notAfter into the past.
S2=$(openssl x509 -in sign2.pem -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')
t_sql "$D" "UPDATE certificates SET not_after = 1000 WHERE serial = '$S2'"
openssl x509 -x509toreq -in sign2.pem -signkey h.key 2>/dev/null | openssl req -outform DER -out re2.csr.der
base64 re2.csr.der >re2.csr
s=$(est_post reexpired simplereenroll re2.csr --cert sign2.pem --key h.key)
err_case reexpired "renewal after expiry is 401" 401 "$s" 'outside its validity period'
t_sql "$D" "UPDATE certificates SET not_after = $(date -d "$(openssl x509 -in sign2.pem -noout -enddate | cut -d= -f2)" +%s) WHERE serial = '$S2'"
N5=$(certcount)
[ "$N5" = $((N4 + 2)) ] && t_ok "only the accepted renewal issued (its pair)" || t_fail "renewal count" "$N4 -> $N5"

# --- the log -----------------------------------------------------------------
if "$GOVPKI" audit list --dir "$D" --json >audit.jsonl 2>/dev/null &&
	! grep -q "$CODE" audit.jsonl && ! grep -q "$(echo "$CODE" | tr -d -)" audit.jsonl &&
	t_dump "$D" store.dump && ! grep -aq "$CODE" store.dump; then
	t_ok "no enrolment code in the audit log or the database"
else t_fail "code secrecy" "the code is stored or recorded"; fi
for op in kmc.enrol.create est.enroll kmc.key.escrow kmc.key.release est.reenroll; do
	python3 -c 'import json,sys; sys.exit(0 if any(j["op"] == sys.argv[1] and
	    j["outcome"] == "success" for j in map(json.loads, open("audit.jsonl"))) else 1)' "$op" &&
		t_ok "recorded: $op (success)" || t_fail "recorded: $op" "missing"
done
kill -TERM "$T_LAST_PID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$T_LAST_PID" 2>/dev/null || break; sleep 0.1; done
t_check "the audit log verifies" "$GOVPKI" audit verify --dir "$D"
t_done est
