# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the scripts that source this file
# Shared settings and helpers for infra/bin/{provision,up,down,env}. Sourced, not run.
#
# Environment (all optional):
#   TANDEM_CACHE           where Kafka's jars and the FerretDB binary are kept
#                          (default: $HOME/.cache/tandem)
#   TANDEM_INFRA_DIR       state dir: config, data, logs, pid files of the running
#                          infra (default: <repo>/.infra; wiped by every `up`)
#   KAFKA_PORT             PLAINTEXT listener on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft CONTROLLER listener on 127.0.0.1 (default 9093)
#   MONGO_PORT             FerretDB (MongoDB wire protocol) on 127.0.0.1 (default 27017)
#   S3_PORT                S3Proxy (S3 API, filesystem backend) on 127.0.0.1 (default 8333)
#   INFRA_TIMEOUT          seconds `up` waits for each server to answer (default 90)
#   INFRA_STOP_TIMEOUT     seconds `down` waits after SIGTERM before SIGKILL (default 30)
#   KAFKA_HEAP             the broker's -Xmx (default 512m)

INFRA_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
REPO_ROOT=$(cd -- "$INFRA_ROOT/.." && pwd -P)

TANDEM_CACHE=${TANDEM_CACHE:-${HOME:?HOME is not set}/.cache/tandem}
STATE_DIR=${TANDEM_INFRA_DIR:-$REPO_ROOT/.infra}
case $STATE_DIR in
  /*) ;;
  *) STATE_DIR=$PWD/$STATE_DIR ;;
esac

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
MONGO_PORT=${MONGO_PORT:-27017}
S3_PORT=${S3_PORT:-8333}
INFRA_TIMEOUT=${INFRA_TIMEOUT:-90}

# The Kafka version lives in infra/kafka/pom.xml only.
KAFKA_VERSION=$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$INFRA_ROOT/kafka/pom.xml")
FERRETDB_VERSION=v1.24.2
KAFKA_HOME=$TANDEM_CACHE/kafka-$KAFKA_VERSION
FERRETDB_HOME=$TANDEM_CACHE/ferretdb-$FERRETDB_VERSION
# Written last by provision, only after a complete, verified download/build.
KAFKA_MARKER=$KAFKA_HOME/.provisioned
FERRETDB_MARKER=$FERRETDB_HOME/.provisioned
# The S3Proxy version lives in infra/s3proxy/pom.xml only.
S3PROXY_VERSION=$(sed -n 's:.*<s3proxy\.version>\(.*\)</s3proxy\.version>.*:\1:p' "$INFRA_ROOT/s3proxy/pom.xml")
S3PROXY_HOME=$TANDEM_CACHE/s3proxy-$S3PROXY_VERSION
S3PROXY_MARKER=$S3PROXY_HOME/.provisioned
# The local S3 server's only credentials (it listens on loopback only).
S3_ACCESS_KEY_ID=tandem-local
S3_SECRET_ACCESS_KEY=tandem-local-secret

if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
  JAVA=$JAVA_HOME/bin/java
  JAVAC=$JAVA_HOME/bin/javac
else
  JAVA=java
  JAVAC=javac
fi

log() { printf '[infra] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Contents a provisioned Kafka cache must match: pom (versions) and probe source.
kafka_cache_key() {
  cat "$INFRA_ROOT/kafka/pom.xml" "$INFRA_ROOT/kafka/KafkaReady.java" | sha256sum | cut -d' ' -f1
}

ferretdb_cache_key() {
  printf 'github.com/FerretDB/FerretDB@%s CGO_ENABLED=0\n' "$FERRETDB_VERSION"
}

kafka_provisioned() {
  [[ -f $KAFKA_MARKER && "$(cat "$KAFKA_MARKER")" == "$(kafka_cache_key)" ]]
}

s3proxy_cache_key() {
  sha256sum <"$INFRA_ROOT/s3proxy/pom.xml" | cut -d' ' -f1
}

s3proxy_provisioned() {
  [[ -f $S3PROXY_MARKER && "$(cat "$S3PROXY_MARKER")" == "$(s3proxy_cache_key)" ]]
}

ferretdb_provisioned() {
  [[ -f $FERRETDB_MARKER && "$(cat "$FERRETDB_MARKER")" == "$(ferretdb_cache_key)" ]]
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pid_of NAME: pid from $STATE_DIR/NAME.pid if that process is alive and is ours
# (its command line mentions the state dir, so a recycled pid is never touched).
pid_of() {
  local file=$STATE_DIR/$1.pid pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$STATE_DIR/" || return 1
  printf '%s\n' "$pid"
}

# alive PID: the process exists and is not a zombie.
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# mongo_ping PORT: sends OP_MSG {ping: 1, $db: "admin"} and expects ok: 1 back.
mongo_ping() {
  local reply
  reply=$(
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    # header: length 51, requestID 1, responseTo 0, opCode 2013 (OP_MSG);
    # flagBits 0; section kind 0; BSON {ping: int32 1, $db: "admin"} (30 bytes)
    # shellcheck disable=SC2016  # $db is the BSON field name, not a shell expansion
    printf '\x33\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00\x1e\x00\x00\x00\x10ping\x00\x01\x00\x00\x00\x02$db\x00\x06\x00\x00\x00admin\x00\x00' >&3
    timeout 3 dd bs=65536 count=1 <&3 2>/dev/null | od -An -v -tx1 | tr -d ' \n'
  ) 2>/dev/null || return 1
  # "ok" as double 1.0 or int32 1
  [[ $reply == *016f6b00000000000000f03f* || $reply == *106f6b0001000000* ]]
}

print_env() {
  printf 'export KAFKA_BROKERS=127.0.0.1:%s\n' "$1"
  printf 'export MONGODB_URI=mongodb://127.0.0.1:%s/?directConnection=true\n' "$2"
  if [[ -n ${3:-} ]]; then
    printf 'export S3_ENDPOINT=http://127.0.0.1:%s S3_REGION=us-east-1 S3_ACCESS_KEY_ID=%s S3_SECRET_ACCESS_KEY=%s\n' \
      "$3" "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY"
  fi
}
