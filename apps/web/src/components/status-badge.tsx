import { STATUS_LABEL, type KeyStatus } from "../lib/key-status.js";

const ICON: Record<KeyStatus, string> = { active: "●", expired: "◔", revoked: "⊘" };

/** Colour, icon and word: the status reads the same without colour vision. */
export function StatusBadge({ status }: { status: KeyStatus }) {
  return (
    <span className={`badge status-${status}`} data-status={status}>
      <span aria-hidden="true" className="badge-icon">
        {ICON[status]}
      </span>
      {STATUS_LABEL[status]}
    </span>
  );
}

export function TierBadge({ tier }: { tier: string }) {
  return <span className={`badge tier tier-${tier}`}>{tier}</span>;
}
