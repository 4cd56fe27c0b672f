# emulators.sh: start and stop DynamoDB Local and the moto server (KMS, Secrets Manager, SES).
# Source it after lib.sh, then:
#   start_emulators DDB_PORT MOTO_PORT   start both on 127.0.0.1, or reuse our own running ones
#   stop_emulators                       stop what start_emulators started (not what it reused)
# Each emulator's pid and the pid of the shell that owns it go to local/.state/<name>-<port>.pid,
# its output to local/.state/<name>-<port>.log. An emulator of ours already listening is reused:
# left alone while the shell that started it runs, adopted (and so stopped by us) when that
# shell is gone.

EMULATOR_PIDS=()

# http_answers HOST PORT succeeds when something answers an HTTP request on HOST:PORT.
# Plain bash (/dev/tcp), so curl need not be installed.
http_answers() {
  local line
  (
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3
    IFS= read -r -t 2 line <&3 && [[ $line == HTTP/* ]]
  ) 2>/dev/null
}

# port_open HOST PORT succeeds when something accepts TCP connections on HOST:PORT.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_is_ours PID PATTERN succeeds when PID is a live process whose command line contains PATTERN.
pid_is_ours() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}

# start_emulator NAME PORT MATCH CMD... starts CMD in the background unless our own NAME is
# already listening on PORT (MATCH is a string of its command line), then waits until it answers.
start_emulator() {
  local name=$1 port=$2 match=$3
  shift 3
  local pidfile=$STATE_DIR/$name-$port.pid log=$STATE_DIR/$name-$port.log pid= owner=
  mkdir -p "$STATE_DIR"
  if [ -f "$pidfile" ]; then read -r pid owner <"$pidfile" || true; fi
  if pid_is_ours "$pid" "$match" && http_answers 127.0.0.1 "$port"; then
    if [ -n "$owner" ] && [ "$owner" != $$ ] && kill -0 "$owner" 2>/dev/null; then
      say "$name on 127.0.0.1:$port: already running (pid $pid, started by pid $owner), reusing it"
    else
      say "$name on 127.0.0.1:$port: left running by an earlier run (pid $pid), adopting it"
      echo "$pid $$" >"$pidfile"
      EMULATOR_PIDS+=("$pid")
    fi
    return
  fi
  if port_open 127.0.0.1 "$port"; then
    die "127.0.0.1:$port is taken by another program; stop it or pick another port"
  fi
  "$@" >"$log" 2>&1 &
  pid=$!
  echo "$pid $$" >"$pidfile"
  EMULATOR_PIDS+=("$pid")
  local deadline=$((SECONDS + 60))
  until http_answers 127.0.0.1 "$port"; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$name exited; log: $log"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 "$log" >&2; die "$name did not answer on :$port within 60 s"; }
    sleep 0.2
  done
  say "$name on 127.0.0.1:$port: started (pid $pid, log ${log#"$ROOT_DIR"/})"
}

# start_emulators DDB_PORT MOTO_PORT starts DynamoDB Local and moto on 127.0.0.1.
start_emulators() {
  local ddb_port=${1:-8000} moto_port=${2:-5000}
  [ -f "$DYNAMODB_LOCAL_HOME/DynamoDBLocal.jar" ] || die "DynamoDB Local is not installed: run local/install.sh"
  [ -x "$VENV_DIR/bin/moto_server" ] || die "moto is not installed: run local/install.sh"
  # DynamoDB Local has no bind-address option; -disableTelemetry keeps it from calling out.
  start_emulator dynamodb "$ddb_port" "DynamoDBLocal.jar" \
    java "-Djava.library.path=$DYNAMODB_LOCAL_HOME/DynamoDBLocal_lib" \
    -jar "$DYNAMODB_LOCAL_HOME/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$ddb_port"
  start_emulator moto "$moto_port" "moto_server" \
    "$VENV_DIR/bin/moto_server" -H 127.0.0.1 -p "$moto_port"
}

# stop_emulators stops the emulators this shell started, waiting up to 10 s for them to exit.
stop_emulators() {
  local pid
  for pid in "${EMULATOR_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${EMULATOR_PIDS[@]}"; do
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  EMULATOR_PIDS=()
}
