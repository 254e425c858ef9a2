/**
 * Splits a streamed JSON array (`[ {…}, {…} ]`) into the text of its top-level elements without holding the whole
 * document: feed chunks, get complete element texts back. Tracks strings and nesting only; each element is then
 * parsed on its own, so one malformed element does not stop the rest.
 *
 * @example
 * const splitter = new JsonArraySplitter();
 * splitter.push('[{"a":1},{"b"'); // ['{"a":1}']
 * splitter.push(':2}]');          // ['{"b":2}']
 */
export class JsonArraySplitter {
  #state: 'start' | 'between' | 'element' | 'done' = 'start';
  #depth = 0;
  #inString = false;
  #escaped = false;
  #buffer = '';
  /**
   * Set when the input is not a JSON array at all (empty, or more than one), or holds an element longer than
   * `maxElement` characters.
   */
  error: string | null = null;

  readonly maxElement: number;

  constructor(maxElement = Infinity) {
    this.maxElement = maxElement;
  }

  push(chunk: string): string[] {
    const out: string[] = [];
    let start = this.#state === 'element' ? 0 : -1;
    for (let i = 0; i < chunk.length; i += 1) {
      const c = chunk.charCodeAt(i);
      if (this.error) break;
      if (this.#state === 'done') {
        // Whatever follows the array would be lost in silence: a second array (files joined), or a cut-off copy.
        if (!isSpace(c)) this.error = 'the file goes on after the array\'s closing "]"';
        continue;
      }
      if (this.#state === 'start') {
        if (c === 0x5b /* [ */) this.#state = 'between';
        else if (c === 0x7b /* { */)
          this.error =
            'the file does not start with "[" but with "{": a profile, or one profile per line (NDJSON)';
        else if (!isSpace(c) && c !== 0xfeff) this.error = 'the file does not start with "["';
        continue;
      }
      if (this.#state === 'between') {
        if (isSpace(c) || c === 0x2c /* , */) continue;
        if (c === 0x5d /* ] */) {
          this.#state = 'done';
          continue;
        }
        this.#state = 'element';
        this.#depth = 0;
        start = i;
      }
      // inside an element
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === 0x5c /* \ */) this.#escaped = true;
        else if (c === 0x22 /* " */) this.#inString = false;
        continue;
      }
      if (c === 0x22) this.#inString = true;
      else if (c === 0x7b || c === 0x5b) this.#depth += 1;
      else if (c === 0x7d || c === 0x5d) {
        if (this.#depth === 0) {
          // `]` closing the array right after a scalar element
          this.#element(out, (this.#buffer + chunk.slice(start, i)).trim());
          this.#state = 'done';
          continue;
        }
        this.#depth -= 1;
        if (this.#depth === 0) {
          this.#element(out, this.#buffer + chunk.slice(start, i + 1));
          this.#state = 'between';
        }
      } else if (c === 0x2c && this.#depth === 0) {
        this.#element(out, (this.#buffer + chunk.slice(start, i)).trim());
        this.#state = 'between';
      }
    }
    if (this.#state === 'element' && start >= 0) this.#buffer += chunk.slice(start);
    if (this.#buffer.length > this.maxElement) this.#tooLong();
    return out;
  }

  #element(out: string[], text: string): void {
    this.#buffer = '';
    if (text.length > this.maxElement) this.#tooLong();
    else out.push(text);
  }

  #tooLong(): void {
    this.#buffer = '';
    this.error = `an element is longer than ${this.maxElement} characters, far more than a profile`;
  }

  /** Call at end of input; reports an unterminated array. */
  end(): void {
    if (this.error !== null || this.#state === 'done') return;
    this.error =
      this.#state === 'start'
        ? 'the file is empty (an empty array is "[]")'
        : 'the JSON array is not closed with "]"';
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
