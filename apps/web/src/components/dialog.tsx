import { useEffect, useId, useRef, type ReactNode } from "react";

interface DialogProps {
  title: ReactNode;
  /** Escape, the close button and Cancel call this. Not called while `dismissible` is false. */
  onRequestClose: () => void;
  /** False while closing would lose something (a request in flight, an unsaved secret). */
  dismissible?: boolean;
  /** The × button in the header; off where the only way out is an explicit answer. */
  showClose?: boolean;
  children: ReactNode;
  className?: string;
}

/**
 * A modal on the native `<dialog>`: `showModal()` gives the focus trap, inert background and
 * Escape handling. Mount it to open, unmount it to close. Focus moves to the element marked
 * `data-autofocus` (else the first focusable one) and returns to the opener afterwards.
 */
export function Dialog({
  title,
  onRequestClose,
  dismissible = true,
  showClose = true,
  children,
  className,
}: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const state = useRef({ dismissible, onRequestClose });
  useEffect(() => {
    state.current = { dismissible, onRequestClose };
  });

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    let mounted = true;
    if (!dialog.open) dialog.showModal();
    dialog.querySelector<HTMLElement>("[data-autofocus]")?.focus();

    const onCancel = (event: Event) => {
      event.preventDefault();
      if (state.current.dismissible) state.current.onRequestClose();
    };
    // Browsers may close a modal despite a cancelled Escape (repeated presses): reopen it while
    // it must stay, otherwise treat it as a close request.
    const onClose = () => {
      // `close` is dispatched asynchronously: ignore one from an earlier close() that we have
      // since reopened (React's StrictMode remounts effects exactly like that).
      if (!mounted || dialog.open) return;
      if (state.current.dismissible) state.current.onRequestClose();
      else dialog.showModal();
    };
    dialog.addEventListener("cancel", onCancel);
    dialog.addEventListener("close", onClose);
    return () => {
      mounted = false;
      dialog.removeEventListener("cancel", onCancel);
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      const target =
        opener?.isConnected && !opener.hasAttribute("disabled")
          ? opener
          : document.querySelector<HTMLElement>("main h1");
      target?.focus();
    };
  }, []);

  return (
    <dialog ref={ref} className={`dialog ${className ?? ""}`} aria-labelledby={titleId}>
      <div className="dialog-header">
        <h2 id={titleId}>{title}</h2>
        {showClose && (
          <button
            type="button"
            className="icon-button"
            aria-label="Close"
            disabled={!dismissible}
            onClick={() => onRequestClose()}
          >
            <span aria-hidden="true">×</span>
          </button>
        )}
      </div>
      {children}
    </dialog>
  );
}
