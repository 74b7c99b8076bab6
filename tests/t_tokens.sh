#!/usr/bin/env bash
# t_tokens.sh: black-box test of `govpki token` on a throwaway SoftHSM store.
# Independent tools judge the results: pkcs11-tool reads the key attributes
# from the token, openssl verifies (and rejects a tampered) CSR. Errors must
# be distinct per cause (wrong PIN, missing token, missing module), exit 1,
# and no PIN may ever appear in any output.
. "$(dirname "$0")/lib.sh"

t_softhsm
cd "$T_TMP" || exit 1
SO_PIN=so-Qx81234567
USER_PIN=us-Zt4815162342
WRONG_PIN=wr-Kp0987654321
NEW_PIN=nw-Lm1122334455
printf '%s\n' "$SO_PIN" >so.pin
printf '%s\n' "$USER_PIN" >user.pin
printf '%s\n' "$WRONG_PIN" >wrong.pin
printf '%s\n' "$NEW_PIN" >new.pin
chmod 600 ./*.pin
ALL="$T_TMP/all.out"
: >"$ALL"

# Every command's output is kept to check for PINs at the end.
keep() { cat "$T_TMP/last.out" >>"$ALL"; }
run() { "$@" >"$T_TMP/last.out" 2>&1; local rc=$?; keep; return $rc; }

t_check "token init" "$GOVPKI" token init --label gpt --so-pin-file so.pin \
	--pin-file user.pin; keep
t_refuse "token init: label exists" "already exists" "$GOVPKI" token init \
	--label gpt --so-pin-file so.pin --pin-file user.pin; keep

if run "$GOVPKI" token list && grep -Eq '^[0-9]+ +gpt +' "$T_TMP/last.out"; then
	t_ok "token list shows the token"
else t_fail "token list shows the token" "$(cat "$T_TMP/last.out")"; fi

for algo in ec-p256 ec-p384 rsa-2048; do
	if run "$GOVPKI" token keygen --token gpt --label "k-$algo" --algo "$algo" \
		--pin-file user.pin && cp "$T_TMP/last.out" "pub-$algo.pem" &&
		openssl pkey -pubin -in "pub-$algo.pem" -noout 2>/dev/null; then
		t_ok "keygen $algo prints a public key openssl reads"
	else t_fail "keygen $algo" "$(tail -n 3 "$T_TMP/last.out")"; fi
done
# The URI keygen prints names the key, its values pct-encoded (RFC 7512
# 2.3), and is one `token csr --key` takes as it is.
if run "$GOVPKI" token keygen --token gpt --label "k sp/1" --algo ec-p256 \
	--pin-file user.pin --json &&
	u=$(t_jget "$T_TMP/last.out" 'j["uri"]') &&
	[ "$u" = "pkcs11:token=gpt;object=k%20sp%2F1" ] &&
	run "$GOVPKI" token csr --key "$u" --subject "/CN=uri" \
		--pin-file user.pin --out uri.csr; then
	t_ok "keygen prints the key's URI, pct-encoded, that csr takes ($u)"
else t_fail "keygen URI" "${u:-} $(tail -n 3 "$T_TMP/last.out")"; fi
t_refuse "keygen: label exists" "already exists" "$GOVPKI" token keygen \
	--token gpt --label k-ec-p256 --algo ec-p256 --pin-file user.pin; keep
t_refuse "keygen: bad algorithm is a usage error" "ec-p999" "$GOVPKI" token \
	keygen --token gpt --label z --algo ec-p999 --pin-file user.pin; keep

# pkcs11-tool (OpenSC) reads the private key's attributes from the token.
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label gpt --login \
	--pin "$USER_PIN" --list-objects --type privkey >p11.out 2>&1
for algo in ec-p256 rsa-2048; do
	access=$(grep -A4 "label: *k-$algo\$" p11.out | grep 'Access:')
	if echo "$access" | grep -q 'sensitive' &&
		echo "$access" | grep -q 'never extractable' &&
		! echo "$access" | sed 's/never extractable//' | grep -q 'extractable'; then
		t_ok "pkcs11-tool: k-$algo is sensitive and never extractable"
	else t_fail "pkcs11-tool: k-$algo attributes" "access: '$access'"; fi
done

# A CSR from a token key, checked by openssl, then tampered with.
if run "$GOVPKI" token csr --key "pkcs11:token=gpt;object=k-ec-p256" \
	--subject "/CN=govpki-test/O=Example Gov" --pin-file user.pin --out csr.pem &&
	openssl req -verify -noout -in csr.pem >verify.out 2>&1 &&
	grep -q 'verify OK' verify.out; then
	t_ok "csr from a token key verifies with openssl req -verify"
else t_fail "csr verifies" "$(cat "$T_TMP/last.out" verify.out 2>/dev/null | tail -n 3)"; fi
if openssl req -in csr.pem -noout -pubkey 2>/dev/null | cmp -s - pub-ec-p256.pem; then
	t_ok "csr carries the token key's public key"
else t_fail "csr public key" "differs from keygen output"; fi
openssl req -in csr.pem -outform DER -out csr.der 2>/dev/null
python3 - <<'EOF'
d = bytearray(open("csr.der", "rb").read())
i = d.find(b"govpki-test")
d[i + 10] ^= 0x20  # govpki-test -> govpki-tesT: the signed data changes
open("tampered.der", "wb").write(bytes(d))
EOF
# OpenSSL 3.0's `req -verify` exits 0 even when the signature does not
# verify, so its message decides.
openssl req -verify -noout -inform DER -in tampered.der >tamper.out 2>&1
if grep -q 'verify OK' tamper.out; then
	t_fail "tampered csr is rejected" "openssl accepted it"
elif grep -qiE 'verify fail|bad signature|did not match' tamper.out; then
	t_ok "tampered csr is rejected"
else t_fail "tampered csr is rejected" "$(cat tamper.out)"; fi
t_check "csr from rsa-2048 key" "$GOVPKI" token csr \
	--key "pkcs11:token=gpt;object=k-rsa-2048" --subject "/CN=rsa" \
	--pin-file user.pin --out csr-rsa.pem; keep
if openssl req -verify -noout -in csr-rsa.pem 2>&1 | grep -q 'verify OK'; then
	t_ok "openssl verifies the rsa csr"
else t_fail "openssl verifies the rsa csr" "no 'verify OK'"; fi
t_refuse "csr --out never overwrites" "already exists|exists" "$GOVPKI" token csr \
	--key "pkcs11:token=gpt;object=k-ec-p256" --subject "/CN=x" \
	--pin-file user.pin --out csr.pem; keep

# Certificates: import, export, compare.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout /dev/null -subj "/CN=imported" -days 1 -out cert.pem 2>/dev/null
t_check "import-cert" "$GOVPKI" token import-cert --token gpt --label k-ec-p256 \
	--cert cert.pem --pin-file user.pin; keep
if run "$GOVPKI" token export-cert --cert-uri "pkcs11:token=gpt;object=k-ec-p256;type=cert" \
	--out back.pem && cmp -s <(openssl x509 -in cert.pem -outform DER) \
	<(openssl x509 -in back.pem -outform DER); then
	t_ok "export-cert returns the imported certificate"
else t_fail "export-cert" "$(tail -n 3 "$T_TMP/last.out")"; fi

# Distinct errors, exit 1.
errcase() { # NAME PATTERN CMD...
	local name=$1 pat=$2 rc; shift 2
	"$@" >"$T_TMP/last.out" 2>&1; rc=$?; keep
	if [ "$rc" -eq 1 ] && grep -Eq -- "$pat" "$T_TMP/last.out"; then t_ok "$name"
	else t_fail "$name" "exit $rc: $(tail -n 2 "$T_TMP/last.out" | tr '\n' ' ')"; fi
	cp "$T_TMP/last.out" "$T_TMP/err-$name.out"
}
errcase wrong-pin "incorrect PIN" "$GOVPKI" token keygen --token gpt --label w \
	--algo ec-p256 --pin-file wrong.pin
errcase missing-token "token not present.*nosuch" "$GOVPKI" token keygen \
	--token nosuch --label w --algo ec-p256 --pin-file user.pin
errcase missing-module "module cannot be loaded.*/nonexistent/libp11mod.so" \
	"$GOVPKI" token list --module /nonexistent/libp11mod.so
