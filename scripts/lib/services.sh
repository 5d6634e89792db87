# shellcheck shell=bash
# Test services for scripts/test and scripts/bench: Redis, a DynamoDB-compatible server (moto)
# and PostgreSQL, reused when already running, otherwise installed and started. A service that
# cannot be provided is an error, never a skip.
#
# Exports URL_SHORTENER_TEST_REDIS_URL, URL_SHORTENER_TEST_DYNAMODB_ENDPOINT and
# URL_SHORTENER_TEST_POSTGRES_URL (a scratch database, dropped at exit), plus dummy AWS
# credentials so the SDK never looks for real ones (or asks an instance-metadata endpoint).

MOTO_VERSION="5.2.5"
SCHEMATHESIS_VERSION="4.32.5"
SERVICES_STATE="$(mktemp -d "${TMPDIR:-/tmp}/url-shortener-services.XXXXXX")"
SERVICES_PIDS=()
# Scratch PostgreSQL databases to drop at exit, as "admin-url database" lines.
SERVICES_PG_DATABASES=()

services_cleanup() {
  local pid entry
  for entry in "${SERVICES_PG_DATABASES[@]}"; do
    psql "${entry% *}" -X -q -c "DROP DATABASE IF EXISTS ${entry##* } WITH (FORCE)" \
      >/dev/null 2>&1 || true
  done
  for pid in "${SERVICES_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  rm -rf "$SERVICES_STATE"
}

