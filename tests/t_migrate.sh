#!/usr/bin/env bash
# t_migrate.sh: `govpki store migrate`, an instance's SQLite store moved to
# a throwaway PostgreSQL cluster: 10,000 certificates issued through the
# library (tests/test_migrate.c's fill helper: real rows with their
# cert.issue records), revocations and holds; the migration keeps the audit
# chain verifiable, the counts equal and the SQLite file byte for byte, and
# the server then runs on PostgreSQL and answers OCSP "revoked" for a
# migrated revoked certificate. What must be refused is refused with
# nothing written: a running server, a password in the URL (not echoed), a
# wrong password, a target that holds a store, a tampered source, an older
# source schema; a row the target refuses half way leaves it empty.
. "$(dirname "$0")/lib.sh"

FILL=${BUILD:-$(dirname "$GOVPKI")}/tests/test_migrate
[ -x "$FILL" ] || FILL=$(dirname "$GOVPKI")/tests/test_migrate
D=$T_TMP/inst
cd "$T_TMP" || exit 1

if ! t_pg; then
	t_fail "PostgreSQL cluster" "tests/pg.sh start failed"; t_done migrate; exit 1
fi
if ! "$GOVPKI" init --dir "$D" --dev-clock >init.out 2>&1; then
	t_fail "init" "$(tail -n 3 init.out | tr '\n' ' ')"; t_done migrate; exit 1
fi
if ! REVOKED=$("$FILL" fill "$D" 10000 2>fill.err); then
	t_fail "fill" "$(tail -n 3 fill.err | tr '\n' ' ')"; t_done migrate; exit 1
fi
t_ok "10,000 certificates issued, revocations and holds"
t_check "source verifies" "$GOVPKI" audit verify --dir "$D"

# Copies of the instance for the cases that must fail, made before the
# migration (the whole directory: token, certificates, store).
for c in tamper midway older busy full; do cp -a "$D" "$T_TMP/$c"; done
cp "$D/govpki.json" conf.before
sha_before=$(sha256sum "$D/govpki.db" | cut -d' ' -f1)
lite() { sqlite3 -cmd '.timeout 10000' "$1/govpki.db" "$2"; }
pgq() { t_pgsql -d "$1" -tAc "$2" 2>/dev/null; }
url() { echo "postgresql:///$1?host=$PG_DIR&user=govpki"; }
# Rows of every table of database $1 (the tables may not exist yet).
pg_rows() {
	pgq "$1" "SELECT COALESCE(sum((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I', table_name), false, true, '')))[1]::text::bigint), 0) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'govpki_schema'"
}

# --- a running server holds the instance: refused --------------------------
t_serve "$T_TMP/busy" >/dev/null 2>&1
t_pgdb mbusy >/dev/null
t_refuse "refused while the server runs" "govpki.lock.*stop it" \
	"$GOVPKI" store migrate --from "$T_TMP/busy" --to "$(url mbusy)"
t_check "nothing written while the server runs" test "$(pg_rows mbusy)" = 0
t_stop "$T_SERVE_PID" 2>/dev/null || kill "$T_SERVE_PID" 2>/dev/null

# --- a password in the URL: refused, not echoed ----------------------------
t_refuse "password in the URL refused" "--to: it holds a password" \
	"$GOVPKI" store migrate --from "$D" --to "postgresql://govpki:Sekr1t-xyz@/mbusy?host=$PG_DIR"
if grep -q "Sekr1t-xyz" "$T_TMP/last.out"; then
	t_fail "the password is not echoed" "$(cat "$T_TMP/last.out")"
else t_ok "the password is not echoed"; fi
t_refuse "a password= parameter refused" "holds a password" \
	"$GOVPKI" store migrate --from "$D" --to "$(url mbusy)&password=Sekr1t-xyz"
grep -q "Sekr1t-xyz" "$T_TMP/last.out" && t_fail "password= not echoed" "echoed"

# --- a wrong password: a clear error, nothing changed ----------------------
t_pgsql -d postgres -c "CREATE DATABASE mpw OWNER pwuser" >/dev/null
echo "not-the-password" >wrong.pw && chmod 600 wrong.pw
t_refuse "wrong password: the login is refused" "refused the login.*--to-password-file" \
	"$GOVPKI" store migrate --from "$D" --to "postgresql:///mpw?host=$PG_DIR&user=pwuser" \
	--to-password-file wrong.pw
grep -q "not-the-password" "$T_TMP/last.out" && t_fail "wrong password not echoed" "echoed"
t_check "wrong password: govpki.json unchanged" cmp -s conf.before "$D/govpki.json"
t_refuse "a password file that is missing" "--to-password-file nope.pw" \
	"$GOVPKI" store migrate --from "$D" --to "$(url mpw)" --to-password-file nope.pw

# --- a tampered source: refused, nothing written to the target -------------
lite "$T_TMP/tamper" "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'someone else' WHERE seq = 40"
t_pgdb mtamper >/dev/null
t_refuse "tampered source refused" "does not verify.*record 40.*nothing was migrated" \
	"$GOVPKI" store migrate --from "$T_TMP/tamper" --to "$(url mtamper)"
t_check "tampered: nothing written to the target" test "$(pg_rows mtamper)" = 0
t_check "tampered: govpki.json unchanged" cmp -s conf.before "$T_TMP/tamper/govpki.json"

# --- an older source schema: refused, the file untouched -------------------
lite "$T_TMP/older" "PRAGMA user_version = 9"
sha_older=$(sha256sum "$T_TMP/older/govpki.db" | cut -d' ' -f1)
t_refuse "older schema refused" "older than this govpki.*open it once" \
	"$GOVPKI" store migrate --from "$T_TMP/older" --to "$(url mtamper)"
