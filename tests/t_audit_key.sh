#!/usr/bin/env bash
# t_audit_key.sh: the audit key over its life, from the outside.
#   - rotate-key is refused while the server runs (it holds the instance's
#     keys), and changes nothing then;
#   - rotate-key with the server stopped: a new key on the token, its
#     certificate (critical audit EKU, chaining to the root) in
#     certs/audit.pem, keys.audit switched; the log verifies with both
#     keys' checkpoints, the server starts with the new key, and a witness
#     that pinned the root before keeps recording heads;
#   - a rotation that fails midway (its prepared govpki.json cannot be
#     written) leaves the old key in effect and the log verifying;
#   - as attacks: the old audit.pem and key URI put back (the server
#     refuses to start, a CLI run refuses to sign its checkpoint), and a
#     checkpoint signed with the old key on the token after the change
#     (pkcs11-tool) fails verification;
#   - an instance whose log records no audit key (made before govpki
#     recorded it): verify and serve say to adopt it; adopt-key refuses
#     without confirmation, refuses when a checkpoint was signed by another
#     key, and otherwise records it, after which the log verifies with
#     the adoption reported and the server starts.
. "$(dirname "$0")/lib.sh"

EKU=2.25.272995801272984945644850851054612164731
# Test hook (tsa/tsa.h): checkpoints are time-stamped on a machine
# without NTP.
export GOVPKI_TEST_CLOCK=ok
D=$T_TMP/inst
W=$T_TMP/witness.state

