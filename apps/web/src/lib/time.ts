const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const relativeFormat = new Intl.RelativeTimeFormat("en", { numeric: "always" });
const exactFormat = new Intl.DateTimeFormat("en", {
  dateStyle: "medium",
  timeStyle: "long",
});
const dateFormat = new Intl.DateTimeFormat("en", { dateStyle: "medium" });

/**
 * "3 minutes ago", "in 12 days", "just now". Units grow with the distance so a glance is
 * enough; the exact time is always one hover (or the details view) away.
 */
export function formatRelative(iso: string, now: Date): string {
  const seconds = (Date.parse(iso) - now.getTime()) / 1000;
  const abs = Math.abs(seconds);
  const sign = seconds < 0 ? -1 : 1;
  if (abs < 45) return seconds < 0 ? "just now" : "in a few seconds";
  if (abs < 45 * MINUTE)
    return relativeFormat.format(sign * Math.max(1, Math.round(abs / MINUTE)), "minute");
  if (abs < 22 * HOUR)
    return relativeFormat.format(sign * Math.max(1, Math.round(abs / HOUR)), "hour");
  if (abs < 45 * DAY)
    return relativeFormat.format(sign * Math.max(1, Math.round(abs / DAY)), "day");
  if (abs < 320 * DAY)
    return relativeFormat.format(sign * Math.round(abs / (30.44 * DAY)), "month");
  return relativeFormat.format(sign * Math.max(1, Math.round(abs / (365.25 * DAY))), "year");
}

/** "Nov 22, 2026, 11:53:46 AM UTC" in the viewer's time zone. */
export function formatExact(iso: string): string {
  return exactFormat.format(new Date(iso));
}

export function formatDate(iso: string): string {
  return dateFormat.format(new Date(iso));
}

/** Whole seconds until `iso` (negative once it has passed). */
export function secondsUntil(iso: string, now: Date): number {
  return (Date.parse(iso) - now.getTime()) / 1000;
}

export const SECONDS_PER_DAY = DAY;
