#!/usr/bin/env bash
# t_sig_fetch.sh: online revocation status of signers from another CA
# (`govpki verify --fetch`, verify.fetch_revocation). A foreign CA made with
# the openssl CLI issues signer certificates whose authorityInfoAccess OCSP
# URL and CRL distribution point name loopback ports; its OCSP answers come
# from `openssl ocsp` (over its index, behind a small loopback-only HTTP
# front, as `openssl ocsp -port` would listen on every interface) and its
# CRLs from `openssl ca -gencrl`, served by python3 -m http.server.
# Checked: fetching off is "status unknown"; a good signer is valid with
# source "ocsp URL"; revoked before signing fails naming the revocation;
# revoked after a time-stamp is valid at the time of signing; OCSP down
# falls back to the CRL (the same decision as a CRL file given with --crl); both down is "status unknown" naming both URLs; a
# forged OCSP response (another key, a delegate without id-kp-OCSPSigning),
# a forged and a stale CRL are refused; a certificate under an untrusted CA
# makes no request at all, neither on the CLI nor on POST /api/v1/verify.
# Fetching goes only to the URLs verify.fetch_allow / --fetch-allow allow:
# none without a list (and the report says so), none to another URL. The
# TSA certificate of a B-T signature needs a status too (here the
# instance's CRL as a file). An anonymous caller of POST /api/v1/verify
# gets "status unavailable", not the connection error, which the server
# logs; the CLI shows it.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
F=$T_TMP/fca
P1=$(t_free_port)
P2=$(t_free_port)
POCSP=$(t_free_port)
PCRL=$(t_free_port)
PEVIL=$(t_free_port)
PDEAD=$(t_free_port)
PUB=http://127.0.0.1:$P1
OCSP_URL=http://127.0.0.1:$POCSP/ocsp
CRL_URL=http://127.0.0.1:$PCRL/root.crl
cd "$T_TMP" || exit 1

if ! "$GOVPKI" init --dir "$D" --dev-clock >init.out 2>&1; then
	t_fail "init" "$(tail -n 3 init.out | tr '\n' ' ')"; t_done t_sig_fetch; exit 1
fi
# The instance fetches too: POST /api/v1/verify must still never follow a
# URL of a certificate it does not trust.
# It may fetch from the foreign responder and from a port nobody listens on.
python3 - "$D/govpki.json" "$POCSP" "$PDEAD" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c.setdefault("verify", {})["fetch_revocation"] = True
c["verify"]["fetch_timeout_ms"] = 2000
c["verify"]["fetch_allow"] = ["http://127.0.0.1:%s/" % sys.argv[2],
                              "http://127.0.0.1:%s/" % sys.argv[3]]
json.dump(c, open(p, "w"), indent=2)
EOF
GOVPKI_TEST_CLOCK=ok t_bg "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$P1" \
	--https "127.0.0.1:$P2" >serve.out 2>serve.err
if ! t_wait_http "$PUB/healthz" 30; then
	t_fail "serve starts" "$(tail -n 5 serve.err | tr '\n' ' ')"; t_done t_sig_fetch; exit 1
fi

