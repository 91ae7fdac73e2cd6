// Exits 0 once a Kafka broker at $1 (host:port) answers a metadata request, 1 after $2 seconds (default 1).
// Used by scripts/kafka.sh: the "Kafka Server started" log line comes before the broker answers clients.
import { Kafka, logLevel } from 'kafkajs';

// kafkajs 2.2.4 on Node 24 warns about a negative timeout it means as 'now' (tulios/kafkajs#1751).
process.removeAllListeners('warning');

const [broker = '127.0.0.1:9092', waitSeconds = '1'] = process.argv.slice(2);
const deadline = Date.now() + Number(waitSeconds) * 1000;
const kafka = new Kafka({
  clientId: 'kafka-ready-probe',
  brokers: [broker],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 2000,
  retry: { retries: 0 },
});

for (;;) {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    await admin.disconnect();
    if (cluster.brokers.length > 0) process.exit(0);
  } catch {
    await admin.disconnect().catch(() => {});
  }
  if (Date.now() >= deadline) process.exit(1);
  await new Promise((resolve) => setTimeout(resolve, 250));
}
