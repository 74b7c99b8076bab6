#!/usr/bin/env bash
# t_audit.sh: the audit log's anchors outside the database, from the
# outside. A served instance checkpoints at start (and again after a
# kill -9), publishes its latest signed head at GET /audit/checkpoint,
# whose signature and RFC 3161 time-stamp verify with openssl; a witness
# keeps the heads and reports a head that goes backwards or forks. Then the
# attacks, each on a copy (t_copy: of the SQLite file or the PostgreSQL
# database) edited through t_sql, triggers dropped, and each must
# fail verification: a rollback to an earlier checkpoint (caught only with
# --witness), the log re-signed with the attacker's own key and audit.pem
# (and with root.pem replaced too, caught with --root or the witness), a
# certificate row without its cert.issue record and one un-revoked behind
# the log's back, a status history event deleted, a release forged into a
# held-then-revoked certificate's history, a status record deleted.
# `audit verify --json` and GET /api/v1/audit/verify give
# the same report; `audit export --json` prints what it wrote.
. "$(dirname "$0")/lib.sh"

EKU=2.25.272995801272984945644850851054612164731
# Test hook (tsa/tsa.h): the TSA's clock guard reads "synchronised", so
# checkpoints are time-stamped whatever this machine's NTP state.
export GOVPKI_TEST_CLOCK=ok
D=$T_TMP/inst
W=$T_TMP/witness.state

# edit DIR SQL: as an editor of the database, the append-only triggers
# gone.
edit() {
	t_unguard "$1" audit checkpoints cert_status_history && t_sql "$1" "$2"
}
# head_cp DIR: "seq id" of the last checkpoint.
last_cp() { t_sql "$1" "SELECT seq FROM checkpoints ORDER BY id DESC LIMIT 1"; }
witness() { "$GOVPKI" audit witness --url "$PUB" --state "$@"; }

if ! "$GOVPKI" init --dir "$D" >"$T_TMP/init.out" 2>&1; then
	t_fail "init" "$(tail -n 3 "$T_TMP/init.out" | tr '\n' ' ')"
	t_done audit
	exit 1
fi
# Checkpoints only at start, exit and the (long) period: what a crash
# leaves unsealed stays observable.
t_setcfg "$D/govpki.json" audit.checkpoint_s=3600

# --- the audit key -------------------------------------------------------
openssl x509 -in "$D/certs/audit.pem" -noout -ext extendedKeyUsage 2>/dev/null |
	tr -d ' \n' | grep -q "critical$EKU\$" &&
	t_ok "audit.pem carries the critical audit EKU" ||
	t_fail "audit.pem carries the critical audit EKU" "$(openssl x509 -in "$D/certs/audit.pem" -noout -ext extendedKeyUsage 2>&1)"
