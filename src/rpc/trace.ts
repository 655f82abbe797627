 
/**
 * NS_TRACE=rpc: one line per RPC message, to stderr [capnp RpcDumper, lib9p chatty9p].
 *
 * The environment is read here, once per connection, as the default of the `trace`
 * option (the CLI may pass its own sink); everything else about tracing is explicit.
 */
import { type Decoded, Tag } from './wire.js';
import type { PipelineOp } from './cap.js';

/** Receives one line per message. */
export type Tracer = (line: string) => void;

/** The tracer NS_TRACE asks for (null when `rpc` is not in it). */
export function makeTracer(): Tracer | null {
  const v = process.env['NS_TRACE'] ?? '';
  if (!v.split(/[,\s]+/).includes('rpc')) return null;
  return (line) => process.stderr.write(`rpc: ${line}\n`);
}

function ops(o: readonly PipelineOp[]): string {
  return o.length === 0 ? '' : `.${o.map((x) => x.field).join('.')}`;
}

const CAP = ['none', 'senderHosted', 'senderPromise', 'receiverHosted', 'receiverAnswer', 'thirdPartyHosted'];
const RET = ['results', 'exception', 'canceled', 'resultsSentElsewhere', 'takeFromOtherQuestion', 'acceptFromThirdParty'];

/** A one-line human description of a decoded message. */
export function describeDecoded(m: Decoded): string {
  switch (m.which) {
    case Tag.Call: {
      const t = m.target.kind === 'import' ? `import#${m.target.id}` : `answer#${m.target.questionId}${ops(m.target.ops)}`;
      const caps = m.caps.map((c) => `${CAP[c.tag]}#${c.id}`).join(',');
      return `call q=${m.questionId} ${t} @0x${m.interfaceId.toString(16)}.${m.methodId}${caps ? ` caps=[${caps}]` : ''}${m.sendResultsTo ? ` sendResultsTo=${m.sendResultsTo}` : ''}`;
    }
    case Tag.Return: {
      const caps = m.caps.map((c) => `${CAP[c.tag]}#${c.id}`).join(',');
      const extra = m.exc ? ` ${m.exc.type}:${JSON.stringify(m.exc.reason)}` : m.kind === 4 ? ` q=${m.otherQuestion}` : '';
      return `return a=${m.answerId} ${RET[m.kind] ?? m.kind}${extra}${caps ? ` caps=[${caps}]` : ''}${m.releaseParamCaps ? ' releaseParamCaps' : ''}${m.noFinishNeeded ? ' noFinishNeeded' : ''}`;
    }
    case Tag.Finish:
      return `finish q=${m.questionId}${m.releaseResultCaps ? ' releaseResultCaps' : ''}`;
    case Tag.Release:
      return `release id=${m.id} n=${m.count}`;
    case Tag.Bootstrap:
      return `bootstrap q=${m.questionId}`;
    case Tag.Resolve:
      return `resolve p=${m.promiseId} ${m.cap ? `${CAP[m.cap.tag]}#${m.cap.id}` : `exception ${JSON.stringify(m.exc?.reason)}`}`;
    case Tag.Disembargo: {
      const t = m.target.kind === 'import' ? `import#${m.target.id}` : `answer#${m.target.questionId}${ops(m.target.ops)}`;
      return `disembargo ${t} ctx=${['senderLoopback', 'receiverLoopback', 'accept', 'provide'][m.ctx] ?? m.ctx} ${m.value}`;
    }
    case Tag.Abort:
      return `abort ${m.exc.type}:${JSON.stringify(m.exc.reason)}`;
    case Tag.Unimplemented:
      return `unimplemented (of message type ${m.innerTag})`;
    default:
      return `message type ${m.tag} (unsupported)`;
  }
}