spki() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
keyuri() { t_jget "$1/govpki.json" 'j["keys"]["audit"]'; }
# cp_sign DIR LABEL: appends a checkpoint of the current head signed by
# the token key LABEL (pkcs11-tool, the PIN through the environment) and
# its audit.checkpoint record, chained as audit.h defines it: what a
# process still holding that key would write.
cp_sign() {
	python3 - "$T_LIB_DIR" "$1" "$2" <<'EOF'
import hashlib, json, os, struct, subprocess, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import tdb
d, label = sys.argv[2:4]
c = tdb.connect(d)
seq, h = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
t = int(time.time() * 1000)
tbs = b"govpki-audit-checkpoint-v1" + struct.pack(">qq", seq, t) + h
with tempfile.TemporaryDirectory() as tmp:
    open(tmp + "/h", "wb").write(hashlib.sha256(tbs).digest())
    env = dict(os.environ, SOFTHSM2_CONF=d + "/softhsm2.conf",
               T_PIN=open(d + "/secrets/user.pin").read().strip())
    tool = ["pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label", "govpki",
            "--login", "--pin", "env:T_PIN"]
    # The key by its CKA_ID: pkcs11-tool's --label does not pick "audit"
    # apart from "audit-<time>".
    out = subprocess.run(tool + ["--list-objects", "--type", "privkey"], env=env, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    ids = [out[i + 1].split()[-1] for i in range(len(out) - 1)
           if out[i].split() == ["label:", label] and out[i + 1].strip().startswith("ID:")]
    assert len(ids) == 1, out
    subprocess.run(tool + ["--sign", "--mechanism", "ECDSA", "--id", ids[0], "--signature-format", "openssl",
                           "-i", tmp + "/h", "-o", tmp + "/s"], env=env, check=True, capture_output=True)
    sig = open(tmp + "/s", "rb").read()
cid = c.execute("SELECT coalesce(max(id), 0) + 1 FROM checkpoints").fetchone()[0]
c.execute("INSERT INTO checkpoints (id, seq, time_ms, hash, sig) VALUES (?, ?, ?, ?, ?)", (cid, seq, t, h, sig))
def enc(v):
    if v is None:
        return b"\0"
    b = v.encode()
    return b"\1" + struct.pack(">I", len(b)) + b
row = [seq + 1, t, "govpki", "system", "audit.checkpoint", "checkpoint:%d" % cid, "success", None, None,
       json.dumps({"hash": h.hex(), "seq": seq}, separators=(",", ":"), sort_keys=True)]
m = hashlib.sha256(b"govpki-audit-v1" + h + struct.pack(">qq", row[0], row[1]))
for v in row[2:]:
    m.update(enc(v))
c.execute("INSERT INTO audit (seq, time_ms, actor, role, op, object, outcome, request_id, client, details, "
          "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row + [h, m.digest()])
c.commit()
EOF
}

if ! "$GOVPKI" init --dir "$D" >"$T_TMP/init.out" 2>&1; then
	t_fail "init" "$(tail -n 3 "$T_TMP/init.out" | tr '\n' ' ')"
	t_done audit_key
	exit 1
fi
t_setcfg "$D/govpki.json" audit.checkpoint_s=3600
cp "$D/certs/root.pem" "$T_TMP/auditor-root.pem"
cp "$D/certs/audit.pem" "$T_TMP/old-audit.pem"
cp "$D/govpki.json" "$T_TMP/old-govpki.json"
OLD_SPKI=$(spki "$D/certs/audit.pem")
OLD_URI=$(keyuri "$D")

# --- help: each sub-command its own ------------------------------------------
for sub in verify list export rotate-key adopt-key witness; do
	"$GOVPKI" audit $sub --help >"$T_TMP/help.out" 2>&1
	rc=$?
	[ $rc = 0 ] && [ "$(head -n 1 "$T_TMP/help.out" | cut -d' ' -f1-4)" = "usage: govpki audit $sub" ] &&
		[ "$(grep -c '^usage:' "$T_TMP/help.out")" = 1 ] &&
		t_ok "govpki audit $sub --help prints its own usage" ||
		t_fail "govpki audit $sub --help prints its own usage" "exit $rc: $(head -n 2 "$T_TMP/help.out" | tr '\n' ' ')"
done
"$GOVPKI" audit --help >"$T_TMP/help.out" 2>&1
grep -q "govpki audit rotate-key" "$T_TMP/help.out" && grep -q "govpki audit adopt-key" "$T_TMP/help.out" &&
	t_ok "govpki audit --help lists every sub-command" ||
	t_fail "govpki audit --help lists every sub-command" "$(cat "$T_TMP/help.out")"
t_refuse "audit rotate-key: an option of another sub-command is a usage error" \
	"govpki audit rotate-key: --root and --witness are for verify" \
	"$GOVPKI" audit rotate-key --dir "$D" --root x
"$GOVPKI" audit rotate-key --dir "$D" --out x >/dev/null 2>&1
[ $? = 2 ] && t_ok "usage errors exit 2" || t_fail "usage errors exit 2" "exit $?"

# --- refused while the server runs ---------------------------------------------
t_serve_up audit_key "$D" --quiet
t_check "witness: first head, root pinned" "$GOVPKI" audit witness --url "$PUB" --state "$W" \
	--root "$T_TMP/auditor-root.pem"
t_refuse "rotate-key while the server runs: refused, naming the lock" \
	"govpki.lock: another govpki process has the instance open with its keys.*stop it first" \
	"$GOVPKI" audit rotate-key --dir "$D"
t_stop "$T_SERVE_PID"
[ "$(spki "$D/certs/audit.pem")" = "$OLD_SPKI" ] && [ "$(keyuri "$D")" = "$OLD_URI" ] &&
	[ "$(t_sql "$D" "SELECT count(*) FROM audit WHERE op='audit.rotate-key' AND outcome='failure'")" = 1 ] &&
	[ "$(t_sql "$D" "SELECT count(*) FROM audit WHERE op='audit.key'")" = 1 ] &&
	t_ok "the refused rotation changed nothing, and is recorded" ||
	t_fail "the refused rotation changed nothing, and is recorded" \
		"$(t_sql "$D" "SELECT seq, op, outcome FROM audit WHERE op LIKE 'audit.%'" | tr '\n' ' ')"

# --- a rotation that fails midway ----------------------------------------------
F=$T_TMP/failing
t_copy "$D" "$F"
mkdir "$F/govpki.json.rotate"      # the prepared configuration cannot be written
"$GOVPKI" audit rotate-key --dir "$F" >"$T_TMP/fail.out" 2>&1
rc=$?
rmdir "$F/govpki.json.rotate"
[ $rc = 1 ] && [ "$(spki "$F/certs/audit.pem")" = "$OLD_SPKI" ] && [ "$(keyuri "$F")" = "$OLD_URI" ] &&
	[ ! -e "$F/certs/audit.pem.rotate" ] &&
	[ "$(t_sql "$F" "SELECT count(*) FROM audit WHERE op='audit.key'")" = 1 ] &&
	t_ok "a rotation failing before its commit leaves the old key and files (exit $rc)" ||
	t_fail "a rotation failing before its commit leaves the old key and files" "exit $rc: $(cat "$T_TMP/fail.out")"
t_sql "$F" "SELECT details FROM audit WHERE op='audit.rotate-key' ORDER BY seq DESC LIMIT 1" | grep -q '"unused_key":"pkcs11:' &&
	t_ok "the failure record names the unused key left on the token" ||
	t_fail "the failure record names the unused key" "$(t_sql "$F" "SELECT details FROM audit WHERE op='audit.rotate-key'")"
t_check "after the failed rotation the log verifies" "$GOVPKI" audit verify --dir "$F"
t_serve "$F" --quiet && t_ok "after the failed rotation the server starts with the old key" ||
	t_fail "after the failed rotation the server starts" "$(tail -n 3 "$T_TMP/serve.err" | tr '\n' ' ')"
t_stop "$T_SERVE_PID"

# --- the rotation ------------------------------------------------------------------
"$GOVPKI" audit rotate-key --dir "$D" --json >"$T_TMP/rot.json" 2>"$T_TMP/rot.err"
rc=$?
NEW_URI=$(keyuri "$D")
NEW_SPKI=$(spki "$D/certs/audit.pem")
[ $rc = 0 ] && [ "$(t_jget "$T_TMP/rot.json" 'j["status"]')" = rotated ] &&
	[ "$(t_jget "$T_TMP/rot.json" 'j["key"]')" = "$NEW_URI" ] && [ "$NEW_URI" != "$OLD_URI" ] &&
	[ "$(t_jget "$T_TMP/rot.json" 'j["key_sha256"]')" = "$NEW_SPKI" ] && [ "$NEW_SPKI" != "$OLD_SPKI" ] &&
	t_ok "rotate-key: keys.audit and certs/audit.pem name the new key" ||
	t_fail "rotate-key: keys.audit and certs/audit.pem name the new key" "exit $rc: $(cat "$T_TMP/rot.json" "$T_TMP/rot.err")"
case $NEW_URI in pkcs11:token=govpki\;object=audit-2*Z) t_ok "the new key is on the token: $NEW_URI" ;;
*) t_fail "the new key is on the token" "$NEW_URI" ;; esac
openssl x509 -in "$D/certs/audit.pem" -noout -ext extendedKeyUsage 2>/dev/null | tr -d ' \n' | grep -q "critical$EKU\$" &&
	t_check "the new audit certificate: critical audit EKU, chains to the root" \
	openssl verify -CAfile "$T_TMP/auditor-root.pem" -untrusted "$D/certs/ca.pem" "$D/certs/audit.pem" ||
	t_fail "the new audit certificate carries the critical audit EKU" "$(openssl x509 -in "$D/certs/audit.pem" -noout -text | head -40)"
