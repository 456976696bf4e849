import { formatExact, formatRelative } from "../lib/time.js";

interface RelativeTimeProps {
  iso: string;
  now: Date;
  className?: string;
}

/** "3 minutes ago", with the exact time on hover and in the machine-readable attribute. */
export function RelativeTime({ iso, now, className }: RelativeTimeProps) {
  return (
    <time dateTime={iso} title={formatExact(iso)} className={className}>
      {formatRelative(iso, now)}
    </time>
  );
}
