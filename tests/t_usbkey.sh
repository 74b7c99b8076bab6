#!/usr/bin/env bash
# t_usbkey.sh: a holder's USB keys for life, black box, with a fresh
# SoftHSM token of its own as the USB key (its own SOFTHSM2_CONF):
#   - an officer makes an enrolment code; `govpki token enroll` uses it
#     once (a second use and an expired code are refused, nothing issued);
#     the code is read from a file, and --code is refused on the command
#     line;
#   - both certificates land on the token and `openssl verify` accepts
#     them; the signing key was made on the token (CKA_LOCAL), the
#     encryption key is sensitive and not extractable (govpki's report
#     and OpenSC's pkcs11-tool both say so);
#   - a CMS envelope made by `openssl cms -encrypt` to the encryption
#     certificate decrypts through the token;
#   - after `token renew` the document encrypted to the old certificate
#     still decrypts, and so does one to the new;
#   - the USB key is lost: the officer revokes the signing certificates
#     (their twins go with them), gives a new code, and on a second token
#     both old documents decrypt;
#   - judicial recovery: one officer requests, the same person cannot
#     approve (with any certificate), a second officer does, and
#     `openssl cms -decrypt` opens each key with the recovery agent's key;
#     a second approval is refused; both persons are in the record;
#   - no private key in clear: none of the escrowed key's secret bytes in
#     any file of the instance (database, log, token store) nor of the
#     USB key's store;
#   - the SO resets the user PIN (`token unblock`), a wrong SO PIN is
#     refused; `ca list --expiring 30d` and the metrics gauge show a
#     certificate that expires within 30 days; the audit log verifies.
. "$(dirname "$0")/lib.sh"

D=$T_TMP/inst
P1=$(t_free_port)
P2=$(t_free_port)
P3=$(t_free_port)
PUB=http://127.0.0.1:$P1
ADM=https://127.0.0.1:$P2
ESTURL=https://127.0.0.1:$P3
cd "$T_TMP" || exit 1

if ! "$GOVPKI" init --dir "$D" --dev-clock >init.out 2>&1; then
	t_fail init "$(tail -n 3 init.out | tr '\n' ' ')"; t_done usbkey; exit 1
fi
GOVPKI_TEST_CLOCK=ok t_bg "$GOVPKI" serve --dir "$D" --http "127.0.0.1:$P1" \
	--https "127.0.0.1:$P2" --est "127.0.0.1:$P3" --quiet >serve.out 2>serve.err
SERVER=$T_LAST_PID
if ! t_wait_http "$PUB/healthz" 30 || ! t_wait_http "$ESTURL/.well-known/est/cacerts" 10; then
	t_fail "serve --est" "$(tail -n 5 serve.err | tr '\n' ' ')"; t_done usbkey; exit 1
fi

CA="--cacert $D/certs/root.pem"
OFF="--cert $D/admin/officer.pem --key $D/admin/officer.key"
ENT='{"organization":"福州市某某科技有限公司","uscc":"91350100M000100Y43"}'
# The USB keys: a SoftHSM store of their own, not the instance's.
t_softhsm
printf 'usb-so-8765\n' >so.pin
printf 'usb-pin-1234\n' >user.pin
chmod 600 so.pin user.pin
for t in usb-one usb-two usb-three; do
	"$GOVPKI" token init --label "$t" --so-pin-file so.pin --pin-file user.pin >/dev/null ||
		t_fail "token init $t" "failed"
done