[ "$(t_sqlj "$D" "SELECT details FROM audit WHERE op='key.generate' AND object='$NEW_URI'" '(j["sensitive"], j["extractable"])')" = "(True, False)" ] &&
	t_ok "the token reports the new key sensitive and non-extractable (key.generate record)" ||
	t_fail "the new key is sensitive and non-extractable" "$(t_sql "$D" "SELECT details FROM audit WHERE op='key.generate' AND object='$NEW_URI'")"
KSEQ=$(t_sql "$D" "SELECT max(seq) FROM audit WHERE op='audit.key'")
[ "$(t_sql "$D" "SELECT count(*) FROM checkpoints WHERE seq >= $KSEQ")" -ge 2 ] &&
	[ "$(t_sql "$D" "SELECT count(*) FROM checkpoints WHERE seq < $KSEQ")" -ge 1 ] &&
	t_ok "checkpoints of both keys: before, sealing and after the change (record $KSEQ)" ||
	t_fail "checkpoints of both keys" "$(t_sql "$D" "SELECT id, seq FROM checkpoints" | tr '\n' ' ')"
"$GOVPKI" audit verify --dir "$D" --root "$T_TMP/auditor-root.pem" --json >"$T_TMP/v.json" 2>&1
[ "$(t_jget "$T_TMP/v.json" '(j["verified"], j["keys"], j["adopted_seq"])')" = "(True, 2, 0)" ] &&
	t_ok "the log verifies with both keys' checkpoints (2 keys)" ||
	t_fail "the log verifies with both keys' checkpoints" "$(cat "$T_TMP/v.json")"
