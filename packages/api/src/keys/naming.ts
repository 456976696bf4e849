/**
 * Names that make an audit trail useless ("key1", "my key", "test"): still accepted, but the
 * create response explains the convention.
 */
const GENERIC_NAME =
  /^(my[\s_-]*)?(api[\s_-]*)?(key|test|testing|new|default|temp|tmp|foo|bar|demo|sample|token|secret|asdf|qwerty)[\s_-]*\d*$/i;

export const NAME_HINT =
  'Descriptive, deployment-aware names keep audit trails useful: say where the key runs and what uses it, e.g. "prod-splunk-2026q2", "staging-sentinel" or "tom-laptop-dev".';

export function nameHint(name: string): string | undefined {
  const trimmed = name.trim();
  const weak = trimmed.length < 4 || GENERIC_NAME.test(trimmed) || /^[\d\W_]+$/.test(trimmed);
  return weak ? NAME_HINT : undefined;
}
