// mes-record: turn a PLC reading (and the current batch from MQTT) into an MES
// batch record, and post it over HTTP with the attempt's idempotency key.
//
// Errors follow Baton's contract: throw an error whose `payload` is
// `{ tag: 'retryable' | 'fatal', val: message }`. Transient trouble (a PLC or
// broker that is unavailable, a network error, a 5xx or 429 from the MES) is
// retryable; anything that would fail again the same way is fatal.
import { log } from 'baton:plugin/log@0.1.0';
import { readHoldingRegisters } from 'baton:plugin/plc@0.1.0';
import { receive } from 'baton:plugin/mqtt@0.1.0';

const CONFIG_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['device', 'temperature_address', 'mes_url', 'line'],
  additionalProperties: false,
  properties: {
    device: { type: 'string' },
    temperature_address: { type: 'integer', minimum: 0, maximum: 65535 },
    mes_url: { type: 'string', pattern: '^https?://' },
    line: { type: 'string' },
    connection: { type: 'string' },
    batch_topic: { type: 'string' },
    batch_wait_ms: { type: 'integer', minimum: 0, default: 2000 },
  },
};

class TaskError extends Error {
  constructor(tag, message) {
    super(message);
    this.payload = { tag, val: message };
  }
}

const retryable = (message) => new TaskError('retryable', message);
const fatal = (message) => new TaskError('fatal', message);

// A capability error (`plc-error`, `mqtt-error`) as the task error the engine acts on.
function capabilityError(what, error) {
  const cause = error?.payload;
  if (!cause) return fatal(`${what}: ${error}`);
  const message = `${what}: ${cause.tag}${cause.val ? `: ${cause.val}` : ''}`;
  return cause.tag === 'timeout' || cause.tag === 'unavailable' ? retryable(message) : fatal(message);
}

export function describe() {
  return {
    name: 'mes-record',
    version: '1.0.0',
    description: 'Posts a batch record (PLC temperature, current batch) to an MES.',
    configSchema: JSON.stringify(CONFIG_SCHEMA),
  };
}

export async function run(ctx, configText, inputText) {
  const config = JSON.parse(configText) ?? {};
  const input = JSON.parse(inputText) ?? {};
  const missing = CONFIG_SCHEMA.required.filter((key) => !(key in config));
  if (missing.length) throw fatal(`config is missing ${missing.join(', ')}`);

  let temperature;
  try {
    [temperature] = readHoldingRegisters(config.device, config.temperature_address, 1);
  } catch (error) {
    throw capabilityError(`reading ${config.device}`, error);
  }

  // The batch comes from the input, or else from the next message on the batch topic.
  let batch = input.batch ?? null;
  if (batch === null && config.batch_topic) {
    try {
      const message = receive(config.connection, config.batch_topic, config.batch_wait_ms ?? 2000);
      if (message) batch = new TextDecoder().decode(message.payload);
    } catch (error) {
      if (error?.payload?.tag !== 'denied') throw capabilityError(`receiving ${config.batch_topic}`, error);
      log('warn', `${config.batch_topic} is not granted; recording without a batch`);
    }
  }

  const record = {
    line: config.line,
    batch,
    temperature_c: temperature,
    run: ctx.runId,
    node: ctx.nodeId,
  };
  let response;
  try {
    response = await fetch(config.mes_url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey },
      body: JSON.stringify(record),
    });
  } catch (error) {
    // fetch reports a refused request like a network error; Baton records the denial.
    throw retryable(`posting to ${config.mes_url}: ${error.message}`);
  }
  const text = await response.text();
  if (response.status >= 500 || response.status === 429 || response.status === 408) {
    throw retryable(`${config.mes_url} answered ${response.status}: ${text.slice(0, 200)}`);
  }
  if (!response.ok) throw fatal(`${config.mes_url} answered ${response.status}: ${text.slice(0, 200)}`);
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = text;
  }
  log('info', `recorded ${config.line}/${batch ?? '-'} at ${temperature} °C`);
  return JSON.stringify({ record, status: response.status, mes: answer });
}
