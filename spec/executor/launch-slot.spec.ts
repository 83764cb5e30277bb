/**
 * A run admitted straight as `launching` holds a slot of the max_local_concurrent budget from its
 * admission; its `holdSlot` actor takes that slot over later. A run that crashes before then (a bug
 * in an effect before `armed`) must still give the slot back, or the budget shrinks for good and
 * with max_local_concurrent=1 nothing runs again until a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromPromise } from 'xstate';
import { commandBytes, draftCommand, publishCommand } from '../../actors/command-publisher.js';
import type { GateSkip } from '../../actors/exec/gates.js';
import type { RunEffectInput } from '../../actors/exec/run-actors.js';
import { subjects } from '../../contract/index.js';
import { commandRunLogic } from '../../supervisor/children.js';
import { startBroker, type Broker } from '../harness/broker.js';
import { pollUntil, startExecutor, waitForResults, type TestExecutor } from './harness.js';

const CRASH_MARKER = 'crash-before-slot';

describe('launch slot of a run that crashes before holdSlot', () => {
  let broker: Broker;
  let agent: TestExecutor;
  beforeAll(async () => {
    broker = await startBroker();
    // The gate check of a run admitted as `launching` answers at once; here it throws for the marked run.
    const checkRunGates = fromPromise<GateSkip | undefined, RunEffectInput>(async ({ input }) => {
      if (input.command.script.includes(CRASH_MARKER)) throw new Error('bug in an effect before armed (test)');
      return undefined;
    });
    agent = await startExecutor(broker, { maxConcurrent: 1, commandRun: commandRunLogic.provide({ actors: { checkRunGates } }) });
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
  });

  it('is given back: the budget is free again and the next command runs', async () => {
    const crashing = draftCommand({ shell: 'sh', script: `echo ${CRASH_MARKER}` });
    await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), commandBytes(crashing));
    await pollUntil('the run crashed', 20_000, () => agent.logs.some((l) => l.msg.startsWith('a command run crashed')));
    await pollUntil('the launch slot is back', 10_000, () => agent.actor.getSnapshot().context.runtime?.budget.stats().inUse === 0);

    const next = draftCommand({ shell: 'sh', script: 'echo next' });
    await publishCommand(broker.nc, subjects.commandsPc(agent.pcId), commandBytes(next));
    const [result] = await waitForResults(broker, next.request_id);
    expect(result).toMatchObject({ exit_code: 0, stdout: 'next\n' });
  });
});
