#!/usr/bin/env bash
# Creates Tandem's Kafka topics when missing and sets their configuration, with the Kafka image's
# own tools. Run by the Job tandem-create-topics (mounted from the ConfigMap of the same name).
#
# Environment (from the ConfigMap tandem-config): KAFKA_BROKERS, TANDEM_TOPIC_PARTITIONS,
# TANDEM_TOPIC_PREFIX. KAFKA_BIN: the folder of kafka-topics.sh (default /opt/kafka/bin);
# KAFKA_WAIT_ATTEMPTS: how many times to try reaching Kafka, 5 s apart (default 60).
#
# The configurations are the ones the services give the topics they create themselves
# (libs/platform/messaging/src/event-log.kafka.ts topicConfig, apps/*/src/*.service.ts): domain
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

attempts=${KAFKA_WAIT_ATTEMPTS:-60}
echo "waiting for Kafka at $brokers"
attempt=1
until "$bin/kafka-topics.sh" --bootstrap-server "$brokers" --list >/dev/null 2>&1; do
  if [ "$attempt" -ge "$attempts" ]; then
    echo "Kafka at $brokers did not answer after $attempts attempts" >&2
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

  "$bin/kafka-topics.sh" --bootstrap-server "$brokers" --create --if-not-exists \
    --topic "$topic" --partitions "$partitions" "${create_args[@]}"
  # Also for a topic that existed (created by a service first, or by an older version).
  "$bin/kafka-configs.sh" --bootstrap-server "$brokers" --alter \
    --entity-type topics --entity-name "$topic" --add-config "$config" >/dev/null

  actual=$("$bin/kafka-topics.sh" --bootstrap-server "$brokers" --describe --topic "$topic" \
    | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n 1)
  if [ "$actual" != "$partitions" ]; then
    echo "WARNING: $topic has $actual partitions, TANDEM_TOPIC_PARTITIONS is $partitions (left as it is)" >&2
  fi
  echo "topic $topic: $config (partitions $actual)"
done
