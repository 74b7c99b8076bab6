#!/usr/bin/env bash
# t_verify.sh: what a document signature must be. A time-stamp token (a
# SignedData over a TSTInfo, signed by the instance's TSA) is refused as a
# document signature by `govpki verify` and by POST /api/v1/verify, for its
# eContentType and for the TSA certificate's extended key usage; so are a
# signature by a TLS server certificate (serverAuth only) and by an
# encryption certificate (keyEncipherment only), while an enterprise
# certificate's signature verifies. Another eContentType than id-data is
# accepted only once verify.content_types names it. An approval policy's
# role comes from the instance's store: the instance's officer certificate
# may sign a step for officers, a certificate of another CA whose subject
# says title=officer may not.
. "$(dirname "$0")/lib.sh"

t_instance t_verify

head -c 30000 /dev/urandom >doc.bin
vfy() {
	local name=$1 want=$2 pat=$3 rc; shift 3
	"$GOVPKI" verify --dir "$D" "$@" >"$name.vout" 2>&1; rc=$?
	if [ "$rc" = "$want" ] && grep -Eq -- "$pat" "$name.vout"; then t_ok "$name"
	else t_fail "$name" "exit $rc (want $want): $(head -c 600 "$name.vout" | tr '\n' ' ')"; fi
}
# pubvfy FILE OUT: POST /api/v1/verify with the signature FILE (and the
# document's digest when a second argument says so); prints the status.
pubvfy() {
	python3 -c "
import json,base64,hashlib,sys
b={'signature':base64.b64encode(open(sys.argv[1],'rb').read()).decode()}
if sys.argv[2]=='digest': b['digest']=hashlib.sha256(open('doc.bin','rb').read()).hexdigest()
json.dump(b,open('pv.json','w'))" "$1" "${3:-none}"
	curl -s --max-time 20 -o "$2" -w '%{http_code}' -X POST --data-binary @pv.json "$PUB/api/v1/verify"
}
# issue NAME PROFILE ALGO ARGS...: a key and a certificate from the instance.
issue() {
	local n=$1 p=$2 a=$3; shift 3
	if [ "$a" = rsa ]; then openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$n.key" 2>/dev/null
	else openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$n.key" 2>/dev/null; fi
	openssl req -new -key "$n.key" -out "$n.csr" -subj "/CN=x" 2>/dev/null &&
	"$GOVPKI" ca issue --dir "$D" --profile "$p" --csr "$n.csr" "$@" --out "$n.pem" >"$n.issue" 2>&1
}
cms_sign() { openssl cms -sign -binary -in doc.bin -signer "$1.pem" -inkey "$1.key" \
	-outform DER -out "$2" "${@:3}" >/dev/null 2>&1; }

# --- a time-stamp token is no document signature --------------------------------
openssl ts -query -data doc.bin -sha256 -cert -out q.tsq 2>/dev/null
curl -s --max-time 20 -H 'Content-Type: application/timestamp-query' --data-binary @q.tsq \
	"$PUB/tsa" -o r.tsr
openssl ts -reply -in r.tsr -token_out -out token.der >/dev/null 2>&1
openssl ts -verify -data doc.bin -in token.der -token_in -CAfile "$D/certs/root.pem" \
	-untrusted "$D/certs/tsa.pem" -untrusted "$D/certs/ca.pem" >tsv.out 2>&1
grep -q 'Verification: OK' tsv.out && t_ok "the instance's TSA issued a genuine token" ||
	t_fail "token" "$(tr '\n' ' ' <tsv.out)"
vfy "govpki verify: a time-stamp token is refused as a document signature" 1 \
	'content_type: eContentType is id-smime-ct-TSTInfo' --sig token.der
grep -Eq 'key_usage: .*extended key usage \(Time Stamping\) does not include signing documents' \
	"govpki verify: a time-stamp token is refused as a document signature.vout" &&
	t_ok "govpki verify: the TSA certificate may not sign documents (EKU timeStamping)" ||
	t_fail "TSA EKU" "$(head -c 600 "govpki verify: a time-stamp token is refused as a document signature.vout")"
code=$(pubvfy token.der tok.out)
[ "$code" = 200 ] && grep -q '"valid": *false' tok.out &&
	grep -q 'content_type: eContentType is id-smime-ct-TSTInfo' tok.out &&
	grep -q 'Time Stamping) does not include signing documents' tok.out &&
	t_ok "POST /api/v1/verify: a time-stamp token is refused as a document signature" ||
	t_fail "public verify token" "$code $(head -c 600 tok.out)"

# --- certificates whose key may not sign documents ---------------------------------
issue ent enterprise ec --field organization=某公司 --field uscc=91350100M000100Y43 ||
	t_fail "issue enterprise" "$(tail -n 2 ent.issue)"
issue tls tls-server ec --field name=doc.example.com --san '{"dns":["doc.example.com"]}' ||
	t_fail "issue tls-server" "$(tail -n 2 tls.issue)"
