#!/usr/bin/env bash
# Creates Tandem's Kafka topics when missing and sets their configuration, with the Kafka image's
# own tools. Run by the Job tandem-create-topics (mounted from the ConfigMap of the same name).
#
# Environment (from the ConfigMap tandem-config): KAFKA_BROKERS, TANDEM_TOPIC_PARTITIONS,
# TANDEM_TOPIC_PREFIX, and Kafka's TLS and SASL settings as the services read them (README,
# "Managed Kafka and MongoDB"): KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE,
# KAFKA_SSL_KEY_FILE, KAFKA_SASL_MECHANISM (plain, scram-sha-256, scram-sha-512), KAFKA_SASL_USERNAME,
# KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE; they become the Kafka tools' --command-config
# (written to TMPDIR, default /tmp). KAFKA_BIN: the folder of kafka-topics.sh (default
# /opt/kafka/bin); KAFKA_WAIT_ATTEMPTS: how many times to try reaching Kafka, 5 s apart (default 60).
#
# The configurations are the ones the services give the topics they create themselves
# (libs/platform/messaging/src/event-log.kafka.ts topicConfig, libs/*-service/src/*.service.ts): domain
# topics are kept forever (they are replayed to rebuild read models: retention.ms=-1, never the
# broker's 7-day default). The replication factor is the broker's default.replication.factor,
# as for the topics the services create. Idempotent: existing topics keep their partition count
# (growing it would move accounts to other partitions and break per-account ordering); a count
# different from TANDEM_TOPIC_PARTITIONS is reported, not changed.
set -euo pipefail

bin=${KAFKA_BIN:-/opt/kafka/bin}
brokers=${KAFKA_BROKERS:?KAFKA_BROKERS is not set}
partitions=${TANDEM_TOPIC_PARTITIONS:-6}
prefix=${TANDEM_TOPIC_PREFIX:-}

# name and its configuration (comma-separated key=value)
topics=(
  "tandem.accounts.events   cleanup.policy=delete,retention.ms=-1"
  "tandem.linking.events    cleanup.policy=delete,retention.ms=-1"
  "tandem.fanout.events     cleanup.policy=delete,retention.ms=-1"
  "tandem.backups.events    cleanup.policy=delete,retention.ms=-1"
  "tandem.media.events      cleanup.policy=delete,retention.ms=-1"
  "tandem.presence.events   cleanup.policy=compact,retention.ms=-1"
  "tandem.presence.typing   cleanup.policy=delete,retention.ms=60000"
  "tandem.fanout.signals    cleanup.policy=delete,retention.ms=3600000"
)

fail() {
  echo "$*" >&2
  exit 1
}

