/**
 * What happens to one message from `commands.*` (§7): addressing → verification (§6) → ledger
 * admission → ack. Returns whether to ack and, when admitted, the command to run. Never throws:
 * every bad input ends in one log line (and an obs event where the contract asks for one).
 */
import type { Logger } from 'pino';
import {
  commandBody,
  commandEnvelope,
  decode,
  describeDecodeError,
  EXIT_REJECTED_UNSIGNED,
  formatRfc3339,
  FUTURE_SKEW_ALLOWANCE_MS,
  isAddressedTo,
  MAX_ENVELOPE_VALIDITY_MS,
  OBS_SOURCE_ADMISSION,
  OBS_SOURCE_SIGNATURE,
  LEGACY_REFUSED_STDERR,
  parseRfc3339,
  SIGNATURE_OUTCOME_KIND,
  signatureRefusedStderr,
  type Command,
  type ExecResult,
} from '../../contract/index.js';
import { legacyRefusedResultId, signatureRefusedResultId, uuidV4 } from '../ids.js';
import type { AdmissionLedger, AdmissionRecord } from './admission-ledger.js';
import { jsonNestingDepth, MAX_COMMAND_BODY_BYTES, MAX_COMMAND_JSON_DEPTH, requestIdHint } from './body-limits.js';
import type { Keyring } from './keyring.js';
import { notRunResult, resultMetadata } from '../../domain/results.js';
import { verifySignature, type HeaderMap, type SignatureCheck } from './verify-signature.js';

export { MAX_COMMAND_BODY_BYTES } from './body-limits.js';

/** One message as intake sees it, from a core subscription or the replay consumer. */
export interface IntakeMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: HeaderMap;
  readonly source: 'live' | 'replay' | 'recovery';
  readonly receivedAtMs: number;
}

/** A command admitted to run (or recovered as pending at startup). */
export interface AdmittedCommand {
  readonly command: Command;
  readonly record: AdmissionRecord;
}

/** A message that passed the synchronous screen: addressed to us, small and shallow enough, parsed JSON. */
export interface ScreenedMessage {
  readonly msg: IntakeMessage;
  readonly parsed: unknown;
}

/** The decision: ack or not, and maybe a command to run. */
export interface IntakeDecision {
  readonly ack: boolean;
  readonly admitted?: AdmittedCommand;
  /** The decoded command (set for `recovery` messages that passed verification). */
  readonly command?: Command;
  /** A short label for logs and tests: admitted, duplicate, conflict, refused, undecodable, not_for_me, … */
  readonly outcome: string;
  /** Why the ledger could not admit (outcome `unavailable`), for `status`. */
  readonly reason?: string;
}

/** What the pipeline needs from the rest of the executor. */
export interface IntakeContext {
  readonly pcId: string;
  readonly log: Logger;
  readonly keyring: Keyring;
  /** `[security] require_envelope` (§13): legacy bodies are refused with 123. */
  readonly requireEnvelope?: boolean;
  readonly ledger: AdmissionLedger;
  groups(): ReadonlySet<string>;
  now(): number;
  /** Queues an obs event; never rejects. */
  obs(kind: string, source: string, payload: Record<string, unknown>): Promise<void>;
  /** Queues a result durably (rejects on disk errors). */
  enqueueResult(result: ExecResult): Promise<void>;
  /**
   * Asked for a new request_id just before its admission record is written: true when the command
   * passed its gates and holds a slot, so the record is written as `launching` right away (the
   * runtime keeps the slot for the run). Never rejects.
   */
  launchNow?(command: Command, receivedAt: string): Promise<boolean>;
  /** Gives back what `launchNow` took when the admission write then failed. */
  cancelLaunch?(requestId: string): void;
  /** True while the executor hands this request's result to the outbox (its ledger record says finished, not yet queued). */
  delivering?(requestId: string): boolean;
}

/** v2 envelope refusal kinds of §6.3. */
const ENVELOPE_REJECTED = 'command_signature_envelope_rejected';

