/** An emulator misuse (bad seed, bad fault script, unknown audience): what went wrong and how to fix it. */
export class EmulatorError extends Error {
  override readonly name = 'EmulatorError';
  readonly code: string;
  readonly details: Array<{ path: string; reason: string }>;

  constructor(code: string, message: string, details: Array<{ path: string; reason: string }> = []) {
    super(message);
    this.code = code;
    this.details = details;
  }
}
