/**
 * Intake (§3, §7): core subscriptions `commands.all`, `commands.pc.<pc_id>` and one
 * `commands.group.<g>` per current group (subscribe, then flush), plus the durable replay consumer
 * `agent_replay_<pc_id>` on `EXEC`, started after the first group read. Every message goes through
 * the runtime's bounded admission queue (live and replay copies of a request_id are admitted once)
 * and a JetStream message is acked only after its terminal decision.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { fromCallback } from 'xstate';
import {
  decodeGroupsValue,
  invalidGroupNames,
  KV_AGENT_GROUPS,
  KV_AGENT_GROUPS_DERIVED,
  replayDurableName,
  STREAM_EXEC,
  subjects,
  unionGroups,
  type GroupsValue,
} from '../../contract/index.js';
import { resourceRetryDelayMs } from '../../domain/resource-backoff.js';
import type { ExecRuntime } from './exec-runtime.js';
import type { IntakeMessage } from './intake-pipeline.js';
import { signatureHeaders } from './verify-signature.js';

/** Messages the replay consumer buffers at once. */
export const REPLAY_MAX_MESSAGES = 16;

/**
 * What the intake uses of the executor's runtime: the groups hub (read-only) and the admission
 * queue, not the ledger, budget or result delivery.
 */
export type IntakeRuntime = Pick<ExecRuntime, 'pcId' | 'log' | 'groups' | 'submit' | 'now'> & {
  readonly services: Pick<ExecRuntime['services'], 'groups'>;
};

/** Input of the intake actor. */
export interface IntakeInput {
  readonly runtime: IntakeRuntime;
  readonly nc: NatsConnection;
}

/** Events the intake sends to its parent (admitted commands go through `runtime.admissions`). */
export type IntakeEvent = { type: 'intake.replayStarted' };

/** Reads this PC's groups once from both KV buckets (§4); a missing key is no groups. */
export async function readGroupsOnce(nc: NatsConnection, pcId: string, log?: Logger): Promise<string[]> {
  const kvm = new Kvm(nc);
  const values: Array<GroupsValue | undefined> = [];
  for (const bucket of [KV_AGENT_GROUPS, KV_AGENT_GROUPS_DERIVED]) {
    const kv = await kvm.open(bucket, { bindOnly: true });
    const entry = await kv.get(pcId);
    if (entry === null || entry.operation !== 'PUT') {
      values.push(undefined);
      continue;
    }
    const decoded = decodeGroupsValue(entry.value);
    values.push(decoded.ok ? decoded.value : undefined);
    for (const group of decoded.ok ? invalidGroupNames(decoded.value) : []) {
      log?.warn({ bucket, group }, 'group name is not a single NATS subject token; skipped');
    }
  }
  return unionGroups(...values);
}

