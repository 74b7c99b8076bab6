#!/usr/bin/env bash
# t_postgres.sh: an instance whose store is a PostgreSQL database (a
# throwaway cluster, tests/pg.sh): `govpki init --store URL`, the
# database's password from a file or the environment and never from the
# URL, refusals that leave nothing behind, and the server working on it:
# issuance, revocation seen by OCSP, audit verification.
. "$(dirname "$0")/lib.sh"

if ! t_pg; then
	t_fail "PostgreSQL cluster" "tests/pg.sh start failed"
	t_done postgres
	exit 1
fi
cd "$T_TMP" || exit 1
D=$T_TMP/inst

# --- refusals: nothing is left behind -------------------------------------
t_refuse "init --store with user:password@ in the URL is refused" \
	'--store: it holds a password' \
	"$GOVPKI" init --dir "$T_TMP/a" --store "postgresql://pwuser:pw-secret-1@/p1?host=$PG_DIR"
t_refuse "init --store with ?password= in the URL is refused" \
	'--store: it holds a password' \
	"$GOVPKI" init --dir "$T_TMP/a" --store "postgresql:///p1?host=$PG_DIR&password=pw-secret-1"
grep -q 'pw-secret-1' "$T_TMP/last.out" &&
	t_fail "the refused password is not repeated" "$(cat "$T_TMP/last.out")" ||
	t_ok "the refused password is not repeated"
t_refuse "init --store of a missing database names it" 'p_missing.*does not exist' \
	"$GOVPKI" init --dir "$T_TMP/a" --store "postgresql:///p_missing?host=$PG_DIR&user=govpki"
t_pgsql -d postgres -c "CREATE DATABASE p1 OWNER pwuser" >/dev/null
URL="postgresql:///p1?host=$PG_DIR&user=pwuser"
printf 'wr0ng-pw-55\n' >"$T_TMP/wrong.pw"
t_refuse "a password file others can read is refused, named" \
	'store.password_file: .*wrong.pw: readable by others' \
	"$GOVPKI" init --dir "$T_TMP/a" --store "$URL" --store-password-file "$T_TMP/wrong.pw"
chmod 600 "$T_TMP/wrong.pw"
t_refuse "a wrong password is refused" 'refused the login.*password authentication failed' \
	"$GOVPKI" init --dir "$T_TMP/a" --store "$URL" --store-password-file "$T_TMP/wrong.pw"
grep -q 'wr0ng-pw-55' "$T_TMP/last.out" &&
	t_fail "the wrong password is not repeated" "$(cat "$T_TMP/last.out")" ||
	t_ok "the wrong password is not repeated"
[ ! -e "$T_TMP/a" ] && [ -z "$(ls -A "$T_TMP" | grep '^\.a\.')" ] &&
	t_ok "refused inits left no directory" ||
	t_fail "refused inits left no directory" "$(ls -A "$T_TMP")"
