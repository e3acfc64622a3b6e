/**
 * Prompt hygiene: PII redaction before a prompt leaves the process (opt-in,
 * `SPOOL_REDACT_PII`), and a prompt-injection heuristic that flags, never blocks: the flag is
 * recorded on the trace row for an operator to look at.
 */
import type { ChatMessage } from './types.ts';

const PII: [RegExp, string][] = [
  [/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g, '[email]'],
  // Card numbers: 13–19 digits, optionally grouped by spaces or dashes.
  [/\b(?:\d[ -]?){12,18}\d\b/g, '[card]'],
  [/\b\d{3}-\d{2}-\d{4}\b/g, '[ssn]'],
  // Phone numbers: an optional +country code, then 9+ digits with the usual separators.
  [/(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}[ .-]\d{3,4}[ .-]\d{3,4}\b/g, '[phone]'],
];

/** Replaces emails, card numbers, SSNs and phone numbers. */
export function redactText(text: string): string {
  return PII.reduce((t, [re, label]) => t.replace(re, label), text);
}

export function redactMessages(messages: ChatMessage[]): { messages: ChatMessage[]; redacted: boolean } {
  let redacted = false;
  const out = messages.map((m) => {
    const content = redactText(m.content);
    if (content !== m.content) redacted = true;
    return content === m.content ? m : { ...m, content };
  });
  return { messages: out, redacted };
}

const INJECTION = [
  /\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|above|earlier|all)\b.{0,20}\b(instructions?|prompts?|rules|messages?)\b/i,
  /\b(reveal|print|show|repeat|leak)\b.{0,40}\b(system prompt|hidden instructions?|your instructions)\b/i,
  /\byou are now\b.{0,40}\b(DAN|unrestricted|jailbroken|developer mode)\b/i,
  /\b(new|updated) (system )?instructions?:/i,
  /<\/?(system|im_start|im_end)>|\[\/?INST\]/i,
];

/** True when a user message reads like an attempt to override the instructions. */
export function looksLikeInjection(messages: ChatMessage[]): boolean {
  return messages.some((m) => m.role === 'user' && INJECTION.some((re) => re.test(m.content)));
}
