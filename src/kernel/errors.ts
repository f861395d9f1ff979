/** An error the user can act on: bad input, a missing file or key, no face found, a cancelled run. */
export class MagicPortraitError extends Error {
  constructor(
    message: string,
    /** Machine-readable category, e.g. 'bad-file', 'missing-key', 'no-face', 'cancelled'. */
    readonly code: string = 'error',
  ) {
    super(message);
    this.name = 'MagicPortraitError';
  }
}

export class CancelledError extends MagicPortraitError {
  constructor(what = 'run') {
    super(`The ${what} was cancelled.`, 'cancelled');
    this.name = 'CancelledError';
  }
}