# newcode FILE [VALID_S]: an enterprise code for $ENT, into FILE (0600)
newcode() {
	local extra="" out
	[ -n "${2:-}" ] && extra=",\"valid_s\":$2"
	out=$(curl -s $CA $OFF -X POST "$ADM/api/v1/enrolments" \
		-d "{\"profile\":\"enterprise\",\"subject\":$ENT$extra}")
	echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])' >"$1"
	chmod 600 "$1"
}
# enroll TOKEN CODEFILE JSONOUT
enroll() {
	"$GOVPKI" token enroll --est "$ESTURL" --cacert "$D/certs/root.pem" --token "$1" \
		--code-file "$2" --pin-file user.pin --json >"$3" 2>"$3.err"
}
certcount() {
	curl -s $CA $OFF "$ADM/api/v1/certificates?limit=1000" |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)["certificates"]))'
}
# export TOKEN LABEL FILE: a certificate object of the token as PEM
export_cert() {
	"$GOVPKI" token export-cert --cert-uri "pkcs11:token=$1;object=$2;type=cert" --out "$3" >/dev/null
}
# decrypt TOKEN IN: prints the content decrypted through the token
decrypt() {
	rm -f "$T_TMP/dec.out"
	"$GOVPKI" token decrypt --token "$1" --in "$2" --out "$T_TMP/dec.out" --pin-file user.pin \
		>/dev/null 2>"$T_TMP/dec.err" && cat "$T_TMP/dec.out"
}
# seal CERT IN OUT: openssl cms -encrypt to CERT
seal() {
	openssl cms -encrypt -binary -aes256 -in "$2" -outform DER -out "$3" "$1" 2>/dev/null
}

# --- enrolment --------------------------------------------------------------
t_refuse "the code is never taken on the command line (--code)" \
	'the enrolment code is a secret: use --code-file' \
	"$GOVPKI" token enroll --est "$ESTURL" --cacert "$D/certs/root.pem" --token usb-one --code ABCD
newcode code1.txt
N0=$(certcount)
if enroll usb-one code1.txt e1.json; then t_ok "token enroll with a one-time code"
else t_fail "token enroll" "$(cat e1.json.err)"; fi
N1=$(certcount)
[ "$N1" = $((N0 + 2)) ] && t_ok "two certificates issued (signing and encryption)" || t_fail "two certs" "$N0 -> $N1"
SIGN1=$(t_jget e1.json 'j["signing"]["label"]')
ENC1=$(t_jget e1.json 'j["encryption"]["label"]')
[ "$(t_jget e1.json 'j["signing"]["local"] and j["signing"]["sensitive"] and not j["signing"]["extractable"]')" = True ] &&
	t_ok "the signing key was generated on the token (CKA_LOCAL), sensitive, not extractable" ||
	t_fail "signing key flags" "$(cat e1.json)"
[ "$(t_jget e1.json 'j["encryption"]["sensitive"] and not j["encryption"]["extractable"] and not j["encryption"]["local"]')" = True ] &&
	t_ok "the encryption key is sensitive and not extractable on the token (imported: not local)" ||
	t_fail "encryption key flags" "$(cat e1.json)"
# OpenSC's view of the same objects, independently of govpki.
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label usb-one --login --pin usb-pin-1234 \
	--list-objects >objs.txt 2>&1
python3 - objs.txt "$SIGN1" "$ENC1" <<'PY' >objs.check
import re, sys
text = open(sys.argv[1]).read()
objs = re.split(r"\n(?=\S)", text)
def access(label):
    for o in objs:
        if o.startswith("Private Key Object") and re.search(r"label:\s+%s\s*$" % re.escape(label), o, re.M):
            return re.search(r"Access:\s+(.*)", o).group(1)
    return None
s, e = access(sys.argv[2]), access(sys.argv[3])
ok_s = s is not None and "local" in s and "sensitive" in s and "never extractable" in s
ok_e = e is not None and "sensitive" in e and not re.search(r"(?<!never )extractable", e)
print("sign:", s, "| enc:", e)
print("OK" if ok_s and ok_e else "BAD")
PY
grep -q '^OK' objs.check && t_ok "pkcs11-tool: signing key local, never extractable; encryption key sensitive, not extractable" ||
	t_fail "pkcs11-tool attributes" "$(head -n 1 objs.check) $(head -c 600 objs.txt)"