# The client properties of the Kafka tools for KAFKA_SSL* and KAFKA_SASL_*, checked as the
# services check them (libs/platform/config/src/kafka-security.ts).
client_properties() {
  local ssl=${KAFKA_SSL:-false} mechanism protocol
  ssl=$(printf '%s' "$ssl" | tr '[:upper:]' '[:lower:]')
  mechanism=$(printf '%s' "${KAFKA_SASL_MECHANISM:-}" | tr '[:lower:]' '[:upper:]')
  case $ssl in
    true) protocol=SSL ;;
    false | '')
      protocol=PLAINTEXT
      for name in KAFKA_SSL_CA_FILE KAFKA_SSL_CERT_FILE KAFKA_SSL_KEY_FILE; do
        [ -z "${!name:-}" ] || fail "$name is set but KAFKA_SSL is not true"
      done
      ;;
    *) fail "KAFKA_SSL must be true or false, got \"$KAFKA_SSL\"" ;;
  esac
  if [ -n "$mechanism" ]; then
    [ "$protocol" = SSL ] && protocol=SASL_SSL || protocol=SASL_PLAINTEXT
  fi
  echo "security.protocol=$protocol"
  if [ "$ssl" = true ]; then
    if [ -n "${KAFKA_SSL_CA_FILE:-}" ]; then
      [ -r "$KAFKA_SSL_CA_FILE" ] || fail "KAFKA_SSL_CA_FILE: cannot read $KAFKA_SSL_CA_FILE"
      echo "ssl.truststore.type=PEM"
      echo "ssl.truststore.location=$KAFKA_SSL_CA_FILE"
    fi
    if [ -n "${KAFKA_SSL_CERT_FILE:-}${KAFKA_SSL_KEY_FILE:-}" ]; then
      [ -n "${KAFKA_SSL_CERT_FILE:-}" ] && [ -n "${KAFKA_SSL_KEY_FILE:-}" ] ||
        fail "KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together: set both for a client certificate, or neither"
      grep -q -e '-----BEGIN PRIVATE KEY-----' -- "$KAFKA_SSL_KEY_FILE" ||
        fail "KAFKA_SSL_KEY_FILE: the Kafka tools take an unencrypted PKCS#8 key (BEGIN PRIVATE KEY); convert it with openssl pkcs8 -topk8 -nocrypt"
      # A PEM key store is one file: the key, then the certificate.
      cat -- "$KAFKA_SSL_KEY_FILE" "$KAFKA_SSL_CERT_FILE" >"$work/client-keystore.pem" ||
        fail "KAFKA_SSL_CERT_FILE or KAFKA_SSL_KEY_FILE cannot be read"
      echo "ssl.keystore.type=PEM"
      echo "ssl.keystore.location=$work/client-keystore.pem"
    fi
  fi
  [ -n "$mechanism" ] || return 0
  local module password
  case $mechanism in
    PLAIN)
      [ "$ssl" = true ] || fail "KAFKA_SASL_MECHANISM=plain would send the password unencrypted: set KAFKA_SSL=true"
      module=org.apache.kafka.common.security.plain.PlainLoginModule
      ;;
    SCRAM-SHA-256 | SCRAM-SHA-512) module=org.apache.kafka.common.security.scram.ScramLoginModule ;;
    *) fail "KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256, scram-sha-512 for the topics Job, got \"$KAFKA_SASL_MECHANISM\"" ;;
  esac
  [ -n "${KAFKA_SASL_USERNAME:-}" ] || fail "KAFKA_SASL_MECHANISM=$KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME"
  if [ -n "${KAFKA_SASL_PASSWORD:-}" ] && [ -z "${KAFKA_SASL_PASSWORD_FILE:-}" ]; then
    password=$KAFKA_SASL_PASSWORD
  elif [ -z "${KAFKA_SASL_PASSWORD:-}" ] && [ -n "${KAFKA_SASL_PASSWORD_FILE:-}" ]; then
    password=$(cat -- "$KAFKA_SASL_PASSWORD_FILE") || fail "KAFKA_SASL_PASSWORD_FILE: cannot read $KAFKA_SASL_PASSWORD_FILE"
  else
    fail "KAFKA_SASL_MECHANISM=$KAFKA_SASL_MECHANISM needs exactly one of KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE"
  fi
  # JAAS quoting: backslashes and double quotes escaped; in a properties file, backslashes again.
  local quoted_user quoted_password
  quoted_user=$(printf '%s' "$KAFKA_SASL_USERNAME" | sed 's/\\/\\\\/g; s/"/\\"/g; s/\\/\\\\/g')
  quoted_password=$(printf '%s' "$password" | sed 's/\\/\\\\/g; s/"/\\"/g; s/\\/\\\\/g')
  echo "sasl.mechanism=$mechanism"
  echo "sasl.jaas.config=$module required username=\"$quoted_user\" password=\"$quoted_password\";"
}

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
client_properties >"$work/client.properties"
chmod 600 "$work/client.properties"
client=(--bootstrap-server "$brokers" --command-config "$work/client.properties")

attempts=${KAFKA_WAIT_ATTEMPTS:-60}
echo "waiting for Kafka at $brokers ($(sed -n 's/^security.protocol=//p' "$work/client.properties"))"
attempt=1
until "$bin/kafka-topics.sh" "${client[@]}" --list >"$work/wait.log" 2>&1; do
  if [ "$attempt" -ge "$attempts" ]; then
    echo "Kafka at $brokers did not answer after $attempts attempts; the last one said:" >&2
    grep -v '^SLF4J' "$work/wait.log" | tail -n 5 >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 5
done

for entry in "${topics[@]}"; do
  read -r name config <<<"$entry"
  topic="$prefix$name"
  create_args=()
  IFS=',' read -ra pairs <<<"$config"
  for pair in "${pairs[@]}"; do create_args+=(--config "$pair"); done

  "$bin/kafka-topics.sh" "${client[@]}" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" "${create_args[@]}"
  # Also for a topic that existed (created by a service first, or by an older version).
  "$bin/kafka-configs.sh" "${client[@]}" --alter \
    --entity-type topics --entity-name "$topic" --add-config "$config" >/dev/null

  actual=$("$bin/kafka-topics.sh" "${client[@]}" --describe --topic "$topic" \
    | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n 1)
  if [ "$actual" != "$partitions" ]; then
    echo "WARNING: $topic has $actual partitions, TANDEM_TOPIC_PARTITIONS is $partitions (left as it is)" >&2
  fi
  echo "topic $topic: $config (partitions $actual)"
done