t_check "older schema: the file untouched" \
	test "$(sha256sum "$T_TMP/older/govpki.db" | cut -d' ' -f1)" = "$sha_older"

# --- a row the target refuses half way: all or nothing ---------------------
# Text that is not UTF-8 (SQLite keeps it, PostgreSQL refuses it) in
# requests, which is copied after the audit log and the certificates.
lite "$T_TMP/midway" "INSERT INTO requests (id, profile, requester, requester_actor, body, status, created_ms) VALUES ('ff', 'x', 'x', 'x', CAST(X'C328' AS TEXT), 'pending', 1)"
t_pgdb mmid >/dev/null
t_refuse "a row refused half way fails the migration" "copy requests" \
	"$GOVPKI" store migrate --from "$T_TMP/midway" --to "$(url mmid)"
t_check "half way: the target holds no row" test "$(pg_rows mmid)" = 0
t_check "half way: the instance stays on SQLite" cmp -s conf.before "$T_TMP/midway/govpki.json"
if ls "$T_TMP/midway"/govpki.json.* >/dev/null 2>&1; then
	t_fail "half way: no configuration left behind" "$(ls "$T_TMP/midway")"
else t_ok "half way: no configuration left behind"; fi

# --- the migration ---------------------------------------------------------
t_pgdb mgood >/dev/null
if "$GOVPKI" store migrate --from "$D" --to "$(url mgood)" >migrate.out 2>&1; then
	t_ok "migrate"
else t_fail "migrate" "$(tail -n 3 migrate.out | tr '\n' ' ')"; fi
grep -q "certificates *10011 rows" migrate.out && t_ok "summary: rows per table" ||
	t_fail "summary: rows per table" "$(head -n 8 migrate.out | tr '\n' ' ')"
grep -Eq "in [0-9.]+ s" migrate.out && t_ok "summary: seconds" || t_fail "summary: seconds" "$(head -n 1 migrate.out)"
t_check "the SQLite file is unchanged" \
	test "$(sha256sum "$D/govpki.db" | cut -d' ' -f1)" = "$sha_before"
for tbl in audit certificates cert_status_history checkpoints meta; do
	n_lite=$(lite "$D" "SELECT count(*) FROM $tbl")
	n_pg=$(pgq mgood "SELECT count(*) FROM $tbl")
	[ "$tbl" = audit ] && n_lite=$((n_lite + 1)) # the store.migrate record
	if [ "$n_lite" = "$n_pg" ] && [ "$n_pg" -gt 0 ]; then t_ok "counts equal: $tbl ($n_pg)"
	else t_fail "counts equal: $tbl" "SQLite $n_lite, PostgreSQL $n_pg"; fi
done
t_check "the head is the source's" test "$(lite "$D" "SELECT hex(hash) FROM audit ORDER BY seq DESC LIMIT 1")" = \
	"$(pgq mgood "SELECT upper(encode(prev_hash, 'hex')) FROM audit WHERE op = 'store.migrate'")"
rec=$(pgq mgood "SELECT details FROM audit WHERE op = 'store.migrate'")
echo "$rec" | grep -q "\"sha256\": *\"$sha_before\"" && echo "$rec" | grep -q '"certificates": *10011' &&
	t_ok "store.migrate record: file hash and counts" || t_fail "store.migrate record" "$rec"
t_check "govpki.json names the database" grep -q "\"url\": \"postgresql:///mgood" "$D/govpki.json"
kept=$(ls "$D"/govpki.json.sqlite-* 2>/dev/null | head -n 1)
t_check "the previous govpki.json is kept" cmp -s conf.before "$kept"
grep -q "kept as $kept" migrate.out && t_ok "the output names the kept file" ||
	t_fail "the output names the kept file" "$(tail -n 3 migrate.out)"
t_check "audit verify passes on PostgreSQL" "$GOVPKI" audit verify --dir "$D"
grep -q "10011 certificates on record" "$T_TMP/last.out" && t_ok "verify cross-checks every certificate" ||
	t_fail "verify cross-checks every certificate" "$(cat "$T_TMP/last.out")"
t_pgsql -d mgood -c "UPDATE audit SET actor = 'x' WHERE seq = 3" >/dev/null 2>&1 &&
	t_fail "append-only after the copy" "UPDATE of an audit row succeeded" ||
	t_ok "append-only after the copy"
t_refuse "migrating again is refused" "on PostgreSQL already" \
	"$GOVPKI" store migrate --from "$D" --to "$(url mgood)"

# --- a target that holds a store: refused, unchanged -----------------------
before=$(pg_rows mgood)
t_refuse "target not empty refused" "holds .*rows.*never merged|holds a govpki store" \
	"$GOVPKI" store migrate --from "$T_TMP/full" --to "$(url mgood)"
t_check "target not empty: unchanged" test "$(pg_rows mgood)" = "$before"
t_check "target not empty: the instance stays on SQLite" cmp -s conf.before "$T_TMP/full/govpki.json"

# --- the server on the migrated instance -----------------------------------
GOVPKI_TEST_CLOCK=ok t_serve_up migrate "$D"
t_ok "serve starts on PostgreSQL"
openssl ocsp -issuer "$D/certs/ca.pem" -serial "0x$REVOKED" -url "$PUB/ocsp" \
	-CAfile "$D/certs/root.pem" -resp_text >ocsp.out 2>&1
grep -q "Cert Status: revoked" ocsp.out && t_ok "OCSP: a migrated revoked certificate is revoked" ||
	t_fail "OCSP revoked" "$(grep -E 'Status|error' ocsp.out | head -n 3 | tr '\n' ' ')"

t_done migrate
