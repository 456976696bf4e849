import { useEffect, useRef, type ReactNode } from "react";
import { readError } from "../lib/errors.js";

/**
 * The page's h1, focused on arrival so keyboard and screen-reader users start at the new
 * content after a navigation.
 */
export function PageHeading({
  title,
  description,
  actions,
  children,
}: {
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
  children?: ReactNode;
}) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (document.activeElement === document.body || document.activeElement === null) {
      ref.current?.focus({ preventScroll: true });
    }
  }, []);
  return (
    <div className="page-header">
      <div className="page-title">
        {children}
        <h1 ref={ref} tabIndex={-1}>
          {title}
        </h1>
        {description && <p className="muted">{description}</p>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </div>
  );
}

export function LoadingRows({ label }: { label: string }) {
  return (
    <div className="card loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}…</span>
      <div className="skeleton" aria-hidden="true">
        <div />
        <div />
        <div />
      </div>
    </div>
  );
}

export function ErrorPanel({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const readable = readError(error);
  return (
    <div className="alert error-alert" role="alert">
      <p className="alert-title">{readable.message}</p>
      {readable.hint && <p>{readable.hint}</p>}
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
