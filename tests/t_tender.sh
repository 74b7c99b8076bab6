#!/usr/bin/env bash
# t_tender.sh: sealed-bid tendering end to end, platform mode (tender/).
# Two bidders hold their signing keys on separate SoftHSM tokens (their
# USB keys), with enterprise certificates from the instance. The agent
# creates a tender; both bidders seal and submit before the deadline and
# get receipts that `openssl cms -verify` and `govpki verify` accept; one
# modifies its bid, superseding the first; a third withdraws its bid with a
# signed withdrawal and bids again, and that bid's stored file is damaged
# before the opening (withdrawn: the platform's fault). Refused, each with its rule and each audited: an
# unknown tender, an unsigned (bare EnvelopedData) bid, an unencrypted
# (signed plain) bid, a bid by a revoked certificate, a bid not encrypted
# to the tender's recipient, a replay, an older version sent after the
# newer one, a bid over the tender's size cap and a late bid (with both
# times). The opening: refused before the
# opening time, refused with one person's approval (the requester
# approving too), then approved by the local operator; the record lists
# every bid with its outcome and announced price, verifies with `openssl
# cms -verify`, and a bidder's confirming signature is accepted and
# returned. The roles: an officer cannot create or open tenders, an agent
# cannot issue or revoke. Interop: a sealed bid decrypts with `openssl cms
# -decrypt` given its recipient's key (a bidder-mode bid to an
# enterprise-encryption certificate whose key is a software file: the
# platform's opening key never leaves the token).
. "$(dirname "$0")/lib.sh"

# The CLI's own TSA (approve-open, ca issue) reads the test clock too.
export GOVPKI_TEST_CLOCK=ok
t_instance t_tender
inst() { env -u SOFTHSM2_CONF "$GOVPKI" "$@"; }
sql() { t_sql "$D" "$1"; }
as_role() { local r=$1; shift; curl -s --max-time 60 --cacert "$D/certs/root.pem" \
	--cert "$D/admin/$r.pem" --key "$D/admin/$r.key" "$@"; }

# --- the agent role -------------------------------------------------------
[ -s "$D/admin/agent.pem" ] && [ -s "$D/admin/agent.key" ] &&
	[ "$(stat -c %a "$D/admin/agent.key")" = 600 ] &&
	t_ok "init writes admin/agent.pem and agent.key (0600)" ||
	t_fail "agent files" "$(ls -l "$D/admin")"
