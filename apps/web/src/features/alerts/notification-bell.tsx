import { useEffect, useRef, useState } from "react";
import { RelativeTime } from "../../components/relative-time.js";
import { Link } from "../../lib/router.js";
import { trpc } from "../../lib/trpc.js";
import { useNow } from "../../lib/use-now.js";
import { describeAlert } from "./describe-alert.js";

/** The bell: unread count, and the latest alerts each linking to its key or page. */
export function NotificationBell() {
  const [open, setOpen] = useState(false);
  const now = useNow();
  const utils = trpc.useUtils();
  const list = trpc.notifications.list.useQuery(undefined, { refetchInterval: 10_000 });
  const markRead = trpc.notifications.markRead.useMutation({
    onSuccess: () => void utils.notifications.list.invalidate(),
  });
  const panel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (event: MouseEvent | KeyboardEvent) => {
      if (
        event instanceof KeyboardEvent
          ? event.key === "Escape"
          : !panel.current?.contains(event.target as Node)
      ) {
        setOpen(false);
      }
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", close);
    };
  }, [open]);

  const unread = list.data?.unread ?? 0;
  const items = list.data?.items ?? [];
  return (
    <div className="bell" ref={panel}>
      <button
        type="button"
        className="bell-button"
        aria-expanded={open}
        aria-label={`Notifications, ${unread} unread`}
        data-testid="bell"
        onClick={() => setOpen((value) => !value)}
      >
        <span aria-hidden="true">🔔</span>
        {unread > 0 && (
          <span className="bell-count" data-testid="bell-count">
            {unread > 99 ? "99+" : unread}
          </span>
        )}
      </button>
      {open && (
        <div className="bell-panel card" role="region" aria-label="Notifications">
          <div className="bell-head">
            <strong>Notifications</strong>
            {unread > 0 && (
              <button
                type="button"
                className="small-button"
                onClick={() => markRead.mutate({ all: true })}
              >
                Mark all read
              </button>
            )}
          </div>
          {items.length === 0 ? (
            <p className="muted small">
              Nothing yet. Alerts about your keys and canaries appear here.
            </p>
          ) : (
            <ul className="bell-list">
              {items.map((item) => {
                const described = describeAlert(item);
                return (
                  <li
                    key={item.id}
                    className={`bell-item tone-${described.tone}${item.read ? "" : " unread"}`}
                    data-type={item.type}
                  >
                    <Link
                      to={described.to}
                      onClick={() => {
                        setOpen(false);
                        if (!item.read) markRead.mutate({ ids: [item.id] });
                      }}
                    >
                      {described.title}
                    </Link>
                    <span className="muted small">
                      <RelativeTime iso={item.created_at} now={now} />
                    </span>
                  </li>
                );
              })}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}
