import { stripVTControlCharacters } from 'node:util';

/**
 * Text from the server made safe to write to a terminal: escape sequences and other control
 * characters (C0, DEL, C1) removed, so a job's progress message or an error cannot retitle the
 * window, clear the screen or move the cursor. `multiline` text (a streamed delta) keeps its
 * newlines and tabs; a status line turns them into spaces, or the bar redrawn in place breaks.
 */
export function printable(text: string, multiline = false): string {
  const plain = stripVTControlCharacters(text);
  return multiline ? plain.replace(/(?![\n\t])\p{Cc}/gu, '') : plain.replace(/[\n\t]/g, ' ').replace(/\p{Cc}/gu, '');
}