die() {
  echo "scripts: $*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "cannot install $* (no apt-get); install it and rerun"
  echo "installing $* with apt-get"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# redis_answers HOST PORT: true when a Redis server replies +PONG.
redis_answers() {
  local reply
  # The braces keep `2>/dev/null` to the connect: on a bare `exec` it would silence the
  # shell's stderr for good.
  { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3 || reply=""
  exec 3<&- 3>&-
  [[ "$reply" == +PONG* ]]
}

# http_answers URL: true when anything answers HTTP there.
http_answers() {
  python3 - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
PY
}

ensure_redis() {
  # The TLS test starts its own redis-server, so the binary is needed even when a server runs.
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  if [ -n "${URL_SHORTENER_TEST_REDIS_URL:-}" ]; then
    echo "Redis: using URL_SHORTENER_TEST_REDIS_URL"
    return
  fi
  if redis_answers 127.0.0.1 6379; then
    export URL_SHORTENER_TEST_REDIS_URL="redis://127.0.0.1:6379"
    echo "Redis: using the server at 127.0.0.1:6379"
    return
  fi
  local port
  port="$(free_port)"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize no --logfile "$SERVICES_STATE/redis.log" &
  SERVICES_PIDS+=("$!")
  for _ in $(seq 1 100); do
    redis_answers 127.0.0.1 "$port" && break
    sleep 0.1
  done
  redis_answers 127.0.0.1 "$port" || die "redis-server did not start; see $SERVICES_STATE/redis.log"
  export URL_SHORTENER_TEST_REDIS_URL="redis://127.0.0.1:$port"
  echo "Redis: started redis-server on 127.0.0.1:$port"
}

ensure_dynamodb() {
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_EC2_METADATA_DISABLED=true
  if [ -n "${URL_SHORTENER_TEST_DYNAMODB_ENDPOINT:-}" ]; then
    echo "DynamoDB: using URL_SHORTENER_TEST_DYNAMODB_ENDPOINT"
    return
  fi
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/url-shortener/moto-$MOTO_VERSION"
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "DynamoDB: installing moto[server]==$MOTO_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || { apt_install python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q "moto[server]==$MOTO_VERSION" || die "could not install moto[server]"
  fi
  local port
  port="$(free_port)"
  "$venv/bin/python" "$(dirname "${BASH_SOURCE[0]}")/moto_server.py" 127.0.0.1 "$port" \
    >"$SERVICES_STATE/moto.log" 2>&1 &
  SERVICES_PIDS+=("$!")
  for _ in $(seq 1 150); do
    http_answers "http://127.0.0.1:$port/" && break
    sleep 0.2
  done
  http_answers "http://127.0.0.1:$port/" || die "moto_server did not start; see $SERVICES_STATE/moto.log"
  export URL_SHORTENER_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
  echo "DynamoDB: started moto_server $MOTO_VERSION on 127.0.0.1:$port"
}

# postgres_admin_url: the server the scratch databases are made on. Override with
# URL_SHORTENER_TEST_POSTGRES_ADMIN_URL (a URL of a role that may create databases).
postgres_admin_url() {
  echo "${URL_SHORTENER_TEST_POSTGRES_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
}

# start_postgres_cluster: starts the machine's first PostgreSQL cluster (Debian's
# pg_ctlcluster), installing the server first when there is none.
start_postgres_cluster() {
  if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    apt_install postgresql
  fi
  local version cluster
  read -r version cluster _ < <(pg_lsclusters -h | head -n 1)
  [ -n "$cluster" ] || die "no PostgreSQL cluster to start (pg_lsclusters lists none)"
  echo "PostgreSQL: starting cluster $version/$cluster"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start ||
    die "could not start PostgreSQL $version/$cluster; see /var/log/postgresql/"
}

# ensure_postgres: a running server and a fresh scratch database on it for this run.
ensure_postgres() {
  command -v psql >/dev/null 2>&1 || apt_install postgresql-client
  local admin
  admin="$(postgres_admin_url)"
  if ! psql "$admin" -X -q -A -t -c 'SELECT 1' >/dev/null 2>&1; then
    [ -z "${URL_SHORTENER_TEST_POSTGRES_ADMIN_URL:-}" ] ||
      die "PostgreSQL at URL_SHORTENER_TEST_POSTGRES_ADMIN_URL does not answer"
    start_postgres_cluster
    for _ in $(seq 1 100); do
      psql "$admin" -X -q -A -t -c 'SELECT 1' >/dev/null 2>&1 && break
      sleep 0.2
    done
  fi
  local problem
  problem="$(psql "$admin" -X -q -A -t -c 'SELECT 1' 2>&1 >/dev/null)" ||
    die "PostgreSQL does not accept $admin ($problem); the tests need a role that may create \
databases without a password on 127.0.0.1, or URL_SHORTENER_TEST_POSTGRES_ADMIN_URL"
  local db="url_shortener_test_$$_${RANDOM}"
  psql "$admin" -X -q -c "CREATE DATABASE $db" >/dev/null || die "cannot create database $db"
  SERVICES_PG_DATABASES+=("$admin $db")
  export URL_SHORTENER_TEST_POSTGRES_URL="${admin%/*}/$db"
  echo "PostgreSQL: scratch database $db on ${admin%/*}"
}

# postgres_scratch_migrated: a new scratch database with migrations/ applied in version order,
# each in one transaction (as the service applies them); its URL in POSTGRES_SCRATCH_URL. Not
# in a command substitution: the database must be registered in this shell to be dropped at
# exit. Needs ensure_postgres's server.
postgres_scratch_migrated() {
  local admin db file
  admin="$(postgres_admin_url)"
  db="url_shortener_schema_$$_${RANDOM}"
  psql "$admin" -X -q -c "CREATE DATABASE $db" >/dev/null || die "cannot create database $db"
  SERVICES_PG_DATABASES+=("$admin $db")
  for file in migrations/*.sql; do
    psql "${admin%/*}/$db" -X -q -1 -v ON_ERROR_STOP=1 -f "$file" >/dev/null ||
      die "migration $file failed on a fresh database"
  done
  POSTGRES_SCRATCH_URL="${admin%/*}/$db"
}

# The browser the UI tests drive: Debian's chromium and its chromedriver (same package
# version, so the driver speaks the browser's protocol), and axe-core from npm at a pinned
# version for the accessibility check, kept under the target directory
# (URL_SHORTENER_AXE_JS points at it).
AXE_CORE_VERSION="4.14.1"

ensure_browser() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install chromium chromium-driver
  fi
  command -v chromedriver >/dev/null 2>&1 || die "chromedriver is missing after installing chromium-driver"
  echo "Browser: $(chromium --version 2>/dev/null | head -n 1), $(chromedriver --version | cut -d' ' -f1-2)"
}

ensure_axe() {
  local target_dir="$1" dir
  dir="$target_dir/axe"
  if [ ! -f "$dir/node_modules/axe-core/axe.min.js" ] ||
    ! grep -q "\"version\": \"$AXE_CORE_VERSION\"" "$dir/node_modules/axe-core/package.json"; then
    command -v npm >/dev/null 2>&1 || apt_install npm
    echo "axe-core: installing $AXE_CORE_VERSION from npm into $dir"
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --silent --no-save "axe-core@$AXE_CORE_VERSION") ||
      die "could not install axe-core from npm"
  fi
  export URL_SHORTENER_AXE_JS="$dir/node_modules/axe-core/axe.min.js"
  echo "axe-core: $URL_SHORTENER_AXE_JS"
}

# ensure_schemathesis: schemathesis (PyPI) in a venv of its own, for the suite's bounded run of
# every check over the whole API; its `st` in URL_SHORTENER_SCHEMATHESIS.
ensure_schemathesis() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/url-shortener/schemathesis-$SCHEMATHESIS_VERSION"
  if [ ! -x "$venv/bin/st" ]; then
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
    echo "schemathesis: installing $SCHEMATHESIS_VERSION into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" || { apt_install python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" ||
      die "could not install schemathesis"
  fi
  export URL_SHORTENER_SCHEMATHESIS="$venv/bin/st"
  echo "schemathesis: $URL_SHORTENER_SCHEMATHESIS"
}