spki=$(openssl x509 -in "$D/certs/audit.pem" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
[ "$(t_sql "$D" "SELECT count(*) FROM audit WHERE op='audit.key' AND object='audit-key:$spki'")" = 1 ] &&
	t_ok "init records the audit key (SHA-256 of its SPKI) in the chain" ||
	t_fail "init records the audit key in the chain" "$(t_sql "$D" "SELECT seq, object FROM audit WHERE op='audit.key'")"
t_check "a fresh instance verifies" "$GOVPKI" audit verify --dir "$D"

# --- a checkpoint at start, published, verified by openssl ----------------
t_serve_up audit "$D"
start_seq=$(t_sql "$D" "SELECT max(seq) FROM audit WHERE op='server.start'")
cp_seq=$(last_cp "$D")
[ -n "$start_seq" ] && [ "${cp_seq:-0}" -ge "$start_seq" ] &&
	t_ok "a checkpoint right after serve starts (covers $cp_seq >= server.start $start_seq)" ||
	t_fail "a checkpoint right after serve starts" "last checkpoint $cp_seq, server.start $start_seq"
[ "$(t_sql "$D" "SELECT CASE WHEN length(tst) > 0 THEN 1 ELSE 0 END FROM checkpoints ORDER BY id DESC LIMIT 1")" = 1 ] &&
	t_ok "the start checkpoint is time-stamped" ||
	t_fail "the start checkpoint is time-stamped" "no token"

s=$(curl -s --max-time 10 -o "$T_TMP/head.json" -w '%{http_code}' "$PUB/audit/checkpoint")
[ "$s" = 200 ] && [ "$(t_jget "$T_TMP/head.json" 'j["seq"]')" = "$cp_seq" ] &&
	t_ok "GET /audit/checkpoint answers the latest head" ||
	t_fail "GET /audit/checkpoint answers the latest head" "status $s: $(head -c 300 "$T_TMP/head.json")"
python3 - "$T_TMP" <<'EOF'
import base64, json, struct, sys
d = sys.argv[1]
h = json.load(open(d + "/head.json"))
b = lambda k: base64.b64decode(h[k])
open(d + "/head.sig", "wb").write(b("sig"))
open(d + "/head.tst", "wb").write(b("tst"))
open(d + "/head.cert", "wb").write(b("cert"))
# audit.h: "govpki-audit-checkpoint-v1" || seq || time_ms || hash
open(d + "/head.tbs", "wb").write(b"govpki-audit-checkpoint-v1" +
    struct.pack(">q", h["seq"]) + struct.pack(">q", h["time_ms"]) + b("hash"))
EOF
openssl x509 -inform DER -in "$T_TMP/head.cert" -pubkey -noout >"$T_TMP/head.pub" 2>/dev/null
t_check "openssl verifies the head's signature with the published audit certificate" \
	openssl dgst -sha256 -verify "$T_TMP/head.pub" -signature "$T_TMP/head.sig" "$T_TMP/head.tbs"
t_check "the published audit certificate chains to the root" \
	openssl verify -CAfile "$D/certs/root.pem" -untrusted "$D/certs/ca.pem" "$D/certs/audit.pem"
imprint=$(openssl dgst -sha256 -r "$T_TMP/head.sig" | cut -d' ' -f1)
t_check "openssl ts -verify: the head's token stamps SHA-256 of its signature" \
	openssl ts -verify -digest "$imprint" -in "$T_TMP/head.tst" -token_in \
	-CAfile "$D/certs/root.pem" -untrusted "$D/certs/ca.pem"

# --- the witness -----------------------------------------------------------
t_refuse "the first witness run needs the auditor's root" "needs --root" witness "$W"
cp "$D/certs/root.pem" "$T_TMP/auditor-root.pem"   # the auditor's own copy
t_check "witness: first head recorded" witness "$W" --root "$T_TMP/auditor-root.pem"
[ "$(stat -c %a "$W")" = 600 ] && t_ok "witness state is mode 0600" || t_fail "witness state is mode 0600" "$(stat -c %a "$W")"
witness "$W" --json >"$T_TMP/w2.json" 2>&1
[ "$(t_jget "$T_TMP/w2.json" 'j["status"]')" = unchanged ] &&
	t_ok "witness: the same head again is unchanged" ||
	t_fail "witness: the same head again is unchanged" "$(cat "$T_TMP/w2.json")"
"$GOVPKI" ca crl --dir "$D" >/dev/null 2>&1    # a CLI run: its own time-stamped checkpoint at exit
witness "$W" --json >"$T_TMP/w3.json" 2>&1
[ "$(t_jget "$T_TMP/w3.json" 'j["status"]')" = recorded ] &&
	[ "$(t_jget "$T_TMP/w3.json" 'j["seq"] > j["previous_seq"]')" = True ] &&
	t_ok "witness: a head that extends the last is recorded" ||
	t_fail "witness: a head that extends the last is recorded" "$(cat "$T_TMP/w3.json")"
t_refuse "witness: another --root than the pinned one is refused" "not the root pinned" \
	witness "$W" --root "$D/certs/ca.pem"

# --- item 7: one report for the CLI and the API ---------------------------
"$GOVPKI" audit verify --dir "$D" --json >"$T_TMP/v.json" 2>&1
curl -s --max-time 10 --cacert "$D/certs/root.pem" --cert "$D/admin/auditor.pem" \
	--key "$D/admin/auditor.key" -o "$T_TMP/api.json" "$ADM/api/v1/audit/verify"
k1=$(t_jget "$T_TMP/v.json" 'sorted(j)')
k2=$(t_jget "$T_TMP/api.json" 'sorted(j)')
[ -n "$k1" ] && [ "$k1" = "$k2" ] && [ "$(t_jget "$T_TMP/api.json" 'j["verified"]')" = True ] &&
	[ "$(t_jget "$T_TMP/v.json" 'j["timestamped"] >= 2')" = True ] &&
	t_ok "audit verify --json and GET /api/v1/audit/verify: same fields" ||
	t_fail "audit verify --json and GET /api/v1/audit/verify: same fields" "cli $k1 / api $k2: $(cat "$T_TMP/api.json")"
"$GOVPKI" audit export --dir "$D" --out "$T_TMP/export.jsonl" --json >"$T_TMP/exp.json" 2>"$T_TMP/exp.err"
[ "$(t_jget "$T_TMP/exp.json" 'j["records"]')" = "$(wc -l <"$T_TMP/export.jsonl")" ] &&
	[ ! -s "$T_TMP/exp.err" ] &&
	t_ok "audit export --json prints {out, records} as JSON" ||
	t_fail "audit export --json prints {out, records} as JSON" "$(cat "$T_TMP/exp.json" "$T_TMP/exp.err")"

# --- a crash: kill -9, then a checkpoint at the next start ----------------
curl -s --max-time 10 --cacert "$D/certs/root.pem" --cert "$D/admin/auditor.pem" \
	--key "$D/admin/auditor.key" -o /dev/null "$ADM/api/v1/audit?limit=1"
kill -KILL "$T_SERVE_PID"
wait "$T_SERVE_PID" 2>/dev/null
crash_max=$(t_sql "$D" "SELECT max(seq) FROM audit")
[ "$(last_cp "$D")" -lt "$crash_max" ] &&
	t_ok "the killed server left records unsealed (up to $crash_max)" ||
	t_fail "the killed server left records unsealed" "last checkpoint $(last_cp "$D"), last record $crash_max"
t_serve "$D" || t_fail "serve restarts" "$(tail -n 3 "$T_TMP/serve.err" | tr '\n' ' ')"
[ "$(last_cp "$D")" -gt "$crash_max" ] &&
	t_ok "after kill -9, the restart seals the crashed run's records at once" ||
	t_fail "after kill -9, the restart seals the crashed run's records" "last checkpoint $(last_cp "$D"), crashed run up to $crash_max"
t_check "witness: the restarted server's head" witness "$W"
t_stop "$T_SERVE_PID"
t_check "the log verifies against the witness" "$GOVPKI" audit verify --dir "$D" --witness "$W"
[ "$(t_jget "$T_TMP/w3.json" 'j["seq"]')" -gt 0 ] && t_copy "$D" "$T_TMP/pristine"

# --- attack: rollback to an earlier checkpoint -----------------------------
R=$T_TMP/rollback
t_copy "$T_TMP/pristine" "$R"
# Back to the first checkpoint: every later checkpoint and record gone.
cut=$(t_sql "$R" "SELECT seq FROM audit WHERE op='audit.checkpoint' AND object='checkpoint:1'")
edit "$R" "DELETE FROM checkpoints WHERE id > 1; DELETE FROM audit WHERE seq > $cut"
t_check "rollback: the database alone cannot tell (verifies)" "$GOVPKI" audit verify --dir "$R"
t_refuse "rollback: caught by verify --witness, naming the witnessed head" \
	"does NOT verify.*witnessed head seq [0-9]+ \(checkpoint [0-9]+, seen .*is not in the chain" \
	"$GOVPKI" audit verify --dir "$R" --witness "$W"
# The rolled-back instance served: its head goes backwards.
t_serve "$R"
witness "$W" >"$T_TMP/back.out" 2>&1
rc=$?
t_stop "$T_SERVE_PID"
[ $rc != 0 ] && grep -q "INCIDENT: the audit head went backwards" "$T_TMP/back.out" &&
	t_ok "witness: a head that goes backwards is an incident (exit $rc)" ||
	t_fail "witness: a head that goes backwards is an incident" "exit $rc: $(cat "$T_TMP/back.out")"
[ "$(tail -n 1 "$W" | python3 -c 'import json,sys; print(json.load(sys.stdin)["type"])')" = incident ] &&
	t_ok "witness: the incident and the head as served are kept in the state" ||
	t_fail "witness: the incident is kept" "$(tail -n 1 "$W" | head -c 200)"

# --- a fork: two copies of one instance, each served once ------------------
# Same records up to the start, then each start adds the same number of
# records with other contents: the same seq with another hash.
t_copy "$T_TMP/pristine" "$T_TMP/fork1"
t_copy "$T_TMP/pristine" "$T_TMP/fork2"
t_serve "$T_TMP/fork1"
t_check "witness (fork): first copy's head" witness "$T_TMP/fork.state" --root "$T_TMP/auditor-root.pem"
t_stop "$T_SERVE_PID"
t_serve "$T_TMP/fork2"
witness "$T_TMP/fork.state" >"$T_TMP/fork.out" 2>&1
rc=$?
t_stop "$T_SERVE_PID"
[ $rc != 0 ] && grep -q "INCIDENT: the audit log forked: seq [0-9]* .*has another hash" "$T_TMP/fork.out" &&
	t_ok "witness: same seq, another hash is a fork incident" ||
	t_fail "witness: same seq, another hash is a fork incident" "exit $rc: $(cat "$T_TMP/fork.out")"

# --- attack: re-signed with the attacker's own key -------------------------
# resign DIR KEY CERT [CHAIN]: rewrites the whole chain as someone who
# knows the encoding of audit.h would, with KEY and CERT as the audit key:
# the audit.key record replaced, every hash recomputed, every checkpoint
# re-signed (tokens dropped: they stamp the old signatures), the key
# record's time moved into the validity of the attacker's certificates.
cat >"$T_TMP/resign.py" <<'EOF'
import hashlib, json, struct, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
import tdb
d, key, cert_pem = sys.argv[2:5]
chain = sys.argv[5:]
der = lambda p: subprocess.run(["openssl", "x509", "-in", p, "-outform", "DER"], capture_output=True, check=True).stdout
cert = der(cert_pem)
spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=subprocess.run(
    ["openssl", "x509", "-in", cert_pem, "-pubkey", "-noout"], capture_output=True, check=True).stdout,
    capture_output=True, check=True).stdout