/** The intake actor: live while invoked, everything unsubscribed when stopped. */
export const runIntake = fromCallback<{ type: string }, IntakeInput>(({ input, sendBack }) => {
  const { runtime, nc } = input;
  const { services, pcId } = runtime;
  const log = runtime.log.child({ part: 'intake' });
  let stopped = false;
  // Delivered messages go to the runtime's admission queue, which outlives this actor: stopping the
  // intake (a disconnect) ends delivery, never the admission of what was already delivered.
  const submit = (msg: IntakeMessage, ack?: () => void) => runtime.submit(msg, ack);
  const onCore =
    (subscriptionSubject: string) =>
    (err: Error | null, msg: { subject: string; data: Uint8Array; headers?: import('@nats-io/transport-node').MsgHdrs }) => {
      if (err !== null) {
        log.warn({ subject: subscriptionSubject, err: err.message }, 'command subscription error');
        return;
      }
      submit({ subject: msg.subject, data: msg.data, headers: signatureHeaders(msg.headers), source: 'live', receivedAtMs: runtime.now() });
    };

  const coreSubs: Subscription[] = [];
  for (const subject of [subjects.commandsAll, subjects.commandsPc(pcId)]) {
    coreSubs.push(nc.subscribe(subject, { callback: onCore(subject) }));
  }

  // Group subscriptions follow the groups hub; until the hub changes, our own first read also counts.
  const groupSubs = new Map<string, Subscription>();
  let initialRead: readonly string[] = [];
  let hubMoved = false;
  const hubFirst = JSON.stringify(services.groups.current());
  const reconcile = () => {
    const hub = services.groups.current();
    const wanted = new Set<string>(hubMoved ? hub : [...hub, ...initialRead]);
    runtime.groups.current = wanted;
    if (stopped) return;
    for (const [group, sub] of groupSubs) {
      if (!wanted.has(group)) {
        sub.unsubscribe();
        groupSubs.delete(group);
        log.info({ group }, 'left group: unsubscribed');
      }
    }
    let added = false;
    for (const group of wanted) {
      if (groupSubs.has(group)) continue;
      // A subscribe error (a name the hub should never hold, a closed connection) is one log line:
      // this runs inside the groups hub's writer, the config child, and must never throw into it.
      try {
        const subject = subjects.commandsGroup(group);
        groupSubs.set(group, nc.subscribe(subject, { callback: onCore(subject) }));
        added = true;
        log.info({ group }, 'joined group: subscribed');
      } catch (err) {
        log.warn({ group, err: (err as Error).message }, 'cannot subscribe to the group; skipped');
      }
    }
    if (added) nc.flush().catch((err: Error) => log.warn({ err: err.message }, 'flush after group subscribe failed'));
  };
  const unwatchGroups = services.groups.watch((value) => {
    if (JSON.stringify(value) !== hubFirst) hubMoved = true;
    reconcile();
  });
  nc.flush().catch((err: Error) => log.warn({ err: err.message }, 'flush after subscribing commands failed'));
  log.info({ subjects: [subjects.commandsAll, subjects.commandsPc(pcId)] }, 'intake on');

  let consumerMessages: ConsumerMessages | undefined;
  const stopWaiters = new Set<() => void>();
  const startReplay = async () => {
    for (let attempt = 0; !stopped; attempt += 1) {
      try {
        initialRead = await readGroupsOnce(nc, pcId, log);
        reconcile();
        const durable = replayDurableName(pcId);
        const jsm = await jetstreamManager(nc);
        const config = {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.LastPerSubject,
          filter_subject: subjects.commandsWildcard,
        };
        try {
          await jsm.consumers.add(STREAM_EXEC, config);
        } catch (err) {
          // An existing durable with other settings: bring it to ours (create-or-update, §7).
          log.info({ err: (err as Error).message }, 'replay consumer exists with other settings; updating');
          await jsm.consumers.update(STREAM_EXEC, durable, { filter_subject: subjects.commandsWildcard });
        }
        const consumer = await jetstream(nc).consumers.get(STREAM_EXEC, durable);
        if (stopped) return;
        consumerMessages = await consumer.consume({ max_messages: REPLAY_MAX_MESSAGES });
        log.info({ durable }, 'replay consumer started');
        sendBack({ type: 'intake.replayStarted' } satisfies IntakeEvent);
        for await (const m of consumerMessages) {
          submit(
            { subject: m.subject, data: m.data, headers: signatureHeaders(m.headers), source: 'replay', receivedAtMs: runtime.now() },
            () => m.ack(),
          );
        }
        return;
      } catch (err) {
        if (stopped) return;
        const wait = resourceRetryDelayMs(attempt);
        log.warn(
          { err: (err as Error).message, retry_in_ms: wait },
          'replay consumer not available yet (the backend creates EXEC); retrying',
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          // Stopping the intake must not wait out a retry of up to 300 s.
          stopWaiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
  };
  void startReplay();

  return () => {
    stopped = true;
    unwatchGroups();
    for (const sub of [...coreSubs, ...groupSubs.values()]) {
      try {
        sub.unsubscribe();
      } catch {
        // Connection already closed.
      }
    }
    consumerMessages?.stop();
    for (const wake of stopWaiters) wake();
    log.info('intake off');
  };
});