t_serve "$D" --quiet && t_ok "the server starts with the new key" ||
	t_fail "the server starts with the new key" "$(tail -n 3 "$T_TMP/serve.err" | tr '\n' ' ')"
"$GOVPKI" audit witness --url "$PUB" --state "$W" --json >"$T_TMP/w.json" 2>&1
[ "$(t_jget "$T_TMP/w.json" 'j["status"]')" = recorded ] &&
	[ "$(tail -n 1 "$W" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_sha256"])')" = "$NEW_SPKI" ] &&
	t_ok "the witness records the new key's head under the root it pinned" ||
	t_fail "the witness records the new key's head" "$(cat "$T_TMP/w.json")"
t_stop "$T_SERVE_PID"
t_check "the log verifies against the witness across the rotation" \
	"$GOVPKI" audit verify --dir "$D" --witness "$W"

# --- attack: the old key after the change ----------------------------------------
O=$T_TMP/oldkey
t_copy "$D" "$O"
cp "$T_TMP/old-audit.pem" "$O/certs/audit.pem"
t_setcfg "$O/govpki.json" "keys.audit=\"$OLD_URI\""
t_refuse "old audit.pem and key URI put back: the server refuses to start" \
	"certs/audit.pem \(key SHA-256 $OLD_SPKI\) is not the audit key in effect in the audit log \(record $KSEQ" \
	timeout 30 "$GOVPKI" serve --dir "$O" --http 127.0.0.1:$(t_free_port) --https 127.0.0.1:$(t_free_port)
before=$(t_sql "$O" "SELECT count(*) FROM checkpoints")
"$GOVPKI" ca crl --dir "$O" >"$T_TMP/crl.out" 2>&1
[ "$(t_sql "$O" "SELECT count(*) FROM checkpoints")" = "$before" ] &&
	grep -q "audit checkpoint at exit: .*is not the audit key in effect" "$T_TMP/crl.out" &&
	t_ok "a CLI run with the old key signs no checkpoint, and says why" ||
	t_fail "a CLI run with the old key signs no checkpoint" "$(cat "$T_TMP/crl.out")"
t_check "nothing it did breaks the log" "$GOVPKI" audit verify --dir "$O"
cp_sign "$O" audit || t_fail "old-key checkpoint" "pkcs11-tool failed"
t_refuse "a checkpoint signed by the old key after the change: caught" \
	"does NOT verify.*the signature does not verify with the audit key in effect \(recorded at record $KSEQ\)" \
	"$GOVPKI" audit verify --dir "$O"
# The same done with the new key verifies: the forgery is the key, not the method.
N=$T_TMP/newkey
t_copy "$D" "$N"
NCP=$(t_sql "$N" "SELECT count(*) FROM checkpoints")
cp_sign "$N" "${NEW_URI##*object=}" || t_fail "new-key checkpoint" "pkcs11-tool failed"
[ "$(t_sql "$N" "SELECT count(*) FROM checkpoints")" = $((NCP + 1)) ] &&
	t_check "a checkpoint signed the same way by the new key verifies" "$GOVPKI" audit verify --dir "$N" ||
	t_fail "a checkpoint signed the same way by the new key verifies" "no checkpoint added ($NCP before)"

# --- an instance whose log records no audit key ------------------------------------
# Made from a fresh init: the log cut before its audit.key record (no
# rewriting needed: nothing after it is kept), then a CLI run seals it with
# the audit key, as an older govpki did.
L=$T_TMP/legacy
"$GOVPKI" init --dir "$L" >/dev/null 2>&1
t_setcfg "$L/govpki.json" audit.checkpoint_s=3600
KEY1=$(t_sql "$L" "SELECT seq FROM audit WHERE op='audit.key'")
if t_is_pg "$L"; then
	t_sql "$L" "ALTER TABLE audit DISABLE TRIGGER audit_no_update;
		ALTER TABLE checkpoints DISABLE TRIGGER checkpoints_no_update;
		DELETE FROM checkpoints; DELETE FROM audit WHERE seq >= $KEY1;
		ALTER TABLE audit ENABLE TRIGGER audit_no_update;
		ALTER TABLE checkpoints ENABLE TRIGGER checkpoints_no_update;"
else
	t_sql "$L" "DROP TRIGGER audit_no_delete; DROP TRIGGER checkpoints_no_delete;
		DELETE FROM checkpoints; DELETE FROM audit WHERE seq >= $KEY1;
		CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
		CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
