#!/usr/bin/env bash
# t_tender_bidder.sh: sealed-bid tendering in bidder mode (tender/). Each
# bidder's USB key (a SoftHSM token of its own) holds its signing key (EC)
# and its encryption key (RSA), with an enterprise and an
# enterprise-encryption certificate from the instance. Bids are sealed to
# the bidder's own encryption certificate only. At the opening the
# key-release window opens: bidder A unwraps its key with its USB key and
# releases it, signed and encrypted to the tender's transport certificate
# (`govpki bid decrypt`), and the platform opens its bid; bidder B does not,
# and when the window is closed its bid counts as revoked. A release
# before the window, after it, or twice is refused; closing early while a
# bid waits is refused. The record lists A opened with its price and B
# revoked, and verifies with `openssl cms -verify`.
. "$(dirname "$0")/lib.sh"

# The CLI's own TSA (approve-open, ca issue) reads the test clock too.
export GOVPKI_TEST_CLOCK=ok
t_instance t_tender_bidder
inst() { env -u SOFTHSM2_CONF "$GOVPKI" "$@"; }
sql() { t_sql "$D" "$1"; }
agent() { curl -s --max-time 60 --cacert "$D/certs/root.pem" --cert "$D/admin/agent.pem" \
	--key "$D/admin/agent.key" "$@"; }
usb() { local n=$1; shift; SOFTHSM2_CONF=$T_TMP/usb$n/softhsm2.conf "$GOVPKI" "$@"; }

