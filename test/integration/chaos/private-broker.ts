import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * A Kafka broker of its own (scripts/kafka.sh on other ports, its state in its own directory), so stopping
 * it hurts nobody else: never the shared broker on 9092, nor another engineer's (29092 is taken by one).
 * Its ports must be below the ephemeral range (32768 and up here), where an outgoing connection can hold them.
 */
export class PrivateBroker {
  constructor(
    readonly port = 29192,
    private readonly controllerPort = 29193,
    private readonly runDir = `${root}.run/kafka-soak`,
  ) {
    if (port === 9092) throw new Error('the private broker must not use the shared broker port 9092');
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Starts it and resolves once it answers. A broker already answering on the port is reused only if
   * kafka.sh started it from this run dir: someone else's broker there would make a broker restart a no-op.
   */
  async start(): Promise<void> {
    const status = await this.script('status').then((out) => out, (error: Error) => error.message);
    if (status.includes('a broker answers') && !status.includes('broker started by this script')) {
      throw new Error(`port ${this.port} is taken by a broker this run did not start; choose other ports (--broker-port)`);
    }
    await this.script('start');
  }

  /** Stops it (SIGTERM, SIGKILL after 30 s); only a broker kafka.sh started from this run dir. */
  async stop(): Promise<void> {
    await this.script('stop');
  }

  private async script(command: 'start' | 'stop' | 'status'): Promise<string> {
    const env = { ...process.env, KAFKA_PORT: String(this.port), KAFKA_CONTROLLER_PORT: String(this.controllerPort), KAFKA_RUN_DIR: this.runDir };
    try {
      const { stdout } = await run('bash', ['scripts/kafka.sh', command], { cwd: root, env, maxBuffer: 10 * 1024 * 1024 });
      return stdout;
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`kafka.sh ${command} (port ${this.port}) failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }
}
