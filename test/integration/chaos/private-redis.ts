import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { TcpProxy } from '../tcp-proxy.js';
import { freePort } from '../worker-process.js';
import { delay, waitFor } from './wait.js';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** One PING over a fresh connection; true on +PONG. */
function ping(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/**
 * A Redis of the run's own, without persistence, so losing its data is one SIGKILL away. Clients reach it
 * through a TCP proxy (`url`), which can make it unreachable without touching the server.
 */
export class PrivateRedis {
  private server: ChildProcess | undefined;
  private output = '';
  restarts = 0;

  private constructor(readonly port: number, private readonly proxy: TcpProxy) {}

  static async start(): Promise<PrivateRedis> {
    const port = await freePort();
    const redis = new PrivateRedis(port, new TcpProxy('127.0.0.1', port));
    await redis.launch();
    await redis.proxy.start();
    return redis;
  }

  /** What workers connect to (through the proxy). */
  get url(): string {
    return `redis://127.0.0.1:${this.proxy.port}`;
  }

  /** Straight to the server, past the proxy: for the toolkit's own checks. */
  get directUrl(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** SIGKILL and start again on the same port: every key is gone, as after a restart without persistence. */
  async restartEmpty(): Promise<void> {
    await this.kill();
    await this.launch();
    this.restarts++;
  }

  /** Drops every client connection and refuses new ones for `ms` (the outage's length is the point here). */
  async unreachableFor(ms: number): Promise<void> {
    this.proxy.cut();
    try {
      await delay(ms);
    } finally {
      this.proxy.restore();
    }
  }

  async stop(): Promise<void> {
    await this.proxy.stop();
    await this.kill();
  }

  private async launch(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--dir', tmpdir()];
    const server = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.output = '';
    server.stdout!.on('data', (d) => (this.output = (this.output + d).slice(-4000)));
    server.stderr!.on('data', (d) => (this.output = (this.output + d).slice(-4000)));
    this.server = server;
    await waitFor(
      async () => {
        if (server.exitCode !== null) throw new Error(`redis-server exited with ${server.exitCode}:\n${this.output}`);
        return ping(this.port);
      },
      `redis-server on port ${this.port}`,
      15_000,
    );
  }

  private async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGKILL');
    await exited;
  }
}
