import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { Knex } from 'knex';
import type { FleetMember, WorkerFleet } from './worker-fleet.js';

// Which worker process is the outbox relay's leader: the one whose relay connection holds the relay's
// advisory lock. Postgres knows the connection (pg_locks → pg_stat_activity.client_port); the kernel knows
// which local process owns that TCP port (/proc/net/tcp inode → /proc/<pid>/fd).

/** RELAY_LOCK_KEY of src/transport/outbox-relay.ts (not exported there); keep the two equal. */
export const RELAY_LOCK_KEY = 7_302_114_001n;

export interface RelayLockHolder {
  backendPid: number;
  clientPort: number;
  applicationName: string;
}

/**
 * The connection holding the relay lock in `knex`'s database, if any. A bigint advisory key shows in pg_locks
 * as classid = high 32 bits, objid = low 32 bits, objsubid = 1; advisory locks are per database.
 */
export async function relayLockHolder(knex: Knex): Promise<RelayLockHolder | undefined> {
  const { rows } = await knex.raw<{ rows: Array<{ pid: number; client_port: number | null; application_name: string }> }>(
    `select a.pid, a.client_port, a.application_name
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.objsubid = 1
        and l.classid = ? and l.objid = ?
        and l.database = (select oid from pg_database where datname = current_database())`,
    [Number(RELAY_LOCK_KEY >> 32n), Number(RELAY_LOCK_KEY & 0xffff_ffffn)],
  );
  const row = rows[0];
  if (!row) return undefined;
  if (row.client_port === null || row.client_port < 0) throw new Error(`relay lock holder (backend ${row.pid}) is not on TCP; cannot map it to a process`);
  return { backendPid: row.pid, clientPort: row.client_port, applicationName: row.application_name };
}

/** Socket inodes of local TCP endpoints bound to `localPort` (IPv4 and IPv6). */
function socketInodes(localPort: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (!local || !inode || inode === '0') continue;
      if (parseInt(local.split(':')[1]!, 16) === localPort) inodes.add(inode);
    }
  }
  return inodes;
}

/** Which of `pids` has a socket bound to local TCP port `localPort` open. */
export function pidOwningLocalPort(localPort: number, pids: number[]): number | undefined {
  const inodes = socketInodes(localPort);
  if (!inodes.size) return undefined;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) return pid;
    }
  }
  return undefined;
}

/** The fleet member whose relay holds the lock now, or undefined (no leader at this moment). */
export async function relayLeader(knex: Knex, fleet: WorkerFleet): Promise<FleetMember | undefined> {
  const holder = await relayLockHolder(knex);
  if (!holder) return undefined;
  const pid = pidOwningLocalPort(holder.clientPort, fleet.members.map((m) => m.pid));
  if (pid === undefined) throw new Error(`relay lock held by backend ${holder.backendPid} (client port ${holder.clientPort}, ${holder.applicationName}) but no fleet member owns that port`);
  return fleet.byPid(pid);
}