printf 'so-Tb0000000001\n' >so.pin
printf 'us-Tb7135792468\n' >user.pin
chmod 600 ./*.pin
ok=1
n=0
for uscc in 91110000600037341L 91350100M000100Y43; do
	n=$((n + 1))
	mkdir -p usb$n/tokens
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$T_TMP/usb$n/tokens" >usb$n/softhsm2.conf
	usb $n token init --label ukey$n --so-pin-file so.pin --pin-file user.pin >/dev/null 2>&1 || ok=0
	for k in sign:ec-p256:enterprise enc:rsa-2048:enterprise-encryption; do
		IFS=: read -r label algo profile <<<"$k"
		usb $n token keygen --token ukey$n --label $label --algo $algo --pin-file user.pin \
			>/dev/null 2>&1 || ok=0
		usb $n token csr --key "pkcs11:token=ukey$n;object=$label" --subject /CN=x \
			--pin-file user.pin --out $label$n.csr >/dev/null 2>&1 || ok=0
		inst ca issue --dir "$D" --profile $profile --csr $label$n.csr \
			--field organization="公司$n" --field uscc=$uscc --out $label$n.pem >/dev/null 2>&1 || ok=0
		usb $n token import-cert --token ukey$n --label $label --cert $label$n.pem \
			--pin-file user.pin >/dev/null 2>&1 || ok=0
	done
done
[ $ok = 1 ] && t_ok "two bidders: signing and encryption keys on their USB keys, certificates from the instance" ||
	t_fail "bidder setup" "a step failed"

DL=$(date -u -d '+25 seconds' +%Y-%m-%dT%H:%M:%SZ)
s=$(agent -o tender.json -w '%{http_code}' -H 'Content-Type: application/json' \
	-d "{\"title\":\"自带密钥\",\"mode\":\"bidder\",\"deadline\":\"$DL\",\"opening_time\":\"$DL\",\"window_s\":12}" \
	"$ADM/api/v1/tenders")
ID=$(t_jget tender.json 'j["id"]')
URL=$PUB/tenders/$ID
[ "$s" = 201 ] && [ "$(t_jget tender.json 'len(j["recipients"]), len(j["transport"]), j["recipient_profile"]')" = "(0, 1, 'enterprise-encryption')" ] &&
	t_ok "a bidder-mode tender: no recipient of its own, a transport certificate" ||
	t_fail "create" "status $s $(head -c 300 tender.json)"

head -c 100000 /dev/urandom >docA.bin
head -c 100000 /dev/urandom >docB.bin
for n in 1 2; do
	d=docA.bin; [ $n = 2 ] && d=docB.bin
	usb $n bid seal --tender "$URL" --in $d --key "pkcs11:token=ukey$n;object=sign" --pin-file user.pin \
		--root "$D/certs/root.pem" --enc-cert enc$n.pem --field price=$((n * 1000)) --out bid$n.p7m \
		>seal$n.out 2>&1 &&
	"$GOVPKI" bid submit --url "$URL" --in bid$n.p7m --root "$D/certs/root.pem" --out rc$n.p7s \
		>sub$n.out 2>&1 && t_ok "bidder $n seals to its own encryption certificate and submits" ||
		t_fail "bidder $n" "$(cat seal$n.out sub$n.out | tail -n 3)"
done
openssl cms -verify -inform DER -in rc1.p7s -CAfile "$D/certs/root.pem" -purpose any -out rc1.json >/dev/null 2>&1
openssl cms -verify -inform DER -in rc2.p7s -CAfile "$D/certs/root.pem" -purpose any -out rc2.json >/dev/null 2>&1
B1=$(t_jget rc1.json 'j["bid"]')
B2=$(t_jget rc2.json 'j["bid"]')
decrypt() { # decrypt N BID
	usb "$1" bid decrypt --url "$URL" --bid "$2" --in bid$1.p7m --enc-key "pkcs11:token=ukey$1;object=enc" \
		--key "pkcs11:token=ukey$1;object=sign" --pin-file user.pin --root "$D/certs/root.pem"
}
release_post() { # release_post NAME BID: status of a release with junk
	head -c 64 /dev/urandom >junk.bin
	curl -s -o "$1.body" -w '%{http_code}' -H 'Content-Type: application/pkcs7-mime' \
		--data-binary @junk.bin "$URL/bids/$2/release"
}
t_refuse "bid decrypt before the window is refused by the client" "key-release window" decrypt 1 "$B1"
s=$(release_post early "$B1")
[ "$s" = 409 ] && [ "$(t_jget early.body 'j["error"]["rule"]')" = window_closed ] &&
	t_ok "a release before the window is refused by the platform (the transport key stays shut)" ||
	t_fail "early release" "status $s $(head -c 200 early.body)"

now=$(date +%s); end=$(date -d "$DL" +%s)
[ "$now" -le "$end" ] && sleep $((end - now + 1))
s=$(agent -o req.body -w '%{http_code}' -X POST "$ADM/api/v1/tenders/$ID/open")
[ "$s" = 200 ] && t_ok "the agent asks to open" || t_fail "open" "status $s $(head -c 200 req.body)"
t_check "the local operator approves: the window opens" inst tender approve-open "$ID" --dir "$D" --yes
[ "$(curl -s "$URL" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = key_release ] &&
	t_ok "the tender's state is key_release" || t_fail "state" "not key_release"
if decrypt 1 "$B1" >dec1.out 2>&1; then
	t_ok "bidder 1 releases its key in the window; the platform opens its bid"
else t_fail "release" "$(tail -n 3 dec1.out)"; fi
[ "$(sql "SELECT outcome FROM bid_events WHERE bid_id='$B1' AND event='outcome'")" = opened ] &&
	[ "$(sql "SELECT count(*) FROM bid_events WHERE bid_id='$B1' AND event='released' AND length(data) > 0")" = 1 ] &&
	t_ok "the release is kept with the bid, its outcome recorded" || t_fail "release recorded" "missing"
decrypt 1 "$B1" >dec1b.out 2>&1
grep -q 'rule not_current' dec1b.out && t_ok "a second release is refused" || t_fail "second release" "$(tail -n 2 dec1b.out)"
s=$(agent -o close1.body -w '%{http_code}' -X POST "$ADM/api/v1/tenders/$ID/close")
[ "$s" = 409 ] && grep -q 'wait for their keys' close1.body &&
	t_ok "closing while the window runs and a bid waits is refused" || t_fail "early close" "status $s $(head -c 200 close1.body)"
sleep 13
s=$(release_post late "$B2")
[ "$s" = 409 ] && [ "$(t_jget late.body 'j["error"]["rule"]')" = window_closed ] &&
	t_ok "a release after the window is refused" || t_fail "late release" "status $s $(head -c 200 late.body)"
s=$(agent -o close2.body -w '%{http_code}' -X POST "$ADM/api/v1/tenders/$ID/close")
[ "$s" = 200 ] && [ "$(t_jget close2.body 'j["revoked_now"]')" = 1 ] &&
	t_ok "the window closes: the bid without a release is revoked" || t_fail "close" "status $s $(head -c 200 close2.body)"
curl -s -o record.p7s "$URL/record"
if openssl cms -verify -inform DER -in record.p7s -CAfile "$D/certs/root.pem" -purpose any \
	-out record.json >ossl.out 2>&1; then
	t_ok "openssl cms -verify accepts the record"
else t_fail "record verify" "$(tail -n 2 ossl.out)"; fi
python3 - record.json "$B1" "$B2" >rc.out 2>&1 <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
by = {b["bid"]: b for b in j["bids"]}
a, b = by[sys.argv[2]], by[sys.argv[3]]
assert a["outcome"] == "opened" and a["fields"]["price"] == "1000", a
assert b["outcome"] == "revoked" and "no key release" in b["reason"], b
assert j["counts"]["opened"] == 1 and j["counts"]["revoked"] == 1
EOF
[ $? = 0 ] && t_ok "the record: bidder 1 opened with its price, bidder 2 revoked (no key release)" ||
	t_fail "record content" "$(tail -n 2 rc.out)"
[ "$(sql "SELECT count(*) FROM audit WHERE object='$ID' AND outcome='success' AND op IN ('tender.window.open','tender.key.release','tender.window.close','tender.record')")" = 4 ] &&
	[ "$(sql "SELECT count(*) FROM audit WHERE object='$ID' AND op='tender.key.release' AND outcome='denied'")" -ge 3 ] &&
	t_ok "audited: the window, the release, the refused releases, the close, the record" ||
	t_fail "audit" "$(sql "SELECT op, outcome FROM audit WHERE object='$ID'" | tr '\n' ' ')"
t_check "audit log verifies" inst audit verify --dir "$D"
t_done t_tender_bidder
