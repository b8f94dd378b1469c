// A JavaScript task that misbehaves on request, to test the sandbox with an
// interpreted guest. Config `{"mode": "spin" | "throw" | "echo"}`.
export function describe() {
  return { name: 'js-hostile', version: '1.0.0', description: 'Misbehaves on request.' };
}

export function run(ctx, config, input) {
  const { mode } = JSON.parse(config);
  if (mode === 'spin') {
    for (;;) {}
  }
  if (mode === 'throw') {
    throw new RangeError(`recipe ${JSON.parse(input)} has no oven profile`);
  }
  return input;
}