fi
"$GOVPKI" ca crl --dir "$L" >/dev/null 2>&1
"$GOVPKI" ca crl --dir "$L" >/dev/null 2>&1
[ "$(t_sql "$L" "SELECT count(*) FROM checkpoints")" -ge 2 ] && [ "$(t_sql "$L" "SELECT count(*) FROM audit WHERE op='audit.key'")" = 0 ] &&
	t_ok "legacy log: checkpoints, no audit.key record" ||
	t_fail "legacy log" "$(t_sql "$L" "SELECT count(*) FROM checkpoints")"
t_refuse "legacy log: verify fails, saying to adopt the key" \
	"does NOT verify.*no audit.key record names the key.*govpki audit adopt-key" "$GOVPKI" audit verify --dir "$L"
t_refuse "legacy log: the server refuses to start, saying to adopt the key" \
	"the audit log records no audit key.*govpki audit adopt-key --dir" \
	timeout 30 "$GOVPKI" serve --dir "$L" --http 127.0.0.1:$(t_free_port) --https 127.0.0.1:$(t_free_port)
"$GOVPKI" audit adopt-key --dir "$L" </dev/null >"$T_TMP/adopt0.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "no terminal to confirm on" "$T_TMP/adopt0.out" &&
	[ "$(t_sql "$L" "SELECT count(*) FROM audit WHERE op='audit.key'")" = 0 ] &&
	t_ok "adopt-key without a terminal and without --yes: exit 2, nothing changed" ||
	t_fail "adopt-key without confirmation" "exit $rc: $(cat "$T_TMP/adopt0.out")"
# Another key on the token (the OCSP responder's) sealed one checkpoint.
X=$T_TMP/legacy-other
t_copy "$L" "$X"
cp_sign "$X" ocsp || t_fail "other-key checkpoint" "pkcs11-tool failed"
t_refuse "adopt-key when a checkpoint was signed by another key: refused" \
	"checkpoint [0-9]+ \(record [0-9]+\) was not signed by this key" "$GOVPKI" audit adopt-key --dir "$X" --yes
[ "$(t_sql "$X" "SELECT count(*) FROM audit WHERE op='audit.key'")" = 0 ] &&
	t_ok "the refused adoption recorded no key" || t_fail "the refused adoption recorded no key" "an audit.key record"
"$GOVPKI" audit adopt-key --dir "$L" --yes --json >"$T_TMP/adopt.json" 2>"$T_TMP/adopt.err"
rc=$?
ASEQ=$(t_sql "$L" "SELECT seq FROM audit WHERE op='audit.key'")
[ $rc = 0 ] && [ "$(t_jget "$T_TMP/adopt.json" 'j["status"]')" = adopted ] &&
	[ "$(t_jget "$T_TMP/adopt.json" 'j["record"]')" = "$ASEQ" ] &&
	[ "$(t_sqlj "$L" "SELECT details FROM audit WHERE seq=$ASEQ" 'j["adopted"]')" = True ] &&
	t_ok "adopt-key --yes records the key, marked adopted (record $ASEQ)" ||
	t_fail "adopt-key --yes" "exit $rc: $(cat "$T_TMP/adopt.json" "$T_TMP/adopt.err")"
"$GOVPKI" audit verify --dir "$L" >"$T_TMP/lv.out" 2>&1
rc=$?
[ $rc = 0 ] && grep -q "the first audit key was adopted at record $ASEQ" "$T_TMP/lv.out" &&
	t_ok "after the adoption the log verifies, the adoption reported" ||
	t_fail "after the adoption the log verifies" "exit $rc: $(cat "$T_TMP/lv.out")"
t_refuse "adopt-key a second time: refused" "records its audit key already \(record $ASEQ\)" \
	"$GOVPKI" audit adopt-key --dir "$L" --yes
t_serve "$L" --quiet && t_ok "after the adoption the server starts" ||
	t_fail "after the adoption the server starts" "$(tail -n 3 "$T_TMP/serve.err" | tr '\n' ' ')"
t_stop "$T_SERVE_PID"
t_check "the adopted key rotates like any other" "$GOVPKI" audit rotate-key --dir "$L"
t_check "and the log still verifies" "$GOVPKI" audit verify --dir "$L"

t_done audit_key