export_cert usb-one "$SIGN1" sign1.pem
export_cert usb-one "$ENC1" enc1.pem
for c in sign1 enc1; do
	openssl verify -CAfile "$D/certs/root.pem" -untrusted "$D/certs/ca.pem" "$c.pem" >/dev/null 2>&1 &&
		t_ok "openssl verify: $c certificate from the token" || t_fail "openssl verify $c" "$(openssl verify -CAfile "$D/certs/root.pem" -untrusted "$D/certs/ca.pem" "$c.pem" 2>&1)"
done
[ "$(openssl x509 -in enc1.pem -noout -ext keyUsage | tail -n 1 | tr -d ' ')" = KeyEncipherment ] &&
	t_ok "the encryption certificate is keyEncipherment only" || t_fail "enc key usage" "$(openssl x509 -in enc1.pem -noout -ext keyUsage)"

# The code again, and an expired one: refused, nothing issued.
if enroll usb-three code1.txt again.json; then t_fail "second use of a code" "it enrolled"
elif grep -q 'used already' again.json; then t_ok "a second use of the code is refused"
else t_fail "second use of a code" "$(cat again.json again.json.err)"; fi
newcode code_exp.txt 1
sleep 2
if enroll usb-three code_exp.txt exp.json; then t_fail "expired code" "it enrolled"
elif grep -q 'expired at' exp.json; then t_ok "an expired code is refused"
else t_fail "expired code" "$(cat exp.json exp.json.err)"; fi
N2=$(certcount)
[ "$N2" = "$N1" ] && t_ok "nothing issued for the refused codes" || t_fail "nothing issued" "$N1 -> $N2"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label usb-three --login --pin usb-pin-1234 \
	--list-objects 2>/dev/null | grep -q 'Private Key Object' &&
	t_fail "refused enrolment leaves no key" "usb-three holds a key" ||
	t_ok "a refused enrolment leaves no key on the token"

# --- documents through the token ------------------------------------------------
printf 'bid of 1 March: 1,000,000 yuan\n' >doc1.txt
seal enc1.pem doc1.txt doc1.p7m
[ "$(decrypt usb-one doc1.p7m)" = "$(cat doc1.txt)" ] &&
	t_ok "openssl cms -encrypt to the encryption certificate decrypts through the token" ||
	t_fail "decrypt through the token" "$(cat dec.err)"

# --- renewal -------------------------------------------------------------------------
if "$GOVPKI" token renew --est "$ESTURL" --cacert "$D/certs/root.pem" --token usb-one \
	--pin-file user.pin --json >r1.json 2>r1.err; then t_ok "token renew"
else t_fail "token renew" "$(cat r1.err)"; fi
SIGN2=$(t_jget r1.json 'j["signing"]["label"]')
ENC2=$(t_jget r1.json 'j["encryption"]["label"]')
[ -n "$ENC2" ] && [ "$ENC2" != "$ENC1" ] && [ "$(t_jget r1.json 'j["renewed"]')" = "$SIGN1" ] &&
	t_ok "renewal: a new signing key and a new encryption key" || t_fail "renewal" "$(cat r1.json)"
export_cert usb-one "$ENC2" enc2.pem
[ "$(decrypt usb-one doc1.p7m)" = "$(cat doc1.txt)" ] &&
	t_ok "after renewal the document encrypted to the old certificate still decrypts" ||
	t_fail "old document after renewal" "$(cat dec.err)"
printf 'bid of 2 April\n' >doc2.txt
seal enc2.pem doc2.txt doc2.p7m
[ "$(decrypt usb-one doc2.p7m)" = "$(cat doc2.txt)" ] && t_ok "and one to the new certificate" ||
	t_fail "new document" "$(cat dec.err)"