spki_hex = hashlib.sha256(spki).hexdigest()
def enc(v):
    if v is None:
        return b"\0"
    b = v.encode()
    return b"\1" + struct.pack(">I", len(b)) + b
def rhash(prev, r):
    m = hashlib.sha256(b"govpki-audit-v1" + prev + struct.pack(">qq", r[0], r[1]))
    for v in r[2:10]:
        m.update(enc(v))
    return m.digest()
def sign(tbs):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=tbs, capture_output=True, check=True).stdout
c = tdb.connect(d)
rows = [list(r) for r in c.execute("SELECT seq, time_ms, actor, role, op, object, outcome, request_id, client, details FROM audit ORDER BY seq")]
prev, hashes = b"\0" * 32, {}
for r in rows:
    if r[4] == "audit.key":
        # Into the validity of the attacker's certificates, made now.
        r[1] = int(time.time() * 1000)
        r[5] = "audit-key:" + spki_hex
        r[9] = json.dumps({"spki_sha256": spki_hex, "cert": cert.hex(), "chain": [der(p).hex() for p in chain]},
                          separators=(",", ":"), sort_keys=True)
    if r[4] == "audit.checkpoint":
        d = json.loads(r[9])
        cid = int(r[5].split(":")[1])
        t = c.execute("SELECT time_ms FROM checkpoints WHERE id = ?", (cid,)).fetchone()[0]
        h = hashes[d["seq"]]
        sig = sign(b"govpki-audit-checkpoint-v1" + struct.pack(">qq", d["seq"], t) + h)
        c.execute("UPDATE checkpoints SET hash = ?, sig = ?, tst = NULL WHERE id = ?", (h, sig, cid))
        r[9] = json.dumps({"hash": h.hex(), "seq": d["seq"]}, separators=(",", ":"), sort_keys=True)
    h = rhash(prev, r)
    c.execute("UPDATE audit SET time_ms = ?, object = ?, details = ?, prev_hash = ?, hash = ? WHERE seq = ?",
              (r[1], r[5], r[9], prev, h, r[0]))
    hashes[r[0]] = h
    prev = h
