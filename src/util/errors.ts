// Error categories with stable codes, at the bottom layer so every layer can throw them and every front end
// (the CLI's exit codes, the server's HTTP statuses) maps them the same way.
//   user input:  BAD_REQUEST (a request's values), BAD_FLAG (a command-line flag), BAD_FILE (a file the user named)
//   resource:    OUT_OF_GPU_MEMORY, DEVICE_LOST, NO_ADAPTER
//   internal:    INTERNAL (a bug: the message says what broke; the stack is shown with --debug)
// Messages name the problem and the fix; the code says whose problem it is.

export type ErrorCategory = 'user' | 'resource' | 'internal';
export type ErrorCode = 'BAD_REQUEST' | 'BAD_FLAG' | 'BAD_FILE' | 'OUT_OF_GPU_MEMORY' | 'DEVICE_LOST' | 'NO_ADAPTER' | 'INTERNAL';

export interface ErrorCodeInfo {
  category: ErrorCategory;
  /** Process exit status of the CLI. */
  exitCode: number;
  /** HTTP status the server answers with. */
  httpStatus: number;
}

/** The one mapping from codes to exit statuses and HTTP statuses (stable: scripts and clients depend on it). */
export const ERROR_CODES: Readonly<Record<ErrorCode, ErrorCodeInfo>> = {
  BAD_REQUEST: { category: 'user', exitCode: 2, httpStatus: 400 },
  BAD_FLAG: { category: 'user', exitCode: 2, httpStatus: 400 },
  BAD_FILE: { category: 'user', exitCode: 3, httpStatus: 422 },
  OUT_OF_GPU_MEMORY: { category: 'resource', exitCode: 4, httpStatus: 503 },
  DEVICE_LOST: { category: 'resource', exitCode: 5, httpStatus: 503 },
  NO_ADAPTER: { category: 'resource', exitCode: 6, httpStatus: 503 },
  INTERNAL: { category: 'internal', exitCode: 70, httpStatus: 500 },
};

/** An error with a stable code. Subclasses (CheckpointError, GpuUnavailableError, ...) fix the code. */
export class DitError extends Error {
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DitError';
  }

  get category(): ErrorCategory {
    return ERROR_CODES[this.code].category;
  }
}

/** A value the user gave (a flag, a request field, a file) is wrong; the message names it and the fix. */
export class UserInputError extends DitError {
  constructor(message: string, code: 'BAD_REQUEST' | 'BAD_FLAG' | 'BAD_FILE' = 'BAD_REQUEST', options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'UserInputError';
  }
}

/** A command-line flag is missing, malformed or out of range; the message names the flag. */
export class FlagError extends UserInputError {
  constructor(readonly flag: string, message: string) {
    super(`${flag}: ${message}`, 'BAD_FLAG');
    this.name = 'FlagError';
  }
}

/** The machine cannot do it (GPU memory, a lost device, no adapter); the message says what would. */
export class ResourceError extends DitError {
  constructor(code: 'OUT_OF_GPU_MEMORY' | 'DEVICE_LOST' | 'NO_ADAPTER', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ResourceError';
  }
}

/** The code of any thrown value: a DitError's own; Node's file errors on a user's path are BAD_FILE; else INTERNAL. */
export function errorCodeOf(e: unknown): ErrorCode {
  if (e instanceof DitError) return e.code;
  const sys = (e as { code?: unknown } | null)?.code;
  if (typeof sys === 'string' && ['ENOENT', 'EISDIR', 'ENOTDIR', 'EACCES', 'EPERM'].includes(sys)) return 'BAD_FILE';
  return 'INTERNAL';
}

/** Code, category, statuses and the message of any thrown value (for the CLI and the server). */
export function describeError(e: unknown): { code: ErrorCode; message: string } & ErrorCodeInfo {
  const code = errorCodeOf(e);
  const message = e instanceof Error ? e.message : String(e);
  return { code, message, ...ERROR_CODES[code] };
}
