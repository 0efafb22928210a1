// JSON schemas of every route (Fastify validates with them and @fastify/swagger publishes them as OpenAPI).
// Bodies reject unknown fields and wrong types (no coercion): a client bug should surface as a 400 naming the
// field, not as a silently different request.

export function sizeEnum(resolutions: readonly number[]): string[] {
  return resolutions.map((r) => `${r}x${r}`);
}

const errorBody = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { message: { type: 'string' }, type: { type: 'string' }, param: { type: ['string', 'null'] }, code: { type: ['string', 'null'] } },
    },
  },
} as const;

export function schemas(opt: { resolutions: readonly number[]; maxSteps: number; maxPromptChars: number }) {
  const size = { type: 'string', pattern: '^[0-9]{1,5}x[0-9]{1,5}$', description: `WxH; served: ${sizeEnum(opt.resolutions).join(', ')}` };
  const prompt = { type: 'string', minLength: 1, maxLength: opt.maxPromptChars };
  const openai = {
    summary: 'Generate images (OpenAI images API compatible); answers when the images are done',
    body: {
      type: 'object',
      required: ['prompt'],
      additionalProperties: false,
      properties: {
        prompt,
        n: { type: 'integer', minimum: 1, maximum: 4, default: 1 },
        size,
        response_format: { type: 'string', enum: ['b64_json', 'url'], default: 'b64_json' },
        model: { type: 'string', maxLength: 200 },
        user: { type: 'string', maxLength: 200 },
        quality: { type: 'string', enum: ['standard', 'hd', 'auto'] },
        style: { type: 'string', enum: ['vivid', 'natural'] },
      },
    },
    response: { '4xx': errorBody, '5xx': errorBody },
  };
  const native = {
    summary: 'Queue an image generation with a deadline; 202 with an id and a status URL (or 200 when done with wait=true)',
    body: {
      type: 'object',
      required: ['prompt'],
      additionalProperties: false,
      properties: {
        prompt,
        negative_prompt: { type: 'string', maxLength: opt.maxPromptChars },
        size,
        steps: { type: 'integer', minimum: 1, maximum: opt.maxSteps },
        guidance: { type: 'number', minimum: 0, maximum: 30 },
        seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
        output_format: { type: 'string', enum: ['png', 'jpeg', 'webp'] },
        image: { type: 'string', minLength: 4, description: 'input image for image-to-image, base64 (PNG/JPEG/WebP), optionally as a data: URL' },
        strength: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
        deadline_ms: { type: 'integer', minimum: 1, maximum: 86400000, description: 'deadline relative to arrival' },
        deadline_at: { type: 'string', minLength: 10, maxLength: 40, description: 'absolute deadline, ISO 8601 (e.g. 2026-11-30T12:00:00.000Z); the status reports it as deadline_at' },
        slo_scale: { type: 'number', exclusiveMinimum: 0, maximum: 1000, description: 'deadline = base SLO of the resolution x this' },
        wait: { type: 'boolean', description: 'answer when the image is done instead of at once' },
      },
    },
    response: { '4xx': errorBody, '5xx': errorBody },
  };
  const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^gen_[a-z0-9]{1,40}$' } } };
  return {
    openai,
    native,
    status: { summary: 'State, queue position, steps done, degree and GPUs of each step, ETA, deadline met', params: idParams },
    events: {
      summary: 'Server-Sent Events: state changes and every step (with low-resolution previews when previews=1)',
      params: idParams,
      querystring: { type: 'object', additionalProperties: false, properties: { previews: { type: 'string', enum: ['0', '1', 'true', 'false'] } } },
    },
    cancel: { summary: 'Cancel a queued or running generation', params: idParams },
    image: { summary: 'The finished image', params: idParams },
  };
}
