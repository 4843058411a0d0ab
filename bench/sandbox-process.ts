/**
 * A sandbox eMAG in a process of its own, so serving pages does not take CPU from the process being
 * measured. Argument: JSON `{accounts: [{name, offers}], enforceLimits, latencyMs}`. Prints
 * `{"url": …}` once listening and runs until its stdin closes or it gets SIGTERM.
 */
import { startSandbox } from '../src/sandbox/server.ts';
import { endWithParent } from './child.ts';
import { benchAccount } from './sync-setup.ts';

/** What the parent asks for. */
export interface SandboxProcessInput {
  accounts: Array<{ name: string; offers: number }>;
  enforceLimits: boolean;
  latencyMs: number;
}

const input = JSON.parse(process.argv[2] ?? '{}') as SandboxProcessInput;
const sandbox = await startSandbox({
  accounts: input.accounts.map((a) => benchAccount(a.name, a.offers)),
  enforceLimits: input.enforceLimits,
  latencyMs: input.latencyMs,
});
endWithParent(() => sandbox.close());
process.stdout.write(`${JSON.stringify({ url: sandbox.url })}\n`);