c.commit()
EOF
resign() { edit "$1" "SELECT 1" >/dev/null && python3 "$T_TMP/resign.py" "$T_LIB_DIR" "$@"; }
ekucnf() { printf 'extendedKeyUsage=critical,%s\nkeyUsage=critical,digitalSignature\n' "$EKU" >"$T_TMP/eku.ext"; }
ekucnf

# A self-made audit.pem with the attacker's key.
S=$T_TMP/selfsigned
t_copy "$T_TMP/pristine" "$S"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_TMP/evil.key" \
	-subj "/CN=govpki Audit Log" -days 30 -addext "extendedKeyUsage=critical,$EKU" \
	-addext "keyUsage=critical,digitalSignature" -out "$T_TMP/evil-audit.pem" 2>/dev/null
resign "$S" "$T_TMP/evil.key" "$T_TMP/evil-audit.pem" || t_fail "re-sign" "script failed"
cp "$T_TMP/evil-audit.pem" "$S/certs/audit.pem"
t_refuse "re-sign attack (own key, self-made audit.pem): caught" \
	"does NOT verify: first bad record [0-9]+: record [0-9]+: audit certificate .*does not chain to the trust anchor" \
	"$GOVPKI" audit verify --dir "$S"

# An attacker root, its audit certificate, and root.pem replaced too.
A=$T_TMP/evilroot
t_copy "$T_TMP/pristine" "$A"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_TMP/evilroot.key" \
	-subj "/CN=govpki Root CA/O=govpki" -days 30 -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$T_TMP/evilroot.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T_TMP/evil2.key" \
	-subj "/CN=govpki Audit Log" -out "$T_TMP/evil2.csr" 2>/dev/null