if ! cmp -s "$T_TMP/err-wrong-pin.out" "$T_TMP/err-missing-token.out" &&
	! cmp -s "$T_TMP/err-wrong-pin.out" "$T_TMP/err-missing-module.out" &&
	! cmp -s "$T_TMP/err-missing-token.out" "$T_TMP/err-missing-module.out"; then
	t_ok "the three failures have distinct messages"
else t_fail "distinct messages" "two failures printed the same text"; fi
if run "$GOVPKI" token list --json --module /nonexistent/libp11mod.so;
	[ $? -eq 1 ] && grep -q '"code":"module"' "$T_TMP/last.out"; then
	t_ok "--json error names the code"
else t_fail "--json error" "$(cat "$T_TMP/last.out")"; fi

# PINs are never taken from argv; a loose PIN file is refused.
run "$GOVPKI" token keygen --token gpt --label p --algo ec-p256 --pin "$USER_PIN"
if [ $? -eq 2 ]; then t_ok "--pin VALUE is a usage error"
else t_fail "--pin VALUE" "not refused"; fi
cp user.pin loose.pin && chmod 644 loose.pin
t_refuse "world-readable PIN file refused" "readable by others" "$GOVPKI" token \
	keygen --token gpt --label p --algo ec-p256 --pin-file loose.pin; keep
if GOVPKI_PIN=$USER_PIN run "$GOVPKI" token keygen --token gpt --label envkey \
	--algo ec-p256; then t_ok "PIN from GOVPKI_PIN"
else t_fail "PIN from GOVPKI_PIN" "$(tail -n 2 "$T_TMP/last.out")"; fi

# change-pin: the old PIN stops working, the new one works.
t_check "change-pin" "$GOVPKI" token change-pin --token gpt --pin-file user.pin \
	--new-pin-file new.pin; keep
errcase old-pin-refused "incorrect PIN" "$GOVPKI" token keygen --token gpt \
	--label after --algo ec-p256 --pin-file user.pin
t_check "new PIN works" "$GOVPKI" token keygen --token gpt --label after \
	--algo ec-p256 --pin-file new.pin; keep

# No PIN in any output of ours.
leaked=""
for p in "$SO_PIN" "$USER_PIN" "$WRONG_PIN" "$NEW_PIN"; do
	grep -qF -- "$p" "$ALL" && leaked="$leaked $p"
done
if [ -z "$leaked" ]; then t_ok "no PIN appears in any output"
else t_fail "no PIN appears in any output" "found:$leaked"; fi

t_done t_tokens
