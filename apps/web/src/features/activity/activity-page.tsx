import { useState } from "react";
import { ErrorPanel, LoadingRows, PageHeading } from "../../components/page.js";
import { RelativeTime } from "../../components/relative-time.js";
import { Link, paths } from "../../lib/router.js";
import { trpc, type AuditEvent } from "../../lib/trpc.js";
import { useNow } from "../../lib/use-now.js";
import { describeBrowser } from "../account/describe-browser.js";
import { describeEvent } from "./describe-event.js";

const PAGE_SIZE = 50;

/**
 * The audit trail, newest first, in pages of {@link PAGE_SIZE}. Each page is its own query
 * keyed by the cursor it starts at (tRPC's infinite queries add a `direction` field that the
 * strict input schema rightly refuses).
 */
export function ActivityPage() {
  const [cursors, setCursors] = useState<(number | undefined)[]>([undefined]);
  return (
    <>
      <PageHeading
        title="Activity"
        description="Everything that happened to your account and its keys, newest first."
      />
      {cursors.map((cursor, index) => (
        <ActivityChunk
          key={cursor ?? "first"}
          cursor={cursor}
          first={index === 0}
          last={index === cursors.length - 1}
          onMore={(next) => setCursors((list) => [...list, next])}
        />
      ))}
    </>
  );
}

interface ActivityChunkProps {
  cursor: number | undefined;
  first: boolean;
  last: boolean;
  onMore: (cursor: number) => void;
}

function ActivityChunk({ cursor, first, last, onMore }: ActivityChunkProps) {
  const now = useNow();
  const page = trpc.audit.list.useQuery(
    cursor === undefined ? { limit: PAGE_SIZE } : { limit: PAGE_SIZE, cursor },
  );
  if (page.isPending) return <LoadingRows label="Loading activity" />;
  if (page.isError) {
    return <ErrorPanel error={page.error} onRetry={() => void page.refetch()} />;
  }
  const { events, next_cursor: next } = page.data;
  if (first && events.length === 0) return <p className="card muted">No activity yet.</p>;
  return (
    <>
      <ol
        className={`card timeline${first ? "" : " continued"}`}
        aria-label={first ? "Activity, newest first" : "Older activity"}
      >
        {events.map((event) => (
          <EventRow key={event.id} event={event} now={now} />
        ))}
      </ol>
      {last && next !== null && (
        <div className="load-more">
          <button type="button" onClick={() => onMore(next)}>
            Show older activity
          </button>
        </div>
      )}
    </>
  );
}

function EventRow({ event, now }: { event: AuditEvent; now: Date }) {
  const description = describeEvent(event);
  return (
    <li className={`event tone-${description.tone}`} data-action={event.action}>
      <span className="event-dot" aria-hidden="true" />
      <div className="event-main">
        <p className="event-title">
          <strong>{description.title}</strong>
          {event.key_prefix && (
            <>
              {" "}
              {event.key_id ? (
                <Link to={paths.key(event.key_id)} className="mono prefix">
                  {event.key_prefix}
                </Link>
              ) : (
                <code className="mono prefix">{event.key_prefix}</code>
              )}
            </>
          )}
        </p>
        {description.facts.length > 0 && (
          <p className="event-facts">
            {description.facts.map((fact, index) => (
              <span key={index}>{fact}</span>
            ))}
          </p>
        )}
      </div>
      <div className="event-meta">
        <RelativeTime iso={event.created_at} now={now} />
        {event.ip && <span className="muted mono small">{event.ip}</span>}
        {event.user_agent && (
          <span className="muted small">{describeBrowser(event.user_agent)}</span>
        )}
      </div>
    </li>
  );
}