# --- the foreign CA ----------------------------------------------------------
mkdir -p "$F/newcerts" "$F/www" "$F/evil"
: >"$F/index.txt"
echo 1000 >"$F/serial"
echo 1000 >"$F/crlnumber"
cat >"$F/ca.cnf" <<EOF
[ req ]
distinguished_name = dn
[ dn ]
[ ca ]
default_ca = fca
[ fca ]
dir = $F
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = \$dir/root.pem
private_key = \$dir/root.key
default_md = sha256
default_days = 2
policy = pol_any
unique_subject = no
[ pol_any ]
commonName = supplied
organizationName = optional
[ root_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ signer_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
authorityInfoAccess = OCSP;URI:$OCSP_URL
crlDistributionPoints = URI:$CRL_URL
[ evil_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
authorityInfoAccess = OCSP;URI:http://127.0.0.1:$PEVIL/ocsp
crlDistributionPoints = URI:http://127.0.0.1:$PEVIL/evil.crl
[ ocsp_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
[ noeku_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
EOF
fca() { openssl "$@" -config "$F/ca.cnf" >>"$F/openssl.log" 2>&1; }
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ok=1
newkey "$F/root.key"
fca req -x509 -new -key "$F/root.key" -out "$F/root.pem" -days 3 \
	-subj "/CN=Foreign Root CA/O=Foreign" -extensions root_ext || ok=0
# issue NAME EXT SUBJECT: a key and a certificate from the foreign CA.
issue() {
	newkey "$F/$1.key"
	openssl req -new -key "$F/$1.key" -out "$F/$1.csr" -subj "$3" 2>/dev/null || ok=0
	fca ca -batch -notext -extensions "$2" -in "$F/$1.csr" -out "$F/$1.pem" || ok=0
}
issue s1 signer_ext "/CN=Signer One/O=Foreign"
issue s2 signer_ext "/CN=Signer Two/O=Foreign"
issue s3 signer_ext "/CN=Signer Three/O=Foreign"
issue ocsp ocsp_ext "/CN=Foreign OCSP/O=Foreign"
issue noeku noeku_ext "/CN=Foreign Not OCSP/O=Foreign"
# A forger: the root's name, another key.
newkey "$F/forged.key"
fca req -x509 -new -key "$F/forged.key" -out "$F/forged.pem" -days 3 \
	-subj "/CN=Foreign Root CA/O=Foreign" -extensions root_ext || ok=0
# An untrusted CA whose signer's URLs point at a listener that records.
newkey "$F/evil/root.key"
openssl req -x509 -new -key "$F/evil/root.key" -out "$F/evil/root.pem" -days 3 \
	-subj "/CN=Evil Root CA" -config "$F/ca.cnf" -extensions root_ext >/dev/null 2>&1 || ok=0
newkey "$F/evil.key"
openssl req -new -key "$F/evil.key" -out "$F/evil.csr" -subj "/CN=Evil Signer" 2>/dev/null || ok=0
openssl x509 -req -in "$F/evil.csr" -CA "$F/evil/root.pem" -CAkey "$F/evil/root.key" \
	-set_serial 77 -days 1 -extfile "$F/ca.cnf" -extensions evil_ext \
	-out "$F/evil.pem" >/dev/null 2>&1 || ok=0
openssl x509 -in "$F/s1.pem" -noout -text 2>/dev/null | grep -q "OCSP - URI:$OCSP_URL" || ok=0
[ $ok = 1 ] && t_ok "foreign CA: root, signers with AIA OCSP and CDP, delegated responder" ||
	t_fail "foreign CA setup" "$(tail -n 5 "$F/openssl.log" | tr '\n' ' ')"
cat "$F/root.pem" "$D/certs/root.pem" >anchors.pem
cat "$D/certs/ca.pem" "$D/certs/tsa.pem" >inter.pem

head -c 100000 /dev/urandom >doc.bin
# sign NAME OUT: B-B by openssl cms (signed attributes, claimed time).
sign() { openssl cms -sign -binary -in doc.bin -signer "$F/$1.pem" -inkey "$F/$1.key" \
	-outform DER -out "$2" >/dev/null 2>&1; }
# sign_bt NAME OUT: B-T by govpki sign with a file key and the instance TSA.
sign_bt() { "$GOVPKI" sign --key "file:$F/$1.key" --cert "$F/$1.pem" --chain "$F/root.pem" --in doc.bin \
	--out "$2" --tsa "$PUB/tsa" >"$2.out" 2>&1; }
sign s1 s1.p7s || t_fail "openssl cms -sign" "s1"
sign s3 s3.p7s || t_fail "openssl cms -sign" "s3"
openssl cms -sign -binary -in doc.bin -signer "$F/evil.pem" -inkey "$F/evil.key" \
	-certfile "$F/evil/root.pem" -outform DER -out evil.p7s >/dev/null 2>&1
t_check "B-T signature by a foreign signer, time-stamped by the instance" sign_bt s1 s1bt.p7s

# The URLs the CLI may fetch from: the foreign CA's responder, its CRL and
# the untrusted CA's listener (which must still never be asked).
ALLOW="--fetch-allow http://127.0.0.1:$POCSP/ --fetch-allow http://127.0.0.1:$PCRL/ --fetch-allow http://127.0.0.1:$PEVIL/"
# tsacrl: the instance's CRL (PEM, issued now) for the status of its TSA
# certificate in B-T signatures.
tsacrl() { "$GOVPKI" ca crl --dir "$D" >/dev/null 2>&1 &&
	openssl crl -inform DER -in "$D/crl/ca.crl" -out inst-crl.pem 2>/dev/null; }
# vfy NAME WANT_EXIT PATTERN ARGS...: govpki verify against the foreign root
# (and the instance root, for the TSA), its exit and output.
vfy() {
	local name=$1 want=$2 pat=$3 rc; shift 3
	timeout 60 "$GOVPKI" verify --ca anchors.pem --untrusted inter.pem --in doc.bin \
		$ALLOW "$@" >"$name.vout" 2>&1; rc=$?
	if [ "$rc" = "$want" ] && grep -Eq -- "$pat" "$name.vout"; then t_ok "$name"
	else t_fail "$name" "exit $rc (want $want): $(head -c 700 "$name.vout" | tr '\n' ' ')"; fi
}
# jq_check NAME FILE PYEXPR: a Python expression over the report j / signer s.
jq_check() {
	if python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); s=j["signers"][0]
assert '"$3"', s' "$2" >/dev/null 2>"$2.err"; then t_ok "$1"
	else t_fail "$1" "$(tail -n 1 "$2.err") $(head -c 500 "$2")"; fi
}

# The OCSP responder: openssl ocsp over the foreign index, one process per
# request, behind a front that listens on 127.0.0.1 only and logs requests.
cat >ocspd.py <<'EOF'
import http.server, os, subprocess, sys, tempfile
port, log, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *a):
        with open(log, "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if cmd[0] == "replay":
            data = open(cmd[1], "rb").read()
        else:
          with tempfile.TemporaryDirectory() as d:
            q, r = os.path.join(d, "q"), os.path.join(d, "r")
            open(q, "wb").write(body)
            rc = subprocess.run(cmd + ["-reqin", q, "-respout", r],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            data = open(r, "rb").read() if rc == 0 and os.path.exists(r) else b""
        if not data:
            self.send_response(500); self.end_headers(); return
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
OCSP_PID=""
# ocsp_start LOG INDEX SIGNER KEY: the responder on POCSP; ocsp_start LOG
# replay FILE: a responder that answers every request with FILE.
ocsp_start() {
	: >"$1"
	if [ "$2" = replay ]; then
		t_bg python3 -u ocspd.py "$POCSP" "$1" replay "$3"
	else
		t_bg python3 -u ocspd.py "$POCSP" "$1" openssl ocsp -index "$2" \
			-CA "$F/root.pem" -rsigner "$3" -rkey "$4" -nmin 10
	fi
	OCSP_PID=$T_LAST_PID
	t_wait_http "http://127.0.0.1:$POCSP/" 10 || t_fail "ocsp responder starts" "$1"
}
ocsp_stop() { [ -n "$OCSP_PID" ] && kill "$OCSP_PID" 2>/dev/null; wait "$OCSP_PID" 2>/dev/null; OCSP_PID=""; }
CRL_PID=""
crl_start() {
	t_bg python3 -u -m http.server --bind 127.0.0.1 --directory "$F/www" "$PCRL" \
		>/dev/null 2>>crl.log
	CRL_PID=$T_LAST_PID
	t_wait_http "http://127.0.0.1:$PCRL/" 10 || t_fail "crl server starts" "$PCRL"
}
crl_stop() { [ -n "$CRL_PID" ] && kill "$CRL_PID" 2>/dev/null; wait "$CRL_PID" 2>/dev/null; CRL_PID=""; }
# gencrl [KEY CERT]: the foreign CA's CRL (DER) in www/root.crl.
gencrl() {
	local extra=""
	[ $# -eq 2 ] && extra="-keyfile $1 -cert $2"
	fca ca -gencrl -crlhours "${CRLHOURS:-1}" $extra -out "$F/crl.pem" &&
		openssl crl -in "$F/crl.pem" -outform DER -out "$F/www/root.crl" 2>/dev/null
}

# --- fetching off --------------------------------------------------------------
ocsp_start ocsp.log "$F/index.txt" "$F/ocsp.pem" "$F/ocsp.key"
vfy "fetching off: status unknown, verify fails" 1 \
	'status: status unknown: not issued by this instance.*fetching is off' --sig s1.p7s
! grep -q '^POST' ocsp.log && t_ok "fetching off: no request made" ||
	t_fail "fetching off makes no request" "$(cat ocsp.log | tr '\n' ' ')"

# --- the allow list -------------------------------------------------------------
# Fetching on, nothing allowed: nothing is fetched, and the report says why.
"$GOVPKI" verify --ca anchors.pem --in doc.bin --sig s1.p7s --fetch >noallow.vout 2>&1
rc=$?
[ $rc = 1 ] && grep -q 'online fetching is on, but verify.fetch_allow (--fetch-allow) allows no URL' noallow.vout &&
	! grep -q 'fetching is off' noallow.vout && ! grep -q '^POST' ocsp.log &&
	t_ok "fetch on, empty allow list: no request, and not called 'fetching is off'" ||
	t_fail "fetch on, empty allow list" "exit $rc: $(head -c 500 noallow.vout) $(cat ocsp.log)"
# Another port, and a prefix of the responder's URL cut mid-port: refused.
"$GOVPKI" verify --ca anchors.pem --in doc.bin --sig s1.p7s --fetch \
	--fetch-allow "http://127.0.0.1:$PDEAD/" --fetch-allow "http://127.0.0.1:${POCSP:0:2}" \
	>otherallow.vout 2>&1
rc=$?
[ $rc = 1 ] && grep -q "ocsp $OCSP_URL: not fetched, verify.fetch_allow does not allow it" otherallow.vout &&
	! grep -q '^POST' ocsp.log && t_ok "a URL not in the allow list is not fetched" ||
	t_fail "URL not allowed" "exit $rc: $(head -c 500 otherallow.vout) $(cat ocsp.log)"

# --- OCSP, good -----------------------------------------------------------------
vfy "fetch on, good: valid" 0 '^valid$' --sig s1.p7s --fetch
"$GOVPKI" verify --ca anchors.pem --in doc.bin --sig s1.p7s --fetch $ALLOW --json >good.json 2>&1
jq_check "report: status ok, source ocsp URL (delegated responder)" good.json \
	"j['valid'] and s['checks']['status']=='ok' and s['status_source']=='ocsp $OCSP_URL'"
grep -q "^POST /ocsp" ocsp.log && t_ok "the responder was asked (POST)" ||
	t_fail "responder asked" "$(cat ocsp.log | tr '\n' ' ')"
vfy "B-T, the TSA's status unknown: the time-stamp fails" 1 \
	'timestamp: the TSA certificate: status unknown: .*8080/ocsp: not fetched' --sig s1bt.p7s --fetch
tsacrl
vfy "B-T, good: valid" 0 'B-T, .*\(timestamp\)' --sig s1bt.p7s --fetch --crl inst-crl.pem

# A genuine "good" answer for s1, with its own nonce, kept for a replay.
openssl ocsp -issuer "$F/root.pem" -cert "$F/s1.pem" -reqout q-s1.der >/dev/null 2>&1
openssl ocsp -index "$F/index.txt" -CA "$F/root.pem" -rsigner "$F/ocsp.pem" \
	-rkey "$F/ocsp.key" -nmin 10 -reqin q-s1.der -respout good-s1.der >/dev/null 2>&1

# --- revoked before signing -----------------------------------------------------
fca ca -revoke "$F/s2.pem" -crl_reason keyCompromise
sign s2 s2.p7s
t_check "B-T signature after the revocation" sign_bt s2 s2bt.p7s
tsacrl
vfy "revoked before signing, no time-stamp: fails naming the revocation" 1 \
	'status: certificate [0-9a-f]+ was revoked at .* \(keyCompromise\); the time of signing is unproven .*source: ocsp' \
	--sig s2.p7s --fetch
vfy "revoked before the time-stamp: fails" 1 \
	'was revoked at .* \(keyCompromise\), not after the time of signing .* \(source: ocsp http' \
	--sig s2bt.p7s --fetch --crl inst-crl.pem

# --- revoked after the time-stamp -------------------------------------------------
sleep 1.2
fca ca -revoke "$F/s1.pem" -crl_reason superseded
vfy "revoked after the time-stamp: valid at the time of signing" 0 '^valid$' \
	--sig s1bt.p7s --fetch --crl inst-crl.pem
"$GOVPKI" verify --ca anchors.pem --untrusted inter.pem --in doc.bin --sig s1bt.p7s \
	--fetch $ALLOW --crl inst-crl.pem --json >after.json 2>&1
jq_check "report: revoked_after_signing, source ocsp" after.json \
	"j['valid'] and 'revoked_after_signing' in s and s['status_source'].startswith('ocsp ')"
vfy "revoked, B-B (time unproven): fails" 1 'was revoked at .*\(superseded\); the time of signing is unproven' \
	--sig s1.p7s --fetch

# --- a responder signing as the CA itself -------------------------------------------
ocsp_stop
ocsp_start ocsp2.log "$F/index.txt" "$F/root.pem" "$F/root.key"
vfy "the issuer's own OCSP signature: accepted" 0 '^valid$' --sig s3.p7s --fetch

# --- OCSP down: the CRL -----------------------------------------------------------
ocsp_stop
gencrl
crl_start
vfy "OCSP down, CRL: revoked signer fails" 1 \
	"was revoked at .*\(superseded\).*source: crl $CRL_URL" --sig s1.p7s --fetch
vfy "OCSP down, CRL: revoked after the time-stamp is valid" 0 '^valid$' --sig s1bt.p7s --fetch \
	--crl inst-crl.pem
"$GOVPKI" verify --ca anchors.pem --in doc.bin --sig s3.p7s --fetch $ALLOW --json >crl.json 2>&1
jq_check "OCSP down, CRL: good signer valid, source crl URL" crl.json \
	"j['valid'] and s['status_source']=='crl $CRL_URL'"
grep -q '"GET /root.crl' crl.log && t_ok "the CRL was fetched (GET)" ||
	t_fail "CRL fetched" "$(tail -n 3 crl.log | tr '\n' ' ')"
# The same CRL given as a file: the same decision, source "crl file".
vfy "CRL file: revoked signer fails" 1 'was revoked at .*\(superseded\).*source: crl file' \
	--sig s1.p7s --crl "$F/crl.pem"
"$GOVPKI" verify --ca anchors.pem --in doc.bin --sig s3.p7s --crl "$F/crl.pem" --json >crlf.json 2>&1
jq_check "CRL file: good signer valid, source crl file" crlf.json \
	"j['valid'] and s['status_source']=='crl file'"

# A CRL signed by the forger (the root's name, another key) is refused.
gencrl "$F/forged.key" "$F/forged.pem"
vfy "forged CRL refused" 1 "status unknown: .*crl $CRL_URL: the CRL's signature does not verify" \
	--sig s3.p7s --fetch
# A CRL whose nextUpdate passed is refused.
CRLHOURS=0 fca ca -gencrl -crlsec 1 -out "$F/crl.pem"
openssl crl -in "$F/crl.pem" -outform DER -out "$F/www/root.crl" 2>/dev/null
sleep 2
vfy "stale CRL refused" 1 "status unknown: .*crl $CRL_URL: the CRL is out of date" --sig s3.p7s --fetch
gencrl

# --- both down ----------------------------------------------------------------------
crl_stop
vfy "OCSP and CRL down: status unknown naming both URLs" 1 \
	"status: status unknown: ocsp $OCSP_URL: cannot connect.*crl $CRL_URL: cannot connect" \
	--sig s3.p7s --fetch

# --- forged OCSP responses -------------------------------------------------------------
# The forger answers "good" for everything (an index where nobody is revoked).
sed 's/^R\t\([^\t]*\)\t[^\t]*\t/V\t\1\t\t/' "$F/index.txt" >"$F/index-clean.txt"
ocsp_start forged.log "$F/index-clean.txt" "$F/forged.pem" "$F/forged.key"
vfy "forged OCSP response (another key) refused" 1 \
	"status unknown: ocsp $OCSP_URL: the response is not signed by the issuer" --sig s1.p7s --fetch
grep -q "^POST /ocsp" forged.log && t_ok "the forger was asked (the refusal is real)" ||
	t_fail "forger asked" "no request in its log"
ocsp_stop
ocsp_start noeku.log "$F/index-clean.txt" "$F/noeku.pem" "$F/noeku.key"
vfy "delegate without id-kp-OCSPSigning refused" 1 \
	"status unknown: ocsp $OCSP_URL: the response is not signed by the issuer" --sig s1.p7s --fetch
ocsp_stop
# The genuine "good" answer from before s1 was revoked, replayed.
ocsp_start replay.log replay good-s1.der
vfy "replayed OCSP response (another nonce) refused" 1 \
	"status unknown: ocsp $OCSP_URL: the response carries another nonce" --sig s1.p7s --fetch
ocsp_stop

# --- untrusted CA: no request at all ---------------------------------------------------
t_bg python3 -u -m http.server --bind 127.0.0.1 --directory "$F/evil" "$PEVIL" \
	>/dev/null 2>evil.log
t_wait_http "http://127.0.0.1:$PEVIL/probe" 10
n0=$(grep -c '"' evil.log)
vfy "untrusted CA: fails on its chain" 1 'chain: ' --sig evil.p7s --fetch
grep -q 'online fetching is on, but never for a certificate whose path to a trust anchor did not verify' \
	"untrusted CA: fails on its chain.vout" && t_ok "untrusted CA: the report says why nothing was fetched" ||
	t_fail "untrusted CA message" "$(head -c 500 "untrusted CA: fails on its chain.vout")"
n1=$(grep -c '"' evil.log)
[ "$n0" -ge 1 ] && [ "$n0" = "$n1" ] && t_ok "untrusted CA: its URLs are never fetched" ||
	t_fail "untrusted CA fetch" "requests before $n0, after $n1: $(tail -n 2 evil.log | tr '\n' ' ')"
# The server (verify.fetch_revocation on) trusts its own root only, so the
# foreign signer's URLs must not be fetched either.
ocsp_start srv.log "$F/index.txt" "$F/ocsp.pem" "$F/ocsp.key"
python3 -c "
import json,base64,hashlib
sig=base64.b64encode(open('s3.p7s','rb').read()).decode()
json.dump({'signature':sig,'digest':hashlib.sha256(open('doc.bin','rb').read()).hexdigest()},open('pv.json','w'))"
code=$(curl -s --max-time 30 -o pv.out -w '%{http_code}' -X POST --data-binary @pv.json "$PUB/api/v1/verify")
[ "$code" = 200 ] && grep -q '"valid": *false' pv.out && grep -q 'chain' pv.out &&
	t_ok "POST /api/v1/verify: foreign signer untrusted (chain)" ||
	t_fail "public verify foreign" "$code $(head -c 300 pv.out)"
! grep -q '^POST' srv.log && t_ok "POST /api/v1/verify with fetching on: no request for an untrusted chain" ||
	t_fail "public verify fetched" "$(cat srv.log | tr '\n' ' ')"
ocsp_stop

# --- anonymous callers get no connection error ------------------------------------
# A sub-CA of the instance root (dual control: the officer asks, the local
# operator approves) issues a signer whose OCSP URL is a port where nobody
# listens. Its path verifies to the instance root, so the server (fetching
# on, that URL allowed) asks it; the anonymous caller learns only that the
# status is unavailable, the server's log has the connection error, and
# the local CLI shows it.
ok=1
newkey sub.key
openssl req -new -key sub.key -out sub.csr -subj "/CN=Sub CA" 2>/dev/null || ok=0
python3 -c "import json; json.dump({'profile':'sub-ca','csr':open('sub.csr').read(),
'subject':{'name':'Fetch Test Sub CA','organization':'Foreign'}},open('sub.json','w'))"
curl -s --max-time 20 --cacert "$D/certs/root.pem" --cert "$D/admin/officer.pem" \
	--key "$D/admin/officer.key" -X POST --data-binary @sub.json \
	"https://127.0.0.1:$P2/api/v1/certificates" -o subreq.out || ok=0
RID=$(python3 -c 'import json; print(json.load(open("subreq.out"))["request_id"])' 2>/dev/null)
# (A govpki that confirms approvals on a terminal takes --yes instead.)
YES=$("$GOVPKI" ca approve --help 2>&1 | grep -q -- '--yes' && echo --yes)
"$GOVPKI" ca approve --dir "$D" $YES --out sub.pem "$RID" >subapprove.out 2>&1 || ok=0
printf '[ dead_ext ]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, nonRepudiation\nauthorityInfoAccess = OCSP;URI:http://127.0.0.1:%s/ocsp\n' \
	"$PDEAD" >dead.cnf
newkey dead.key
openssl req -new -key dead.key -out dead.csr -subj "/CN=Dead Responder Signer" 2>/dev/null || ok=0
openssl x509 -req -in dead.csr -CA sub.pem -CAkey sub.key -set_serial 4242 -days 1 \
	-extfile dead.cnf -extensions dead_ext -out dead.pem >/dev/null 2>&1 || ok=0
openssl cms -sign -binary -in doc.bin -signer dead.pem -inkey dead.key -certfile sub.pem \
	-outform DER -out dead.p7s >/dev/null 2>&1 || ok=0
[ $ok = 1 ] && t_ok "a sub-CA of the instance issues a signer with an unreachable OCSP URL" ||
	t_fail "sub-CA setup" "$(head -c 300 subreq.out) $(tail -n 2 subapprove.out)"
python3 -c "
import json,base64,hashlib
sig=base64.b64encode(open('dead.p7s','rb').read()).decode()
json.dump({'signature':sig,'digest':hashlib.sha256(open('doc.bin','rb').read()).hexdigest()},open('dv.json','w'))"
code=$(curl -s --max-time 30 -o dv.out -w '%{http_code}' -X POST --data-binary @dv.json "$PUB/api/v1/verify")
[ "$code" = 200 ] && grep -q '"valid": *false' dv.out && grep -q '"chain": *"ok' dv.out &&
	grep -q "ocsp http://127.0.0.1:$PDEAD/ocsp: status unavailable" dv.out &&
	! grep -qi 'connect\|refused' dv.out &&
	t_ok "POST /api/v1/verify: the anonymous caller gets 'status unavailable', no connection error" ||
	t_fail "anonymous status unavailable" "$code $(head -c 700 dv.out)"
grep -q "http://127.0.0.1:$PDEAD/ocsp unavailable: .*connect" serve.err &&
	t_ok "the server logs the connection error" ||
	t_fail "server log of the fetch error" "$(grep -i 'verify' serve.err | tail -n 3 | tr '\n' ' ')"
"$GOVPKI" verify --dir "$D" --in doc.bin --sig dead.p7s --fetch >deadcli.vout 2>&1
grep -q "ocsp http://127.0.0.1:$PDEAD/ocsp: cannot connect" deadcli.vout &&
	t_ok "the local CLI shows the connection error" ||
	t_fail "CLI fetch error detail" "$(head -c 500 deadcli.vout)"

t_done t_sig_fetch