openssl x509 -req -in "$T_TMP/evil2.csr" -CA "$T_TMP/evilroot.pem" -CAkey "$T_TMP/evilroot.key" \
	-set_serial 7 -days 30 -extfile "$T_TMP/eku.ext" -out "$T_TMP/evil2.pem" 2>/dev/null
resign "$A" "$T_TMP/evil2.key" "$T_TMP/evil2.pem" || t_fail "re-sign" "script failed"
cp "$T_TMP/evil2.pem" "$A/certs/audit.pem"
cp "$T_TMP/evilroot.pem" "$A/certs/root.pem"
t_check "re-sign with root.pem replaced: the instance's own files are fooled" \
	"$GOVPKI" audit verify --dir "$A"
t_refuse "re-sign with root.pem replaced: caught by --root (the auditor's copy)" \
	"does NOT verify: first bad record [0-9]+: record [0-9]+: audit certificate .*does not chain" \
	"$GOVPKI" audit verify --dir "$A" --root "$T_TMP/auditor-root.pem"
t_refuse "re-sign with root.pem replaced: caught by the witness's pinned root" \
	"does NOT verify.*pinned another root" "$GOVPKI" audit verify --dir "$A" --witness "$W"
t_refuse "re-sign with root.pem replaced: caught by the witness's heads with --root" \
	"does NOT verify" "$GOVPKI" audit verify --dir "$A" --witness "$W" --root "$T_TMP/auditor-root.pem"

# --- attack: certificate rows without their records ------------------------
O=$T_TMP/orphan
t_copy "$T_TMP/pristine" "$O"
edit "$O" "INSERT INTO certificates (serial, issuer, profile, subject, role, not_before, not_after, status, created_ms, der)
	SELECT '7e5700000000000000000000000000aa', issuer, profile, subject, role, not_before, not_after, 'good', created_ms, der
	FROM certificates WHERE role = 'officer'"
t_refuse "orphan certificate (no cert.issue record): caught, naming it" \
	"does NOT verify.*certificate 7e5700000000000000000000000000aa \(good\) has no cert.issue record" \
	"$GOVPKI" audit verify --dir "$O"
"$GOVPKI" audit verify --dir "$O" --json >"$T_TMP/o.json" 2>&1
t_serve "$O"
curl -s --max-time 10 --cacert "$O/certs/root.pem" --cert "$O/admin/auditor.pem" \
	--key "$O/admin/auditor.key" -o "$T_TMP/o-api.json" "$ADM/api/v1/audit/verify"