/** The envelope checks of §6.3 after the signature verified; returns the command or the refusal. */
export function checkEnvelope(
  parsed: unknown,
  sig: SignatureCheck,
  pcId: string,
  nowMs: number,
): { ok: true; command: Command } | { ok: false; kind: string; reason: string } {
  const decoded = decode(commandEnvelope, parsed);
  if (!decoded.ok) return { ok: false, kind: ENVELOPE_REJECTED, reason: describeDecodeError(decoded.error) };
  const envelope = decoded.value;
  if (envelope.target_pc_id !== pcId) {
    return {
      ok: false,
      kind: 'command_signature_misaddressed',
      reason: `target_pc_id ${JSON.stringify(envelope.target_pc_id)} is not this PC`,
    };
  }
  const expires = parseRfc3339(envelope.expires_at) as number;
  const at = sig.atMs as number;
  if (at > nowMs + FUTURE_SKEW_ALLOWANCE_MS)
    return { ok: false, kind: 'command_signature_clock_ahead', reason: 'Kanade-Sig-At is more than 1 h in the future' };
  if (expires < at) return { ok: false, kind: ENVELOPE_REJECTED, reason: 'expires_at is before Kanade-Sig-At' };
  if (expires - at > MAX_ENVELOPE_VALIDITY_MS)
    return { ok: false, kind: ENVELOPE_REJECTED, reason: 'expires_at is more than 7 d after Kanade-Sig-At' };
  const deadline = envelope.command.deadline_at !== undefined ? parseRfc3339(envelope.command.deadline_at) : undefined;
  const end = deadline !== undefined ? Math.min(expires, deadline) : expires;
  if (nowMs > end) return { ok: false, kind: 'command_signature_expired', reason: 'the envelope expired' };
  const maxAge = sig.key?.maxAgeSecs;
  if (maxAge !== undefined && Math.abs(nowMs - at) > maxAge * 1000) {
    return {
      ok: false,
      kind: SIGNATURE_OUTCOME_KIND.stale,
      reason: `break-glass key ${sig.kid ?? ''} signature is older than max_age_secs=${maxAge}`,
    };
  }
  return { ok: true, command: envelope.command };
}

/**
 * The synchronous, bounded part of the pipeline (§7 addressing, then size, nesting depth and
 * UTF-8/JSON checks): a terminal decision (acked, logged with size and reason), or the parsed body.
 * Runs where a message is delivered, so a flood of hostile bodies never occupies the admission queue.
 */
export function screenMessage(msg: IntakeMessage, ctx: Pick<IntakeContext, 'pcId' | 'log' | 'groups'>): IntakeDecision | ScreenedMessage {
  if (msg.source !== 'recovery' && !isAddressedTo(msg.subject, ctx.pcId, ctx.groups())) {
    ctx.log.debug({ subject: msg.subject, source: msg.source }, 'command not addressed to this PC; acked');
    return { ack: true, outcome: 'not_for_me' };
  }
  const bytes = msg.data.length;
  const undecodable = (reason: string): IntakeDecision => {
    ctx.log.warn({ subject: msg.subject, source: msg.source, bytes, reason }, 'undecodable command body; acked and dropped');
    return { ack: true, outcome: 'undecodable' };
  };
  if (bytes > MAX_COMMAND_BODY_BYTES) return undecodable(`body over ${MAX_COMMAND_BODY_BYTES} bytes`);
  if (jsonNestingDepth(msg.data, MAX_COMMAND_JSON_DEPTH) > MAX_COMMAND_JSON_DEPTH) {
    return undecodable(`JSON nested deeper than ${MAX_COMMAND_JSON_DEPTH} levels`);
  }
  try {
    return { msg, parsed: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(msg.data)) };
  } catch (err) {
    return undecodable(`not UTF-8 JSON (${(err as Error).message.slice(0, 200)})`);
  }
}

/** Whether `value` is a screened message rather than a terminal decision. */
export function isScreened(value: IntakeDecision | ScreenedMessage): value is ScreenedMessage {
  return 'parsed' in value;
}

