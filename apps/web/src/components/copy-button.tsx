import { useEffect, useState } from "react";

type CopyState = "idle" | "copied" | "failed";

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-http deployments have no async clipboard: fall back to a selection copy.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy failed");
}

/** Copies `text` and says so, visibly and to screen readers. */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [state, setState] = useState<CopyState>("idle");
  useEffect(() => {
    if (state !== "copied") return;
    const timer = window.setTimeout(() => setState("idle"), 4000);
    return () => window.clearTimeout(timer);
  }, [state]);

  return (
    <span className="copy">
      <button
        type="button"
        className={state === "copied" ? "copied" : undefined}
        onClick={() => {
          copyText(text).then(
            () => setState("copied"),
            () => setState("failed"),
          );
        }}
      >
        {state === "copied" ? "✓ Copied" : label}
      </button>
      <span role="status" className={state === "failed" ? "error small" : "sr-only"}>
        {state === "copied"
          ? "Copied to the clipboard."
          : state === "failed"
            ? "Could not copy. Select the key and copy it by hand."
            : ""}
      </span>
    </span>
  );
}
