/** One checkbox per scope offered; reports the checked ones (in the offered order). */
export function ScopeCheckboxes(props: {
  offered: readonly string[];
  checked: readonly string[];
  onChange: (checked: string[]) => void;
}) {
  return (
    <div className="checks">
      {props.offered.map((scope) => (
        <label key={scope} className="check">
          <input
            type="checkbox"
            checked={props.checked.includes(scope)}
            onChange={(e) =>
              props.onChange(
                props.offered.filter((s) =>
                  s === scope ? e.target.checked : props.checked.includes(s),
                ),
              )
            }
          />
          <code>{scope}</code>
        </label>
      ))}
    </div>
  );
}