t_stop "$T_SERVE_PID"
[ "$(t_jget "$T_TMP/o.json" '(j["verified"], j["bad_serial"], j["first_bad_seq"] > 0)')" = "(False, '7e5700000000000000000000000000aa', True)" ] &&
	[ "$(t_jget "$T_TMP/o-api.json" '(j["verified"], j["bad_serial"], j["first_bad_seq"] > 0)')" = "(False, '7e5700000000000000000000000000aa', True)" ] &&
	[ "$(t_jget "$T_TMP/o.json" 'sorted(j)')" = "$(t_jget "$T_TMP/o-api.json" 'sorted(j)')" ] &&
	t_ok "a log that does not verify: CLI --json and the API name the same first bad record" ||
	t_fail "CLI --json and the API name the first bad record" "$(cat "$T_TMP/o.json" "$T_TMP/o-api.json")"

U=$T_TMP/unrevoke
t_copy "$T_TMP/pristine" "$U"
OSER=$(openssl x509 -in "$U/admin/officer.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
"$GOVPKI" ca revoke "$OSER" --reason keyCompromise --dir "$U" >/dev/null 2>&1
t_check "a revocation through the CA verifies" "$GOVPKI" audit verify --dir "$U"
edit "$U" "UPDATE certificates SET status='good', revoked_at=0, reason=-1 WHERE serial='$OSER'"
t_refuse "un-revoked behind the log's back: caught" \
	"does NOT verify.*certificate $OSER is good but its last status record, [0-9]+, set it revoked" \
	"$GOVPKI" audit verify --dir "$U"

# --- attack: the status history edited behind the log's back --------------
# The officer's certificate revoked, the auditor's held then revoked (its
# revocation keeps the hold's start); each copy is edited through t_sql.
H=$T_TMP/history
t_copy "$T_TMP/pristine" "$H"
ASER=$(openssl x509 -in "$H/admin/auditor.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
"$GOVPKI" ca revoke "$OSER" --reason keyCompromise --dir "$H" >/dev/null 2>&1
"$GOVPKI" ca hold "$ASER" --dir "$H" >/dev/null 2>&1
"$GOVPKI" ca revoke "$ASER" --reason keyCompromise --dir "$H" >/dev/null 2>&1
[ "$(t_sql "$H" "SELECT change FROM cert_status_history WHERE serial='$ASER' ORDER BY id" | tr '\n' ,)" = hold,revoke, ] &&
	t_check "holds and revocations through the CA verify" "$GOVPKI" audit verify --dir "$H" ||
	t_fail "holds and revocations through the CA verify" "history: $(t_sql "$H" "SELECT * FROM cert_status_history")"
t_copy "$H" "$H.del"
edit "$H.del" "DELETE FROM cert_status_history WHERE serial='$OSER'"
t_refuse "a deleted status history event: caught, naming the record" \
	"does NOT verify.*certificate $OSER: record [0-9]+ \(revoke\) has no status history event" \
	"$GOVPKI" audit verify --dir "$H.del"
# A release slipped in between the hold and the revocation, the revocation
# moved after it (history and row): a signature made while the certificate
# was held would look valid after the forged release.
t_copy "$H" "$H.rel"
edit "$H.rel" "CREATE TEMP TABLE r AS SELECT * FROM cert_status_history WHERE serial='$ASER' AND change='revoke';
	DELETE FROM cert_status_history WHERE serial='$ASER' AND change='revoke';
	INSERT INTO cert_status_history (serial, change, time, reason, invalidity_date, actor, created_ms)
		SELECT serial, 'release', time + 1, -1, 0, actor, created_ms FROM r;
	INSERT INTO cert_status_history (serial, change, time, reason, invalidity_date, actor, created_ms)
		SELECT serial, change, time + 3600, reason, invalidity_date, actor, created_ms FROM r;
	UPDATE certificates SET revoked_at = revoked_at + 3600 WHERE serial='$ASER'"
t_refuse "a forged release of a held, then revoked certificate: caught" \
	"does NOT verify.*certificate $ASER: status history event [0-9]+ \(a release at .*\) is not the change of its next status record, [0-9]+ \(a revoke at" \
	"$GOVPKI" audit verify --dir "$H.rel"
t_copy "$H" "$H.rec"
edit "$H.rec" "DELETE FROM audit WHERE op='cert.hold' AND object='$ASER'"
t_refuse "a deleted status record: caught" "does NOT verify: first bad record [0-9]+: record [0-9]+ is missing" \
	"$GOVPKI" audit verify --dir "$H.rec"

t_done audit
