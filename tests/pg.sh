#!/usr/bin/env bash
# pg.sh: a throwaway PostgreSQL cluster for the tests, so that no test
# depends on a database the machine happens to have.
#
#   tests/pg.sh start OWNER_PID   makes a cluster in a new /tmp/govpki-pg.*
#                                 folder (initdb), starts it listening on a
#                                 Unix socket in that folder only (no TCP),
#                                 and prints two lines: the folder, and the
#                                 URL of its "postgres" database for the
#                                 superuser "govpki" (trust on the socket).
#                                 A watchdog stops the cluster and removes
#                                 the folder once OWNER_PID has exited, so
#                                 nothing outlives a test killed by a
#                                 timeout.
#   tests/pg.sh stop DIR          stops it now (immediate) and removes DIR.
#   tests/pg.sh down DIR          stops it, keeping DIR (a database that
#                                 goes away); `up DIR` starts it again.
#   tests/pg.sh psql DIR ARGS...  psql on the cluster as the superuser.
#
# The user "pwuser" (password "pw-secret-1") logs in with SCRAM only, for
# the tests of passwords. PostgreSQL refuses to run as root: as root the
# server runs as "nobody" (setpriv), the folder owned by it.
set -u

pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	d=$(command -v initdb 2>/dev/null) || return 1
	dirname "$d"
}

BIN=$(pg_bindir) || {
	echo "pg.sh: no PostgreSQL server found (initdb): install Debian's postgresql (make check does)" >&2
	exit 1
}

# as_owner CMD...: runs CMD as the cluster's owner.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
	else
		"$@"
	fi
}

pg_start() {
	local dir=$1
	as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-k $dir -c listen_addresses=''" start >/dev/null 2>>"$dir/ctl.log"
}

pg_stop() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	as_owner "$BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop \
		>/dev/null 2>>"$dir/ctl.log"
}

case ${1:-} in
start)
	owner=${2:?usage: pg.sh start OWNER_PID}
	dir=$(mktemp -d /tmp/govpki-pg.XXXXXX) || exit 1
	chmod 0755 "$dir"
	[ "$(id -u)" = 0 ] && chown nobody:nogroup "$dir"
	if ! as_owner "$BIN/initdb" -D "$dir/data" -U govpki -A trust -E UTF8 \
		--locale=C -N >"$dir/initdb.log" 2>&1; then
		echo "pg.sh: initdb failed: $(tail -n 3 "$dir/initdb.log" | tr '\n' ' ')" >&2
		rm -rf "$dir"
		exit 1
	fi
	{
		echo "unix_socket_permissions = 0777"
		echo "max_connections = 200"
		echo "shared_buffers = 32MB"
		echo "password_encryption = scram-sha-256"
	} >>"$dir/data/postgresql.conf"
	printf 'local all pwuser scram-sha-256\nlocal all all trust\n' \
		>"$dir/data/pg_hba.conf"
	if ! pg_start "$dir"; then
		echo "pg.sh: the server did not start: $(tail -n 3 "$dir/server.log" 2>/dev/null | tr '\n' ' ')" >&2
		rm -rf "$dir"
		exit 1
	fi
	"$BIN/psql" -X -q -h "$dir" -U govpki -d postgres -c \
		"CREATE ROLE pwuser LOGIN SUPERUSER PASSWORD 'pw-secret-1'" >/dev/null
	# The watchdog: detached, it outlives this script and stops the
	# cluster once the owner is gone (or the folder was removed).
	setsid bash -c '
		while kill -0 "$1" 2>/dev/null && [ -d "$2/data" ]; do sleep 1; done
		"$0" stop "$2"' "$(readlink -f "$0")" "$owner" "$dir" </dev/null >/dev/null 2>&1 &
	echo "$dir"
	echo "postgresql:///postgres?host=$dir&user=govpki"
	;;
stop)
	dir=${2:?usage: pg.sh stop DIR}
	case $dir in /tmp/govpki-pg.*) ;; *) echo "pg.sh: $dir is not a test cluster" >&2; exit 1 ;; esac
	pg_stop "$dir"
	rm -rf "$dir"
	;;
down)
	pg_stop "${2:?usage: pg.sh down DIR}"
	;;
up)
	pg_start "${2:?usage: pg.sh up DIR}"
	;;
psql)
	dir=${2:?usage: pg.sh psql DIR ARGS...}
	shift 2
	"$BIN/psql" -X -q -h "$dir" -U govpki "$@"
	;;
*)
	echo "usage: pg.sh start OWNER_PID | stop DIR | down DIR | up DIR | psql DIR ARGS..." >&2
	exit 2
	;;
esac
