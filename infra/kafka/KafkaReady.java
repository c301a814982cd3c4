// Readiness probe for the local Kafka broker (used by infra/bin/up).
//
//   java -cp '<cache>/kafka-<ver>/probe:<cache>/kafka-<ver>/libs/*' KafkaReady <bootstrap> <timeoutSeconds>
//
// Ready means: the broker answers metadata with at least one node, a topic can be
// created and gets a leader, an idempotent producer gets a producer id and writes
// with acks=all, and the group and transaction coordinators answer. The last two
// create __consumer_offsets and __transaction_state now, so the first client does
// not meet "coordinator not available" / "coordinator is loading" retries.
// Exit 0 when ready, 1 on timeout (last error on stderr), 2 on bad usage.

import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.config.Configurator;

public final class KafkaReady {
  private static final String TOPIC = "__tandem_ready";
  private static final String GROUP = "__tandem_ready";
  private static final long START = System.nanoTime();
  private static final StringBuilder STAGES = new StringBuilder();
  private static int attempts;

  private static void stage(String name) {
    STAGES.append(String.format(" %s@%dms", name, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - START)));
  }

  public static void main(String[] args) throws InterruptedException {
    if (args.length != 2) {
      System.err.println("usage: KafkaReady <bootstrap-servers> <timeout-seconds>");
      System.exit(2);
    }
    // The admin client warns on every refused connection while the broker starts.
    Configurator.setRootLevel(Level.OFF);

    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(args[1]));
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "tandem-ready-probe");
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
    props.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");

    Throwable last = null;
    try (Admin admin = Admin.create(props)) {
      while (System.nanoTime() < deadline) {
        try {
          attempts++;
          STAGES.setLength(0);
          check(admin, args[0]);
          System.err.println("kafka ready at " + args[0] + " after " + attempts + " attempt(s):" + STAGES);
          System.exit(0);
        } catch (ExecutionException e) {
          last = e.getCause() == null ? e : e.getCause();
        } catch (InterruptedException e) {
          throw e;
        } catch (Exception e) {
          last = e;
        }
        Thread.sleep(250);
      }
    }
    System.err.println("kafka not ready at " + args[0] + " after " + args[1] + " s (" + attempts
        + " attempts, last got to:" + STAGES + "): " + last);
    System.exit(1);
  }

  private static void check(Admin admin, String bootstrap) throws Exception {
    var nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
    if (nodes.isEmpty()) {
      throw new IllegalStateException("no broker in metadata yet");
    }
    stage("metadata");
    try {
      admin.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 1))).all().get(5, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw e;
      }
    }
    stage("createTopic");
    Map<String, TopicDescription> topics =
        admin.describeTopics(List.of(TOPIC)).allTopicNames().get(5, TimeUnit.SECONDS);
    for (TopicPartitionInfo p : topics.get(TOPIC).partitions()) {
      Node leader = p.leader();
      if (leader == null || leader.isEmpty()) {
        throw new IllegalStateException("no leader yet for " + TOPIC + "-" + p.partition());
      }
    }
    // FindCoordinator + OffsetFetch: creates __consumer_offsets and waits for its load.
    stage("leader");
    admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get(5, TimeUnit.SECONDS);
    stage("groupCoordinator");
    produce(bootstrap, null);
    stage("idempotentProduce");
    produce(bootstrap, "__tandem_ready");
    stage("transaction");
    admin.deleteTopics(List.of(TOPIC));
  }

  // One record with an idempotent (and, with a transactional id, transactional)
  // producer: producer id allocation, acks=all, the transaction coordinator.
  private static void produce(String bootstrap, String transactionalId) throws Exception {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.CLIENT_ID_CONFIG, "tandem-ready-probe");
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "10000");
    props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "10000");
    props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
    props.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, "100");
    if (transactionalId != null) {
      props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    }
    try (var producer = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
      if (transactionalId != null) {
        producer.initTransactions();
        producer.beginTransaction();
      }
      producer.send(new ProducerRecord<>(TOPIC, "ready", "ready")).get(10, TimeUnit.SECONDS);
      if (transactionalId != null) {
        producer.commitTransaction();
      }
    }
  }
}