/** Creates the per-executor pipeline; it remembers the last signature outcome for the "on change" obs rule. */
export function createIntakePipeline(ctx: IntakeContext): (msg: IntakeMessage | ScreenedMessage) => Promise<IntakeDecision> {
  let lastOutcome: string | undefined;

  return async (input) => {
    const screened = 'parsed' in input ? input : screenMessage(input, ctx);
    if (!isScreened(screened)) return screened;
    const { msg, parsed } = screened;
    const log = ctx.log.child({ subject: msg.subject, source: msg.source });
    const isEnvelope = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'kind' in parsed;
    const now = ctx.now();
    const sig = await verifySignature(msg.headers, msg.data, ctx.keyring, now, !isEnvelope);
    const obsPayload = (reason: string) => ({
      request_id: requestIdHint(parsed),
      subject: msg.subject,
      ...(sig.kid !== undefined && { kid: sig.kid }),
      reason,
    });

    let command: Command;
    if (isEnvelope) {
      if (sig.outcome !== 'verified') {
        log.warn({ outcome: sig.outcome, reason: sig.reason }, 'v2 envelope refused: signature not verified');
        await ctx.obs(SIGNATURE_OUTCOME_KIND[sig.outcome], OBS_SOURCE_SIGNATURE, obsPayload(sig.reason));
        return { ack: true, outcome: 'refused' };
      }
      const checked = checkEnvelope(parsed, sig, ctx.pcId, now);
      if (!checked.ok) {
        log.warn({ kind: checked.kind, reason: checked.reason }, 'v2 envelope refused');
        await ctx.obs(checked.kind, OBS_SOURCE_SIGNATURE, obsPayload(checked.reason));
        return { ack: true, outcome: 'refused' };
      }
      command = checked.command;
    } else {
      const decoded = decode(commandBody, parsed);
      if (!decoded.ok) {
        log.warn({ bytes: msg.data.length, reason: describeDecodeError(decoded.error) }, 'undecodable command; acked and dropped');
        return { ack: true, outcome: 'undecodable' };
      }
      command = decoded.value.command;
    }
    const requestLog = log.child({ request_id: command.request_id });

    const legacyRefused = !isEnvelope && ctx.requireEnvelope === true;
    if (legacyRefused || (ctx.keyring.enforcing() && sig.outcome !== 'verified')) {
      const result = legacyRefused
        ? notRunResult(
            { resultId: legacyRefusedResultId(command.request_id, ctx.pcId), pcId: ctx.pcId, command },
            LEGACY_REFUSED_STDERR,
            now,
            EXIT_REJECTED_UNSIGNED,
          )
        : notRunResult(
            { resultId: signatureRefusedResultId(command.request_id, ctx.pcId), pcId: ctx.pcId, command },
            signatureRefusedStderr(sig.outcome),
            now,
            EXIT_REJECTED_UNSIGNED,
          );
      if (legacyRefused) {
        requestLog.warn({ outcome: sig.outcome }, 'command refused: legacy format, only v2 envelopes run on this host (require_envelope)');
      } else {
        requestLog.warn({ outcome: sig.outcome, reason: sig.reason }, 'command refused: signed commands are required on this host');
        await ctx.obs(SIGNATURE_OUTCOME_KIND[sig.outcome], OBS_SOURCE_SIGNATURE, obsPayload(sig.reason));
      }
      try {
        await ctx.enqueueResult(result);
      } catch (err) {
        requestLog.error({ err: (err as Error).message }, 'cannot queue the refusal result; not acking so it is redelivered');
        return { ack: false, outcome: 'refused' };
      }
      return { ack: true, outcome: 'refused' };
    }
    // Raised for commands that will run (admitted or recovered), so the replay copy of a command
    // is not a second "use" of an audited key.
    const signatureObs = async () => {
      if (sig.outcome === lastOutcome && sig.key?.auditEveryUse !== true) return;
      lastOutcome = sig.outcome;
      const enforcing = ctx.keyring.enforcing();
      requestLog.info(
        { outcome: sig.outcome, enforcing },
        `command signature ${sig.outcome.replace('_', ' ')}; running${enforcing ? '' : ' (not enforcing)'}`,
      );
      await ctx.obs(SIGNATURE_OUTCOME_KIND[sig.outcome], OBS_SOURCE_SIGNATURE, obsPayload(sig.reason));
    };
    if (msg.source === 'recovery') {
      await signatureObs();
      return { ack: true, outcome: 'verified', command };
    }

    let admission;
    const receivedAt = formatRfc3339(msg.receivedAtMs);
    const launchNow = ctx.launchNow;
    try {
      admission = await ctx.ledger.admit({
        requestId: command.request_id,
        body: msg.data,
        headers: msg.headers,
        subject: msg.subject,
        receivedAt,
        resultId: uuidV4(),
        nowMs: now,
        ...(launchNow !== undefined && { launchNow: () => launchNow(command, receivedAt) }),
      });
    } catch (err) {
      ctx.cancelLaunch?.(command.request_id);
      requestLog.error({ err: (err as Error).message }, 'admission ledger write failed; not acking so the command is redelivered');
      await ctx.obs('command_admission_unavailable', OBS_SOURCE_ADMISSION, obsPayload((err as Error).message));
      return { ack: false, outcome: 'unavailable', reason: (err as Error).message };
    }
    switch (admission.kind) {
      case 'admitted':
        requestLog.info({ result_id: admission.record.result_id, state: admission.record.state }, 'command admitted');
        await signatureObs();
        return { ack: true, admitted: { command, record: admission.record }, outcome: 'admitted' };
      case 'duplicate': {
        const record = admission.record;
        requestLog.debug({ state: record.state }, 'duplicate command (same request_id, same bytes); not run again');
        // A result being handed off right now is on its way already: no second copy.
        if (record.state === 'finished' && !record.queued && record.result !== undefined && ctx.delivering?.(record.request_id) !== true) {
          try {
            await ctx.enqueueResult(record.result);
            // Queued: the ledger keeps the metadata only, as on every other path.
            await ctx.ledger.update(record, { queued: true, result: resultMetadata(record.result), result_full: false });
          } catch (err) {
            requestLog.error({ err: (err as Error).message }, 'cannot re-queue the stored result; not acking');
            return { ack: false, outcome: 'duplicate' };
          }
        }
        return { ack: true, outcome: 'duplicate' };
      }
      case 'conflict':
        requestLog.warn(
          { stored_sha256: admission.record.body_sha256, received_sha256: admission.bodySha256 },
          'admission conflict: same request_id, different bytes; not run',
        );
        await ctx.obs('command_admission_conflict', OBS_SOURCE_ADMISSION, obsPayload('same request_id with a different body'));
        return { ack: true, outcome: 'conflict' };
    }
  };
}
