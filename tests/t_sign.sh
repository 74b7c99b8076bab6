#!/usr/bin/env bash
# t_sign.sh: document signatures end to end. A throwaway SoftHSM "USB key"
# holds an enterprise's key, its certificate issued by a fresh instance;
# `govpki sign` makes CAdES B-B and B-T signatures that independent tools
# accept (openssl cms -verify, openssl ts -verify on the signature
# time-stamp), and `govpki verify` refuses, with the right reason, a changed
# byte, a certificate revoked before the time-stamp, an untrusted CA, a
# missing approval step and malformed input, while a certificate revoked
# after the time-stamp still verifies. Signatures made by openssl verify
# too. The server seals (POST /api/v1/sign, seal policy) and verifies
# (POST /api/v1/verify). A 256 MB file is signed and verified in little
# memory.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
P1=$(t_free_port)
P2=$(t_free_port)
PUB=http://127.0.0.1:$P1
ADM=https://127.0.0.1:$P2
cd "$T_TMP" || exit 1

if ! "$GOVPKI" init --dir "$D" --dev-clock >init.out 2>&1; then
	t_fail "init" "$(tail -n 3 init.out | tr '\n' ' ')"; t_done t_sign; exit 1
fi
GOVPKI_TEST_CLOCK=ok t_bg "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$P1" \
	--https "127.0.0.1:$P2" >serve.out 2>serve.err
if ! t_wait_http "$PUB/healthz" 30; then
	t_fail "serve starts" "$(tail -n 5 serve.err | tr '\n' ' ')"; t_done t_sign; exit 1
fi