AGS=$(openssl x509 -in "$D/admin/agent.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
[ "$(sql "SELECT role||'|'||profile FROM certificates WHERE serial='$AGS'")" = "agent|officer" ] &&
	[ "$(sql "SELECT count(*) FROM audit WHERE op='cert.issue' AND object='$AGS' AND json_extract(details,'\$.role')='agent'")" = 1 ] &&
	t_ok "the agent's role is in its store row (profile officer, dual control), audited" ||
	t_fail "agent role row" "$(sql "SELECT role, profile FROM certificates WHERE serial='$AGS'")"

# The bidders' USB keys: one SoftHSM store each, their own PINs.
printf 'so-Td0000000001\n' >so.pin
printf 'us-Td7135792468\n' >user.pin
chmod 600 ./*.pin
usb() { local n=$1; shift; SOFTHSM2_CONF=$T_TMP/usb$n/softhsm2.conf "$GOVPKI" "$@"; }
USCC1=91110000600037341L
USCC2=91350100M000100Y43
USCC3=91110108551385082Q
ok=1
for n in 1 2; do
	mkdir -p usb$n/tokens
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$T_TMP/usb$n/tokens" >usb$n/softhsm2.conf
	usb $n token init --label ukey$n --so-pin-file so.pin --pin-file user.pin >/dev/null 2>&1 || ok=0
done
# bidder 1 and 3 on the first key, bidder 2 on the second.
mkkey() { # mkkey USB LABEL ORG USCC
	usb "$1" token keygen --token "ukey$1" --label "$2" --algo ec-p256 --pin-file user.pin >/dev/null 2>&1 &&
	usb "$1" token csr --key "pkcs11:token=ukey$1;object=$2" --subject /CN=x --pin-file user.pin \
		--out "$2.csr" >/dev/null 2>&1 &&
	inst ca issue --dir "$D" --profile enterprise --csr "$2.csr" --field organization="$3" \
		--field uscc="$4" --out "$2.pem" >/dev/null 2>&1 &&
	usb "$1" token import-cert --token "ukey$1" --label "$2" --cert "$2.pem" --pin-file user.pin \
		>/dev/null 2>&1
}
mkkey 1 b1 甲建设公司 $USCC1 || ok=0
mkkey 2 b2 乙工程公司 $USCC2 || ok=0
mkkey 1 b3 丙设计院 $USCC3 || ok=0
[ $ok = 1 ] && t_ok "three bidders: keys on two USB tokens, enterprise certificates from the instance" ||
	t_fail "bidder setup" "a step failed"
K1="pkcs11:token=ukey1;object=b1"
K2="pkcs11:token=ukey2;object=b2"
K3="pkcs11:token=ukey1;object=b3"
S3=$(openssl x509 -in b3.pem -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')

# An agent cannot issue or revoke; an officer cannot create or open tenders.
openssl ecparam -name prime256v1 -genkey -noout -out x.key 2>/dev/null
openssl req -new -key x.key -subj /CN=x -out x.csr 2>/dev/null
t_issue_json x.json enterprise x.csr "{\"organization\":\"某公司\",\"uscc\":\"$USCC1\"}"
s=$(as_role agent -o agiss.body -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary @x.json "$ADM/api/v1/certificates")
[ "$s" = 403 ] && t_ok "an agent cannot issue (403)" || t_fail "agent issue" "status $s"
s=$(as_role agent -o agrev.body -w '%{http_code}' -H 'Content-Type: application/json' \
	-d '{"reason":"keyCompromise"}' "$ADM/api/v1/certificates/$S3/revoke")
[ "$s" = 403 ] && [ "$(sql "SELECT status FROM certificates WHERE serial='$S3'")" = good ] &&
	t_ok "an agent cannot revoke (403, the certificate stays good)" || t_fail "agent revoke" "status $s"
DL=$(date -u -d '+45 seconds' +%Y-%m-%dT%H:%M:%SZ)
s=$(as_role officer -o offcr.body -w '%{http_code}' -H 'Content-Type: application/json' \
	-d "{\"title\":\"x\",\"deadline\":\"$DL\",\"opening_time\":\"$DL\"}" "$ADM/api/v1/tenders")
[ "$s" = 403 ] && [ "$(sql "SELECT count(*) FROM tenders")" = 0 ] &&
	t_ok "an officer cannot create a tender (403, nothing created)" || t_fail "officer create" "status $s"
[ "$(sql "SELECT count(*) FROM audit WHERE op='http.denied' AND actor LIKE '%title=agent%'")" -ge 2 ] &&
	[ "$(sql "SELECT count(*) FROM audit WHERE op='http.denied' AND actor LIKE '%title=officer%' AND object LIKE 'POST /api/v1/tenders%'")" -ge 1 ] &&
	t_ok "each denial is audited" || t_fail "denials audited" "missing"

# --- the tender -----------------------------------------------------------
# The deadline leaves time for every submission below; the opening time is
# the deadline.
DL=$(date -u -d '+55 seconds' +%Y-%m-%dT%H:%M:%SZ)
s=$(as_role agent -o tender.json -w '%{http_code}' -H 'Content-Type: application/json' \
	-d "{\"title\":\"道路养护工程\",\"deadline\":\"$DL\",\"opening_time\":\"$DL\",\"fields\":[\"price\",\"days\"]}" \
	"$ADM/api/v1/tenders")
ID=$(t_jget tender.json 'j["id"]')
[ "$s" = 201 ] && [ ${#ID} = 32 ] && t_ok "the agent creates a tender (platform mode)" ||
	t_fail "create tender" "status $s $(head -c 300 tender.json)"
URL=$PUB/tenders/$ID
curl -s "$URL" -o pub.json
python3 - pub.json "$DL" >pubcheck.out 2>&1 <<'EOF'
import json, sys, subprocess
j = json.load(open(sys.argv[1]))
assert j["mode"] == "platform" and j["state"] == "accepting"
assert j["deadline"].startswith(sys.argv[2][:19]) and j["opening_time"].endswith("Z")
assert j["fields"] == ["price", "days"] and len(j["recipients"]) == 1
open("opening.pem", "w").write(j["recipients"][0])
EOF
[ $? = 0 ] && openssl x509 -in opening.pem -noout -text >opening.txt 2>&1 &&
	grep -q 'Key Encipherment' opening.txt && ! grep -q 'Digital Signature' opening.txt &&
	grep -q "tender $ID opening key" opening.txt &&
	openssl verify -CAfile "$D/certs/root.pem" -untrusted "$D/certs/ca.pem" opening.pem >/dev/null 2>&1 &&
	t_ok "GET /tenders/<id>: RFC 3339 times, fields, the opening certificate (keyEncipherment, names the tender, chains to the root)" ||
	t_fail "public tender JSON" "$(cat pubcheck.out; head -c 300 pub.json)"
export T_INST_PIN="$(cat "$D/secrets/user.pin")"
SOFTHSM2_CONF=$D/softhsm2.conf pkcs11-tool --module "$SOFTHSM_MODULE" --token-label govpki \
	--login --pin env:T_INST_PIN -O >objs.txt 2>&1
awk -v l="tender-$ID" '/Object;/ { priv = ($0 ~ /^Private Key/) }
	priv && $1 == "label:" && $2 == l { f = 3; next } f > 0 { print; f-- }' objs.txt >usage.txt
grep -q 'Usage: *decrypt$' usage.txt && grep -q 'sensitive.*never extractable' usage.txt &&
	t_ok "the opening key is on the instance token: decrypt only, sensitive, never extractable" ||
	t_fail "opening key usage" "$(cat usage.txt)"

# --- sealing and submission -----------------------------------------------
head -c 300000 /dev/urandom >doc1.bin
head -c 200000 /dev/urandom >doc2.bin
head -c 1000 /dev/urandom >doc3.bin
seal() { # seal USB KEY IN OUT PRICE [more bid seal args]
	local n=$1 k=$2 in=$3 out=$4 price=$5; shift 5
	usb "$n" bid seal --tender "$URL" --in "$in" --key "$k" --pin-file user.pin \
		--root "$D/certs/root.pem" --field price="$price" --field days=90 --out "$out" "$@"
}
submit() { "$GOVPKI" bid submit --url "$URL" --in "$1" --root "$D/certs/root.pem" --out "$2"; }
seal_submit() { seal "$1" "$2" "$3" "$4" "$5" && submit "$4" "$6"; }
t_check "bidder 1 seals its bid (USB key, tender from its URL)" seal 1 "$K1" doc1.bin bid1.p7m 1200000.00
t_check "bidder 1 submits; the receipt checks" submit bid1.p7m rc1.p7s
# An earlier version of bidder 2's bid, signed a second before the one it
# submits: sent after it, it must not replace it.
seal 2 "$K2" doc3.bin bid2old.p7m 1.00 >/dev/null 2>&1
sleep 1.1
t_check "bidder 2 seals and submits" seal_submit 2 "$K2" doc2.bin bid2.p7m 980000.00 rc2.p7s
for n in 1 2; do
	if openssl cms -verify -inform DER -in rc$n.p7s -CAfile "$D/certs/root.pem" -purpose any \
		-out rc$n.json >ossl.out 2>&1; then
		t_ok "openssl cms -verify accepts receipt $n"
	else t_fail "openssl cms -verify receipt $n" "$(tail -n 2 ossl.out | tr '\n' ' ')"; fi
done
python3 - rc1.json bid1.p7m "$ID" $USCC1 >rcheck.out 2>&1 <<'EOF'
import json, sys, hashlib, os, base64
j = json.load(open(sys.argv[1]))
b = open(sys.argv[2], "rb").read()
assert j["type"] == "govpki-bid-receipt" and j["tender"] == sys.argv[3]
assert j["sha256"] == hashlib.sha256(b).hexdigest() and j["size"] == len(b)
assert j["bidder"]["uscc"] == sys.argv[4] and j["bidder"]["name"] == "甲建设公司"
assert len(j["bidder"]["serial"]) > 0 and len(j["bid"]) == 32 and j["arrival"].endswith("Z")
open("rc1.tst", "wb").write(base64.b64decode(j["tst"]))
print(j["bid"])
EOF
[ $? = 0 ] && t_ok "the receipt names the tender, the bidder (name, USCC, serial), the bid id, its SHA-256 and size" ||
	t_fail "receipt content" "$(cat rcheck.out)"
BID1=$(tail -n 1 rcheck.out)
openssl ts -verify -token_in -in rc1.tst -data bid1.p7m -CAfile "$D/certs/root.pem" \
	-untrusted "$D/certs/chain.pem" >tsv.out 2>&1 && t_ok "openssl ts -verify: the arrival token is over the bid file" ||
	t_fail "openssl ts -verify" "$(tail -n 2 tsv.out | tr '\n' ' ')"
inst verify --dir "$D" --sig rc2.p7s >gv.out 2>&1 && grep -q '^valid$' gv.out &&
	t_ok "govpki verify accepts the receipt" || t_fail "govpki verify receipt" "$(tail -n 3 gv.out | tr '\n' ' ')"

# A modification supersedes; the earlier bid is kept for the record.
head -c 300000 /dev/urandom >doc1b.bin
t_check "bidder 1 seals a modified bid" seal 1 "$K1" doc1b.bin bid1b.p7m 1150000.00
submit bid1b.p7m rc1b.p7s >sub1b.out 2>&1
openssl cms -verify -inform DER -in rc1b.p7s -CAfile "$D/certs/root.pem" -purpose any -out rc1b.json >/dev/null 2>&1
[ "$(t_jget rc1b.json 'j["supersedes"]')" = "$BID1" ] &&
	[ "$(sql "SELECT count(*) FROM bid_events WHERE bid_id='$BID1' AND event='superseded'")" = 1 ] &&
	[ "$(sql "SELECT count(*) FROM bids WHERE id='$BID1'")" = 1 ] && [ -s "$D/tenders/$ID/bids/$BID1.p7m" ] &&
	t_ok "the modification supersedes bid 1, which stays stored (receipt says so)" ||
	t_fail "supersession" "$(cat sub1b.out) $(head -c 200 rc1b.json)"
grep -q 'superseding bid' sub1b.out && t_ok "bid submit says what it superseded" ||
	t_fail "submit output" "$(cat sub1b.out)"

# A third bidder bids, then withdraws with a signed withdrawal.
t_check "bidder 3 seals and submits" seal_submit 1 "$K3" doc3.bin bid3.p7m 1.00 rc3.p7s
openssl cms -verify -inform DER -in rc3.p7s -CAfile "$D/certs/root.pem" -purpose any -out rc3.json >/dev/null 2>&1
BID3=$(t_jget rc3.json 'j["bid"]')
usb 1 bid withdraw --url "$URL" --bid "$BID1" --key "$K3" --pin-file user.pin --root "$D/certs/root.pem" \
	--out wd-x.p7s >wdx.out 2>&1
grep -q 'rule not_the_bidder' wdx.out && [ ! -e wd-x.p7s ] &&
	t_ok "a withdrawal signed by another legal person is refused (not_the_bidder)" ||
	t_fail "foreign withdrawal" "$(cat wdx.out)"
if usb 1 bid withdraw --url "$URL" --bid "$BID3" --key "$K3" --pin-file user.pin \
	--root "$D/certs/root.pem" --out wd3.p7s >wd3.out 2>&1 &&
	openssl cms -verify -inform DER -in wd3.p7s -CAfile "$D/certs/root.pem" -purpose any >/dev/null 2>&1 &&
	[ "$(sql "SELECT count(*) FROM bid_events WHERE bid_id='$BID3' AND event='withdrawn' AND length(data) > 0")" = 1 ]; then
	t_ok "bidder 3 withdraws (signed withdrawal kept, sealed receipt)"
else t_fail "withdrawal" "$(cat wd3.out)"; fi
# ... and bids again; this bid's stored file is damaged before the opening
# (the platform's fault: its outcome must be "withdrawn").
t_check "bidder 3 bids again after withdrawing" seal_submit 1 "$K3" doc2.bin bid3b.p7m 3.00 rc3b.p7s
openssl cms -verify -inform DER -in rc3b.p7s -CAfile "$D/certs/root.pem" -purpose any -out rc3b.json >/dev/null 2>&1
BID3B=$(t_jget rc3b.json 'j["bid"]')

# --- refusals ---------------------------------------------------------------
post() { # post NAME FILE [URL]: the status; the body in NAME.body
	curl -s --max-time 60 -o "$1.body" -w '%{http_code}' -H 'Content-Type: application/pkcs7-mime' \
		--data-binary @"$2" "${3:-$URL/bids}"
}
rule() { t_jget "$1.body" 'j["error"]["rule"]'; }
refused() { # refused NAME STATUS RULE FILE [URL]
	local s
	s=$(post "$1" "$4" "${5:-}")
	if [ "$s" = "$2" ] && [ "$(rule "$1")" = "$3" ]; then t_ok "refused: $1 ($2, rule $3)"
	else t_fail "refused: $1" "status $s rule $(rule "$1"): $(head -c 300 "$1.body")"; fi
}
refused "unknown tender" 404 unknown_tender bid2.p7m "$PUB/tenders/0123456789abcdef0123456789abcdef/bids"
openssl cms -verify -inform DER -in bid2.p7m -CAfile "$D/certs/root.pem" -purpose any -out env2.der >/dev/null 2>&1
refused "unsigned (a bare EnvelopedData)" 400 unsigned env2.der
usb 2 sign --key "$K2" --in doc2.bin --out plain.p7s --pin-file user.pin --attached --dir "$D" >/dev/null 2>&1
refused "unencrypted (a signed plain document)" 400 unencrypted plain.p7s
grep -q 'unencrypted bid is refused' "unencrypted (a signed plain document).body" &&
	t_ok "the unencrypted refusal warns what to do" || t_fail "unencrypted warning" "missing"
refused "replay of a superseded bid" 409 replay bid1.p7m
refused "an older version than the current bid" 409 stale bid2old.p7m
# Not encrypted to the tender's recipient: the client refuses to seal such
# a bid, so one is made by giving it a tender JSON whose recipient is
# another certificate (bidder 2's own encryption key).
openssl genrsa -out enc2.key 2048 2>/dev/null
openssl req -new -key enc2.key -subj /CN=x -out enc2.csr 2>/dev/null
inst ca issue --dir "$D" --profile enterprise-encryption --csr enc2.csr --field organization=乙工程公司 \
	--field uscc=$USCC2 --out enc2.pem >/dev/null 2>&1
python3 -c 'import json,sys; j=json.load(open("pub.json")); j["mode"]="bidder"; json.dump(j, open("pub-forged.json","w"))'
usb 2 bid seal --tender pub-forged.json --in doc2.bin --key "$K2" --pin-file user.pin --root "$D/certs/root.pem" \
	--field price=1 --field days=1 --enc-cert enc2.pem --out norecip.p7m >/dev/null 2>&1
refused "not encrypted to the tender's recipient" 400 missing_recipient norecip.p7m
# A revoked signer: bidder 3 seals a new bid, then its certificate is revoked.
seal 1 "$K3" doc3.bin bid3r.p7m 2.00 >/dev/null 2>&1
inst ca revoke --dir "$D" --reason keyCompromise "$S3" >/dev/null 2>&1
refused "signed by a revoked certificate" 403 signer_revoked bid3r.p7m
grep -q "certificate $S3 was revoked" "signed by a revoked certificate.body" &&
	t_ok "the revocation refusal names the certificate and when" ||
	t_fail "revoked message" "$(head -c 300 "signed by a revoked certificate.body")"
# Over the size cap of a tender that takes small bids.
as_role agent -o small.json -H 'Content-Type: application/json' \
	-d "{\"title\":\"小额\",\"deadline\":\"$DL\",\"opening_time\":\"$DL\",\"max_bid_bytes\":4096}" \
	"$ADM/api/v1/tenders" >/dev/null
SID=$(t_jget small.json 'j["id"]')
refused "over the tender's size cap" 413 too_large bid2.p7m "$PUB/tenders/$SID/bids"
[ -z "$(ls "$D/tenders/incoming")" ] && t_ok "refused bids leave no file behind" ||
	t_fail "incoming cleaned" "$(ls "$D/tenders/incoming")"

# --- the opening ------------------------------------------------------------
s=$(as_role agent -o early.body -w '%{http_code}' -X POST "$ADM/api/v1/tenders/$ID/open")
[ "$s" = 409 ] && grep -q 'too early' early.body && t_ok "an opening before the opening time is refused (409)" ||
	t_fail "early opening" "status $s $(head -c 200 early.body)"
inst tender approve-open "$ID" --dir "$D" --yes >early2.out 2>&1
[ $? = 1 ] && grep -q 'no opening was requested' early2.out &&
	t_ok "approve-open without a request is refused" || t_fail "approve without request" "$(tail -n 2 early2.out)"
now=$(date +%s); end=$(date -d "$DL" +%s)
[ "$now" -le "$end" ] && sleep $((end - now + 1))
refused "late (after the deadline)" 409 late bid2.p7m
python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["arrival"] > e["deadline"]' \
	"late (after the deadline).body" 2>/dev/null &&
	t_ok "the late refusal gives the arrival and the deadline" || t_fail "late times" "$(head -c 300 "late (after the deadline).body")"
for r in unknown_tender unsigned unencrypted replay stale missing_recipient signer_revoked too_large late; do
	n=$(sql "SELECT count(*) FROM audit WHERE op='tender.bid.refuse' AND outcome='denied' AND json_extract(details,'\$.rule')='$r'")
	[ "$n" -ge 1 ] || { t_fail "refusal $r audited" "no record"; continue; }
	t_ok "refusal $r audited"
done
t_flip "$D/tenders/$ID/bids/$BID3B.p7m" 2000
s=$(as_role agent -o req.body -w '%{http_code}' -X POST "$ADM/api/v1/tenders/$ID/open")
[ "$s" = 200 ] && t_ok "the agent asks to open at the opening time" || t_fail "open request" "status $s $(head -c 300 req.body)"
s=$(as_role agent -o one.body -w '%{http_code}' -X POST "$ADM/api/v1/tenders/$ID/approve-open")
[ "$s" = 403 ] && grep -q 'second, different person' one.body &&
	t_ok "the requester's own approval is refused (one person is not two)" || t_fail "one approval" "status $s $(head -c 300 one.body)"
s=$(curl -s -o rec0.body -w '%{http_code}' "$URL/record")
[ "$s" = 404 ] && [ -z "$(ls "$D/tenders/$ID/opened" 2>/dev/null)" ] &&
	t_ok "with one approval nothing is opened, no record" || t_fail "no record yet" "status $s"
t_check "the local operator approves; the bids are opened" inst tender approve-open "$ID" --dir "$D" --yes
s=$(curl -s -o record.p7s -w '%{http_code}' "$URL/record")
if [ "$s" = 200 ] && openssl cms -verify -inform DER -in record.p7s -CAfile "$D/certs/root.pem" \
	-purpose any -out record.json >ossl.out 2>&1; then
	t_ok "openssl cms -verify accepts the opening record"
else t_fail "record verify" "status $s $(tail -n 2 ossl.out | tr '\n' ' ')"; fi
python3 - record.json "$BID1" "$BID3" "$BID3B" >reccheck.out 2>&1 <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
by = {b["bid"]: b for b in j["bids"]}
names = {b["bidder"]["name"]: b for b in j["bids"] if b["status"] == "current"}
assert j["type"] == "govpki-opening-record" and len(j["bids"]) == 5, len(j["bids"])
assert by[sys.argv[2]]["status"] == "superseded" and by[sys.argv[2]]["outcome"] is None
assert by[sys.argv[3]]["status"] == "withdrawn"
d = by[sys.argv[4]]
assert d["outcome"] == "withdrawn" and "platform's fault" in d["reason"], d
a, b = names["甲建设公司"], names["乙工程公司"]
assert a["outcome"] == "opened" and a["fields"] == {"price": "1150000.00", "days": "90"}, a
assert b["outcome"] == "opened" and b["fields"]["price"] == "980000.00", b
assert a["bidder"]["uscc"] == "91110000600037341L" and a["arrival"].endswith("Z")
assert j["counts"] == {"received": 5, "opened": 2, "revoked": 0, "withdrawn": 1}, j["counts"]
assert j["requested_by"].find("agent") >= 0 and j["approved_by"].startswith("local:")
EOF
[ $? = 0 ] && t_ok "the record lists every bid: two opened with their prices, the superseded, the bidder-withdrawn, and the damaged one as withdrawn (the platform's fault)" ||
	t_fail "record content" "$(tail -n 3 reccheck.out)"
openssl cms -cmsout -print -inform DER -in record.p7s | grep -q 'id-smime-aa-timeStampToken' &&
	t_ok "the record's signature is time-stamped" || t_fail "record time-stamp" "no token"
inst verify --dir "$D" --sig record.p7s >rv.out 2>&1 && grep -q '^valid$' rv.out && grep -q 'B-T' rv.out &&
	t_ok "govpki verify accepts the record (B-T)" || t_fail "govpki verify record" "$(tail -n 3 rv.out)"
python3 - "$D/tenders/$ID/opened" doc1b.bin <<'EOF' >pkg.out 2>&1
import sys, os, glob
want = open(sys.argv[2], "rb").read()
found = any(want in open(p, "rb").read() for p in glob.glob(sys.argv[1] + "/*.pkg"))
assert found
EOF
[ $? = 0 ] && t_ok "the opened bid holds bidder 1's modified document" || t_fail "opened document" "$(cat pkg.out)"
[ "$(sql "SELECT count(*) FROM audit WHERE op='tender.bid.open' AND object='$ID'")" = 3 ] &&
	[ "$(sql "SELECT count(*) FROM audit WHERE op IN ('tender.open.request','tender.open.approve','tender.record') AND object='$ID' AND outcome='success'")" = 3 ] &&
	t_ok "the opening is audited: request, approval, each decryption, the record" ||
	t_fail "opening audit" "$(sql "SELECT op, outcome FROM audit WHERE object='$ID'" | tr '\n' ' ')"
t_refuse "no second opening" "opened already" inst tender approve-open "$ID" --dir "$D" --yes

# A bidder confirms the record with its own signature (sign --add-to).
usb 2 sign --key "$K2" --in record.json --add-to record.p7s --out confirmed.p7s --pin-file user.pin \
	--dir "$D" >conf.out 2>&1
s=$(post confirm confirmed.p7s "$URL/record")
curl -s -o record2.p7s "$URL/record"
n=$(openssl cms -cmsout -print -inform DER -in record2.p7s | grep -c 'signatureAlgorithm:')
if [ "$s" = 201 ] && [ "$n" = 2 ] && openssl cms -verify -inform DER -in record2.p7s \
	-CAfile "$D/certs/root.pem" -purpose any -out /dev/null >/dev/null 2>&1; then
	t_ok "a bidder's confirmation is accepted, and GET returns the record with it"
else t_fail "confirmation" "status $s signers $n $(cat conf.out) $(head -c 200 confirm.body)"; fi
s=$(post confirm2 confirmed.p7s "$URL/record")
[ "$s" = 409 ] && [ "$(rule confirm2)" = record_changed ] &&
	t_ok "a stale confirmation is refused (record_changed)" || t_fail "stale confirmation" "status $s"

# --- interop: openssl decrypts a sealed bid with the recipient's key ---------
BDL=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
as_role agent -o btender.json -H 'Content-Type: application/json' \
	-d "{\"title\":\"bidder mode\",\"mode\":\"bidder\",\"deadline\":\"$BDL\",\"opening_time\":\"$BDL\"}" \
	"$ADM/api/v1/tenders" >/dev/null
usb 2 bid seal --tender btender.json --in doc2.bin --key "$K2" --pin-file user.pin --root "$D/certs/root.pem" \
	--field price=5 --enc-cert enc2.pem --out interop.p7m >/dev/null 2>&1
if openssl cms -verify -inform DER -in interop.p7m -CAfile "$D/certs/root.pem" -purpose any \
	-out interop-env.der >/dev/null 2>&1 &&
	openssl cms -decrypt -inform DER -in interop-env.der -inkey enc2.key -recip enc2.pem \
	-out interop.pkg >ossl.out 2>&1 &&
	python3 - interop.pkg doc2.bin <<'EOF'
import sys, json
d = open(sys.argv[1], "rb").read()
def tlv(b, i):
    t = b[i]; l = b[i + 1]; i += 2
    if l & 0x80:
        n = l & 0x7f; l = int.from_bytes(b[i:i + n], "big"); i += n
    return t, i, l
t, i, l = tlv(d, 0); assert t == 0x30 and i + l == len(d)
t, i, l = tlv(d, i); assert t == 0x02 and d[i:i + l] == b"\x01"; i += l
t, i, l = tlv(d, i); assert t == 0x0c; s = json.loads(d[i:i + l]); i += l
assert s["fields"]["price"] == "5"
t, i, l = tlv(d, i); assert t == 0x04 and d[i:i + l] == open(sys.argv[2], "rb").read()
EOF
then t_ok "openssl cms -verify, then openssl cms -decrypt with the recipient's key: the bid package (summary, document)"
else t_fail "openssl interop" "$(tail -n 2 ossl.out | tr '\n' ' ')"; fi
s=$(post interop interop.p7m "$PUB/tenders/$(t_jget btender.json 'j["id"]')/bids")
[ "$s" = 201 ] && t_ok "a bidder-mode bid to the bidder's own encryption certificate is received" ||
	t_fail "bidder-mode submit" "status $s $(head -c 300 interop.body)"

t_check "audit log verifies" inst audit verify --dir "$D"
t_done t_tender