issue enc enterprise-encryption rsa --field organization=某公司 --field uscc=91350100M000100Y43 ||
	t_fail "issue enterprise-encryption" "$(tail -n 2 enc.issue)"
cms_sign ent ent.p7s
cms_sign tls tls.p7s
cms_sign enc enc.p7s
vfy "enterprise certificate (clientAuth, emailProtection): valid" 0 '^valid$' --in doc.bin --sig ent.p7s
vfy "TLS server certificate (serverAuth only): refused" 1 \
	'key_usage: .*\(TLS Web Server Authentication\) does not include signing documents' \
	--in doc.bin --sig tls.p7s
vfy "encryption certificate (keyEncipherment only): refused" 1 \
	'key_usage: the certificate.s key usage allows neither digitalSignature nor nonRepudiation' \
	--in doc.bin --sig enc.p7s
code=$(pubvfy tls.p7s tls.out digest)
[ "$code" = 200 ] && grep -q '"valid": *false' tls.out && grep -q 'key_usage' tls.out &&
	t_ok "POST /api/v1/verify refuses the TLS server certificate's signature" ||
	t_fail "public verify tls" "$code $(head -c 400 tls.out)"

# --- another content type only when configured --------------------------------------
GMT_DATA=1.2.156.10197.6.1.4.2.1
cms_sign ent gm.p7s -econtent_type "$GMT_DATA" -nodetach
vfy "eContentType GM-T 0010 data: refused by default" 1 "content_type: eContentType is .*$GMT_DATA" \
	--sig gm.p7s
cp "$D/govpki.json" govpki.json.orig
t_setcfg "$D/govpki.json" "verify.content_types=[\"$GMT_DATA\"]"
vfy "eContentType GM-T 0010 data: accepted once verify.content_types names it" 0 '^valid$' --sig gm.p7s
t_setcfg "$D/govpki.json" 'verify.content_types=["1.2.x"]'
"$GOVPKI" verify --dir "$D" --sig gm.p7s >badcfg.out 2>&1
grep -q 'verify.content_types\[0\]' badcfg.out && t_ok "a malformed content type is refused, naming the field" ||
	t_fail "bad content type config" "$(tr '\n' ' ' <badcfg.out)"
t_setcfg "$D/govpki.json" 'verify.fetch_allow=["ocsp.example:80"]'
"$GOVPKI" verify --dir "$D" --sig gm.p7s >badallow.out 2>&1
grep -q 'verify.fetch_allow\[0\]' badallow.out && t_ok "a host with a port in fetch_allow is refused, naming the field" ||
	t_fail "bad fetch_allow config" "$(tr '\n' ' ' <badallow.out)"
cp govpki.json.orig "$D/govpki.json"

# --- approval roles come from the store ----------------------------------------------
mkdir -p pol/approvals
cat >pol/approvals/officer-step.json <<'EOF'
{"name": "officer-step", "steps": [{"name": "approve", "signers": [{"role": "officer"}]}]}
EOF
AP="--policies-dir $T_TMP/pol --policy officer-step"
"$GOVPKI" sign --key "file:$D/admin/officer.key" --cert "$D/admin/officer.pem" \
	--chain "$D/certs/ca.pem" --in doc.bin --out off.p7s --step approve >off.out 2>&1 ||
	t_fail "officer signs" "$(tail -n 2 off.out)"
vfy "the instance's officer (role officer in the store) may sign the officer step" 0 \
	'policy officer-step: satisfied' --in doc.bin --sig off.p7s $AP
# Another CA's certificate whose subject claims the role.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fca.key \
	-out fca.pem -subj "/CN=Other CA" -days 2 >/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fake.key \
	-out fake.csr -subj "/CN=Fake Officer/title=officer" >/dev/null 2>&1
openssl x509 -req -in fake.csr -CA fca.pem -CAkey fca.key -set_serial 99 -days 1 \
	-out fake.pem >/dev/null 2>&1
"$GOVPKI" sign --key "file:$T_TMP/fake.key" --cert fake.pem --chain fca.pem --in doc.bin \
	--out fake.p7s --step approve >fake.out 2>&1 || t_fail "fake signs" "$(tail -n 2 fake.out)"
"$GOVPKI" verify --dir "$D" --in doc.bin --sig fake.p7s $AP --json >fake.json 2>&1
python3 -c 'import json,sys; j=json.load(open("fake.json")); s=j["policy"]["steps"][0]["signers"][0]
assert s["allowed"] is False, s
assert any("not allowed" in r for r in j["policy"]["reasons"]), j["policy"]' 2>fakecheck.err &&
	t_ok "a title=officer from another CA gives no role: not allowed to sign the officer step" ||
	t_fail "role from title" "$(tail -n 1 fakecheck.err) $(head -c 400 fake.json)"

t_done t_verify