# --- loss: revoke, new code, second token ---------------------------------------------
for c in sign1 "$SIGN2"; do
	[ "$c" = sign1 ] && f=sign1.pem || { export_cert usb-one "$SIGN2" sign2.pem; f=sign2.pem; }
	S=$(openssl x509 -in "$f" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')
	curl -s $CA $OFF -X POST "$ADM/api/v1/certificates/$S/revoke" -d '{"reason":"keyCompromise"}' >/dev/null
done
curl -s $CA $OFF "$ADM/api/v1/certificates?uscc=91350100M000100Y43&limit=1000" >holder.json
python3 -c '
import json, sys
cs = json.load(open("holder.json"))["certificates"]
print(len(cs), sum(c["status"] == "revoked" and c.get("reason") == "keyCompromise" for c in cs))
' >holder.count
read -r NC NR <holder.count
[ "$NC" = 4 ] && [ "$NR" = 4 ] &&
	t_ok "loss: revoking the signing certificates revoked their encryption twins too (keyCompromise)" ||
	t_fail "pairs revoked" "$NC certificates, $NR revoked keyCompromise"
openssl ocsp -issuer "$D/certs/ca.pem" -cert enc1.pem -url "$PUB/ocsp" -CAfile "$D/certs/root.pem" \
	>ocsp.out 2>&1
grep -q 'enc1.pem: revoked' ocsp.out && t_ok "OCSP answers revoked for the encryption twin" ||
	t_fail "OCSP of the twin" "$(tr '\n' ' ' <ocsp.out)"
newcode code2.txt
if enroll usb-two code2.txt e2.json; then t_ok "a new USB key enrols with a new code"
else t_fail "re-enrolment" "$(cat e2.json.err)"; fi
[ "$(t_jget e2.json 'sorted(r["label"] for r in j["restored"])')" = "$(python3 -c "print(sorted(['$ENC1','$ENC2']))")" ] &&
	t_ok "the KMC restored the holder's previous encryption keys onto it" ||
	t_fail "restored keys" "$(cat e2.json)"
[ "$(decrypt usb-two doc1.p7m)" = "$(cat doc1.txt)" ] && [ "$(decrypt usb-two doc2.p7m)" = "$(cat doc2.txt)" ] &&
	t_ok "after the loss both old documents decrypt on the new token" ||
	t_fail "old documents on the new token" "$(cat dec.err)"

# --- judicial recovery ----------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout agent.key -subj "/CN=court recovery agent" \
	-days 30 -out agent.pem 2>/dev/null
python3 - agent.pem >recreq.json <<'PY'
import json, sys
print(json.dumps({"holder": {"uscc": "91350100M000100Y43"},
    "agent_certificate": open(sys.argv[1]).read(),
    "reason": "(2026) 闽01刑初12号: the court orders the bids decrypted"}, ensure_ascii=False))
PY
s=$(t_req recreq "$ADM/api/v1/recoveries" $CA $OFF -X POST --data-binary @recreq.json)
t_expect "an officer requests a judicial recovery (202)" 202 "$s"
RID=$(t_jget recreq.body 'j["id"]')
s=$(t_req recself "$ADM/api/v1/recoveries/$RID/approve" $CA $OFF -X POST)
if [ "$s" = 403 ] && grep -q 'another officer must' recself.body; then
	t_ok "the requester cannot approve it (403)"; else t_fail "self approval" "$s $(cat recself.body)"; fi
# A second officer: the first requests the certificate, the local
# operator approves it (README, dual control).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout off2.key \
	-subj "/CN=ignored" -out off2.csr 2>/dev/null
t_issue_json o2.json officer off2.csr '{"name":"王五","role":"officer"}'
s=$(t_req o2req "$ADM/api/v1/certificates" $CA $OFF -X POST --data-binary @o2.json)
O2RID=$(t_jget o2req.body 'j["request_id"]')
if "$GOVPKI" ca approve --yes --dir "$D" --out off2.pem "$O2RID" >o2.out 2>&1; then
	t_ok "a second officer certificate (approved by the local operator)"
else t_fail "second officer" "$(tail -n 2 o2.out)"; fi
OFF2="--cert off2.pem --key off2.key"
s=$(t_req recshow "$ADM/api/v1/recoveries/$RID" $CA $OFF2)
[ "$s" = 200 ] && [ "$(t_jget recshow.body 'j["status"]+" "+j["holder"]')" = "pending uscc:91350100M000100Y43" ] &&
	t_ok "the approver sees what is asked (holder, agent, reason)" || t_fail "recovery show" "$s $(cat recshow.body)"
s=$(t_req recok "$ADM/api/v1/recoveries/$RID/approve" $CA $OFF2 -X POST)
t_expect "a second officer approves (200)" 200 "$s"
python3 - recok.body <<'PY' >recok.list
import base64, json, sys
j = json.load(open(sys.argv[1]))
for i, k in enumerate(j["keys"]):
    open("rk%d.p7m" % i, "wb").write(base64.b64decode(k["envelope"]))
    open("rk%d.pem" % i, "w").write(k["certificate"])
    print(i, k["serial"])
PY
nk=0; okk=0
while read -r i serial; do
	nk=$((nk + 1))
	if openssl cms -decrypt -inform DER -in "rk$i.p7m" -recip agent.pem -inkey agent.key \
		-out "rk$i.key" 2>/dev/null &&
		[ "$(openssl rsa -in "rk$i.key" -noout -modulus 2>/dev/null)" = "$(openssl x509 -in "rk$i.pem" -noout -modulus)" ]; then
		okk=$((okk + 1))
	fi
done <recok.list
[ "$nk" = 3 ] && [ "$okk" = 3 ] &&
	t_ok "openssl cms -decrypt opens each of the holder's 3 keys with the agent's key" ||
	t_fail "recovered keys" "$okk of $nk"
for i in 0 1 2; do
	if [ "$(openssl x509 -in "rk$i.pem" -noout -serial)" = "$(openssl x509 -in enc1.pem -noout -serial)" ]; then
		openssl cms -decrypt -inform DER -in doc1.p7m -recip "rk$i.pem" -inkey "rk$i.key" 2>/dev/null |
			grep -q '1,000,000 yuan' && t_ok "the recovered key opens the sealed bid" ||
			t_fail "recovered key opens the bid" "no"
	fi
done
s=$(t_req recagain "$ADM/api/v1/recoveries/$RID/approve" $CA $OFF2 -X POST)
t_expect "a recovery is exported once (409)" 409 "$s"
"$GOVPKI" audit list --dir "$D" --json >audit.jsonl 2>/dev/null
python3 - audit.jsonl "$RID" <<'PY' >rec.audit
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ex = [r for r in recs if r["op"] == "kmc.recovery.export" and r["object"] == sys.argv[2]]
den = [r for r in recs if r["op"] == "kmc.recovery.approve" and r["outcome"] == "denied"]
req = [r for r in recs if r["op"] == "kmc.recovery.request" and r["object"] == sys.argv[2]]
ok = (len(ex) == 1 and len(req) == 1 and len(den) >= 1 and
      ex[0]["details"]["requester_id"] != ex[0]["details"]["approver_id"] and
      "govpki officer" in ex[0]["details"]["requester"] and "王五" in ex[0]["actor"] and
      len(ex[0]["details"]["keys"]) == 3)
print("OK" if ok else "BAD", ex[0]["details"] if ex else None)
PY
grep -q '^OK' rec.audit && t_ok "the record names both approvers and the keys exported; the refused self-approval is recorded" ||
	t_fail "recovery records" "$(cat rec.audit)"

# --- no private key in clear anywhere -------------------------------------------------------------
python3 - "$D" "$T_TMP/softhsm" rk0.key rk1.key rk2.key <<'PY' >clear.out
import os, subprocess, sys
roots, keys = sys.argv[1:3], sys.argv[3:]
needles = []
for k in keys:
    der = subprocess.run(["openssl", "pkey", "-in", k, "-outform", "DER"], capture_output=True).stdout
    needles.append(("pkcs8", der))
    # RSAPrivateKey: version, n, e, d, p, q, dP, dQ, qInv (RFC 8017 A.1.2)
    pkcs1 = subprocess.run(["openssl", "rsa", "-in", k, "-outform", "DER", "-traditional"],
                           capture_output=True).stdout
    ints = subprocess.run(["openssl", "asn1parse", "-inform", "DER"], input=pkcs1,
                          capture_output=True).stdout.decode()
    vals = [l.rsplit(":", 1)[1] for l in ints.splitlines() if "INTEGER" in l]
    for name, i in (("d", 3), ("p", 4), ("q", 5)):
        b = bytes.fromhex(vals[i] if len(vals[i]) % 2 == 0 else "0" + vals[i])
        needles.append((name, b[len(b) // 2 - 16: len(b) // 2 + 16]))
files = 0
found = []
for r in roots:
    for d, _, fs in os.walk(r):
        for f in fs:
            p = os.path.join(d, f)
            data = open(p, "rb").read()
            files += 1
            for name, n in needles:
                if n and n in data:
                    found.append((p, name))
print(files, len(needles), found)
PY
if python3 -c 'import sys,ast; f,n,found=open("clear.out").read().split(" ",2); sys.exit(0 if int(f)>5 and int(n)>=9 and ast.literal_eval(found.strip())==[] else 1)'; then
	t_ok "no escrowed private key (PKCS#8, d, p, q) in any file of the instance or the USB keys"
else t_fail "private key in clear" "$(cat clear.out) $(ls rk*.key)"; fi

# --- PIN unblock ----------------------------------------------------------------------------------------
printf 'wrong-so\n' >wso.pin; printf 'usb-pin-new\n' >new.pin; chmod 600 wso.pin new.pin
t_refuse "unblock with a wrong SO PIN is refused" 'incorrect PIN' \
	"$GOVPKI" token unblock --token usb-two --so-pin-file wso.pin --new-pin-file new.pin
t_check "token unblock resets the user PIN with the SO PIN" \
	"$GOVPKI" token unblock --token usb-two --so-pin-file so.pin --new-pin-file new.pin
rm -f dec.out
"$GOVPKI" token decrypt --token usb-two --in doc1.p7m --out dec.out --pin-file new.pin >/dev/null 2>&1 &&
	grep -q 'yuan' dec.out && t_ok "the new PIN opens the token" || t_fail "new PIN" "decrypt failed"
t_refuse "the old PIN no longer does" 'incorrect PIN' \
	"$GOVPKI" token decrypt --token usb-two --in doc1.p7m --out dec2.out --pin-file user.pin

# --- expiry ---------------------------------------------------------------------------------------------
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout short.key \
	-subj "/CN=ignored" -out short.csr 2>/dev/null
python3 - short.csr <<'PY' >short.json
import json, sys
print(json.dumps({"profile": "citizen", "csr": open(sys.argv[1]).read(), "validity_days": 10,
    "subject": {"name": "张三", "id_number": "11010519491231002X"}}, ensure_ascii=False))
PY
s=$(t_req short "$ADM/api/v1/certificates" $CA $OFF -X POST --data-binary @short.json)
SHORT=$(t_jget short.body 'j["serial"]')
"$GOVPKI" ca list --dir "$D" --expiring 30d --json >exp.jsonl 2>exp.err
[ "$(wc -l <exp.jsonl)" = 1 ] && grep -q "$SHORT" exp.jsonl &&
	t_ok "ca list --expiring 30d lists the certificate that expires in 10 days, only it" ||
	t_fail "ca list --expiring" "$(cat exp.jsonl exp.err)"
t_refuse "ca list --expiring takes a duration" 'duration such as 30d' \
	"$GOVPKI" ca list --dir "$D" --expiring soon
curl -s "$PUB/metrics" | grep -q '^govpki_certificates_expiring{within="30d"} 1$' &&
	t_ok "metrics: govpki_certificates_expiring{within=\"30d\"} 1" ||
	t_fail "metrics gauge" "$(curl -s "$PUB/metrics" | grep expiring)"

kill -TERM "$SERVER" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
t_check "the audit log verifies (pairs, twin revocations, escrow and recovery records)" \
	"$GOVPKI" audit verify --dir "$D"
t_done usbkey