# The enterprise's USB key: its own SoftHSM store, its own PINs.
mkdir -p usb/tokens
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$T_TMP/usb/tokens" >usb/softhsm2.conf
USB_CONF=$T_TMP/usb/softhsm2.conf
USER_PIN=us-Sg7135792468
printf 'so-Sg0000000001\n' >so.pin
printf '%s\n' "$USER_PIN" >user.pin
chmod 600 ./*.pin
usb() { SOFTHSM2_CONF=$USB_CONF "$GOVPKI" "$@"; }
inst() { env -u SOFTHSM2_CONF "$GOVPKI" "$@"; }
KEY1="pkcs11:token=ukey;object=sign"
KEY2="pkcs11:token=ukey;object=sign2"

ok=1
usb token init --label ukey --so-pin-file so.pin --pin-file user.pin >/dev/null 2>&1 || ok=0
for k in sign sign2; do
	usb token keygen --token ukey --label $k --algo ec-p256 --pin-file user.pin >/dev/null 2>&1 || ok=0
	usb token csr --key "pkcs11:token=ukey;object=$k" --subject "/CN=x" \
		--pin-file user.pin --out $k.csr >/dev/null 2>&1 || ok=0
	inst ca issue --dir "$D" --profile enterprise --csr $k.csr \
		--field organization=某公司 --field uscc=91110000600037341L --out $k.pem \
		>/dev/null 2>&1 || ok=0
	usb token import-cert --token ukey --label $k --cert $k.pem \
		--pin-file user.pin >/dev/null 2>&1 || ok=0
done
[ $ok = 1 ] && t_ok "USB key: keys on the token, certificates issued by the instance" ||
	t_fail "USB key setup" "a step failed"
SERIAL1=$(openssl x509 -in sign.pem -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
SERIAL2=$(openssl x509 -in sign2.pem -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')

head -c 300000 /dev/urandom >doc.bin
cp doc.bin changed.bin
t_flip changed.bin 1234

# vfy NAME WANT_EXIT PATTERN ARGS...: govpki verify's exit and output.
vfy() {
	local name=$1 want=$2 pat=$3 rc; shift 3
	inst verify --dir "$D" "$@" >"$name.vout" 2>&1; rc=$?
	if [ "$rc" = "$want" ] && grep -Eq -- "$pat" "$name.vout"; then t_ok "$name"
	else t_fail "$name" "exit $rc (want $want): $(head -c 600 "$name.vout" | tr '\n' ' ')"; fi
}

# --- B-B with the USB key ------------------------------------------------
t_check "sign B-B with the USB key" usb sign --key "$KEY1" --in doc.bin \
	--out bb.p7s --pin-file user.pin --chain "$D/certs/ca.pem"
if openssl cms -verify -binary -inform DER -in bb.p7s -content doc.bin \
	-CAfile "$D/certs/root.pem" -purpose any -out /dev/null >ossl.out 2>&1; then
	t_ok "openssl cms -verify accepts the B-B signature"
else t_fail "openssl cms -verify" "$(tail -n 2 ossl.out | tr '\n' ' ')"; fi
openssl cms -cmsout -print -inform DER -in bb.p7s >bb.print 2>&1
if grep -q 'id-smime-aa-signingCertificateV2' bb.print &&
	grep -q 'signingTime' bb.print && grep -q 'messageDigest' bb.print &&
	grep -q 'contentType' bb.print && grep -q 'eContent: <ABSENT>' bb.print; then
	t_ok "B-B attributes: content-type, message-digest, signing-time, signing-certificate-v2; detached"
else t_fail "B-B attributes" "$(grep -E 'object|eContent' bb.print | head -n 8 | tr '\n' ' ')"; fi
vfy "govpki verify: B-B valid" 0 '^valid$' --in doc.bin --sig bb.p7s
vfy "changed byte: message digest fails" 1 'message_digest: the document differs' \
	--in changed.bin --sig bb.p7s
inst verify --dir "$D" --in doc.bin --sig bb.p7s --json >bb.json 2>&1
python3 -c 'import json,sys; j=json.load(open("bb.json")); s=j["signers"][0];
assert j["valid"] and s["level"]=="B-B" and s["checks"]["signing_certificate"]=="ok" and s["time_source"]=="claimed"' 2>/dev/null &&
	t_ok "--json report: B-B, signing certificate bound, time claimed" ||
	t_fail "--json report" "$(head -c 400 bb.json)"

# --- attached ------------------------------------------------------------
t_check "sign --attached" usb sign --key "$KEY1" --in doc.bin --out att.p7s \
	--pin-file user.pin --attached --chain "$D/certs/ca.pem"
vfy "attached signature verifies without the document" 0 '^valid$' --sig att.p7s
openssl cms -verify -binary -inform DER -in att.p7s -CAfile "$D/certs/root.pem" \
	-purpose any -out att.out >/dev/null 2>&1 &&
	cmp -s att.out doc.bin && t_ok "openssl cms -verify: attached content is the document" ||
	t_fail "openssl attached" "content differs or verify failed"

# The chain goes with the signature by default: a tender platform holding
# only the root (-CAfile root.pem, no -untrusted or -certfile) verifies it.
# From the instance directory (--dir) here; without a source of the
# chain, sign refuses and says how to give one; --no-chain leaves it out,
# and the platform then cannot verify.
t_check "sign --dir: chain from the instance" usb sign --key "$KEY1" --in doc.bin \
	--out dir.p7s --pin-file user.pin --dir "$D"
if openssl cms -verify -binary -inform DER -in dir.p7s -content doc.bin \
	-CAfile "$D/certs/root.pem" -purpose any -out /dev/null >ossl.out 2>&1; then
	t_ok "openssl cms -verify with only root.pem accepts govpki sign's output"
else t_fail "openssl cms -verify with only root.pem" "$(tail -n 2 ossl.out | tr '\n' ' ')"; fi
n=$(openssl cms -cmsout -print -inform DER -in dir.p7s | grep -c 'subject: ')
[ "$n" = 2 ] && t_ok "the signature carries the signer and its issuing CA, not the root" ||
	t_fail "certificates in the signature" "$n"
t_check "sign --no-chain" usb sign --key "$KEY1" --in doc.bin --out nochain.p7s \
	--pin-file user.pin --no-chain
if openssl cms -verify -binary -inform DER -in nochain.p7s -content doc.bin \
	-CAfile "$D/certs/root.pem" -purpose any -out /dev/null >ossl.out 2>&1; then
	t_fail "openssl cms -verify with only root.pem refuses --no-chain" "accepted"
else t_ok "openssl cms -verify with only root.pem refuses --no-chain ($(grep -o 'unable to get local issuer certificate' ossl.out | head -n 1))"; fi
t_refuse "sign without a chain source refuses, saying how to give one" \
	"chain: the issuer of the signer certificate .* --chain FILE.*--dir DIR.*--no-chain" \
	usb sign --key "$KEY1" --in doc.bin --out none.p7s --pin-file user.pin
[ ! -e none.p7s ] && t_ok "refused signature writes nothing" || t_fail "refused signature writes nothing" "none.p7s exists"
t_refuse "--no-chain with --chain is a usage error" "no-chain" \
	usb sign --key "$KEY1" --in doc.bin --out none.p7s --pin-file user.pin --no-chain --chain "$D/certs/ca.pem"

# --- B-T: govpki's TSA ---------------------------------------------------
t_check "sign B-T with --tsa" usb sign --key "$KEY1" --in doc.bin --out bt.p7s \
	--pin-file user.pin --tsa "$PUB/tsa" --dir "$D"
vfy "govpki verify: B-T valid, time from the time-stamp" 0 'B-T, .*\(timestamp\)' \
	--in doc.bin --sig bt.p7s
# Take the token and the signature value out of the SignedData.
python3 - bt.p7s <<'EOF' >pyextract.out 2>&1
import sys, hashlib
def tlv(b, i):
    t = b[i]; i += 1; l = b[i]; i += 1
    if l & 0x80:
        n = l & 0x7f; l = int.from_bytes(b[i:i+n], "big"); i += n
    return t, i, l
def kids(b, i, l):
    out, end = [], i + l
    while i < end:
        t, s, n = tlv(b, i); out.append((t, i, s, n)); i = s + n
    return out
d = open(sys.argv[1], "rb").read()
t, s, n = tlv(d, 0); ci = kids(d, s, n)
t, s, n = tlv(d, ci[1][2]); sd = kids(d, s, n)
sis = kids(d, sd[-1][2], sd[-1][3])
si = kids(d, sis[0][2], sis[0][3])
sig = [k for k in si if k[0] == 0x04][-1]
ua = [k for k in si if k[0] == 0xa1][0]
attr = kids(d, ua[2], ua[3])[0]
oid, vals = kids(d, attr[2], attr[3])
tok = kids(d, vals[2], vals[3])[0]
open("token.der", "wb").write(d[tok[1]:tok[2] + tok[3]])
print(hashlib.sha256(d[sig[2]:sig[2] + sig[3]]).hexdigest())
EOF
IMPRINT=$(tail -n 1 pyextract.out)
cat "$D/certs/tsa.pem" "$D/certs/ca.pem" >tsa-chain.pem
if openssl ts -verify -digest "$IMPRINT" -in token.der -token_in \
	-CAfile "$D/certs/root.pem" -untrusted tsa-chain.pem >ts.out 2>&1 &&
	grep -q 'Verification: OK' ts.out; then
	t_ok "openssl ts -verify accepts the signature time-stamp over the signature value"
else t_fail "openssl ts -verify" "$(cat pyextract.out ts.out | tail -n 3 | tr '\n' ' ')"; fi

# --- other software's signatures -----------------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key \
	-out o.csr -subj /CN=o >/dev/null 2>&1
inst ca issue --dir "$D" --profile enterprise --csr o.csr --field organization=OrgB \
	--field uscc=91350100M000100Y43 --out o.pem >/dev/null 2>&1
openssl cms -sign -binary -in doc.bin -signer o.pem -inkey o.key -outform DER -out o1.p7s
openssl cms -sign -binary -noattr -in doc.bin -signer o.pem -inkey o.key -outform DER -out o2.p7s
vfy "openssl cms -sign (signed attributes) verifies" 0 '^valid$' --in doc.bin --sig o1.p7s
vfy "openssl cms -sign -noattr verifies" 0 '^valid$' --in doc.bin --sig o2.p7s
vfy "openssl -noattr with a changed byte fails" 1 'signature: the signature over the content' \
	--in changed.bin --sig o2.p7s

# --- untrusted CA and malformed input --------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evilca.key \
	-out evilca.pem -subj "/CN=govpki Issuing CA/O=govpki" -days 2 >/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil.key \
	-out evil.csr -subj "/CN=某公司/O=某公司" >/dev/null 2>&1
openssl x509 -req -in evil.csr -CA evilca.pem -CAkey evilca.key -set_serial 7 -days 1 \
	-out evil.pem >/dev/null 2>&1
openssl cms -sign -binary -in doc.bin -signer evil.pem -inkey evil.key -certfile evilca.pem \
	-outform DER -out evil.p7s
vfy "certificate from an untrusted CA fails on its chain" 1 'chain: (unable to get|certificate signature failure|unable to verify|self-signed)' \
	--in doc.bin --sig evil.p7s
head -c 700 /dev/urandom >junk.p7s
vfy "random bytes: a clear error" 1 'signature: (not a CMS|neither DER)' --in doc.bin --sig junk.p7s
head -c 400 bb.p7s >trunc.p7s
vfy "truncated signature: a clear error" 1 'signature: not a CMS' --in doc.bin --sig trunc.p7s
{ cat bb.p7s; printf 'x'; } >trail.p7s
vfy "trailing bytes refused" 1 'trailing bytes' --in doc.bin --sig trail.p7s
openssl cms -sign -binary -in doc.bin -signer o.pem -inkey o.key -outform DER \
	-out enc.p7s -nocerts >/dev/null 2>&1
vfy "signer certificate absent: named" 1 'certificate: the signer' --in doc.bin --sig enc.p7s

# --- approval chain --------------------------------------------------------
mkdir -p pol/approvals
cat >pol/approvals/doc-approval.json <<'EOF'
{"name": "doc-approval", "description": "accept, handle, review, approve, conclude",
 "steps": [
  {"name": "accept", "signers": [{"organization": "某公司"}]},
  {"name": "handle", "signers": [{"profile": "enterprise"}]},
  {"name": "review", "optional": true},
  {"name": "approve", "signers": [{"organization": "某公司"}]},
  {"name": "conclude", "signers": [{"profile": "enterprise", "organization": "某公司"}]}
 ]}
EOF
AP="--policies-dir $T_TMP/pol --policy doc-approval"
ok=1
usb sign --key "$KEY1" --in doc.bin --out ap.p7s --pin-file user.pin --step accept \
	--chain "$D/certs/ca.pem" $AP >/dev/null 2>&1 || ok=0
usb sign --key "$KEY1" --in doc.bin --out ap.p7s --add-to ap.p7s --pin-file user.pin --step handle $AP >/dev/null 2>&1 || ok=0
sleep 1
usb sign --key "$KEY1" --in doc.bin --out ap.p7s --add-to ap.p7s --pin-file user.pin --step approve $AP >/dev/null 2>&1 || ok=0
[ $ok = 1 ] && t_ok "approval: accept, handle, approve added to one SignedData (review skipped)" ||
	t_fail "approval steps" "a step was refused"
t_refuse "approval: an earlier step after approve is refused" 'comes before step approve' \
	usb sign --key "$KEY1" --in doc.bin --out ap2.p7s --add-to ap.p7s \
	--pin-file user.pin --step handle $AP
t_refuse "approval: a step for another document is refused" 'signs another document' \
	usb sign --key "$KEY1" --in changed.bin --out ap3.p7s --add-to ap.p7s \
	--pin-file user.pin --step conclude $AP
vfy "approval: the missing step conclude fails the policy" 1 'step conclude is missing' \
	--in doc.bin --sig ap.p7s $AP
sleep 1
t_check "approval: conclude added" usb sign --key "$KEY1" --in doc.bin --out ap.p7s \
	--add-to ap.p7s --pin-file user.pin --step conclude $AP
vfy "approval: every step signed, policy satisfied" 0 'policy doc-approval: satisfied' \
	--in doc.bin --sig ap.p7s $AP
grep -q 'step review: skipped' "approval: every step signed, policy satisfied.vout" &&
	t_ok "approval: the report shows each step (review skipped)" ||
	t_fail "approval report" "$(cat "approval: every step signed, policy satisfied.vout" | tr '\n' ' ')"
openssl cms -verify -binary -inform DER -in ap.p7s -content doc.bin -CAfile "$D/certs/root.pem" \
	-purpose any -out /dev/null >/dev/null 2>&1 &&
	t_ok "openssl cms -verify accepts the four-signer SignedData" ||
	t_fail "openssl four signers" "refused"

# --- server seal and public verify -----------------------------------------
adm() { local role=$1 path=$2; shift 2; curl -s --max-time 20 --cacert "$D/certs/root.pem" \
	--cert "$D/admin/$role.pem" --key "$D/admin/$role.key" "$ADM$path" "$@"; }
H=$(sha256sum doc.bin | cut -d' ' -f1)
s=$(adm officer /api/v1/sign -o seal.json -w '%{http_code}' -d "{\"seal\":\"seal\",\"digest\":\"$H\",\"timestamp\":true}")
[ "$s" = 200 ] && t_ok "officer seals a digest (B-T)" || t_fail "officer seals" "status $s $(head -c 300 seal.json)"
python3 -c 'import json,base64; open("seal.p7s","wb").write(base64.b64decode(json.load(open("seal.json"))["signature"]))' 2>/dev/null
vfy "the seal verifies (B-T)" 0 'B-T' --in doc.bin --sig seal.p7s
# A seal carries its chain: only the root is needed; "chain":false omits it.
if openssl cms -verify -binary -inform DER -in seal.p7s -content doc.bin \
	-CAfile "$D/certs/root.pem" -purpose any -out /dev/null >ossl.out 2>&1; then
	t_ok "openssl cms -verify with only root.pem accepts a seal"
else t_fail "openssl cms -verify with only root.pem accepts a seal" "$(tail -n 2 ossl.out | tr '\n' ' ')"; fi
s=$(adm officer /api/v1/sign -o sealnc.json -w '%{http_code}' -d "{\"seal\":\"seal\",\"digest\":\"$H\",\"chain\":false}")
python3 -c 'import json,base64; open("sealnc.p7s","wb").write(base64.b64decode(json.load(open("sealnc.json"))["signature"]))' 2>/dev/null
if [ "$s" = 200 ] && ! openssl cms -verify -binary -inform DER -in sealnc.p7s -content doc.bin \
	-CAfile "$D/certs/root.pem" -purpose any -out /dev/null >/dev/null 2>&1; then
	t_ok "a seal with \"chain\":false does not verify with only root.pem"
else t_fail "a seal with chain false" "status $s, or it verified"; fi
# Wrong types, both document and digest, unknown fields and control
# characters in the step: 400 naming the field, nothing signed.
bad_req() { # NAME FIELD-PATTERN BODY
	local s
	s=$(adm officer /api/v1/sign -o bad.json -w '%{http_code}' -d "$3")
	if [ "$s" = 400 ] && grep -Eq "\"message\":\"[^\"]*$2" bad.json; then t_ok "$1"
	else t_fail "$1" "status $s $(head -c 300 bad.json)"; fi
}
DOC64=$(printf 'doc' | base64)
bad_req 'sign: "timestamp":"yes" is 400 naming timestamp' 'timestamp: must be true or false' \
	"{\"seal\":\"seal\",\"digest\":\"$H\",\"timestamp\":\"yes\"}"
bad_req 'sign: "attached":1 is 400 naming attached' 'attached: must be true or false' \
	"{\"seal\":\"seal\",\"document\":\"$DOC64\",\"attached\":1}"
bad_req 'sign: "chain":"no" is 400 naming chain' 'chain: must be true or false' \
	"{\"seal\":\"seal\",\"digest\":\"$H\",\"chain\":\"no\"}"
bad_req 'sign: "step":5 is 400 naming step' 'step: must be a string' \
	"{\"seal\":\"seal\",\"digest\":\"$H\",\"step\":5}"
bad_req 'sign: "seal":["seal"] is 400 naming seal' 'seal: must be a string' \
	"{\"seal\":[\"seal\"],\"digest\":\"$H\"}"
bad_req 'sign: document and digest together is 400' 'document, digest: give one' \
	"{\"seal\":\"seal\",\"digest\":\"$H\",\"document\":\"$DOC64\"}"
bad_req 'sign: an unknown field is 400 naming it' 'timestmp: unknown field' \
	"{\"seal\":\"seal\",\"digest\":\"$H\",\"timestmp\":true}"
bad_req 'sign: a control character in step is 400 naming step' 'step: byte 3 is a control character' \
	"{\"seal\":\"seal\",\"digest\":\"$H\",\"step\":\"ap\\u0007prove\"}"
bad_req 'sign: a C1 control in step is 400 naming step' 'step: byte 3 is a control character' \
	"{\"seal\":\"seal\",\"digest\":\"$H\",\"step\":\"ap\\u0085prove\"}"
bad_req 'sign: a newline in step is 400 naming step' 'step: byte 1 is a control character' \
	"{\"seal\":\"seal\",\"digest\":\"$H\",\"step\":\"\\napprove\"}"
s=$(curl -s -o badv.json -w '%{http_code}' -X POST -d "{\"signature\":\"AAAA\",\"digest\":\"$H\",\"document\":\"$DOC64\"}" "$PUB/api/v1/verify")
[ "$s" = 400 ] && grep -q 'document, digest' badv.json && t_ok "verify: document and digest together is 400" ||
	t_fail "verify: document and digest together is 400" "$s $(head -c 200 badv.json)"
s=$(adm auditor /api/v1/sign -o seal403.json -w '%{http_code}' -d "{\"seal\":\"seal\",\"digest\":\"$H\"}")
[ "$s" = 403 ] && t_ok "the seal policy refuses the auditor (403)" || t_fail "auditor seal" "status $s"
s=$(adm officer /api/v1/sign -o seal404.json -w '%{http_code}' -d "{\"seal\":\"nope\",\"digest\":\"$H\"}")
[ "$s" = 404 ] && t_ok "unknown seal: 404" || t_fail "unknown seal" "status $s"
python3 -c "
import json,base64,hashlib
sig=base64.b64encode(open('seal.p7s','rb').read()).decode()
json.dump({'signature':sig,'digest':'$H'},open('v1.json','w'))
json.dump({'signature':sig,'digest':hashlib.sha256(open('changed.bin','rb').read()).hexdigest()},open('v2.json','w'))
json.dump({'signature':sig,'document':base64.b64encode(open('doc.bin','rb').read()).decode()},open('v3.json','w'))
json.dump({'signature':'AAAA','digest':'$H'},open('v4.json','w'))"
for v in v1 v2 v3 v4; do
	curl -s -o $v.out -w '%{http_code}' -X POST --data-binary @$v.json "$PUB/api/v1/verify" >$v.code
done
[ "$(cat v1.code)" = 200 ] && grep -q '"valid": *true' v1.out && t_ok "public verify by digest: valid" ||
	t_fail "public verify digest" "$(cat v1.code) $(head -c 300 v1.out)"
[ "$(cat v3.code)" = 200 ] && grep -q '"valid": *true' v3.out && t_ok "public verify by document: valid" ||
	t_fail "public verify document" "$(cat v3.code) $(head -c 300 v3.out)"
[ "$(cat v2.code)" = 200 ] && grep -q 'the document differs' v2.out && t_ok "public verify: other digest invalid, reason given" ||
	t_fail "public verify changed" "$(cat v2.code) $(head -c 300 v2.out)"
[ "$(cat v4.code)" = 400 ] && t_ok "public verify: malformed signature is 400" ||
	t_fail "public verify malformed" "$(cat v4.code)"

# --- revocation before / after the time-stamp -------------------------------
inst ca revoke --dir "$D" --reason keyCompromise "$SERIAL2" >/dev/null 2>&1
t_check "sign B-T with a revoked certificate (the key still signs)" usb sign --key "$KEY2" \
	--in doc.bin --out rev-before.p7s --pin-file user.pin --tsa "$PUB/tsa" --dir "$D"
vfy "signer revoked before the time-stamp fails" 1 'was revoked at .* not after the time of signing .* proven by the time-stamp' \
	--in doc.bin --sig rev-before.p7s
sleep 1.2
inst ca revoke --dir "$D" --reason superseded "$SERIAL1" >/dev/null 2>&1
vfy "signer revoked after the time-stamp is valid at the time of signing" 0 '^valid$' \
	--in doc.bin --sig bt.p7s
vfy "signer revoked, no time-stamp: time of signing unproven" 1 'unproven' \
	--in doc.bin --sig bb.p7s

# --- streaming: 256 MB in little memory ------------------------------------
truncate -s 256M big.bin
maxrss() { python3 -c 'import resource,subprocess,sys
r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL).returncode
print(r, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss//1024)' "$@"; }
set -- $(SOFTHSM2_CONF=$USB_CONF maxrss "$GOVPKI" sign --key "$KEY1" --in big.bin --out big.p7s \
	--pin-file user.pin --chain "$D/certs/ca.pem")
[ "$1" = 0 ] && [ "$2" -lt 32 ] && t_ok "sign a 256 MB file: peak RSS $2 MB" ||
	t_fail "sign 256 MB" "exit $1, peak RSS $2 MB"
openssl cms -verify -binary -inform DER -in big.p7s -content big.bin -CAfile "$D/certs/root.pem" \
	-purpose any -out /dev/null >/dev/null 2>&1 && t_ok "openssl verifies the 256 MB signature" ||
	t_fail "openssl 256 MB" "refused"
set -- $(maxrss "$GOVPKI" verify --dir "$D" --in big.bin --sig big.p7s --ca "$D/certs/root.pem" --untrusted "$D/certs/ca.pem")
[ "$2" -lt 32 ] && t_ok "verify a 256 MB file: peak RSS $2 MB" || t_fail "verify 256 MB" "peak RSS $2 MB"

# No PIN in any output.
if grep -rqF -- "$USER_PIN" ./*.vout ./*.out serve.err 2>/dev/null; then
	t_fail "no PIN in any output" "found"
else t_ok "no PIN in any output"; fi

t_done t_sign