[ "$(t_pgsql -d p1 -tAc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ] &&
	t_ok "refused inits left the database empty" ||
	t_fail "refused inits left the database empty" "tables in p1"

# --- init with the password from a file -------------------------------------
printf 'pw-secret-1\n' >"$T_TMP/db.pw"
chmod 600 "$T_TMP/db.pw"
t_check "init --store with --store-password-file" \
	"$GOVPKI" init --dir "$D" --dev-clock --store "$URL" --store-password-file "$T_TMP/db.pw"
got=$(t_jget "$D/govpki.json" 'j["store"]["url"]')
[ "$got" = "$URL" ] && t_ok "govpki.json names the database" ||
	t_fail "govpki.json names the database" "store.url is '$got'"
[ ! -e "$D/govpki.db" ] && t_ok "no SQLite file" || t_fail "no SQLite file" "$D/govpki.db exists"
grep -rq 'pw-secret-1' "$D/govpki.json" &&
	t_fail "the password is not in govpki.json" "it is" ||
	t_ok "the password is not in govpki.json"
n=$(t_pgsql -d p1 -tAc "SELECT count(*) FROM audit")
[ "${n:-0}" -gt 10 ] && t_ok "init's audit records are in PostgreSQL ($n)" ||
	t_fail "init's audit records are in PostgreSQL" "count '$n'"
t_check "audit verify on PostgreSQL" "$GOVPKI" audit verify --dir "$D"
cp -r "$D" "$T_TMP/nopw"
t_setcfg "$T_TMP/nopw/govpki.json" "store={\"url\": \"$URL\"}"
t_refuse "without the password the store is refused, naming where it comes from" \
	'refused the login .*store.password_file' \
	env -u PGPASSWORD "$GOVPKI" audit verify --dir "$T_TMP/nopw"
t_refuse "a second init on the same database is refused" 'holds a govpki store already' \
	"$GOVPKI" init --dir "$T_TMP/b" --store "$URL" --store-password-file "$T_TMP/db.pw"

# --- serve with the password in the environment ------------------------------
t_setcfg "$D/govpki.json" "store={\"url\": \"$URL\", \"password_env\": \"GOVPKI_TEST_DBPW\"}"
GOVPKI_TEST_DBPW=pw-secret-1 GOVPKI_TEST_CLOCK=ok t_serve_up postgres "$D"
s=$(t_req health "$PUB/healthz")
[ "$s" = 200 ] && grep -q '"store": *"ok"' "$T_TMP/health.body" &&
	t_ok "healthz: store ok" || t_fail "healthz: store ok" "$s $(cat "$T_TMP/health.body")"
if tr '\0' '\n' <"/proc/$T_SERVE_PID/cmdline" | grep -q 'pw-secret-1' ||
	tr '\0' '\n' <"/proc/$T_SERVE_PID/environ" | grep -q 'pw-secret-1'; then
	t_fail "the password is in neither the server's arguments nor its environment" "found"
else
	t_ok "the password is in neither the server's arguments nor its environment"
fi

# --- the server works on it ----------------------------------------------------
OFF=$D/admin/officer
t_csr ent
t_issue_json "$T_TMP/ent.json" enterprise "$T_TMP/ent.csr" \
	'{"organization":"某某数据有限公司","uscc":"91350100M000100Y43"}'
s=$(t_admin "$OFF" issue /api/v1/certificates -X POST --data-binary "@$T_TMP/ent.json")
t_expect "issue an enterprise certificate" 201 "$s"
SER=$(t_jget "$T_TMP/issue.body" 'j["serial"]')
t_jget "$T_TMP/issue.body" 'j["certificate"]' >"$T_TMP/ent.pem"
[ "$(t_pgsql -d p1 -tAc "SELECT status FROM certificates WHERE serial = '$SER'")" = good ] &&
	t_ok "its row is in PostgreSQL" || t_fail "its row is in PostgreSQL" "serial $SER"
cat "$D/certs/ca.pem" "$D/certs/root.pem" >"$T_TMP/chain.pem"
ocsp_status() {
	openssl ocsp -issuer "$D/certs/ca.pem" -cert "$T_TMP/ent.pem" -url "$PUB/ocsp" \
		-CAfile "$T_TMP/chain.pem" -no_nonce >"$T_TMP/ocsp.out" 2>&1
	grep -q "Response verify OK" "$T_TMP/ocsp.out" &&
		grep -o 'ent.pem: [a-z]*' "$T_TMP/ocsp.out" | cut -d' ' -f2
}
[ "$(ocsp_status)" = good ] && t_ok "OCSP: good" || t_fail "OCSP: good" "$(ocsp_status)"
export GOVPKI_TEST_DBPW=pw-secret-1 # for the CLI from here on
t_check "revoke by the CLI (another process)" \
	"$GOVPKI" ca revoke "$SER" --reason keyCompromise --dir "$D"
[ "$(ocsp_status)" = revoked ] && t_ok "OCSP: revoked at once" || t_fail "OCSP: revoked at once" "$(ocsp_status)"
t_check "audit verify after the server's work" "$GOVPKI" audit verify --dir "$D"
t_done postgres
