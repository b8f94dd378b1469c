// {{name}}: a Baton task in JavaScript. Build with ./build.sh.
import { log } from 'baton:plugin/log@0.1.0';
import { readHoldingRegisters } from 'baton:plugin/plc@0.1.0';
import { publish } from 'baton:plugin/mqtt@0.1.0';

// Throw `{ payload: { tag: 'retryable' | 'fatal', val: message } }` to fail the task.
class TaskError extends Error {
  constructor(tag, message) {
    super(message);
    this.payload = { tag, val: message };
  }
}

export function describe() {
  return {
    name: '{{name}}',
    version: '0.1.0',
    description: 'Reads one holding register and, with `topic`, publishes it.',
    configSchema: JSON.stringify({
      type: 'object',
      required: ['device', 'address'],
      properties: {
        device: { type: 'string' },
        address: { type: 'integer', minimum: 0, maximum: 65535 },
        connection: { type: 'string', default: 'plant' },
        topic: { type: 'string' },
      },
    }),
  };
}

export async function run(ctx, configText, inputText) {
  const config = JSON.parse(configText) ?? {};
  if (!('device' in config) || !('address' in config)) throw new TaskError('fatal', 'config needs `device` and `address`');
  let value;
  try {
    [value] = readHoldingRegisters(config.device, config.address, 1);
  } catch (error) {
    // Capability errors carry the WIT variant in `payload`: { tag, val }.
    const tag = error?.payload?.tag;
    const kind = tag === 'timeout' || tag === 'unavailable' ? 'retryable' : 'fatal';
    throw new TaskError(kind, `reading ${config.device}: ${tag}: ${error?.payload?.val ?? error}`);
  }
  log('info', `${ctx.nodeId}: read ${value}`);
  const result = JSON.stringify({ value });
  if (config.topic) {
    try {
      publish(config.connection ?? 'plant', config.topic, new TextEncoder().encode(result), 'at-least-once', false);
    } catch (error) {
      const tag = error?.payload?.tag;
      const kind = tag === 'timeout' || tag === 'unavailable' ? 'retryable' : 'fatal';
      throw new TaskError(kind, `publishing to ${config.topic}: ${tag}: ${error?.payload?.val ?? error}`);
    }
  }
  return result;
}
